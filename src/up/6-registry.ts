import { applyObject } from "../apiserver.js";
import { attachRegistry, configureNodes, CONFIG_MAP_PATH, ensureRegistry, IN_CLUSTER, REGISTRY_NAME, REGISTRY_PORT, registryHostingConfigMap } from "../registry.js";
import { joinClusterNetwork } from "../route/index.js";
import { ensureService } from "../serve/daemon.js";
import { apiEndpoint, need, type Stage } from "./context.js";

/**
 * The local registry (localRegistry): running on the host's 127.0.0.1, on the cluster's network, known
 * to every node's containerd, announced by the KEP-1755 ConfigMap, and reachable as localhost:<port>
 * inside this dev container too (a relay), for clients that push by themselves (helm, oras, crane, flux).
 */
export const registryStage: Stage = {
  name: "registry",
  enabled: (settings) => settings.localRegistry,
  async run(ctx, status) {
    const { registryPort, registryImage } = ctx.settings;
    const cluster = need(ctx, "cluster");
    const registry = await ensureRegistry(registryPort, registryImage);
    if (cluster.network) await attachRegistry(cluster.network);
    const configured = await configureNodes(cluster.nodes, registryPort);
    await applyObject(apiEndpoint(ctx), CONFIG_MAP_PATH, registryHostingConfigMap(registryPort));
    const notJoined = await joinClusterNetwork(cluster.network);
    let relay = "no relay (not in a container: localhost is the Docker host)";
    if (!notJoined) {
      const { action } = await ensureService("registry-relay", { port: registryPort, targetHost: REGISTRY_NAME, targetPort: REGISTRY_PORT });
      relay = `localhost:${registryPort} relayed here (${action})`;
    }
    status.note(`${registry.action} ${REGISTRY_NAME} on 127.0.0.1:${registryPort}`);
    status.detail(`nodes pull localhost:${registryPort}/... from ${IN_CLUSTER} (plain HTTP on the cluster's network)${configured.length ? `; configured ${configured.join(", ")}` : ""}; ${relay}`);
  },
};
