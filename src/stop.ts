import { describeUser, liveUsers, readUsers } from "./cluster/users.js";
import { observeCluster, type ClusterView } from "./cluster/view.js";
import { stopClusterServices } from "./down.js";
import type { ContainerEngine } from "./engine/engine.js";
import type { Engines } from "./engines.js";
import { contextName } from "./kubeconfig/names.js";
import type { Logger } from "./log.js";
import type { Settings } from "./options.js";

/**
 * `kind-cluster stop`: the cluster's nodes stopped (the host gets their memory and CPU back) and this
 * container's services for it; nothing else changes: the kubeconfig, the registry and its images, and
 * everything in the cluster stay. kind's nodes restart only on failure, so they stay stopped until
 * `up` (or the next container start) starts them again, by the same path as after a host restart.
 */
export async function stop(engines: Engines, settings: Settings, logger: Logger): Promise<void> {
  const name = settings.clusterName;
  await logger.stage("cluster", async (s) => {
    const cluster = await observeCluster(engines.container, name);
    if (cluster.state === "absent") return s.note(`no cluster ${name}`);
    const me = await (await engines.self()).identity();
    const others = await otherUsers(engines.container, cluster, me?.container);
    const stopped = await stopNodes(engines.container, cluster);
    s.note(stopped > 0 ? `stopped ${name} (${nodes(stopped)})` : `${name} was stopped already`);
    s.detail(
      `kept: context ${contextName(name)}, the registry and its images, everything in the cluster; \`kind-cluster up\` (or the next container start) brings it back`,
    );
    if (others.length > 0)
      s.warn(
        `cluster ${name} is also used by ${others.map(describeUser).join(", ")}: it is stopped for ${others.length > 1 ? "those projects" : "that project"} too, until a \`kind-cluster up\` there or here starts it`,
      );
  });
  await logger.stage("services", (s) => stopClusterServices(engines, name, s));
}

const nodes = (n: number) => `${n} node${n === 1 ? "" : "s"}`;

/** The live dev containers other than `me` that use the cluster (read from its running control plane). */
async function otherUsers(engine: ContainerEngine, cluster: ClusterView, me: string | undefined) {
  if (!cluster.controlPlane?.running) return [];
  return liveUsers(engine, await readUsers(engine.node(cluster.controlPlane)), me);
}

/**
 * Stops the nodes that run (paused ones too); returns how many. Each gets Docker's default 10 s before
 * it is killed: a kind node's systemd does not finish its shutdown within 30 s here (seen: every stop
 * took the whole 30 s), and a killed node comes back as after a host's power loss, which kind's nodes
 * and etcd are made to survive (the restart path `up` already takes after `docker stop`).
 */
async function stopNodes(engine: ContainerEngine, cluster: ClusterView): Promise<number> {
  const up = cluster.nodes.filter((n) => n.status !== "exited" && n.status !== "created" && n.status !== "dead");
  await engine.stop(
    up.map((n) => n.id),
    10,
  );
  return up.length;
}

/**
 * The stop watcher's work once `container` (a dev container) stopped: every running cluster it used is
 * stopped, unless another live dev container uses it too. Returns what it did, a line per cluster.
 */
export async function stopClustersOf(engine: ContainerEngine, container: string, clusters: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  for (const name of clusters) {
    const cluster = await observeCluster(engine, name);
    if (!cluster.controlPlane?.running) continue;
    const users = await readUsers(engine.node(cluster.controlPlane));
    if (!users.some((u) => u.container === container)) continue;
    const others = await liveUsers(engine, users, container);
    if (others.length > 0) {
      lines.push(`left ${name} running: ${others.map(describeUser).join(", ")} use${others.length > 1 ? "" : "s"} it`);
      continue;
    }
    lines.push(`stopped ${name} (${nodes(await stopNodes(engine, cluster))})`);
  }
  return lines;
}
