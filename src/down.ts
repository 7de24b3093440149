import { observeCluster } from "./cluster.js";
import { deleteCluster } from "./kind.js";
import { contextName, removeEntry } from "./kubeconfig/index.js";
import type { Logger } from "./log.js";
import type { Settings } from "./options.js";
import { REGISTRY_NAME, removeRegistry } from "./registry.js";
import { SERVICES, stopService } from "./serve/daemon.js";

/**
 * `kind-cluster down`: delete the cluster, this container's services for it and our kubeconfig
 * entries; everything else stays. The local registry and its images are kept (other clusters may use
 * it) unless asked: `--remove-registry`.
 */
export async function down(settings: Settings, kubeconfig: string, logger: Logger, options: { removeRegistry?: boolean } = {}): Promise<void> {
  await logger.stage("cluster", async (s) => {
    const cluster = await observeCluster(settings.clusterName);
    if (cluster.state === "absent") return s.note(`no cluster ${settings.clusterName}`);
    await deleteCluster(settings.clusterName);
    s.note(`deleted ${settings.clusterName} (${cluster.nodes.length} node${cluster.nodes.length > 1 ? "s" : ""})`);
  });
  await logger.stage("kubeconfig", async (s) => {
    const { changed, files } = await removeEntry(kubeconfig, settings.clusterName);
    const name = contextName(settings.clusterName);
    s.note(changed ? `removed ${name} from ${files.join(", ")}` : `nothing to remove in ${kubeconfig}`);
  });
  await logger.stage("services", async (s) => {
    const stopped = [];
    for (const service of SERVICES) if (await stopService(service)) stopped.push(service);
    s.note(stopped.length ? `stopped ${stopped.join(", ")} in this container` : "none ran in this container");
  });
  if (options.removeRegistry)
    await logger.stage("registry", async (s) => s.note((await removeRegistry()) ? `removed ${REGISTRY_NAME} and its images` : `no ${REGISTRY_NAME}; its data volume is gone too`));
}
