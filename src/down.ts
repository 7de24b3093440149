import { observeCluster } from "./cluster.js";
import { deleteCluster } from "./kind.js";
import { contextName, removeEntry } from "./kubeconfig/index.js";
import type { Logger } from "./log.js";
import type { Settings } from "./options.js";

/** `kind-cluster down`: delete the cluster and our kubeconfig entries; everything else stays. */
export async function down(settings: Settings, kubeconfig: string, logger: Logger): Promise<void> {
  await logger.stage("cluster", async (s) => {
    const cluster = await observeCluster(settings.clusterName);
    if (cluster.state === "absent") return s.note(`no cluster ${settings.clusterName}`);
    await deleteCluster(settings.clusterName);
    s.note(`deleted ${settings.clusterName} (${cluster.nodes.length} node${cluster.nodes.length > 1 ? "s" : ""})`);
  });
  await logger.stage("kubeconfig", async (s) => {
    const changed = await removeEntry(kubeconfig, settings.clusterName);
    const name = contextName(settings.clusterName);
    s.note(changed ? `removed ${name} from ${kubeconfig}` : `nothing to remove in ${kubeconfig}`);
  });
}
