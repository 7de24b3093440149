import { stringify } from "yaml";
import { CONTAINERD_HOSTS_PATCH } from "./cluster/kind-config.js";
import type { ContainerDetails, ContainerEngine, NodeHandle } from "./engine/engine.js";
import { ZoneError } from "./errors.js";

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
async function findRegistry(engine: ContainerEngine): Promise<ContainerDetails | undefined> {
  const [container] = await engine.inspect([REGISTRY_NAME]);
  if (container && container.labels[LABEL] !== "true")
    throw new ZoneError({
      zone: "docker host",
      message: `a container named ${REGISTRY_NAME} (image ${container.image}, ${container.status}) exists, but kind-cluster did not create it; nothing was changed`,
      fix: `rename or remove that container (\`docker rename ${REGISTRY_NAME} <other>\`), or set localRegistry to false`,
    });
  return container;
}

/** Creates, adopts or starts the registry; creates nothing when its port is taken. */
export async function ensureRegistry(engine: ContainerEngine, hostPort: number, image: string): Promise<RegistryState> {
  const existing = await findRegistry(engine);
  if (existing) {
    const port = binding(existing)?.hostPort;
    if (port !== hostPort)
      throw new ZoneError({
        zone: "docker host",
        message: `the local registry ${REGISTRY_NAME} already runs on port ${port ?? "(none)"}, not registryPort ${hostPort}; nothing was changed`,
        fix: `set registryPort to ${port}, or remove the registry and its data with \`kind-cluster down --remove-registry\``,
      });
    if (existing.running) return { action: "adopted", container: existing, hostPort };
    const refused = await engine.tryStart(existing.id);
    if (refused) throw portTaken(hostPort, refused);
    return { action: "started", container: (await engine.inspect([existing.id]))[0]!, hostPort };
  }
  const holders = await engine.portHolders(hostPort, "127.0.0.1");
  if (holders.length > 0)
    throw new ZoneError({
      zone: "docker host",
      message: `port ${hostPort} on 127.0.0.1 is already published by container ${holders.map((h) => h.name).join(", ")}; the registry was not created`,
      fix: `stop that container (\`docker stop ${holders[0]!.name}\`) or set the Feature's registryPort option to a free port`,
    });
  const created = await engine.create({
    name: REGISTRY_NAME,
    image,
    labels: { [LABEL]: "true" },
    publish: [{ hostIp: "127.0.0.1", hostPort, containerPort: REGISTRY_PORT }],
    volumes: [{ volume: REGISTRY_VOLUME, target: "/var/lib/registry" }],
    restart: "unless-stopped",
  });
  if (!created.id) return ensureRegistry(engine, hostPort, image); // Another dev container created it first.
  const refused = await engine.tryStart(created.id);
  if (refused) {
    await engine.remove(created.id);
    throw portTaken(hostPort, refused);
  }
  return { action: "created", container: (await engine.inspect([created.id]))[0]!, hostPort };
}

function portTaken(hostPort: number, detail: string): ZoneError {
  return new ZoneError({
    zone: "docker host",
    message: `the registry could not start: port ${hostPort} on the Docker host's 127.0.0.1 is held by a process outside Docker; nothing was left behind`,
    fix: `free the port on the host (\`sudo ss -ltnp 'sport = :${hostPort}'\` names the process), or set registryPort to a free port`,
    detail,
  });
}

/** Attaches the registry to the cluster's Docker network (nodes and pods reach it by name there). */
export async function attachRegistry(engine: ContainerEngine, network: string): Promise<boolean> {
  const [container] = await engine.inspect([REGISTRY_NAME]);
  if (container?.networks[network]) return false;
  await engine.connect(network, REGISTRY_NAME);
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
async function enableHostsDirectory(node: NodeHandle): Promise<boolean> {
  if (await readsHostsDirectory(node)) return false;
  const config = (await node.readFile(CONTAINERD_CONFIG)) ?? "";
  if (/\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]/.test(config))
    throw new ZoneError({
      zone: "kind cluster",
      message: `node ${node.name}'s containerd has its own registry settings and does not read ${CERTS_D}; nothing was changed`,
      fix: `add config_path = "${CERTS_D}" to that table in ${CONTAINERD_CONFIG} (kind's containerdConfigPatches), or re-create the cluster`,
    });
  const append = await node.exec(["tee", "-a", CONTAINERD_CONFIG], {
    timeoutMs: 15_000,
    input: `\n# Added by kind-cluster for the local registry.\n${CONTAINERD_HOSTS_PATCH}`,
  });
  const restart = append.exitCode === 0 ? await node.exec(["systemctl", "restart", "containerd"], { timeoutMs: 60_000 }) : append;
  if (restart.exitCode !== 0)
    throw new ZoneError({
      zone: "kind cluster",
      message: `could not make node ${node.name}'s containerd read ${CERTS_D}`,
      fix: `look at \`docker exec ${node.name} journalctl -u containerd\``,
      detail: restart.stderr,
    });
  return true;
}

/** Whether the node's containerd reads registry host files from certs.d (as `up` and `doctor` both ask). */
async function readsHostsDirectory(node: NodeHandle): Promise<boolean> {
  const dump = await node.exec(["containerd", "config", "dump"], { timeoutMs: 30_000 });
  return dump.exitCode === 0 && HOSTS_DIRECTORY_ON.test(dump.stdout);
}

/** Whether the node holds this hosts file exactly as we write it. */
async function hostsFileState(node: NodeHandle, wanted: { file: string; toml: string }): Promise<"current" | "absent" | "differs"> {
  const current = await node.readFile(wanted.file);
  if (current === undefined) return "absent";
  return current.trimEnd() === wanted.toml.trimEnd() ? "current" : "differs";
}

/** Writes the registry host configuration into each node's containerd; returns the nodes changed. */
export async function configureNodes(nodes: readonly NodeHandle[], hostPort: number): Promise<string[]> {
  const changed: string[] = [];
  for (const node of nodes) {
    let wrote = await enableHostsDirectory(node);
    for (const { file, toml } of nodeHosts(hostPort)) {
      if ((await hostsFileState(node, { file, toml })) === "current") continue;
      await node.writeFile(file, toml);
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
export async function observeRegistry(engine: ContainerEngine, network: string | undefined): Promise<RegistryView> {
  const container = await findRegistry(engine);
  const published = binding(container);
  return {
    exists: container !== undefined,
    running: container?.running ?? false,
    published: published ? `${published.hostIp}:${published.hostPort}` : undefined,
    onNetwork: network !== undefined && container?.networks[network] !== undefined,
  };
}

/** Whether a node's containerd reads the registry host files, and has ours for localhost:<port>. */
export async function nodeHostsFile(node: NodeHandle, hostPort: number): Promise<{ ok: boolean; detail: string }> {
  if (!(await readsHostsDirectory(node))) return { ok: false, detail: `${node.name}'s containerd does not read ${CERTS_D} (config_path)` };
  const wanted = nodeHosts(hostPort)[0]!;
  const state = await hostsFileState(node, wanted);
  if (state === "absent") return { ok: false, detail: `${node.name} has no ${wanted.file}` };
  return state === "current"
    ? { ok: true, detail: `${node.name}: ${wanted.file}` }
    : { ok: false, detail: `${node.name}: ${wanted.file} differs from what kind-cluster writes` };
}

/**
 * From inside a node, through its own name resolution and network: the registry's API answers, and
 * when it holds an image, that image's manifest is served (what containerd fetches first on a pull).
 */
export async function pullFromNode(node: NodeHandle): Promise<{ ok: boolean; detail: string }> {
  const accept =
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
  const curl = (path: string, ...extra: string[]) =>
    node.exec(["curl", "-sS", "--max-time", "5", ...extra, "-H", accept, `http://${IN_CLUSTER}${path}`], { timeoutMs: 15_000 });
  const catalog = await curl("/v2/_catalog");
  if (catalog.exitCode !== 0) return { ok: false, detail: `${node.name} cannot reach http://${IN_CLUSTER}: ${catalog.stderr.trim()}` };
  const repository = (JSON.parse(catalog.stdout) as { repositories?: string[] }).repositories?.[0];
  if (!repository) return { ok: true, detail: `${node.name} reaches http://${IN_CLUSTER}/v2/ (no image pushed yet to pull)` };
  const tags = await curl(`/v2/${repository}/tags/list`);
  const tag = (JSON.parse(tags.stdout || "{}") as { tags?: string[] }).tags?.[0];
  const manifest = await curl(`/v2/${repository}/manifests/${tag}`, "-o", "/dev/null", "-w", "%{http_code}");
  return manifest.stdout === "200"
    ? { ok: true, detail: `${node.name} fetched the manifest of ${repository}:${tag} from http://${IN_CLUSTER}` }
    : { ok: false, detail: `${node.name}: the manifest of ${repository}:${tag} answered ${manifest.stdout}` };
}

/** Removes the registry container and its data (down --remove-registry). */
export async function removeRegistry(engine: ContainerEngine): Promise<boolean> {
  const container = await findRegistry(engine);
  if (container) await engine.remove(container.id);
  await engine.removeVolume(REGISTRY_VOLUME);
  return container !== undefined;
}
