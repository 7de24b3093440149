import type { ProbeStep } from "../apiserver.js";
import { API_PORT, controlPlaneName } from "../cluster/view.js";
import type { RouteSetting } from "../options.js";

/**
 * How zone 1 (the dev container) reaches the API server in zone 3, the pure half: candidates are
 * derived from facts, and the choice is made from probe outcomes gathered by index.ts.
 */
/** A route: one of the route option's own values, or the gateway address (host.docker.internal's twin). */
type RouteKind = Exclude<RouteSetting, "auto"> | "gateway";

export interface RouteCandidate {
  kind: RouteKind;
  server: string;
  host: string;
  port: number;
  /** The name asked for in the TLS handshake; the API certificate always names `localhost`. */
  tlsServerName?: string;
}

export interface RouteFacts {
  clusterName: string;
  /** The control plane's published API port on the Docker host. */
  publishedPort: number;
  /** The host address it is published on; "" or 0.0.0.0 means every interface. */
  publishedHostIp: string;
  /** The dev container's default gateway: the Docker host as zone 1 sees it. */
  gatewayIp?: string;
  /** Docker Desktop forwards host.docker.internal to the host's loopback; a Linux engine does not. */
  dockerDesktop: boolean;
}

export interface ProbeOutcome {
  ok: boolean;
  failedAt?: ProbeStep;
  reason?: string;
  ms: number;
}

export function routeCandidates(setting: RouteSetting, facts: RouteFacts): RouteCandidate[] {
  const viaHost: RouteCandidate[] = [
    {
      kind: "host.docker.internal",
      host: "host.docker.internal",
      port: facts.publishedPort,
      server: `https://host.docker.internal:${facts.publishedPort}`,
      tlsServerName: "localhost",
    },
  ];
  if (facts.gatewayIp) {
    // The Docker host at the address the API is published on, when it is one address: this container's
    // default route may go through another network since it joined the cluster's (for the forwards).
    const host = facts.publishedHostIp && facts.publishedHostIp !== "0.0.0.0" && !isLoopback(facts.publishedHostIp) ? facts.publishedHostIp : facts.gatewayIp;
    viaHost.push({
      kind: "gateway",
      host,
      port: facts.publishedPort,
      server: `https://${host}:${facts.publishedPort}`,
      tlsServerName: "localhost",
    });
  }
  const node = controlPlaneName(facts.clusterName);
  const viaNetwork: RouteCandidate = { kind: "kind-network", host: node, port: API_PORT, server: `https://${node}:${API_PORT}` };
  switch (setting) {
    case "host.docker.internal":
      return viaHost;
    case "kind-network":
      return [viaNetwork];
    case "auto":
      // On a Linux engine nothing outside the host reaches a loopback-published port, other containers
      // included: only the cluster's network leads there.
      return facts.dockerDesktop || !isLoopback(facts.publishedHostIp) ? [...viaHost, viaNetwork] : [viaNetwork];
  }
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1";
}

/** Why `auto` did not try the routes through the host, when it did not. */
export function skippedRoutes(setting: RouteSetting, facts: RouteFacts): string[] {
  if (setting !== "auto" || facts.dockerDesktop || !isLoopback(facts.publishedHostIp)) return [];
  return [
    `host.docker.internal, gateway: not tried; the API is published on ${facts.publishedHostIp} of a Linux engine, which containers reach only through the cluster's network`,
  ];
}

/** A sentence on why a route failed, with what the facts say about the cause. */
export function explainFailure(candidate: RouteCandidate, outcome: ProbeOutcome, facts: RouteFacts): string {
  const base = `${candidate.server}: failed at ${outcome.failedAt ?? "?"} (${outcome.reason ?? "unknown"})`;
  if (candidate.kind === "host.docker.internal" && outcome.failedAt === "dns")
    return `${base}; the name is not defined here (a Linux engine adds it only with --add-host=host.docker.internal:host-gateway in runArgs)`;
  if ((candidate.kind === "host.docker.internal" || candidate.kind === "gateway") && outcome.failedAt === "tcp" && isLoopback(facts.publishedHostIp))
    return `${base}; the API is published on ${facts.publishedHostIp} of the Docker host, which containers cannot reach on a Linux engine`;
  if (candidate.kind === "kind-network" && outcome.failedAt === "dns") return `${base}; this container is not on the cluster's Docker network`;
  return base;
}

export interface RouteChoice {
  chosen?: RouteCandidate;
  /** One line per candidate tried, in order: why it was or was not chosen. */
  explanation: string[];
}

/** The first candidate whose probe completed a TLS handshake and an authenticated API call wins. */
export function chooseRoute(tried: ReadonlyArray<{ candidate: RouteCandidate; outcome: ProbeOutcome }>, facts: RouteFacts): RouteChoice {
  const explanation: string[] = [];
  for (const { candidate, outcome } of tried) {
    if (outcome.ok) {
      explanation.push(`${candidate.kind}: ${candidate.server} answered an authenticated API call over verified TLS`);
      return { chosen: candidate, explanation };
    }
    explanation.push(`${candidate.kind}: ${explainFailure(candidate, outcome, facts)}`);
  }
  return { explanation };
}

/**
 * The host address kind publishes the API on. Loopback unless the user asks otherwise: Docker protects
 * only loopback-published ports from other machines, while a port published on any other address, the
 * bridge gateway included, is reachable by every neighbour that routes that address to the host. The
 * seed's route (host.docker.internal) on a Linux engine needs the gateway address, so asking for that
 * route is asking for it.
 */
export function chooseApiServerAddress(input: { setting: string; route: RouteSetting; dockerDesktop: boolean; gatewayIp?: string }): string {
  if (input.setting !== "auto") return input.setting;
  if (input.route === "host.docker.internal" && !input.dockerDesktop && input.gatewayIp) return input.gatewayIp;
  return "127.0.0.1";
}

/** One warning line when the API is published beyond loopback, saying who can reach it. Pure. */
export function exposureWarning(hostIp: string, port: number): string | undefined {
  if (isLoopback(hostIp)) return undefined;
  const where = hostIp === "" || hostIp === "0.0.0.0" || hostIp === "::" ? "every interface" : hostIp;
  const who =
    where === "every interface"
      ? "anyone who can reach the Docker host on any of its networks"
      : `every container on the Docker host, and any machine on your network that routes ${hostIp} to it (Docker protects only loopback-published ports)`;
  return `the API is published on ${where}:${port} of the Docker host: ${who} can connect (TLS and client certificates still apply); apiServerAddress auto with route auto or kind-network keeps it on 127.0.0.1`;
}
