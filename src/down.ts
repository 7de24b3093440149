import { observeCluster } from "./cluster/view.js";
import type { Engines } from "./engines.js";
import { contextName, removeEntry } from "./kubeconfig/index.js";
import type { Logger, StageHandle } from "./log.js";
import type { Settings } from "./options.js";
import { REGISTRY_NAME, removeRegistry } from "./registry.js";
import type { ServiceKey } from "./serve/daemon.js";

/**
 * `kind-cluster down`: delete the cluster, this container's services for it and our kubeconfig
 * entries; everything else stays, other clusters' services included. The local registry, its images
 * and its relay are kept (other clusters may use them) unless asked: `--remove-registry`.
 */
export async function down(
  engines: Engines,
  settings: Settings,
  kubeconfig: string,
  logger: Logger,
  options: { removeRegistry?: boolean } = {},
): Promise<void> {
  await logger.stage("cluster", async (s) => {
    const cluster = await observeCluster(engines.container, settings.clusterName);
    if (cluster.state === "absent") return s.note(`no cluster ${settings.clusterName}`);
    await engines.kind.delete(settings.clusterName);
    s.note(`deleted ${settings.clusterName} (${cluster.nodes.length} node${cluster.nodes.length > 1 ? "s" : ""})`);
  });
  await logger.stage("kubeconfig", async (s) => {
    const { changed, files } = await removeEntry(kubeconfig, settings.clusterName);
    const name = contextName(settings.clusterName);
    s.note(changed ? `removed ${name} from ${files.join(", ")}` : `nothing to remove in ${kubeconfig}`);
  });
  await logger.stage("services", (s) => stopClusterServices(engines, settings.clusterName, s));
  if (options.removeRegistry)
    await logger.stage("registry", async (s) => {
      await stopAll(
        engines,
        (await engines.services.list({ cluster: "" })).filter((i) => i.key.kind === "registry-relay").map((i) => i.key),
      );
      s.note((await removeRegistry(engines.container)) ? `removed ${REGISTRY_NAME} and its images` : `no ${REGISTRY_NAME}; its data volume is gone too`);
    });
}

/** Stops this container's services for one cluster (`down`, `stop`), and says which ran. */
export async function stopClusterServices(engines: Pick<Engines, "services">, cluster: string, s: StageHandle): Promise<void> {
  const stopped = await stopAll(
    engines,
    (await engines.services.list({ cluster })).map((i) => i.key),
  );
  s.note(stopped.length ? `stopped ${stopped.join(", ")} of ${cluster} in this container` : `none of ${cluster} ran in this container`);
}

/** Stops each instance; returns the kinds of those that ran. */
async function stopAll(engines: Pick<Engines, "services">, keys: readonly ServiceKey[]): Promise<string[]> {
  const stopped: string[] = [];
  for (const key of keys) if (await engines.services.stop(key)) stopped.push(key.instance === "default" ? key.kind : `${key.kind} ${key.instance}`);
  return stopped;
}
