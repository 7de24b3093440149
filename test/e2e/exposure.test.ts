import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeContainer, sh } from "../support/devcontainer.js";
import { hostAddresses, lanNeighbour, type LanNeighbour } from "../support/lan.js";
import { upDevProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/**
 * The API stays on the Docker host's loopback by default: a LAN neighbour (a network namespace routed
 * through the test host) cannot connect to it on any of the host's addresses, while the dev container
 * reaches it through the cluster's network. Published elsewhere only when asked, with a warning.
 */
const DEFAULTS = { name: "exposure", port: 6470 };
const OPTED_IN = { name: "exposure-seed", port: 6471 };
let testbed: Testbed;
let dir = "";
let container: string | undefined;
let neighbour: LanNeighbour;

async function apiBinding(cluster: string): Promise<{ HostIp: string; HostPort: string }> {
  const [cp] = await nodeContainers(cluster);
  return JSON.parse((await execa("docker", ["inspect", "-f", "{{json .HostConfig.PortBindings}}", cp!.id])).stdout)["6443/tcp"][0];
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, DEFAULTS.name, OPTED_IN.name);
  const { dir: project, up } = await upDevProject({ options: { createCluster: false } });
  container = up.containerId;
  expect(up.exitCode, up.output.slice(-3000)).toBe(0);
  dir = project;
  neighbour = await lanNeighbour();
});

afterAll(async () => {
  await neighbour?.remove();
  await removeContainer(container);
  await deleteClusters(testbed, DEFAULTS.name, OPTED_IN.name);
});

describe("the API with the defaults", () => {
  let output = "";
  beforeAll(async () => {
    const up = await sh(dir, `kind-cluster up --name ${DEFAULTS.name} --port ${DEFAULTS.port}`);
    expect(up.exitCode, up.stderr).toBe(0);
    output = up.stderr;
  });

  it("is published on 127.0.0.1 only, reached through the cluster's network, with no warning", async () => {
    expect(await apiBinding(DEFAULTS.name)).toEqual({ HostIp: "127.0.0.1", HostPort: String(DEFAULTS.port) });
    const listening = (await execa("ss", ["-Hltn", `sport = :${DEFAULTS.port}`])).stdout;
    expect(listening).toContain(`127.0.0.1:${DEFAULTS.port}`);
    expect(listening).not.toMatch(new RegExp(`(0\\.0\\.0\\.0|\\*|\\[::\\]|172\\.\\d+\\.\\d+\\.\\d+):${DEFAULTS.port}`));
    expect(output).toMatch(/✓ route\s+kind-network -> https:\/\/exposure-control-plane:6443/);
    expect(output).toMatch(/host.docker.internal, gateway: not tried; the API is published on 127.0.0.1 of a Linux engine/);
    expect(output).not.toContain(" ! the API is published");
    expect((await sh(dir, "kubectl get nodes --no-headers")).stdout).toMatch(/^exposure-control-plane\s+Ready/);
  });

  it("refuses a LAN neighbour on every address of the host", async () => {
    const addresses = await hostAddresses();
    expect(addresses).toEqual(expect.arrayContaining(["172.17.0.1"]));
    const reached = [];
    for (const address of addresses) if (await neighbour.connects(address, DEFAULTS.port)) reached.push(address);
    // Not the published port but the node's own address on the cluster's network (direct routing to a
    // container): the engine decides that one (Docker 28+ drops it), so it is reported, not asserted.
    const [cp] = await nodeContainers(DEFAULTS.name);
    const nodeIp = (await execa("docker", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cp!.id])).stdout.trim();
    const direct = await neighbour.connects(nodeIp, 6443);
    console.log(
      `[e2e] LAN neighbour tried ${addresses.join(", ")} on port ${DEFAULTS.port}: reached ${reached.length ? reached.join(", ") : "none"}; the node's own ${nodeIp}:6443 by direct routing: ${direct ? "reached" : "not reached"}`,
    );
    expect(reached).toEqual([]);
  });
});

describe("the API published beyond loopback on request (the seed's route on a Linux engine)", () => {
  let output = "";
  beforeAll(async () => {
    const up = await sh(dir, `kind-cluster up --name ${OPTED_IN.name} --port ${OPTED_IN.port} --route host.docker.internal`);
    expect(up.exitCode, up.stderr).toBe(0);
    output = up.stderr;
  });

  it("publishes on the bridge gateway and says, in one line, who can reach it", async () => {
    const binding = await apiBinding(OPTED_IN.name);
    expect(binding.HostIp).toMatch(/^172\.\d+\.\d+\.1$/);
    const warnings = output.split("\n").filter((l) => l.startsWith(" ! the API is published"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      `${binding.HostIp}:${OPTED_IN.port} of the Docker host: every container on the Docker host, and any machine on your network that routes ${binding.HostIp} to it`,
    );
  });

  it("a LAN neighbour that routes that address to the host connects: the warning is true", async () => {
    const { HostIp } = await apiBinding(OPTED_IN.name);
    expect(await neighbour.connects(HostIp, OPTED_IN.port)).toBe(true);
  });

  it("an explicit 0.0.0.0 is refused with an explanation, and nothing is created", async () => {
    const out = await sh(dir, "kind-cluster up --name exposure-all --port 6472 --api-server-address 0.0.0.0");
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain('option apiServerAddress="0.0.0.0" (from command-line flag --api-server-address) is not valid');
    expect(out.stderr).toContain("every interface, to everyone who can reach the host");
    expect(await nodeContainers("exposure-all")).toEqual([]);
  });
});
