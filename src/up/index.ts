import { join } from "node:path";
import { withLock } from "../lock.js";
import { privateDir } from "../serve/runtime.js";
import { clusterStage } from "./cluster.js";
import type { Stage, UpContext } from "./context.js";
import { dockerStage } from "./docker.js";
import { gitopsStage } from "./gitops.js";
import { kubeconfigStage } from "./kubeconfig.js";
import { readyStage } from "./ready.js";
import { registryStage } from "./registry.js";
import { routeStage } from "./route.js";

/**
 * `kind-cluster up`: converge, idempotently, by running these stages in order over one context.
 * A new capability is a new stage file and one line here.
 */
const STAGES: readonly Stage[] = [dockerStage, clusterStage, routeStage, kubeconfigStage, readyStage, registryStage, gitopsStage];

export type { UpContext };

/** Runs the stages that the settings ask for, in order, each as a logged stage. */
async function runStages(ctx: UpContext, stages: readonly Stage[] = STAGES): Promise<UpContext> {
  for (const stage of stages) {
    if (stage.enabled && !stage.enabled(ctx.settings)) continue;
    await ctx.logger.stage(stage.name, (status) => stage.run(ctx, status));
  }
  return ctx;
}

export async function up(ctx: UpContext): Promise<UpContext> {
  // One `up` at a time per cluster in this container (hooks and a person typing may overlap); the lock
  // lives in the runtime folder, which is ours alone (another user's file cannot stand in its way).
  const lock = join(await privateDir(ctx.services.dir), `up-${ctx.settings.clusterName}.lock`);
  return withLock(lock, { timeoutMs: 15 * 60_000, purpose: `cluster ${ctx.settings.clusterName}` }, () => runStages(ctx));
}
