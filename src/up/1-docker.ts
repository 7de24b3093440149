import { waitForDocker } from "../docker.js";
import type { Stage } from "./context.js";

/** Zone 2 answers: wait for the daemon (or the socket proxy) within a bound, and learn its facts. */
export const dockerStage: Stage = {
  name: "docker",
  async run(ctx, status) {
    const info = await waitForDocker(ctx.dockerWaitMs, ctx.env);
    status.note(`engine ${info.serverVersion}${info.dockerDesktop ? " (Docker Desktop)" : ""}, cgroup v${info.cgroupVersion || "?"}`);
    ctx.docker = info;
  },
};
