import { randomBytes } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterNames, observeCluster } from "../../src/cluster/view.js";
import { dockerEngine } from "../../src/engine/docker.js";
import { ZoneError } from "../../src/errors.js";
import { docker, ensureBusyboxImage } from "../support/images.js";

/** Zone 2 against a real Docker Engine: containers labelled like kind's nodes (the cluster view), published ports, networks. */
const run = randomBytes(3).toString("hex");
const cluster = `it-${run}`;
const created: string[] = [];
const networks: string[] = [];
let image = "";
const engine = dockerEngine();

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

describe("the container engine over the docker CLI (real engine)", () => {
  it("answers docker info with the engine's facts", async () => {
    const info = await engine.info();
    expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    expect(["1", "2"]).toContain(info.cgroupVersion);
    expect(info.dockerDesktop).toBe(false);
  });

  it("names the missing socket as a zone-2 problem", async () => {
    const attempt = dockerEngine({ ...process.env, DOCKER_HOST: `unix:///tmp/no-such-docker-${run}.sock` }).info();
    await expect(attempt).rejects.toBeInstanceOf(ZoneError);
    await expect(attempt).rejects.toMatchObject({ zone: "docker host", message: expect.stringContaining(`no-such-docker-${run}.sock`) });
  });

  it("finds a cluster's node containers by kind's labels, stopped ones included, and starts them", async () => {
    const cp = await container(`${cluster}-control-plane`, "--label", `io.x-k8s.kind.cluster=${cluster}`, "--label", "io.x-k8s.kind.role=control-plane");
    const worker = await container(`${cluster}-worker`, "--label", `io.x-k8s.kind.cluster=${cluster}`, "--label", "io.x-k8s.kind.role=worker");
    await container(`other-${run}`, "--label", `io.x-k8s.kind.cluster=other-${run}`);
    await docker("stop", "-t", "0", worker);

    const view = await observeCluster(engine, cluster);
    expect(view.nodes.map((n) => [n.id, n.name, n.role, n.running])).toEqual([
      [cp, `${cluster}-control-plane`, "control-plane", true],
      [worker, `${cluster}-worker`, "worker", false],
    ]);
    expect(view).toMatchObject({ state: "partial", controlPlane: { id: cp }, network: undefined, api: undefined });
    expect(await clusterNames(engine)).toEqual(expect.arrayContaining([cluster, `other-${run}`]));

    await engine.start([worker]);
    expect((await observeCluster(engine, cluster)).state).toBe("running");
    expect((await observeCluster(engine, `absent-${run}`)).state).toBe("absent");
  });

  it("names the container holding a published port, on clashing addresses only", async () => {
    const holderName = `holder-${run}`;
    const id = await container(holderName, "-p", "127.0.0.1::80");
    const port = Number((await docker("port", id, "80/tcp")).split(":").pop());
    expect(port).toBeGreaterThan(0);

    expect(await engine.portHolders(port, "127.0.0.1")).toEqual([{ id, name: holderName, hostIp: "127.0.0.1" }]);
    expect(await engine.portHolders(port, "0.0.0.0")).toHaveLength(1);
    expect(await engine.portHolders(port, "172.17.0.1")).toEqual([]);
    expect((await engine.inspect([id]))[0]?.bindings["80/tcp"]).toEqual([{ hostIp: "127.0.0.1", hostPort: 0 }]);
  });

  it("lists every port a container holds: a running one's (random ones too), and the one a stopped one keeps for its next start", async () => {
    const running = await container(`ports-run-${run}`, "-p", "127.0.0.1::80");
    const port = Number((await docker("port", running, "80/tcp")).split(":").pop());
    const stopped = await container(`ports-stop-${run}`, "-p", `127.0.0.1:${port + 1}:81`);
    await docker("stop", "-t", "0", stopped);
    const uses = await engine.publishedPorts();
    expect(uses).toContainEqual({ id: running, name: `ports-run-${run}`, hostIp: "127.0.0.1", hostPort: port, running: true });
    expect(uses).toContainEqual({ id: stopped, name: `ports-stop-${run}`, hostIp: "127.0.0.1", hostPort: port + 1, running: false });
    // The stopped one is not a holder for today's check (nothing binds the port now), but it is for the port choice.
    expect(await engine.portHolders(port + 1, "127.0.0.1")).toEqual([]);
  });

  it("creates a container with a host bind, an entrypoint, an environment, no network, removed once it exits; waits for another's stop", async () => {
    const waited = await container(`waited-${run}`);
    const name = `oneshot-${run}`;
    const shared = await mkdtemp(join(tmpdir(), "kc-binds-"));
    const { id } = await engine.create({
      name,
      image,
      labels: {},
      entrypoint: "sh",
      command: ["-c", 'echo "$GREETING" > /mnt/host/greeting; cat /proc/net/dev > /mnt/host/interfaces; sleep 1'],
      user: "0",
      env: { GREETING: "hi" },
      binds: [{ source: shared, target: "/mnt/host" }],
      network: "none",
      autoRemove: true,
    });
    expect(id).toBeDefined();
    const wait = engine.waitStopped(id!);
    await engine.start([id!]);
    await wait;
    expect(await readFile(join(shared, "greeting"), "utf8")).toBe("hi\n");
    expect(await readFile(join(shared, "interfaces"), "utf8")).not.toMatch(/eth0/);
    for (let i = 0; i < 20 && (await engine.inspect([name])).length > 0; i++) await new Promise((r) => setTimeout(r, 250));
    expect(await engine.inspect([name])).toEqual([]);

    let stopped = false;
    const stopping = engine.waitStopped(waited).then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(stopped).toBe(false);
    await docker("stop", "-t", "0", waited);
    await stopping;
    expect(stopped).toBe(true);
    await engine.waitStopped(`absent-${run}`); // a container that is gone has stopped
  });

  it("connects a container to a network, and a second connect is a no-op", async () => {
    const network = `it-net-${run}`;
    await docker("network", "create", network);
    networks.push(network);
    const id = await container(`joiner-${run}`);
    await engine.connect(network, id);
    await engine.connect(network, id);
    expect(Object.keys((await engine.inspect([id]))[0]!.networks).sort()).toEqual(["bridge", network].sort());
    await expect(engine.connect(`no-such-net-${run}`, id)).rejects.toMatchObject({ zone: "docker host" });
  });

  it("runs commands and reads and writes files in a container through its node handle; stops it", async () => {
    const name = `node-${run}`;
    const id = await container(name);
    const node = engine.node({ id, name });
    expect((await node.exec(["sh", "-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 10_000 })).exitCode).toBe(3);
    expect((await node.exec(["cat"], { timeoutMs: 10_000, input: "from stdin" })).stdout).toBe("from stdin");
    await node.writeFile("/tmp/a/b/file.txt", "line one\nline two\n");
    expect(await node.readFile("/tmp/a/b/file.txt")).toBe("line one\nline two");
    expect(await node.readFile("/tmp/a/b/absent")).toBeUndefined();
    expect(await node.exists("/tmp/a/b/file.txt")).toBe(true);
    expect(await node.exists("/tmp/a/b/absent")).toBe(false);
    await engine.stop([id], 0);
    expect((await engine.inspect([id]))[0]?.running).toBe(false);
    // Read from the stopped container's filesystem, not by exec.
    expect(await node.exists("/tmp/a/b/file.txt")).toBe(true);
    await expect(node.writeFile("/tmp/c", "x")).rejects.toMatchObject({ zone: "kind cluster", message: expect.stringContaining(name) });
  });
});
