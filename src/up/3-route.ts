import { checkNodeRuns } from "../cluster.js";
import { kindKubeconfig } from "../kind.js";
import { contextName, credentialsFromKind, readKubeconfig } from "../kubeconfig/index.js";
import { connect, entryStillWorks, routeFacts } from "../route/index.js";
import { need, type Stage } from "./context.js";

/**
 * Zone 1 reaches zone 3. Fast path: the kubeconfig's entry is one of our routes and still answers.
 * Otherwise kind's credentials and the first route that completes verified TLS and an API call.
 */
export const routeStage: Stage = {
  name: "route",
  async run(ctx, status) {
    const { settings } = ctx;
    const cluster = need(ctx, "cluster");
    const facts = await routeFacts(settings, cluster, need(ctx, "docker"));
    ctx.facts = facts;
    if (!cluster.kindKubeconfig) {
      const { entry } = await readKubeconfig(ctx.kubeconfig, settings.clusterName);
      const fast = entry && (await entryStillWorks(settings, facts, entry));
      if (fast) {
        ctx.connection = fast;
        ctx.credentials = entry.credentials;
        ctx.entryCurrent = true;
        status.note(`${fast.candidate.kind} (unchanged)`);
        return;
      }
    }
    // kind reads the credentials from inside the control plane: make sure a command can run there first.
    if (!cluster.kindKubeconfig) await checkNodeRuns(cluster.controlPlane!);
    const credentials = credentialsFromKind(cluster.kindKubeconfig ?? (await kindKubeconfig(settings.clusterName)), contextName(settings.clusterName));
    const connection = await connect(settings, cluster, facts, credentials, 15_000);
    ctx.connection = connection;
    ctx.credentials = credentials;
    status.note(`${connection.candidate.kind} -> ${connection.candidate.server}`);
    if (connection.explanation.length > 1) connection.explanation.forEach((line) => status.detail(line));
  },
};
