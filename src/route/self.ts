import { readFile } from "node:fs/promises";

/** Zone 1 facts the route depends on: the Docker host as this dev container sees it. */

/** The default route's gateway from /proc/net/route (little-endian hex). Pure. */
export function parseDefaultGateway(procNetRoute: string): string | undefined {
  for (const line of procNetRoute.split("\n").slice(1)) {
    const [, destination, gateway] = line.trim().split(/\s+/);
    if (destination === "00000000" && gateway && gateway !== "00000000") {
      const n = Number.parseInt(gateway, 16);
      return [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255].join(".");
    }
  }
  return undefined;
}

export async function defaultGateway(): Promise<string | undefined> {
  const text = await readFile("/proc/net/route", "utf8").catch(() => "");
  return parseDefaultGateway(text);
}
