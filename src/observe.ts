import type { KubeApi } from "./apiserver.js";
import { isUser } from "./cluster/users.js";
import { clusterNames, completion, observeCluster, type ClusterView, type Completion } from "./cluster/view.js";
import type { EngineInfo } from "./engine/engine.js";
import type { Engines } from "./engines.js";
import { messageOf, ZoneError } from "./errors.js";
import { readAgeKey } from "./gitops/age-key.js";
import type { GitOpsView, LoopOwner } from "./gitops/engine.js";
import { locateProblems, type LocatedProblem } from "./gitops/problems.js";
import { readKubeconfig, type ClusterEntry } from "./kubeconfig/index.js";
import type { Settings } from "./options.js";
import { observeRegistry, type RegistryView } from "./registry.js";
import { reachability, routeFacts, type Reachability } from "./route/index.js";
import type { RouteFacts } from "./route/choose.js";
import { serviceKey, type ServiceInstance } from "./serve/daemon.js";
import type { GitSourceConfig } from "./serve/git-source.js";
import { readHead } from "./serve/head.js";
import type { PortsConfig } from "./serve/ports.js";
import { readTable, type PortsTable } from "./ports/table.js";

/**
 * One observation of the system, zone by zone, changing nothing: the kubeconfig entry (zone 1), the
 * engine (zone 2), the cluster's containers (zone 3), whether the entry reaches the API (the route),
 * and, where the settings ask for them, the registry, the GitOps loop and this container's services.
 * `status` renders it, `doctor` checks it and adds its own probes, `up` starts from it.
 */
export interface Observation {
  kubeconfig: { path: string; entry?: ClusterEntry; currentContext?: string; error?: string };
  docker: { info?: EngineInfo; error?: ZoneError };
  /** Absent when the engine did not answer. */
  cluster?: ClusterView;
  /** How far the cluster's creation got; absent when there is no cluster. */
  completion?: Completion;
  /** Absent when there is no cluster to reach. */
  route?: Reachability & { facts: RouteFacts };
}

/** The parts beyond the core, observed for `status` and `doctor` when the settings ask for them. */
export interface FullObservation extends Observation {
  registry?: RegistryObservation;
  gitops?: GitOpsObservation;
  ports?: PortsObservation;
  /** This container's service instances for this cluster, and the container's own (the registry relay). */
  services: ServiceInstance[];
}

interface RegistryObservation {
  view?: RegistryView;
  relay?: ServiceInstance;
  error?: string;
}

interface GitOpsObservation {
  view?: GitOpsView;
  /** Who owns the loop, and whether it is this container. */
  owner?: LoopOwner & { ours: boolean };
  /** The view's problems, each with the files of the committed tree that declare what it names. */
  problems: LocatedProblem[];
  /** The workspace's HEAD commit, read from the repository the Git source service serves. */
  head?: string;
  source?: ServiceInstance<GitSourceConfig>;
  /** The SOPS age identities this container holds (how many, from where; never the key itself). */
  ageKey?: { count: number; sources: string[] };
  error?: string;
}

interface PortsObservation {
  service?: ServiceInstance<PortsConfig>;
  /** What the ports service forwards and announces, as it last wrote it. */
  table?: PortsTable;
}

const asZoneError = (error: unknown): ZoneError =>
  error instanceof ZoneError ? error : new ZoneError({ zone: "docker host", message: messageOf(error), fix: "run `kind-cluster doctor`", cause: error });

/** The core: kubeconfig, engine, cluster, route. `docker` skips asking the engine again when it just answered. */
export async function observe(engines: Engines, settings: Settings, kubeconfig: string, known: { docker?: EngineInfo } = {}): Promise<Observation> {
  const result: Observation = { kubeconfig: { path: kubeconfig }, docker: {} };
  try {
    const view = await readKubeconfig(kubeconfig, settings.clusterName);
    result.kubeconfig = { path: kubeconfig, entry: view.entry, currentContext: view.currentContext };
  } catch (error) {
    result.kubeconfig.error = messageOf(error);
  }
  try {
    result.docker.info = known.docker ?? (await engines.container.info());
    result.cluster = await observeCluster(engines.container, settings.clusterName);
  } catch (error) {
    result.docker.error = asZoneError(error);
    return result;
  }
  const { cluster } = result;
  const controlPlane = cluster.controlPlane ?? cluster.nodes[0];
  if (!controlPlane) return result;
  result.completion = await completion(engines.container.node(controlPlane));
  const facts = routeFacts(settings.clusterName, cluster, result.docker.info, (await engines.self()).gateway);
  result.route = { facts, ...(await reachability(engines, settings, facts, result.kubeconfig.entry)) };
  return result;
}

/**
 * The clusters of this dev container, for `status`: the declared ones (clusterName, extraClusters), then
 * those it runs services for or is recorded as a user of (brought up by hand with --name).
 */
export async function clustersOfContainer(engines: Engines, declared: readonly string[]): Promise<string[]> {
  const names = new Set(declared);
  const extra = new Set<string>();
  try {
    for (const s of await engines.services.list()) if (s.key.cluster && !names.has(s.key.cluster)) extra.add(s.key.cluster);
    const me = await (await engines.self()).identity();
    if (me)
      for (const name of await clusterNames(engines.container)) {
        if (names.has(name) || extra.has(name)) continue;
        const cp = (await observeCluster(engines.container, name)).controlPlane;
        if (cp && (await isUser(engines.container.node(cp), me.container))) extra.add(name);
      }
  } catch {
    // The engine does not answer: the declared clusters' observations say so.
  }
  return [...declared, ...[...extra].sort()];
}

/** The API through the kubeconfig's entry, when the observation found it reachable. */
function entryApi(engines: Engines, o: Observation): KubeApi | undefined {
  return o.route?.reachable && o.kubeconfig.entry ? engines.api(o.kubeconfig.entry) : undefined;
}

/** Everything: the core, then the registry, the GitOps loop and the services the settings ask for. */
export async function observeAll(engines: Engines, settings: Settings, kubeconfig: string): Promise<FullObservation> {
  const core = await observe(engines, settings, kubeconfig);
  const services = core.docker.info
    ? [...(await engines.services.list({ cluster: settings.clusterName })), ...(await engines.services.list({ cluster: "" }))]
    : [];
  const result: FullObservation = { ...core, services };
  if (settings.localRegistry) result.registry = await registryPart(engines, core, services);
  if (settings.gitops !== "none") result.gitops = await gitopsPart(engines, settings, core, services);
  if (settings.loadBalancer || settings.forwardServices) result.ports = await portsPart(services);
  return result;
}

async function portsPart(services: ServiceInstance[]): Promise<PortsObservation> {
  const service = services.find((s) => s.key.kind === "ports") as ServiceInstance<PortsConfig> | undefined;
  return { service, table: service ? await readTable(service.config.table) : undefined };
}

async function registryPart(engines: Engines, core: Observation, services: ServiceInstance[]): Promise<RegistryObservation> {
  const relay = services.find((s) => s.key.kind === "registry-relay");
  if (!core.docker.info) return { relay, error: core.docker.error?.message };
  try {
    return { view: await observeRegistry(engines.container, core.cluster?.network), relay };
  } catch (error) {
    return { relay, error: messageOf(error) };
  }
}

async function gitopsPart(engines: Engines, settings: Settings, core: Observation, services: ServiceInstance[]): Promise<GitOpsObservation> {
  const key = serviceKey("git-source", settings.clusterName);
  const source = services.find((s) => s.key.kind === key.kind && s.key.instance === key.instance) as ServiceInstance<GitSourceConfig> | undefined;
  const head = source ? (await readHead(source.config.repo).catch(() => undefined))?.commit : undefined;
  const age = await readAgeKey();
  const part = { source, head, problems: [], ageKey: age && { count: age.count, sources: age.sources } };
  const api = entryApi(engines, core);
  if (!api) return { ...part, error: "the API server is not reachable" };
  try {
    const engine = engines.gitops(settings.gitops);
    const [view, owner, me] = await Promise.all([engine.observe(api), engine.owner(api), engines.self().then((s) => s.identity())]);
    return {
      ...part,
      view,
      problems: await locateProblems(source?.config.repo, view.problems),
      owner: owner && { ...owner, ours: owner.container === me?.container },
    };
  } catch (error) {
    return { ...part, error: messageOf(error) };
  }
}
