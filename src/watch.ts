import { clusterNames } from "./cluster/view.js";
import type { ContainerEngine } from "./engine/engine.js";
import type { Engines } from "./engines.js";
import { stopClustersOf } from "./stop.js";

/**
 * stopWithContainer: the dev-container lifecycle has no hook for a container's stop, and a container
 * cannot see its own stop from inside. Docker can: a small watcher container, made from this dev
 * container's own image (on the host already: no registry involved) with the host's Docker socket and
 * no network, blocks in `docker wait` on this container and, once it stops (stopped, killed, removed),
 * stops the clusters it used that no other live dev container uses (stop.ts), then exits and is removed.
 * `up` starts it on every container start; one per dev container.
 */
const LABEL = "io.kind-cluster.watch";
const CLI = "/usr/local/bin/kind-cluster";
/** The engine's socket inside the watcher. */
const SOCKET = "/var/run/docker.sock";

const watcherName = (container: string) => `kind-cluster-watch-${container.slice(0, 12)}`;

/** Makes this container's watcher run; returns what was done, or why it cannot watch. */
export async function ensureWatcher(engines: Pick<Engines, "container" | "self">): Promise<{ action: "kept" | "started" } | { cannot: string }> {
  const self = await engines.self();
  const [me, image, socket] = await Promise.all([self.identity(), self.image(), self.socketSource()]);
  if (!me || !image) return { cannot: "this process does not run in a container" };
  if (!socket) return { cannot: "the Docker socket is not mounted from the host (the Feature's mount), so a watcher could not reach the engine" };
  const name = watcherName(me.container);
  const [existing] = await engines.container.inspect([name]);
  if (existing?.running && existing.labels[LABEL] === me.container) return { action: "kept" };
  if (existing) await engines.container.remove(existing.id);
  const { id } = await engines.container.create({
    name,
    image,
    labels: { [LABEL]: me.container },
    entrypoint: CLI,
    command: ["watch", me.container],
    user: "0",
    env: { DOCKER_HOST: `unix://${SOCKET}` },
    binds: [{ source: socket, target: SOCKET }],
    network: "none",
    autoRemove: true,
  });
  if (!id) return { cannot: `a container named ${name} appeared meanwhile` };
  await engines.container.start([id]);
  return { action: "started" };
}

/** The watcher's body (`kind-cluster watch <container>`): wait for the stop, then stop its clusters. */
export async function watch(engine: ContainerEngine, container: string, log: (line: string) => void): Promise<void> {
  log(`watching dev container ${container.slice(0, 12)}`);
  await engine.waitStopped(container);
  log(`dev container ${container.slice(0, 12)} stopped`);
  for (const line of await stopClustersOf(engine, container, await clusterNames(engine))) log(line);
}
