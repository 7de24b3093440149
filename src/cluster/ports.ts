import { bindingsClash } from "../engine/docker.js";
import type { PortUse } from "../engine/engine.js";

/**
 * The API port a new cluster asks for. `apiServerPort: auto` means 6443 when it is free, else the next
 * free port from 6444 on; what "free" means is decided here, purely, from every port a container holds
 * (running, or stopped and keeping it for its next start). A process outside Docker is not seen here:
 * kind's own attempt to publish the port finds it (see up/cluster.ts).
 */
export const FIRST_API_PORT = 6443;
/** How far auto looks: a hundred ports, more clusters than one Docker host runs. */
export const LAST_API_PORT = FIRST_API_PORT + 99;

/** The containers holding `port` on an address that clashes with `address`. Pure. */
export function holdersOf(uses: readonly PortUse[], port: number, address: string): PortUse[] {
  const seen = new Set<string>();
  return uses.filter((u) => u.hostPort === port && bindingsClash(u.hostIp, address) && !seen.has(u.id) && seen.add(u.id));
}

/** "kind-control-plane (0123456789ab, on 127.0.0.1, stopped)", for each holder. Pure. */
export function describeHolders(holders: readonly PortUse[]): string {
  return holders.map((h) => `${h.name} (${h.id.slice(0, 12)}, on ${h.hostIp || "every interface"}${h.running ? "" : ", stopped"})`).join(", ");
}

/** The ports auto may try, in order, with the holders of those it must skip. Pure. */
export function autoPorts(uses: readonly PortUse[], address: string): Array<{ port: number; holders: PortUse[] }> {
  const ports: Array<{ port: number; holders: PortUse[] }> = [];
  for (let port = FIRST_API_PORT; port <= LAST_API_PORT; port++) ports.push({ port, holders: holdersOf(uses, port, address) });
  return ports;
}
