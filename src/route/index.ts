import { setTimeout as sleep } from "node:timers/promises";
import { ApiError, type NodeSummary } from "../apiserver.js";
import type { ClusterView } from "../cluster/view.js";
import type { EngineInfo } from "../engine/engine.js";
import type { Engines } from "../engines.js";
import { ZoneError } from "../errors.js";
import type { ClusterEntry, Credentials } from "../kubeconfig/index.js";
import type { Settings } from "../options.js";
import { chooseRoute, explainFailure, routeCandidates, skippedRoutes, type ProbeOutcome, type RouteCandidate, type RouteFacts } from "./choose.js";

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

/** What the candidates are derived from: the published API, the engine, and this container's gateway. Pure. */
export function routeFacts(clusterName: string, cluster: ClusterView, docker: EngineInfo, gatewayIp: string | undefined): RouteFacts {
  return { clusterName, publishedPort: cluster.api?.hostPort ?? 0, publishedHostIp: cluster.api?.hostIp ?? "", gatewayIp, dockerDesktop: docker.dockerDesktop };
}

type Probe = ProbeOutcome & { nodes?: NodeSummary[] };

/** One candidate, probed end to end: DNS, TCP, a verified TLS handshake and an authenticated API call. */
export async function probeRoute(engines: Pick<Engines, "api">, candidate: RouteCandidate, credentials: Credentials, timeoutMs: number): Promise<Probe> {
  const start = performance.now();
  try {
    const nodes = await engines.api({ server: candidate.server, tlsServerName: candidate.tlsServerName, credentials }).listNodes(timeoutMs);
    return { ok: true, ms: performance.now() - start, nodes };
  } catch (error) {
    const step = error instanceof ApiError ? error.step : "api";
    return { ok: false, failedAt: step, reason: (error as Error).message, ms: performance.now() - start };
  }
}

/** Whether the kubeconfig's entry is reachable: what `up`, `status` and `doctor` all mean by it. */
export interface Reachability {
  /** The entry is one of the routes the route option allows, and it answered. */
  reachable: boolean;
  /** The route the entry names, when it is one of ours. */
  candidate?: RouteCandidate;
  outcome?: Probe;
  /** One line: why it is or is not reachable. */
  detail: string;
}

/**
 * The one view of "reachable": the kubeconfig's entry names one of the routes the route option
 * allows, and an authenticated API call through it succeeds over verified TLS. `up` takes it as its
 * fast path, `status` shows it, `doctor` judges the route by it.
 */
export async function reachability(
  engines: Pick<Engines, "api">,
  settings: Settings,
  facts: RouteFacts,
  entry: ClusterEntry | undefined,
): Promise<Reachability> {
  if (!entry) return { reachable: false, detail: "no kubeconfig entry" };
  const candidate = routeCandidates(settings.route, facts).find((c) => c.server === entry.server && c.tlsServerName === entry.tlsServerName);
  if (!candidate) return { reachable: false, detail: `the entry's server ${entry.server} is not a route the route option ${settings.route} allows` };
  const outcome = await probeRoute(engines, candidate, entry.credentials, 3_000);
  if (!outcome.ok) return { reachable: false, candidate, outcome, detail: `failed at ${outcome.failedAt}: ${outcome.reason}` };
  const nodes = outcome.nodes ?? [];
  return { reachable: true, candidate, outcome, detail: `${nodes.filter((n) => n.ready).length}/${nodes.length} nodes Ready` };
}

/** A failure that waiting will not mend: the name does not exist, or the API refuses us. */
function permanent(outcome: ProbeOutcome): boolean {
  return outcome.failedAt === "dns" || outcome.failedAt === "tls" || outcome.failedAt === "api";
}

/** This dev container's address on the cluster's network, joining it first; throws when it cannot. */
export async function selfAddressOn(engines: Pick<Engines, "self">, network: string | undefined): Promise<string> {
  const self = await engines.self();
  const why = await self.join(network);
  const ip = network && !why ? await self.addressOn(network) : undefined;
  if (!ip)
    throw new ZoneError({
      zone: "route",
      message: `this dev container has no address on the cluster's network${why ? `: ${why}` : ""}`,
      fix: "run `kind-cluster up` inside the dev container, which joins it to the cluster's network",
    });
  return ip;
}

/** Probes the candidate routes in order, for up to `patienceMs`, and keeps the first that works. */
export async function connect(
  engines: Pick<Engines, "api" | "self">,
  settings: Settings,
  cluster: ClusterView,
  facts: RouteFacts,
  credentials: Credentials,
  patienceMs: number,
): Promise<Connection> {
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
        const why = await (await engines.self()).join(cluster.network);
        if (why) {
          last.set(candidate, { ok: false, failedAt: "tcp", reason: why, ms: 0 });
          continue;
        }
      }
      const outcome = await probeRoute(engines, candidate, credentials, PROBE_TIMEOUT_MS);
      last.set(candidate, outcome);
      if (outcome.ok) return { candidate, explanation: explain(), nodes: outcome.nodes ?? [] };
    }
    const allPermanent = candidates.every((c) => last.has(c) && permanent(last.get(c)!));
    if (allPermanent || Date.now() >= deadline) break;
    await sleep(1000);
  }
  throw new ZoneError({
    zone: "route",
    message: `no route from the dev container reaches the API server of cluster ${settings.clusterName} (route option: ${settings.route})`,
    fix:
      settings.route === "auto"
        ? "run `kind-cluster doctor` to see each hop; the lines below say where each route failed"
        : "set the Feature's route option to auto, or run `kind-cluster doctor` to see each hop",
    detail: explain().join("\n"),
  });
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
export async function diagnoseRoutes(
  engines: Pick<Engines, "api" | "self">,
  settings: Settings,
  cluster: ClusterView,
  facts: RouteFacts,
  credentials: Credentials,
): Promise<{ routes: RouteDiagnosis[]; working?: RouteCandidate }> {
  const allowed = new Set(routeCandidates(settings.route, facts).map((c) => c.kind));
  const joined = cluster.network !== undefined && (await (await engines.self()).addressOn(cluster.network)) !== undefined;
  const routes: RouteDiagnosis[] = [];
  for (const candidate of routeCandidates("auto", facts)) {
    const base = { candidate, allowed: allowed.has(candidate.kind) };
    if (candidate.kind === "kind-network" && !joined) {
      const why = `this container is not on the network ${cluster.network ?? "of the cluster"} (\`kind-cluster up\` joins it when this route is needed)`;
      routes.push({ ...base, why, detail: why });
      continue;
    }
    const outcome = await probeRoute(engines, candidate, credentials, 3_000);
    const detail = outcome.ok ? `${candidate.server}: TLS verified, API answered in ${Math.round(outcome.ms)}ms` : explainFailure(candidate, outcome, facts);
    routes.push({ ...base, outcome, detail });
  }
  return { routes, working: routes.find((r) => r.outcome?.ok && r.allowed)?.candidate };
}
