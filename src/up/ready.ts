import { setTimeout as sleep } from "node:timers/promises";
import type { NodeSummary } from "../apiserver.js";
import { markReady } from "../cluster/view.js";
import { ZoneError } from "../errors.js";
import { timeouts } from "../options.js";
import { clusterApi, need, type Stage } from "./context.js";

/** Every node reports Ready (kind's own --wait only warns when it times out, so readiness is ours to check). */
export const readyStage: Stage = {
  name: "ready",
  async run(ctx, status) {
    const { settings } = ctx;
    const connection = need(ctx, "connection");
    const cluster = need(ctx, "cluster");
    const api = clusterApi(ctx);
    const deadline = Date.now() + timeouts(settings).readyMs;
    let nodes: NodeSummary[] = connection.nodes;
    while (!(nodes.length > 0 && nodes.every((n) => n.ready))) {
      if (Date.now() >= deadline) {
        const waiting = nodes.filter((n) => !n.ready);
        const names = waiting.map((n) => `${n.name} (${n.reason})`).join(", ") || "no node registered";
        const never = cluster.everReady ? "" : "; it has never been Ready, so its creation was probably cut off";
        throw new ZoneError({
          zone: "kind cluster",
          message: `not every node of ${settings.clusterName} is Ready after ${settings.waitSeconds}s: ${names}${never}`,
          fix: cluster.everReady
            ? `look at \`kubectl describe node ${waiting[0]?.name ?? ""}\` and \`docker exec ${waiting[0]?.name ?? "<node>"} journalctl -u kubelet\`; raise waitSeconds on slow machines`
            : "if it holds nothing you need, re-create it: `kind-cluster down && kind-cluster up`",
        });
      }
      // A quarter of a second: the question is cheap, and a whole second would be added to every new cluster.
      await sleep(250);
      nodes = await api.listNodes().catch(() => nodes);
    }
    // Recorded in the control plane: a later `up` knows this cluster was completed (see cluster/view.ts).
    if (!cluster.everReady) await markReady(ctx.container.node(cluster.controlPlane!));
    ctx.nodes = nodes;
    status.note(`${nodes.length}/${nodes.length} node${nodes.length > 1 ? "s" : ""} Ready`);
  },
};
