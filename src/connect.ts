import type { NodeSummary } from "./apiserver.js";
import type { ClusterState } from "./cluster.js";
import { connectNetwork } from "./docker.js";
import { selfContainerId } from "./devcontainer.js";
import { ZoneError } from "./errors.js";
import type { Credentials } from "./kubeconfig.js";
import { probeRoute } from "./probe.js";
import { chooseRoute, routeCandidates, type ProbeOutcome, type RouteCandidate, type RouteFacts } from "./route.js";
import type { Settings } from "./settings.js";

/** The hop from zone 1 to zone 3: probe the candidate routes in order and keep the first that works. */

export interface Connection {
  candidate: RouteCandidate;
  explanation: string[];
  nodes: NodeSummary[];
}

const PROBE_TIMEOUT_MS = 5_000;

export function routeFacts(settings: Settings, state: ClusterState, gatewayIp: string | undefined): RouteFacts {
  return { clusterName: settings.clusterName, publishedPort: state.api.hostPort, publishedHostIp: state.api.hostIp, gatewayIp };
}

/** A failure that waiting will not mend: the name does not exist, or the API is published where we cannot reach. */
function permanent(outcome: ProbeOutcome): boolean {
  return outcome.failedAt === "dns" || outcome.failedAt === "tls" || outcome.failedAt === "api";
}

async function joinClusterNetwork(network: string): Promise<string | undefined> {
  const self = await selfContainerId();
  if (!self) return "this process does not run in a container, so it cannot join the cluster's network";
  await connectNetwork(network, self);
  return undefined;
}

export async function connect(
  settings: Settings,
  state: ClusterState,
  credentials: Credentials,
  options: { gatewayIp?: string; patienceMs: number },
): Promise<Connection> {
  const facts = routeFacts(settings, state, options.gatewayIp);
  const candidates = routeCandidates(settings.route, facts);
  const deadline = Date.now() + options.patienceMs;
  const last = new Map<RouteCandidate, ProbeOutcome>();
  for (;;) {
    for (const candidate of candidates) {
      const previous = last.get(candidate);
      if (previous && permanent(previous)) continue;
      if (candidate.kind === "kind-network" && !previous) {
        const why = await joinClusterNetwork(state.network);
        if (why) {
          last.set(candidate, { ok: false, failedAt: "tcp", reason: why, ms: 0 });
          continue;
        }
      }
      const outcome = await probeRoute(candidate, credentials, PROBE_TIMEOUT_MS);
      last.set(candidate, outcome);
      if (outcome.ok) {
        const tried = candidates.filter((c) => last.has(c)).map((c) => ({ candidate: c, outcome: last.get(c)! }));
        const choice = chooseRoute(tried, facts);
        return { candidate, explanation: choice.explanation, nodes: outcome.nodes ?? [] };
      }
    }
    const allPermanent = candidates.every((c) => last.has(c) && permanent(last.get(c)!));
    if (allPermanent || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const { explanation } = chooseRoute(candidates.filter((c) => last.has(c)).map((c) => ({ candidate: c, outcome: last.get(c)! })), facts);
  throw new ZoneError(
    "route",
    `no route from the dev container reaches the API server of cluster ${settings.clusterName} (route option: ${settings.route})`,
    settings.route === "auto"
      ? "run `kind-cluster doctor`; on a Linux engine add \"runArgs\": [\"--add-host=host.docker.internal:host-gateway\"] or set route to kind-network"
      : "set the Feature's route option to auto, or run `kind-cluster doctor` to see each hop",
    explanation.join("\n"),
  );
}
