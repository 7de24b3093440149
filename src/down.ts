import { clusterNodes } from "./docker.js";
import { deleteCluster } from "./kind.js";
import { removeClusterEntry } from "./kubeconfig.js";
import { updateKubeconfig } from "./kubeconfig-file.js";
import type { Logger } from "./log.js";
import { contextName, type Settings } from "./settings.js";

/** `kind-cluster down`: delete the cluster and our kubeconfig entries; everything else stays. */
export async function down(settings: Settings, kubeconfig: string, logger: Logger): Promise<void> {
  await logger.stage("cluster", async (s) => {
    const nodes = await clusterNodes(settings.clusterName);
    if (nodes.length === 0) return s.note(`no cluster ${settings.clusterName}`);
    await deleteCluster(settings.clusterName);
    s.note(`deleted ${settings.clusterName} (${nodes.length} node${nodes.length > 1 ? "s" : ""})`);
  });
  await logger.stage("kubeconfig", async (s) => {
    const name = contextName(settings.clusterName);
    const changed = await updateKubeconfig(kubeconfig, (text) => (text.trim() === "" ? text : removeClusterEntry(text, name, kubeconfig)));
    s.note(changed ? `removed ${name} from ${kubeconfig}` : `nothing to remove in ${kubeconfig}`);
  });
}
