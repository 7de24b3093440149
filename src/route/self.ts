import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { ContainerDetails, ContainerEngine } from "../engine/engine.js";
import { once } from "../once.js";

/**
 * Zone 1 as the Docker host sees it: which container this process runs in, its default gateway, its
 * image and its address on each network. Learned once per run (the engine is asked on first need, at
 * most once), and kept up to date as it joins networks, so no stage asks twice.
 */
export interface Self {
  /** The default route's gateway: the Docker host as this container sees it. */
  readonly gateway?: string;
  /** This process's container, or undefined when it does not run in one. */
  id(): Promise<string | undefined>;
  /** The container's image (the host-wide lock makes its claim containers from it). */
  image(): Promise<string | undefined>;
  /** Who this container is, for records other dev containers read; undefined outside a container. */
  identity(): Promise<Identity | undefined>;
  /** The Docker host's path of the socket mounted into this container (the Feature's mount). */
  socketSource(): Promise<string | undefined>;
  /** Its address on a network, when it is attached. */
  addressOn(network: string): Promise<string | undefined>;
  /** Joins a network (once per run); returns why it cannot, or undefined when it is on it. */
  join(network: string | undefined): Promise<string | undefined>;
}

/** A dev container as others are told about it: its id, its name, and the project (workspace) it was opened on. */
export interface Identity {
  container: string;
  name: string;
  /** The workspace folder on the host, as the devcontainer CLI labels it; else the container's name. */
  project: string;
}

/** The label the devcontainer CLI (and VS Code) give a dev container: its workspace folder on the host. */
const LOCAL_FOLDER = "devcontainer.local_folder";
/** Where the Feature mounts the host's socket (docker-socket.sh serves it to the remote user). */
const SOCKET_TARGETS = ["/var/run/kind-cluster/docker-host.sock", "/var/run/docker.sock"];

/** The identity of a container from its details. Pure. */
export function identityOf(c: Pick<ContainerDetails, "id" | "name" | "labels">): Identity {
  return { container: c.id, name: c.name, project: c.labels[LOCAL_FOLDER] || c.name };
}

/** The default route's gateway from /proc/net/route (little-endian hex). Pure. */
export function parseDefaultGateway(procNetRoute: string): string | undefined {
  for (const line of procNetRoute.split("\n").slice(1)) {
    const [, destination, gateway] = line.trim().split(/\s+/);
    if (destination === "00000000" && gateway && gateway !== "00000000") {
      const n = Number.parseInt(gateway, 16);
      return [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255].join(".");
    }
  }
  return undefined;
}

/** Finds a container's ID from the cgroup or mount tables it sees. Pure. */
export function containerIdFrom(texts: readonly string[]): string | undefined {
  for (const text of texts) {
    const m = /\/(?:docker\/containers|docker|containers)\/([0-9a-f]{64})/.exec(text);
    if (m) return m[1];
  }
  return undefined;
}

const readText = (path: string) => readFile(path, "utf8").catch(() => "");

export async function learnSelf(engine: ContainerEngine): Promise<Self> {
  const [mountinfo = "", cgroup = "", routes = ""] = await Promise.all(["/proc/self/mountinfo", "/proc/self/cgroup", "/proc/net/route"].map(readText));
  const details = once(async () => {
    // Docker names a container's host after its short ID unless told otherwise.
    const [found] = await engine.inspect([containerIdFrom([mountinfo, cgroup]) ?? hostname()]);
    return {
      id: found?.id,
      image: found?.image,
      found,
      addresses: new Map(Object.entries(found?.networks ?? {}).map(([name, n]) => [name, n.ip])),
    };
  });
  return {
    gateway: parseDefaultGateway(routes),
    id: async () => (await details()).id,
    image: async () => (await details()).image,
    async identity() {
      const { found } = await details();
      return found ? identityOf(found) : undefined;
    },
    async socketSource() {
      const mounts = (await details()).found?.mounts ?? {};
      return SOCKET_TARGETS.map((t) => mounts[t]).find(Boolean);
    },
    addressOn: async (network) => (await details()).addresses.get(network) || undefined,
    async join(network) {
      if (!network) return "the cluster has no Docker network of its own";
      const { id, addresses } = await details();
      if (!id) return "this process does not run in a container, so it cannot join the cluster's network";
      if (addresses.get(network)) return undefined;
      await engine.connect(network, id);
      const [after] = await engine.inspect([id]);
      addresses.set(network, after?.networks[network]?.ip ?? "");
      return undefined;
    },
  };
}
