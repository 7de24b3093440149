import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { containerIdFrom, inspectContainers } from "../docker.js";

/** Zone 1 facts the route depends on: where this dev container sits on the Docker host's networks. */

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

/** This dev container's ID on the Docker host, or undefined when we are not in a container. */
export async function selfContainerId(): Promise<string | undefined> {
  const tables = await Promise.all(["/proc/self/mountinfo", "/proc/self/cgroup"].map((p) => readFile(p, "utf8").catch(() => "")));
  const fromTables = containerIdFrom(tables);
  if (fromTables) return fromTables;
  // Docker names a container's host after its short ID unless told otherwise.
  const [self] = await inspectContainers([hostname()]);
  return self?.id;
}
