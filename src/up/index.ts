import { tmpdir } from "node:os";
import { join } from "node:path";
import { withLock } from "../lock.js";
import { dockerStage } from "./1-docker.js";
import { clusterStage } from "./2-cluster.js";
import { routeStage } from "./3-route.js";
import { kubeconfigStage } from "./4-kubeconfig.js";
import { readyStage } from "./5-ready.js";
import { registryStage } from "./6-registry.js";
import { gitopsStage } from "./7-gitops.js";
import type { Stage, UpContext } from "./context.js";

/**
 * `kind-cluster up`: converge, idempotently, by running these stages in order over one context.
 * A new capability is a new stage file and one line here.
 */
export const STAGES: readonly Stage[] = [dockerStage, clusterStage, routeStage, kubeconfigStage, readyStage, registryStage, gitopsStage];

export type { UpContext };

export async function up(ctx: UpContext): Promise<UpContext> {
  // One `up` at a time per cluster in this container (hooks and a person typing may overlap).
  const lock = join(tmpdir(), `kind-cluster-${ctx.settings.clusterName}.up.lock`);
  return withLock(lock, { timeoutMs: 15 * 60_000, purpose: `cluster ${ctx.settings.clusterName}` }, async () => {
    for (const stage of STAGES) {
      if (stage.enabled && !stage.enabled(ctx.settings)) continue;
      await ctx.logger.stage(stage.name, (status) => stage.run(ctx, status));
    }
    return ctx;
  });
}
