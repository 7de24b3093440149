import { listNodes } from "./apiserver.js";
import { clusterNodes, containerFacts, dockerInfo } from "./docker.js";
import { isZoneError } from "./errors.js";
import { currentContext, findClusterEntry } from "./kubeconfig.js";
import { readText } from "./kubeconfig-file.js";
import { contextName, type Settings } from "./settings.js";

/** `kind-cluster status`: the three zones at a glance, one line each. Changes nothing. */
export interface Status {
  devContainer: { kubeconfig: string; context?: string; server?: string; tlsServerName?: string; currentContext?: string; error?: string };
  dockerHost: { engine?: string; error?: string };
  cluster: { name: string; nodes: Array<{ name: string; role: string; running: boolean }>; api?: string };
  route: { server?: string; reachable: boolean; detail: string };
}

export async function status(settings: Settings, kubeconfig: string): Promise<Status> {
  const name = contextName(settings.clusterName);
  const result: Status = {
    devContainer: { kubeconfig },
    dockerHost: {},
    cluster: { name: settings.clusterName, nodes: [] },
    route: { reachable: false, detail: "no kubeconfig entry" },
  };
  let entry;
  try {
    const text = await readText(kubeconfig);
    entry = findClusterEntry(text, name, kubeconfig);
    result.devContainer = { kubeconfig, context: entry ? name : undefined, server: entry?.server, tlsServerName: entry?.tlsServerName, currentContext: currentContext(text, kubeconfig) };
  } catch (error) {
    result.devContainer.error = isZoneError(error) ? error.message : String(error);
  }
  try {
    const info = await dockerInfo();
    result.dockerHost.engine = `${info.serverVersion} (${info.operatingSystem})`;
    const nodes = await clusterNodes(settings.clusterName);
    result.cluster.nodes = nodes.map((n) => ({ name: n.name, role: n.role, running: n.running }));
    const cp = nodes.find((n) => n.role === "control-plane");
    const api = cp ? (await containerFacts(cp.id)).bindings["6443/tcp"]?.[0] : undefined;
    if (api) result.cluster.api = `${api.hostIp || "*"}:${api.hostPort}`;
  } catch (error) {
    result.dockerHost.error = isZoneError(error) ? error.message : String(error);
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
