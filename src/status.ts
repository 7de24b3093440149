import { listNodes } from "./apiserver.js";
import { observeCluster } from "./cluster.js";
import { dockerInfo } from "./docker.js";
import { isZoneError } from "./errors.js";
import { contextName, readKubeconfig, type ClusterEntry } from "./kubeconfig/index.js";
import type { Settings } from "./options.js";

/** `kind-cluster status`: the three zones at a glance, one line each. Changes nothing. */
export interface Status {
  devContainer: { kubeconfig: string; context?: string; server?: string; tlsServerName?: string; currentContext?: string; error?: string };
  dockerHost: { engine?: string; error?: string };
  cluster: { name: string; state?: string; nodes: Array<{ name: string; role: string; running: boolean }>; api?: string };
  route: { server?: string; reachable: boolean; detail: string };
}

const message = (error: unknown) => (isZoneError(error) ? error.message : String(error));

export async function status(settings: Settings, kubeconfig: string): Promise<Status> {
  const result: Status = {
    devContainer: { kubeconfig },
    dockerHost: {},
    cluster: { name: settings.clusterName, nodes: [] },
    route: { reachable: false, detail: "no kubeconfig entry" },
  };
  let entry: ClusterEntry | undefined;
  try {
    const view = await readKubeconfig(kubeconfig, settings.clusterName);
    entry = view.entry;
    result.devContainer = { kubeconfig, context: entry ? contextName(settings.clusterName) : undefined, server: entry?.server, tlsServerName: entry?.tlsServerName, currentContext: view.currentContext };
  } catch (error) {
    result.devContainer.error = message(error);
  }
  try {
    const info = await dockerInfo();
    result.dockerHost.engine = `${info.serverVersion} (${info.operatingSystem})`;
    const cluster = await observeCluster(settings.clusterName);
    result.cluster.state = cluster.state;
    result.cluster.nodes = cluster.nodes.map((n) => ({ name: n.name, role: n.role, running: n.running }));
    if (cluster.api) result.cluster.api = `${cluster.api.hostIp || "*"}:${cluster.api.hostPort}`;
  } catch (error) {
    result.dockerHost.error = message(error);
  }
  if (entry) {
    try {
      const nodes = await listNodes(entry, 3_000);
      result.route = { server: entry.server, reachable: true, detail: `${nodes.filter((n) => n.ready).length}/${nodes.length} nodes Ready` };
    } catch (error) {
      const step = (error as { step?: string }).step ?? "api";
      result.route = { server: entry.server, reachable: false, detail: `failed at ${step}: ${(error as Error).message}` };
    }
  }
  return result;
}

export function renderStatus(s: Status): string {
  const nodes = s.cluster.nodes.map((n) => `${n.name} (${n.running ? "running" : "stopped"})`).join(", ") || "none";
  return [
    `zone 1 dev container  kubeconfig ${s.devContainer.kubeconfig}${s.devContainer.error ? `: ${s.devContainer.error}` : `, context ${s.devContainer.context ?? "missing"}, current ${s.devContainer.currentContext ?? "none"}`}`,
    `zone 2 docker host    ${s.dockerHost.error ?? `engine ${s.dockerHost.engine}`}`,
    `zone 3 kind cluster   ${s.cluster.name}: ${nodes}${s.cluster.api ? `, API published on ${s.cluster.api}` : ""}`,
    `route                 ${s.route.server ?? "-"}${s.devContainer.tlsServerName ? ` (tls-server-name ${s.devContainer.tlsServerName})` : ""}: ${s.route.reachable ? "reachable" : "not reachable"}, ${s.route.detail}`,
  ].join("\n");
}
