import { setTimeout as sleep } from "node:timers/promises";
import { ApiError, listNodes, type NodeSummary } from "../apiserver.js";
import type { ClusterView } from "../cluster.js";
import { connectNetwork, inspectContainers, selfContainerId, type DockerInfo } from "../docker.js";
import { ZoneError } from "../errors.js";
import type { ClusterEntry, Credentials } from "../kubeconfig/index.js";
import type { Settings } from "../options.js";
import { chooseRoute, explainFailure, routeCandidates, skippedRoutes, type ProbeOutcome, type RouteCandidate, type RouteFacts } from "./choose.js";
import { defaultGateway } from "./self.js";

/**
 * The hop from zone 1 to zone 3, the one module `up` and `doctor` share: the facts a route depends on,
 * a real probe of each candidate (DNS, TCP, a TLS handshake verified with the route's server name, an
 * authenticated API call), the fast path of every start, and joining the cluster's network.
 */
export { chooseApiServerAddress, exposureWarning, type RouteCandidate, type RouteFacts } from "./choose.js";

export interface Connection {
  candidate: RouteCandidate;
  explanation: string[];
  nodes: NodeSummary[];
}

const PROBE_TIMEOUT_MS = 5_000;

/** What the candidates are derived from: the published API, the engine, and this container's gateway. */
export async function routeFacts(settings: Settings, cluster: ClusterView, docker: DockerInfo): Promise<RouteFacts> {
  return {
    clusterName: settings.clusterName,
    publishedPort: cluster.api?.hostPort ?? 0,
    publishedHostIp: cluster.api?.hostIp ?? "",
    gatewayIp: await defaultGateway(),
    dockerDesktop: docker.dockerDesktop,
  };
}

export async function probeRoute(candidate: RouteCandidate, credentials: Credentials, timeoutMs: number): Promise<ProbeOutcome & { nodes?: NodeSummary[] }> {
  const start = performance.now();
  try {
    const nodes = await listNodes({ server: candidate.server, tlsServerName: candidate.tlsServerName, credentials }, timeoutMs);
    return { ok: true, ms: performance.now() - start, nodes };
  } catch (error) {
    const step = error instanceof ApiError ? error.step : "api";
    return { ok: false, failedAt: step, reason: (error as Error).message, ms: performance.now() - start };
  }
}

/** The fast path of every container start: the kubeconfig's entry is one of our routes and still answers. */
export async function entryStillWorks(settings: Settings, facts: RouteFacts, entry: ClusterEntry): Promise<Connection | undefined> {
  const candidate = routeCandidates(settings.route, facts).find((c) => c.server === entry.server && c.tlsServerName === entry.tlsServerName);
  if (!candidate) return undefined;
  const outcome = await probeRoute(candidate, entry.credentials, 3_000);
  if (!outcome.ok) return undefined;
  return { candidate, explanation: [`${candidate.kind}: the kubeconfig's entry still answers (${candidate.server})`], nodes: outcome.nodes ?? [] };
}

/** A failure that waiting will not mend: the name does not exist, or the API refuses us. */
function permanent(outcome: ProbeOutcome): boolean {
  return outcome.failedAt === "dns" || outcome.failedAt === "tls" || outcome.failedAt === "api";
}

/** Joins this dev container to the cluster's network; says why not when it cannot. */
export async function joinClusterNetwork(network: string | undefined): Promise<string | undefined> {
  if (!network) return "the cluster has no Docker network of its own";
  const self = await selfContainerId();
  if (!self) return "this process does not run in a container, so it cannot join the cluster's network";
  await connectNetwork(network, self);
  return undefined;
}

/** This dev container's address on the cluster's network, joining it first; throws when it cannot. */
export async function selfAddressOn(network: string | undefined): Promise<string> {
  const why = await joinClusterNetwork(network);
  const self = why ? undefined : await selfContainerId();
  const ip = self && network ? (await inspectContainers([self]))[0]?.networks[network]?.ip : undefined;
  if (!ip) throw new ZoneError("route", `this dev container has no address on the cluster's network${why ? `: ${why}` : ""}`, "run `kind-cluster up` inside the dev container, which joins it to the cluster's network");
  return ip;
}

/** Probes the candidate routes in order, for up to `patienceMs`, and keeps the first that works. */
export async function connect(settings: Settings, cluster: ClusterView, facts: RouteFacts, credentials: Credentials, patienceMs: number): Promise<Connection> {
  const candidates = routeCandidates(settings.route, facts);
  const deadline = Date.now() + patienceMs;
  const last = new Map<RouteCandidate, ProbeOutcome>();
  const tried = () => candidates.filter((c) => last.has(c)).map((c) => ({ candidate: c, outcome: last.get(c)! }));
  const explain = () => [...skippedRoutes(settings.route, facts), ...chooseRoute(tried(), facts).explanation];
  for (;;) {
    for (const candidate of candidates) {
      const previous = last.get(candidate);
      if (previous && permanent(previous)) continue;
      if (candidate.kind === "kind-network" && !previous) {
        const why = await joinClusterNetwork(cluster.network);
        if (why) {
          last.set(candidate, { ok: false, failedAt: "tcp", reason: why, ms: 0 });
          continue;
        }
      }
      const outcome = await probeRoute(candidate, credentials, PROBE_TIMEOUT_MS);
      last.set(candidate, outcome);
      if (outcome.ok) return { candidate, explanation: explain(), nodes: outcome.nodes ?? [] };
    }
    const allPermanent = candidates.every((c) => last.has(c) && permanent(last.get(c)!));
    if (allPermanent || Date.now() >= deadline) break;
    await sleep(1000);
  }
  throw new ZoneError(
    "route",
    `no route from the dev container reaches the API server of cluster ${settings.clusterName} (route option: ${settings.route})`,
    settings.route === "auto"
      ? "run `kind-cluster doctor` to see each hop; the lines below say where each route failed"
      : "set the Feature's route option to auto, or run `kind-cluster doctor` to see each hop",
    explain().join("\n"),
  );
}

export interface RouteDiagnosis {
  candidate: RouteCandidate;
  /** Whether the route option allows this route. */
  allowed: boolean;
  outcome?: ProbeOutcome;
  /** Why it was not probed. */
  why?: string;
  /** A sentence on the outcome, with what the facts say about a failure. */
  detail: string;
}

/**
 * Every route probed as it is, joining nothing (doctor changes nothing). Returns each route's
 * diagnosis and the first allowed route that works.
 */
export async function diagnoseRoutes(settings: Settings, cluster: ClusterView, facts: RouteFacts, credentials: Credentials): Promise<{ routes: RouteDiagnosis[]; working?: RouteCandidate }> {
  const allowed = new Set(routeCandidates(settings.route, facts).map((c) => c.kind));
  const self = await selfContainerId();
  const joined = self !== undefined && cluster.network !== undefined && (await inspectContainers([self]))[0]?.networks[cluster.network] !== undefined;
  const routes: RouteDiagnosis[] = [];
  for (const candidate of routeCandidates("auto", facts)) {
    const base = { candidate, allowed: allowed.has(candidate.kind) };
    if (candidate.kind === "kind-network" && !joined) {
      const why = `this container is not on the network ${cluster.network ?? "of the cluster"} (\`kind-cluster up\` joins it when this route is needed)`;
      routes.push({ ...base, why, detail: why });
      continue;
    }
    const outcome = await probeRoute(candidate, credentials, 3_000);
    const detail = outcome.ok ? `${candidate.server}: TLS verified, API answered in ${Math.round(outcome.ms)}ms` : explainFailure(candidate, outcome, facts);
    routes.push({ ...base, outcome, detail });
  }
  return { routes, working: routes.find((r) => r.outcome?.ok && r.allowed)?.candidate };
}
