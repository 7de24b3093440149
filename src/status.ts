import { listNodes } from "./apiserver.js";
import { observeCluster } from "./cluster.js";
import { dockerInfo } from "./docker.js";
import { isZoneError } from "./errors.js";
import { contextName, readKubeconfig, type ClusterEntry } from "./kubeconfig/index.js";
import type { Settings } from "./options.js";
import { observeGitOps } from "./gitops.js";
import { observeRegistry, REGISTRY_NAME } from "./registry.js";
import { readServiceConfig, readState } from "./serve/daemon.js";
import type { GitOpsServiceConfig } from "./serve/gitops.js";
import { readHead } from "./serve/head.js";

/** `kind-cluster status`: the three zones at a glance, one line each. Changes nothing. */
export interface Status {
  devContainer: { kubeconfig: string; context?: string; server?: string; tlsServerName?: string; currentContext?: string; error?: string };
  dockerHost: { engine?: string; error?: string };
  cluster: { name: string; state?: string; nodes: Array<{ name: string; role: string; running: boolean }>; api?: string };
  route: { server?: string; reachable: boolean; detail: string };
  registry?: { running: boolean; published?: string; onClusterNetwork: boolean; relay?: string; error?: string };
  gitops?: { following?: string; head?: string; applied?: string; ready?: boolean; message?: string; error?: string };
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
  let network: string | undefined;
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
    network = cluster.network;
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
  if (settings.localRegistry) result.registry = await registryStatus(network);
  if (settings.gitops === "flux") result.gitops = await gitopsStatus(result.route.reachable ? entry : undefined);
  return result;
}

async function registryStatus(network: string | undefined): Promise<NonNullable<Status["registry"]>> {
  try {
    const view = await observeRegistry(network);
    const relay = await readState("registry-relay");
    return { running: view.running, published: view.published, onClusterNetwork: view.onNetwork, relay: relay?.summary };
  } catch (error) {
    return { running: false, onClusterNetwork: false, error: message(error) };
  }
}

/** The revision the cluster applied, against the workspace's HEAD (the repository the GitOps service serves). */
async function gitopsStatus(entry: ClusterEntry | undefined): Promise<NonNullable<Status["gitops"]>> {
  if (!entry) return { error: "the API server is not reachable" };
  try {
    const repo = (await readServiceConfig<GitOpsServiceConfig>("gitops"))?.repo;
    const [view, head] = await Promise.all([observeGitOps(entry), repo ? readHead(repo).catch(() => undefined) : undefined]);
    const ks = view.kustomization;
    return { following: view.branch, head: head?.commit, applied: ks?.applied, ready: ks?.ready, message: ks?.ready ? undefined : (ks?.message ?? view.source?.message) };
  } catch (error) {
    return { error: message(error) };
  }
}

export function renderStatus(s: Status): string {
  const nodes = s.cluster.nodes.map((n) => `${n.name} (${n.running ? "running" : "stopped"})`).join(", ") || "none";
  return [
    `zone 1 dev container  kubeconfig ${s.devContainer.kubeconfig}${s.devContainer.error ? `: ${s.devContainer.error}` : `, context ${s.devContainer.context ?? "missing"}, current ${s.devContainer.currentContext ?? "none"}`}`,
    `zone 2 docker host    ${s.dockerHost.error ?? `engine ${s.dockerHost.engine}`}`,
    `zone 3 kind cluster   ${s.cluster.name}: ${nodes}${s.cluster.api ? `, API published on ${s.cluster.api}` : ""}`,
    `route                 ${s.route.server ?? "-"}${s.devContainer.tlsServerName ? ` (tls-server-name ${s.devContainer.tlsServerName})` : ""}: ${s.route.reachable ? "reachable" : "not reachable"}, ${s.route.detail}`,
    ...(s.registry ? [`registry              ${renderRegistry(s.registry)}`] : []),
    ...(s.gitops ? [`gitops                ${renderGitOps(s.gitops)}`] : []),
  ].join("\n");
}

function renderRegistry(r: NonNullable<Status["registry"]>): string {
  if (r.error) return r.error;
  if (!r.published) return `${REGISTRY_NAME} does not exist (run \`kind-cluster up\`)`;
  return `${REGISTRY_NAME} ${r.running ? "running" : "stopped"} on ${r.published}, ${r.onClusterNetwork ? "on" : "NOT on"} the cluster's network, ${r.relay ? `relay ${r.relay}` : "no relay in this container"}`;
}

function renderGitOps(g: NonNullable<Status["gitops"]>): string {
  if (g.error) return g.error;
  const short = (c?: string) => c?.slice(0, 7) ?? "none";
  const state = g.ready ? "Ready" : `not Ready${g.message ? `: ${g.message}` : ""}`;
  const behind = g.head && g.applied !== g.head ? ` (workspace HEAD ${short(g.head)})` : "";
  return `following ${g.following ?? "?"}, applied ${short(g.applied)}${behind}, ${state}`;
}
