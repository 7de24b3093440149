import { ApiError, listNodes, type NodeSummary } from "./apiserver.js";
import type { Credentials } from "./kubeconfig.js";
import type { ProbeOutcome, RouteCandidate } from "./route.js";

/**
 * Tries a route for real: name resolution, TCP, a TLS handshake verified against the cluster CA with
 * the route's server name, and an authenticated API call (listing nodes, which needs authorisation too).
 */
export async function probeRoute(
  candidate: RouteCandidate,
  credentials: Credentials,
  timeoutMs: number,
): Promise<ProbeOutcome & { nodes?: NodeSummary[] }> {
  const start = performance.now();
  try {
    const nodes = await listNodes({ server: candidate.server, tlsServerName: candidate.tlsServerName, credentials }, timeoutMs);
    return { ok: true, ms: performance.now() - start, nodes };
  } catch (error) {
    const step = error instanceof ApiError ? error.step : "api";
    return { ok: false, failedAt: step, reason: (error as Error).message, ms: performance.now() - start };
  }
}
