import { ensureWatcher } from "../watch.js";
import type { Stage } from "./context.js";

/** stopWithContainer: the watcher that stops this container's clusters when it stops (watch.ts). */
export const watchStage: Stage = {
  name: "watch",
  enabled: (settings) => settings.stopWithContainer,
  async run(ctx, status) {
    const outcome = await ensureWatcher(ctx);
    if ("cannot" in outcome) {
      status.note("not watching");
      status.warn(`stopWithContainer: the cluster will not stop with this container: ${outcome.cannot}`);
      return;
    }
    status.note(`watcher ${outcome.action}: the cluster stops when this dev container stops, unless another running dev container uses it`);
  },
};
