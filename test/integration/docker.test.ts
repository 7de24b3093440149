import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterNames, observeCluster } from "../../src/cluster.js";
import { connectNetwork, dockerInfo, inspectContainers, portHolders, startContainers } from "../../src/docker.js";
import { ZoneError } from "../../src/errors.js";
import { docker, ensureBusyboxImage } from "../support/images.js";

/** Zone 2 against a real Docker Engine: containers labelled like kind's nodes (the cluster view), published ports, networks. */
const run = randomBytes(3).toString("hex");
const cluster = `it-${run}`;
const created: string[] = [];
const networks: string[] = [];
let image = "";

async function container(name: string, ...args: string[]): Promise<string> {
  const id = await docker("run", "-d", "--name", name, ...args, image, "sleep", "3600");
  created.push(id);
  return id;
}

beforeAll(async () => {
  image = await ensureBusyboxImage();
});

afterAll(async () => {
  if (created.length) await docker("rm", "-f", ...created);
  for (const n of networks) await docker("network", "rm", n).catch(() => undefined);
});

describe("docker module (real engine)", () => {
  it("answers docker info with the engine's facts", async () => {
    const info = await dockerInfo();
    expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    expect(["1", "2"]).toContain(info.cgroupVersion);
    expect(info.dockerDesktop).toBe(false);
  });

  it("names the missing socket as a zone-2 problem", async () => {
    const attempt = dockerInfo({ ...process.env, DOCKER_HOST: `unix:///tmp/no-such-docker-${run}.sock` });
    await expect(attempt).rejects.toBeInstanceOf(ZoneError);
    await expect(attempt).rejects.toMatchObject({ zone: "docker host", message: expect.stringContaining(`no-such-docker-${run}.sock`) });
  });

  it("finds a cluster's node containers by kind's labels, stopped ones included, and starts them", async () => {
    const cp = await container(`${cluster}-control-plane`, "--label", `io.x-k8s.kind.cluster=${cluster}`, "--label", "io.x-k8s.kind.role=control-plane");
    const worker = await container(`${cluster}-worker`, "--label", `io.x-k8s.kind.cluster=${cluster}`, "--label", "io.x-k8s.kind.role=worker");
    await container(`other-${run}`, "--label", `io.x-k8s.kind.cluster=other-${run}`);
    await docker("stop", "-t", "0", worker);

    const view = await observeCluster(cluster);
    expect(view.nodes.map((n) => [n.id, n.name, n.role, n.running])).toEqual([
      [cp, `${cluster}-control-plane`, "control-plane", true],
      [worker, `${cluster}-worker`, "worker", false],
    ]);
    expect(view).toMatchObject({ state: "partial", controlPlane: { id: cp }, network: undefined, api: undefined });
    expect(await clusterNames()).toEqual(expect.arrayContaining([cluster, `other-${run}`]));

    await startContainers([worker]);
    expect((await observeCluster(cluster)).state).toBe("running");
    expect((await observeCluster(`absent-${run}`)).state).toBe("absent");
  });

  it("names the container holding a published port, on clashing addresses only", async () => {
    const holderName = `holder-${run}`;
    const id = await container(holderName, "-p", "127.0.0.1::80");
    const port = Number((await docker("port", id, "80/tcp")).split(":").pop());
    expect(port).toBeGreaterThan(0);

    expect(await portHolders(port, "127.0.0.1")).toEqual([{ id, name: holderName, hostIp: "127.0.0.1" }]);
    expect(await portHolders(port, "0.0.0.0")).toHaveLength(1);
    expect(await portHolders(port, "172.17.0.1")).toEqual([]);
    expect((await inspectContainers([id]))[0]?.bindings["80/tcp"]).toEqual([{ hostIp: "127.0.0.1", hostPort: 0 }]);
  });

  it("connects a container to a network, and a second connect is a no-op", async () => {
    const network = `it-net-${run}`;
    await docker("network", "create", network);
    networks.push(network);
    const id = await container(`joiner-${run}`);
    await connectNetwork(network, id);
    await connectNetwork(network, id);
    expect(Object.keys((await inspectContainers([id]))[0]!.networks).sort()).toEqual(["bridge", network].sort());
    await expect(connectNetwork(`no-such-net-${run}`, id)).rejects.toMatchObject({ zone: "docker host" });
  });
});
