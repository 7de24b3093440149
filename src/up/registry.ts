import {
  attachRegistry,
  configureNodes,
  CONFIG_MAP_PATH,
  ensureRegistry,
  IN_CLUSTER,
  REGISTRY_NAME,
  REGISTRY_PORT,
  registryHostingConfigMap,
} from "../registry.js";
import { serviceKey } from "../serve/daemon.js";
import type { RegistryRelayConfig } from "../serve/kinds.js";
import { clusterApi, need, type Stage } from "./context.js";

/**
 * The local registry (localRegistry): running on the host's 127.0.0.1, on the cluster's network, known
 * to every node's containerd, announced by the KEP-1755 ConfigMap, and reachable as localhost:<port>
 * inside this dev container too (a relay, one per container: the registry is one per Docker host),
 * for clients that push by themselves (helm, oras, crane, flux).
 */
export const registryStage: Stage = {
  name: "registry",
  enabled: (settings) => settings.localRegistry,
  async run(ctx, status) {
    const { registryPort, registryImage } = ctx.settings;
    const cluster = need(ctx, "cluster");
    const registry = await ensureRegistry(ctx.container, registryPort, registryImage);
    if (cluster.network) await attachRegistry(ctx.container, cluster.network);
    const configured = await configureNodes(
      cluster.nodes.map((n) => ctx.container.node(n)),
      registryPort,
    );
    await clusterApi(ctx).apply(CONFIG_MAP_PATH, registryHostingConfigMap(registryPort));
    const notJoined = await (await ctx.self()).join(cluster.network);
    let relay = "no relay (not in a container: localhost is the Docker host)";
    if (!notJoined) {
      const config: RegistryRelayConfig = { port: registryPort, targetHost: REGISTRY_NAME, targetPort: REGISTRY_PORT };
      const { action } = await ctx.services.ensure(serviceKey("registry-relay", "", String(registryPort)), config);
      relay = `localhost:${registryPort} relayed here (${action})`;
    }
    status.note(`${registry.action} ${REGISTRY_NAME} on 127.0.0.1:${registryPort}`);
    status.detail(
      `nodes pull localhost:${registryPort}/... from ${IN_CLUSTER} (plain HTTP on the cluster's network)${configured.length ? `; configured ${configured.join(", ")}` : ""}; ${relay}`,
    );
  },
};
