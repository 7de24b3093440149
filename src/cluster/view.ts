import type { ContainerDetails, ContainerEngine, NodeHandle, PortBinding } from "../engine/engine.js";
import { ZoneError } from "../errors.js";

/**
 * Zone 3 as the Docker host shows it: the one view of a kind cluster that `up`, `status`, `doctor`
 * and `down` share (its node containers, their roles and states, where the API is published, and the
 * cluster's Docker network), and the node-level facts read through the engine's node handles.
 */

export const KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster";
export const KIND_ROLE_LABEL = "io.x-k8s.kind.role";

/** The API server's port inside the control-plane container, as kind publishes it. */
export const API_PORT = 6443;

export function controlPlaneName(clusterName: string): string {
  return `${clusterName}-control-plane`;
}

interface ClusterNode {
  id: string;
  name: string;
  role: string;
  running: boolean;
  /** The engine's state word (running, exited, paused...). */
  status: string;
}

export interface ClusterView {
  name: string;
  /** absent: no node container; running: all run; stopped: none runs; partial: some do. */
  state: "absent" | "running" | "stopped" | "partial";
  nodes: ClusterNode[];
  controlPlane?: ClusterNode;
  /** Where the control plane publishes the API on the Docker host (configured, so known while stopped). */
  api?: PortBinding;
  /** The cluster's Docker network: the control plane's first network other than Docker's default bridge. */
  network?: string;
  /** The control plane's labels (kind's, and what it was created with). */
  labels: Record<string, string>;
}

/** The view of one cluster from its node containers' details. Pure. */
export function viewOf(name: string, containers: readonly ContainerDetails[]): ClusterView {
  const nodes = containers
    .filter((c) => c.labels[KIND_CLUSTER_LABEL] === name)
    // A paused container is "running" to Docker, but nothing in it runs.
    .map((c) => ({ id: c.id, name: c.name, role: c.labels[KIND_ROLE_LABEL] ?? "", running: c.running && c.status !== "paused", status: c.status }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const cp = nodes.find((n) => n.role === "control-plane") ?? nodes.find((n) => n.name === controlPlaneName(name));
  const details = containers.find((c) => c.id === cp?.id);
  const running = nodes.filter((n) => n.running).length;
  return {
    name,
    state: nodes.length === 0 ? "absent" : running === nodes.length ? "running" : running === 0 ? "stopped" : "partial",
    nodes,
    controlPlane: cp,
    api: details?.bindings[`${API_PORT}/tcp`]?.[0],
    network: details ? Object.keys(details.networks).find((n) => n !== "bridge") : undefined,
    labels: details?.labels ?? {},
  };
}

export async function observeCluster(engine: ContainerEngine, name: string): Promise<ClusterView> {
  return viewOf(name, await engine.withLabel(`${KIND_CLUSTER_LABEL}=${name}`));
}

/** Every kind cluster on this Docker host, by name. */
export async function clusterNames(engine: ContainerEngine): Promise<string[]> {
  const containers = await engine.withLabel(KIND_CLUSTER_LABEL);
  return [...new Set(containers.map((c) => c.labels[KIND_CLUSTER_LABEL] ?? ""))].filter(Boolean).sort();
}

/** Written into the control plane the first time `up` sees every node Ready: this cluster was completed. */
const READY_MARK = "/kind/kind-cluster-ready";
/** kubeadm init writes it early: without it, creation stopped before the control plane was set up. */
const ADMIN_CONF = "/etc/kubernetes/admin.conf";

export interface Completion {
  /** `up` saw every node Ready once. */
  everReady: boolean;
  /** kubeadm init began (it wrote the admin kubeconfig). */
  kubeadmRan: boolean;
}

/** How far creation got, read from the control plane's files (works while it is stopped or frozen). */
export async function completion(controlPlane: NodeHandle): Promise<Completion> {
  const [everReady, kubeadmRan] = await Promise.all([controlPlane.exists(READY_MARK), controlPlane.exists(ADMIN_CONF)]);
  return { everReady, kubeadmRan };
}

/** A cluster whose creation was cut off before kubeadm ran: it holds nothing, and can be re-created. */
export function cutOff(c: Completion): boolean {
  return !c.everReady && !c.kubeadmRan;
}

export async function markReady(controlPlane: NodeHandle): Promise<void> {
  await controlPlane.exec(["touch", READY_MARK], { timeoutMs: 15_000 });
}

/**
 * Docker says the node runs; check that a command can run in it. A node whose runtime is stuck (seen:
 * `runc init` caught in a cgroup the node itself froze, "OCI runtime exec failed ... setns") is not
 * "still starting", and waiting does not help.
 */
export async function checkNodeRuns(node: NodeHandle): Promise<void> {
  const result = await node.exec(["true"], { timeoutMs: 10_000 });
  if (result.exitCode === 0) return;
  const why = result.exitCode === 124 ? "no answer within 10s" : result.stderr.trim().split("\n").pop() || `docker exec exited ${result.exitCode}`;
  throw new ZoneError({
    zone: "kind cluster",
    message: `node ${node.name} is running, but Docker cannot run a command in it (${why}): its container runtime is stuck; waiting will not help`,
    fix: `restart the node with \`docker restart ${node.name}\`, then \`kind-cluster up\`; if that hangs too, a process in it is frozen: on a Linux host look for FROZEN in /sys/fs/cgroup/freezer/docker/${node.id.slice(0, 12)}*/ (write THAWED to it) or restart Docker`,
    detail: result.stderr,
  });
}

/**
 * Waits until the API server answers /readyz inside the control-plane node. Asked from inside the node,
 * so the answer does not depend on any route from zone 1 (used after a stopped cluster is started).
 */
export async function apiServerReadyInNode(controlPlane: NodeHandle, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const result = await controlPlane.exec(["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "--raw=/readyz", "--request-timeout=5s"], {
      timeoutMs: 15_000,
    });
    if (result.exitCode === 0) return;
    last = result.stderr || result.stdout;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new ZoneError({
    zone: "kind cluster",
    message: `the API server did not become ready within ${Math.round(timeoutMs / 1000)}s after the nodes were started`,
    fix: `look at \`docker logs ${controlPlane.name}\`; if the nodes cannot recover, \`kind-cluster down\` then \`kind-cluster up\``,
    detail: last,
  });
}
