import { stringify } from "yaml";
import type { ClusterNode } from "./cluster.js";
import {
  connectNetwork,
  createContainer,
  execInContainer,
  inspectContainers,
  portHolders,
  removeContainer,
  removeVolume,
  tryStart,
  type ContainerDetails,
} from "./docker.js";
import { ZoneError } from "./errors.js";
import { CONTAINERD_HOSTS_PATCH } from "./kind-config.js";

/**
 * The local registry: one container per Docker host, shared by every cluster that asks for it,
 * published on the host's 127.0.0.1 only, data in a named volume, attached to each cluster's network.
 * Nodes reach it through containerd's registry host configuration; the KEP-1755 ConfigMap tells tools
 * where it is.
 */
export const REGISTRY_NAME = "kind-cluster-registry";
export const REGISTRY_VOLUME = "kind-cluster-registry-data";
/** The registry's own port inside its container (and on the cluster's network). */
export const REGISTRY_PORT = 5000;
const LABEL = "io.kind-cluster.registry";
const CERTS_D = "/etc/containerd/certs.d";

/** The address pods and controllers use: the container's name on the cluster's network, plain HTTP. */
export const IN_CLUSTER = `${REGISTRY_NAME}:${REGISTRY_PORT}`;

/** The registry hosts nodes resolve: what users push to (localhost:<port>), and the in-cluster name. Pure. */
export function nodeHosts(hostPort: number): Array<{ host: string; file: string; toml: string }> {
  const toml = `# Written by kind-cluster: pull from the local registry over the cluster's network, plain HTTP.\n[host."http://${IN_CLUSTER}"]\n  capabilities = ["pull", "resolve"]\n`;
  return [`localhost:${hostPort}`, IN_CLUSTER].map((host) => ({ host, file: `${CERTS_D}/${host}/hosts.toml`, toml }));
}

/** The KEP-1755 ConfigMap ("Communicating a local registry") that Tilt, ctlptl and others read. Pure. */
export function registryHostingConfigMap(hostPort: number): object {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "local-registry-hosting", namespace: "kube-public" },
    data: {
      "localRegistryHosting.v1": stringify({
        host: `localhost:${hostPort}`,
        hostFromContainerRuntime: IN_CLUSTER,
        hostFromClusterNetwork: IN_CLUSTER,
        help: "https://kind.sigs.k8s.io/docs/user/local-registry/",
      }),
    },
  };
}

export const CONFIG_MAP_PATH = "/api/v1/namespaces/kube-public/configmaps/local-registry-hosting";

export interface RegistryState {
  action: "created" | "adopted" | "started";
  container: ContainerDetails;
  hostPort: number;
}

/** Where the Docker host publishes the registry's port. */
function binding(container: ContainerDetails | undefined) {
  return container?.bindings[`${REGISTRY_PORT}/tcp`]?.[0];
}

/** Our registry container, or undefined; a container of that name that we did not create is refused. */
export async function findRegistry(): Promise<ContainerDetails | undefined> {
  const [container] = await inspectContainers([REGISTRY_NAME]);
  if (container && container.labels[LABEL] !== "true")
    throw new ZoneError(
      "docker host",
      `a container named ${REGISTRY_NAME} (image ${container.image}, ${container.status}) exists, but kind-cluster did not create it; nothing was changed`,
      `rename or remove that container (\`docker rename ${REGISTRY_NAME} <other>\`), or set localRegistry to false`,
    );
  return container;
}

/** Creates, adopts or starts the registry; creates nothing when its port is taken. */
export async function ensureRegistry(hostPort: number, image: string): Promise<RegistryState> {
  const existing = await findRegistry();
  if (existing) {
    const port = binding(existing)?.hostPort;
    if (port !== hostPort)
      throw new ZoneError(
        "docker host",
        `the local registry ${REGISTRY_NAME} already runs on port ${port ?? "(none)"}, not registryPort ${hostPort}; nothing was changed`,
        `set registryPort to ${port}, or remove the registry and its data with \`kind-cluster down --remove-registry\``,
      );
    if (existing.running) return { action: "adopted", container: existing, hostPort };
    const refused = await tryStart(existing.id);
    if (refused) throw portTaken(hostPort, refused);
    return { action: "started", container: (await inspectContainers([existing.id]))[0]!, hostPort };
  }
  const holders = await portHolders(hostPort, "127.0.0.1");
  if (holders.length > 0)
    throw new ZoneError(
      "docker host",
      `port ${hostPort} on 127.0.0.1 is already published by container ${holders.map((h) => h.name).join(", ")}; the registry was not created`,
      `stop that container (\`docker stop ${holders[0]!.name}\`) or set the Feature's registryPort option to a free port`,
    );
  const created = await createContainer({
    name: REGISTRY_NAME,
    image,
    labels: { [LABEL]: "true" },
    publish: [{ hostIp: "127.0.0.1", hostPort, containerPort: REGISTRY_PORT }],
    volumes: [{ volume: REGISTRY_VOLUME, target: "/var/lib/registry" }],
    restart: "unless-stopped",
  });
  if (!created.id) return ensureRegistry(hostPort, image); // Another dev container created it first.
  const refused = await tryStart(created.id);
  if (refused) {
    await removeContainer(created.id);
    throw portTaken(hostPort, refused);
  }
  return { action: "created", container: (await inspectContainers([created.id]))[0]!, hostPort };
}

function portTaken(hostPort: number, detail: string): ZoneError {
  return new ZoneError(
    "docker host",
    `the registry could not start: port ${hostPort} on the Docker host's 127.0.0.1 is held by a process outside Docker; nothing was left behind`,
    `free the port on the host (\`sudo ss -ltnp 'sport = :${hostPort}'\` names the process), or set registryPort to a free port`,
    detail,
  );
}

/** Attaches the registry to the cluster's Docker network (nodes and pods reach it by name there). */
export async function attachRegistry(network: string): Promise<boolean> {
  const [container] = await inspectContainers([REGISTRY_NAME]);
  if (container?.networks[network]) return false;
  await connectNetwork(network, REGISTRY_NAME);
  return true;
}

const CONTAINERD_CONFIG = "/etc/containerd/config.toml";
/** In `containerd config dump`: the CRI reads registry host files from certs.d. */
const HOSTS_DIRECTORY_ON = /config_path = ['"][^'"]*\/etc\/containerd\/certs\.d/;

/**
 * Makes the node's containerd read registry host files (certs.d). Clusters we create get it from their
 * kind config; an older cluster, or one created without the registry, gets the same table appended to
 * its containerd config and containerd restarted (its containers keep running: each has its own shim).
 */
async function enableHostsDirectory(node: ClusterNode): Promise<boolean> {
  if (await readsHostsDirectory(node)) return false;
  const config = await execInContainer(node.id, ["cat", CONTAINERD_CONFIG], 15_000);
  if (/\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]/.test(config.stdout))
    throw new ZoneError(
      "kind cluster",
      `node ${node.name}'s containerd has its own registry settings and does not read ${CERTS_D}; nothing was changed`,
      `add config_path = "${CERTS_D}" to that table in ${CONTAINERD_CONFIG} (kind's containerdConfigPatches), or re-create the cluster`,
    );
  const append = await execInContainer(node.id, ["tee", "-a", CONTAINERD_CONFIG], 15_000, `\n# Added by kind-cluster for the local registry.\n${CONTAINERD_HOSTS_PATCH}`);
  const restart = append.exitCode === 0 ? await execInContainer(node.id, ["systemctl", "restart", "containerd"], 60_000) : append;
  if (restart.exitCode !== 0)
    throw new ZoneError("kind cluster", `could not make node ${node.name}'s containerd read ${CERTS_D}`, `look at \`docker exec ${node.name} journalctl -u containerd\``, restart.stderr);
  return true;
}

/** Whether the node's containerd reads registry host files from certs.d (as `up` and `doctor` both ask). */
async function readsHostsDirectory(node: ClusterNode): Promise<boolean> {
  const dump = await execInContainer(node.id, ["containerd", "config", "dump"], 30_000);
  return dump.exitCode === 0 && HOSTS_DIRECTORY_ON.test(dump.stdout);
}

/** Whether the node holds this hosts file exactly as we write it. */
async function hostsFileState(node: ClusterNode, wanted: { file: string; toml: string }): Promise<"current" | "absent" | "differs"> {
  const current = await execInContainer(node.id, ["cat", wanted.file], 15_000);
  if (current.exitCode !== 0) return "absent";
  return current.stdout === wanted.toml.trimEnd() ? "current" : "differs";
}

/** Writes the registry host configuration into each node's containerd; returns the nodes changed. */
export async function configureNodes(nodes: readonly ClusterNode[], hostPort: number): Promise<string[]> {
  const changed: string[] = [];
  for (const node of nodes) {
    let wrote = await enableHostsDirectory(node);
    for (const { file, toml } of nodeHosts(hostPort)) {
      if ((await hostsFileState(node, { file, toml })) === "current") continue;
      const dir = file.slice(0, file.lastIndexOf("/"));
      const mkdir = await execInContainer(node.id, ["mkdir", "-p", dir], 15_000);
      const write = mkdir.exitCode === 0 ? await execInContainer(node.id, ["tee", file], 15_000, toml) : mkdir;
      if (write.exitCode !== 0)
        throw new ZoneError("kind cluster", `could not write ${file} in node ${node.name}`, `check the node: \`docker exec ${node.name} ls ${CERTS_D}\``, write.stderr);
      wrote = true;
    }
    if (wrote) changed.push(node.name);
  }
  return changed;
}

export interface RegistryView {
  exists: boolean;
  running: boolean;
  /** host address:port it is published on */
  published?: string;
  /** Attached to the cluster's network. */
  onNetwork: boolean;
}

/** The registry as the Docker host shows it (refuses a foreign container of our name, like up). */
export async function observeRegistry(network: string | undefined): Promise<RegistryView> {
  const container = await findRegistry();
  const published = binding(container);
  return {
    exists: container !== undefined,
    running: container?.running ?? false,
    published: published ? `${published.hostIp}:${published.hostPort}` : undefined,
    onNetwork: network !== undefined && container?.networks[network] !== undefined,
  };
}

/** Whether a node's containerd reads the registry host files, and has ours for localhost:<port>. */
export async function nodeHostsFile(node: ClusterNode, hostPort: number): Promise<{ ok: boolean; detail: string }> {
  if (!(await readsHostsDirectory(node))) return { ok: false, detail: `${node.name}'s containerd does not read ${CERTS_D} (config_path)` };
  const wanted = nodeHosts(hostPort)[0]!;
  const state = await hostsFileState(node, wanted);
  if (state === "absent") return { ok: false, detail: `${node.name} has no ${wanted.file}` };
  return state === "current" ? { ok: true, detail: `${node.name}: ${wanted.file}` } : { ok: false, detail: `${node.name}: ${wanted.file} differs from what kind-cluster writes` };
}

/**
 * From inside a node, through its own name resolution and network: the registry's API answers, and
 * when it holds an image, that image's manifest is served (what containerd fetches first on a pull).
 */
export async function pullFromNode(node: ClusterNode): Promise<{ ok: boolean; detail: string }> {
  const curl = (path: string, ...extra: string[]) =>
    execInContainer(node.id, ["curl", "-sS", "--max-time", "5", ...extra, "-H", "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json", `http://${IN_CLUSTER}${path}`], 15_000);
  const catalog = await curl("/v2/_catalog");
  if (catalog.exitCode !== 0) return { ok: false, detail: `${node.name} cannot reach http://${IN_CLUSTER}: ${catalog.stderr.trim()}` };
  const repository = (JSON.parse(catalog.stdout) as { repositories?: string[] }).repositories?.[0];
  if (!repository) return { ok: true, detail: `${node.name} reaches http://${IN_CLUSTER}/v2/ (no image pushed yet to pull)` };
  const tags = await curl(`/v2/${repository}/tags/list`);
  const tag = (JSON.parse(tags.stdout || "{}") as { tags?: string[] }).tags?.[0];
  const manifest = await curl(`/v2/${repository}/manifests/${tag}`, "-o", "/dev/null", "-w", "%{http_code}");
  return manifest.stdout === "200" ? { ok: true, detail: `${node.name} fetched the manifest of ${repository}:${tag} from http://${IN_CLUSTER}` } : { ok: false, detail: `${node.name}: the manifest of ${repository}:${tag} answered ${manifest.stdout}` };
}

/** Removes the registry container and its data (down --remove-registry). */
export async function removeRegistry(): Promise<boolean> {
  const container = await findRegistry();
  if (container) await removeContainer(container.id);
  await removeVolume(REGISTRY_VOLUME);
  return container !== undefined;
}
