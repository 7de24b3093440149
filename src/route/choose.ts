import { API_PORT, controlPlaneName } from "../cluster.js";
import type { RouteSetting } from "../options.js";

/**
 * How zone 1 (the dev container) reaches the API server in zone 3, the pure half: candidates are
 * derived from facts, and the choice is made from probe outcomes gathered by index.ts.
 */
export type RouteKind = "host.docker.internal" | "gateway" | "kind-network";

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
}

export type ProbeStep = "dns" | "tcp" | "tls" | "api";

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
    viaHost.push({
      kind: "gateway",
      host: facts.gatewayIp,
      port: facts.publishedPort,
      server: `https://${facts.gatewayIp}:${facts.publishedPort}`,
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
      return [...viaHost, viaNetwork];
  }
}

const LOOPBACK = /^127\./;

/** A sentence on why a route failed, with what the facts say about the cause. */
export function explainFailure(candidate: RouteCandidate, outcome: ProbeOutcome, facts: RouteFacts): string {
  const base = `${candidate.server}: failed at ${outcome.failedAt ?? "?"} (${outcome.reason ?? "unknown"})`;
  if (candidate.kind === "host.docker.internal" && outcome.failedAt === "dns")
    return `${base}; the name is not defined here (a Linux engine adds it only with --add-host=host.docker.internal:host-gateway in runArgs)`;
  if ((candidate.kind === "host.docker.internal" || candidate.kind === "gateway") && outcome.failedAt === "tcp" && LOOPBACK.test(facts.publishedHostIp))
    return `${base}; the API is published on ${facts.publishedHostIp} of the Docker host, which containers cannot reach on a Linux engine`;
  if (candidate.kind === "kind-network" && outcome.failedAt === "dns")
    return `${base}; this container is not on the cluster's Docker network`;
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
 * The API address kind should publish on, when the user left it on "auto": one the dev container
 * reaches but the LAN does not. Docker Desktop forwards host.docker.internal to the host's loopback;
 * a Linux engine does not, so there we publish on the gateway the dev container sees (a bridge address).
 */
export function chooseApiServerAddress(input: {
  setting: string;
  route: RouteSetting;
  dockerDesktop: boolean;
  gatewayIp?: string;
}): string {
  if (input.setting !== "auto") return input.setting;
  if (input.route === "kind-network" || input.dockerDesktop || !input.gatewayIp) return "127.0.0.1";
  return input.gatewayIp;
}
