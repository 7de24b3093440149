import type { GitSourceConfig } from "./git-source.js";
import type { PortsConfig } from "./ports.js";
import type { Running, ServiceLog } from "./service.js";

/**
 * The kinds of zone-1 service, one row each: its configuration, whether it serves one cluster or the
 * whole container, its status line, and its body (run in its own `kind-cluster serve` process, loaded
 * only there). A new kind of service is one row here.
 */
interface ServiceRow<C> {
  /** "cluster": one instance per cluster; "container": shared by every cluster of the container. */
  scope: "cluster" | "container";
  /** What an instance is for, in a few words (status, doctor, down). */
  title: string;
  run(config: C, log: ServiceLog): Promise<Running>;
}

export interface RegistryRelayConfig {
  port: number;
  targetHost: string;
  targetPort: number;
}

const row = <C>(r: ServiceRow<C>) => r;

export const SERVICE_KINDS = {
  /** localhost:<registryPort> in the dev container reaches the local registry (helm, oras, flux push). */
  "registry-relay": row<RegistryRelayConfig>({
    scope: "container",
    title: "registry relay",
    async run(c, log) {
      const { startRelay } = await import("./relay.js");
      const relay = await startRelay({ listen: { host: "127.0.0.1", port: c.port }, target: { host: c.targetHost, port: c.targetPort }, log });
      return { close: relay.close, summary: `127.0.0.1:${c.port} -> ${c.targetHost}:${c.targetPort}` };
    },
  }),
  /** The workspace repository served read-only to the cluster, and the HEAD watch that asks for a sync. */
  "git-source": row<GitSourceConfig>({
    scope: "cluster",
    title: "Git source",
    async run(c, log) {
      const { startGitSource } = await import("./git-source.js");
      return startGitSource(c, log);
    },
  }),
  /** LoadBalancer Services given the nodes' addresses, and Service ports answering on this container's localhost. */
  ports: row<PortsConfig>({
    scope: "cluster",
    title: "ports",
    async run(c, log) {
      const { startPorts } = await import("./ports.js");
      return startPorts(c, log);
    },
  }),
};

export type ServiceKind = keyof typeof SERVICE_KINDS;

/** The row of a kind, with its configuration's type erased (the serve process reads it from a file). */
export function serviceRow(kind: ServiceKind): ServiceRow<never> {
  return SERVICE_KINDS[kind] as ServiceRow<never>;
}
