import { randomInt } from "node:crypto";
import { execa } from "execa";

/**
 * A "LAN neighbour" of the test host: a network namespace joined to the host by a veth pair, whose
 * default route goes through the host, as a machine on the same LAN routes traffic to it. Needs root.
 */
export interface LanNeighbour {
  /** Whether a TCP connection from the neighbour to host:port is accepted within 3 s. */
  connects(host: string, port: number): Promise<boolean>;
  remove(): Promise<void>;
}

const ip = (...args: string[]) => execa("ip", args);

export async function lanNeighbour(): Promise<LanNeighbour> {
  const id = randomInt(10, 250);
  const ns = `kc-lan-${id}`;
  const hostSide = `kc-h${id}`;
  const nsSide = `kc-n${id}`;
  const hostAddress = `10.253.${id}.1`;
  await ip("netns", "add", ns);
  await ip("link", "add", hostSide, "type", "veth", "peer", "name", nsSide);
  await ip("link", "set", nsSide, "netns", ns);
  await ip("addr", "add", `${hostAddress}/30`, "dev", hostSide);
  await ip("link", "set", hostSide, "up");
  const inNs = (...args: string[]) => execa("ip", ["netns", "exec", ns, ...args]);
  await inNs("ip", "addr", "add", `10.253.${id}.2/30`, "dev", nsSide);
  await inNs("ip", "link", "set", nsSide, "up");
  await inNs("ip", "link", "set", "lo", "up");
  await inNs("ip", "route", "add", "default", "via", hostAddress);
  return {
    async connects(host, port) {
      const result = await execa("ip", ["netns", "exec", ns, "timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port}`], { reject: false });
      return result.exitCode === 0;
    },
    async remove() {
      await execa("ip", ["link", "del", hostSide], { reject: false });
      await execa("ip", ["netns", "del", ns], { reject: false });
    },
  };
}

/** Every IPv4 address of the test host but loopback: what a neighbour can aim at. */
export async function hostAddresses(): Promise<string[]> {
  const out = await execa("ip", ["-4", "-o", "addr", "show"]);
  return out.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[3]?.split("/")[0] ?? "")
    .filter((a) => a && !a.startsWith("127."));
}
