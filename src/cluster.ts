import { containersWithLabel, KIND_CLUSTER_LABEL, KIND_ROLE_LABEL, type ContainerDetails, type PortBinding } from "./docker.js";

/**
 * Zone 3 as the Docker host shows it: the one view of a kind cluster that `up`, `status`, `doctor`
 * and `down` share (its node containers, their roles and states, where the API is published, and the
 * cluster's Docker network).
 */

/** The API server's port inside the control-plane container, as kind publishes it. */
export const API_PORT = 6443;

export function controlPlaneName(clusterName: string): string {
  return `${clusterName}-control-plane`;
}

export interface ClusterNode {
  id: string;
  name: string;
  role: string;
  running: boolean;
  /** Docker's state word (running, exited, paused...). */
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
}

/** The view of one cluster from its node containers' details. Pure. */
export function viewOf(name: string, containers: readonly ContainerDetails[]): ClusterView {
  const nodes = containers
    .filter((c) => c.labels[KIND_CLUSTER_LABEL] === name)
    .map((c) => ({ id: c.id, name: c.name, role: c.labels[KIND_ROLE_LABEL] ?? "", running: c.running, status: c.status }))
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
  };
}

export async function observeCluster(name: string): Promise<ClusterView> {
  return viewOf(name, await containersWithLabel(`${KIND_CLUSTER_LABEL}=${name}`));
}

/** Every kind cluster on this Docker host, by name. */
export async function clusterNames(): Promise<string[]> {
  const containers = await containersWithLabel(KIND_CLUSTER_LABEL);
  return [...new Set(containers.map((c) => c.labels[KIND_CLUSTER_LABEL] ?? ""))].filter(Boolean).sort();
}
