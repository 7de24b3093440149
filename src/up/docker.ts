import { observe } from "../observe.js";
import type { Stage } from "./context.js";

/**
 * Zone 2 answers: wait for the daemon (or the socket proxy) within a bound, learn its facts, and
 * observe the system as it stands (the observation `status` shows), which the later stages start from.
 */
export const dockerStage: Stage = {
  name: "docker",
  async run(ctx, status) {
    const info = await ctx.container.waitReady(ctx.dockerWaitMs);
    status.note(`engine ${info.serverVersion}${info.dockerDesktop ? " (Docker Desktop)" : ""}, cgroup v${info.cgroupVersion || "?"}`);
    ctx.docker = info;
    ctx.observed = await observe(ctx, ctx.settings, ctx.kubeconfig, { docker: info });
  },
};
