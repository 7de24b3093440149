import { contextName, exportEntry } from "../kubeconfig/index.js";
import { need, type Stage } from "./context.js";

/** Zone 1's kubeconfig holds our entry for the chosen route; every other entry stays as it was. */
export const kubeconfigStage: Stage = {
  name: "kubeconfig",
  async run(ctx, status) {
    if (ctx.entryCurrent) {
      status.note(`${ctx.kubeconfig} (unchanged)`);
      return;
    }
    const { candidate } = need(ctx, "connection");
    const name = contextName(ctx.settings.clusterName);
    const { changed, files, readableByOthers } = await exportEntry(
      ctx.kubeconfig,
      {
        name,
        server: candidate.server,
        tlsServerName: candidate.tlsServerName,
        credentials: need(ctx, "credentials"),
      },
      ctx.makeCurrent ?? true,
    );
    for (const { path, mode } of readableByOthers) {
      status.warn(
        `${path} has mode ${mode}, kept as it was: other users of this container can read the cluster's client key in it (\`chmod 600 ${path}\` keeps it yours)`,
      );
    }
    status.note(changed ? `wrote context ${name} in ${files.join(", ")}` : `kept context ${name} in ${ctx.kubeconfig}`);
  },
};
