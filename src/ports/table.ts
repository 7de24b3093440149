import { readPrivate, writePrivate } from "../serve/runtime.js";
import type { LoadBalancerDecision, Problem } from "./plan.js";

/**
 * The ports service's table: what it forwards, the load-balancer addresses it keeps, and what it
 * cannot do. The service writes it beside its state file after every change; `status`, `doctor` and
 * `up` read it, and the service reads its last one when it starts again (so a restarted service gives
 * every forward the local port it had).
 */
export interface Forward {
  /** namespace/name:port */
  key: string;
  service: string;
  port: number;
  portName?: string;
  /** The local port asked for (the Service's own, or the annotation's). */
  wanted: number;
  /** Where it answers: 127.0.0.1:<local>. */
  local: number;
  /** Why it is not on the port asked for, when it is not. */
  note?: string;
  /** When that is the user's to fix (a privileged port, a port another process holds): what and how (a problem in `status`). */
  problem?: { message: string; fix: string };
  /** The node port it reaches, and the nodes' addresses on the cluster's network that carry it. */
  nodePort?: number;
  nodes: string[];
  endpoints: number;
}

export interface PortsTable {
  /** When the table was written (ISO time). */
  written: string;
  /** Whether the service follows the API now; the last error when it does not. */
  api: { connected: boolean; error?: string };
  forwards: Forward[];
  loadBalancers: LoadBalancerDecision[];
  problems: Problem[];
}

/** The URL a forward answers on, as the user types it. */
export const forwardUrl = (f: Pick<Forward, "local">) => `http://localhost:${f.local}`;

export async function readTable(path: string): Promise<PortsTable | undefined> {
  const text = await readPrivate(path);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as PortsTable;
  } catch {
    return undefined;
  }
}

export async function writeTable(path: string, table: PortsTable): Promise<void> {
  await writePrivate(path, `${JSON.stringify(table, null, 2)}\n`);
}

/** One line per forward, load balancer and problem, for `up` and `status`. Pure. */
export function describeTable(table: PortsTable): { forwards: string[]; loadBalancers: string[]; problems: string[] } {
  return {
    forwards: table.forwards.map(
      (f) =>
        `${f.service} ${f.port}${f.portName ? ` (${f.portName})` : ""} -> ${forwardUrl(f)}${f.note ? `; ${f.note}` : ""}${f.endpoints ? "" : "; no ready endpoint"}`,
    ),
    loadBalancers: table.loadBalancers.map((d) => {
      if (d.state === "aside") return `${d.service}: left to another implementation: ${d.reason}`;
      if (d.state === "pending") return `${d.service}: pending: ${d.reason}`;
      if (d.state === "clear") return `${d.service}: clearing the addresses of a Service that is no longer a LoadBalancer`;
      return `${d.service} ${d.addresses.join(", ")}${d.state === "write" ? " (being written)" : ""}`;
    }),
    problems: table.problems.map((p) => `${p.service}${p.port ? ` port ${p.port}` : ""}: ${p.message}; fix: ${p.fix}`),
  };
}
