import { checkNodeRuns } from "../cluster/view.js";
import { contextName, credentialsFromKind } from "../kubeconfig/index.js";
import { connect, reachability, routeFacts } from "../route/index.js";
import { createdNow, need, type Stage } from "./context.js";

/**
 * Zone 1 reaches zone 3. Fast path: the kubeconfig's entry is reachable (one of our routes, answering),
 * as the observation found it when the cluster was adopted as it was, or as asked again after its
 * nodes were started. Otherwise kind's credentials and the first route that completes verified TLS
 * and an API call.
 */
export const routeStage: Stage = {
  name: "route",
  async run(ctx, status) {
    const { settings } = ctx;
    const cluster = need(ctx, "cluster");
    const observed = need(ctx, "observed");
    const facts = routeFacts(settings.clusterName, cluster, need(ctx, "docker"), (await ctx.self()).gateway);
    const entry = observed.kubeconfig.entry;
    if (entry && !createdNow(cluster.action)) {
      const seen = cluster.action === "adopted" ? observed.route : await reachability(ctx, settings, facts, entry);
      if (seen?.reachable && seen.candidate) {
        ctx.connection = {
          candidate: seen.candidate,
          explanation: [`${seen.candidate.kind}: the kubeconfig's entry still answers (${seen.candidate.server})`],
          nodes: seen.outcome?.nodes ?? [],
        };
        ctx.credentials = entry.credentials;
        ctx.entryCurrent = true;
        status.note(`${seen.candidate.kind} (unchanged)`);
        return;
      }
    }
    if (!createdNow(cluster.action)) {
      // kind reads the credentials from inside the control plane: make sure a command can run there first.
      await checkNodeRuns(ctx.container.node(cluster.controlPlane!));
      ctx.credentials = credentialsFromKind(await ctx.kind.kubeconfig(settings.clusterName), contextName(settings.clusterName));
    }
    const connection = await connect(ctx, settings, cluster, facts, need(ctx, "credentials"), 15_000);
    ctx.connection = connection;
    status.note(`${connection.candidate.kind} -> ${connection.candidate.server}`);
    if (connection.explanation.length > 1) for (const line of connection.explanation) status.detail(line);
  },
};
