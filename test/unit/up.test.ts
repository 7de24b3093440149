import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { KIND_CLUSTER_LABEL, KIND_ROLE_LABEL } from "../../src/cluster/view.js";
import { down } from "../../src/down.js";
import { ZoneError } from "../../src/errors.js";
import { DEFAULT_SETTINGS, type Settings } from "../../src/options.js";
import { serviceKey } from "../../src/serve/daemon.js";
import { up, type UpContext } from "../../src/up/index.js";
import { fakeEngines, recordingLogger } from "../support/fakes.js";

/**
 * `up`'s orchestration with fakes of our own interfaces (no Docker, no kind, no cluster): which stages
 * run in which order, and what the cluster stage decides (create, adopt, start, re-create) from what
 * the engine shows. The real engines are proven by the integration and end-to-end tiers.
 */
let engines: ReturnType<typeof fakeEngines>;
let logger: ReturnType<typeof recordingLogger>;
let kubeconfig = "";

beforeEach(async () => {
  engines = fakeEngines();
  logger = recordingLogger();
  kubeconfig = join(await mkdtemp(join(tmpdir(), "kc-up-")), "config");
});

function context(settings: Partial<Settings> = {}): UpContext {
  return { ...engines, settings: { ...DEFAULT_SETTINGS, clusterName: "demo", ...settings }, workspace: "/nonexistent", kubeconfig, logger, dockerWaitMs: 0 };
}

const started = () => logger.lines.filter((l) => l.startsWith(" ▸ ")).map((l) => l.slice(3));
const closing = (stage: string) =>
  logger.lines
    .find((l) => l.startsWith(` ✓ ${stage} `))
    ?.replace(/\s+\S+$/, "")
    .replace(/\s+/g, " ");

/** A control plane as kind leaves it, with `up`'s mark that it was once Ready unless told otherwise. */
function existingCluster(name: string, state: { running: boolean; port?: number; everReady?: boolean; kubeadmRan?: boolean }) {
  const node = engines.container.add({
    name: `${name}-control-plane`,
    running: state.running,
    status: state.running ? "running" : "exited",
    labels: { [KIND_CLUSTER_LABEL]: name, [KIND_ROLE_LABEL]: "control-plane" },
    bindings: { "6443/tcp": [{ hostIp: "127.0.0.1", hostPort: state.port ?? 6443 }] },
    networks: { kind: { ip: state.running ? "172.18.0.2" : "" } },
  });
  if (state.everReady ?? true) node.files.set("/kind/kind-cluster-ready", "");
  if (state.kubeadmRan ?? true) node.files.set("/etc/kubernetes/admin.conf", "");
  return node;
}

describe("up's stages", () => {
  it("run in order, each with a start line; the registry and GitOps stages only when asked", async () => {
    await up(context());
    expect(started()).toEqual(["docker", "cluster", "route", "kubeconfig", "ready"]);
  });

  it("create an absent cluster with the pinned port, join its network, write the kubeconfig, mark it Ready", async () => {
    const ctx = await up(context({ apiServerPort: 6501 }));
    expect(engines.kind.created).toHaveLength(1);
    expect(engines.kind.created[0]!.configYaml).toMatch(/apiServerPort: 6501/);
    expect(closing("cluster")).toBe(" ✓ cluster created demo, API on 127.0.0.1:6501");
    expect(closing("route")).toBe(" ✓ route kind-network -> https://demo-control-plane:6443");
    expect(engines.container.calls).toContain("connect kind");
    expect(ctx.nodes?.map((n) => n.name)).toEqual(["demo-control-plane"]);
    expect(await readFile(kubeconfig, "utf8")).toMatch(/server: https:\/\/demo-control-plane:6443/);
    const node = [...engines.container.containers.values()].find((c) => c.name === "demo-control-plane")!;
    expect(node.files.has("/kind/kind-cluster-ready")).toBe(true);
    // The host-wide lock's claim container was created and removed again.
    expect(engines.container.calls).toContain("create kind-cluster-lock-demo");
    expect([...engines.container.containers.values()].map((c) => c.name)).not.toContain("kind-cluster-lock-demo");
  });

  it("adopt a running cluster without creating anything; a second up keeps the kubeconfig's entry (fast path)", async () => {
    existingCluster("demo", { running: true });
    await up(context());
    expect(engines.kind.created).toEqual([]);
    expect(closing("cluster")).toBe(" ✓ cluster adopted demo, API on 127.0.0.1:6443");
    logger.lines.length = 0;
    await up(context());
    expect(closing("route")).toBe(" ✓ route kind-network (unchanged)");
    expect(closing("kubeconfig")).toBe(` ✓ kubeconfig ${kubeconfig} (unchanged)`);
  });

  it("start a stopped cluster's nodes, not create it", async () => {
    existingCluster("demo", { running: false });
    await up(context());
    expect(engines.kind.created).toEqual([]);
    expect(engines.container.calls).toContain("start demo-control-plane");
    expect(closing("cluster")).toBe(" ✓ cluster started demo, API on 127.0.0.1:6443");
  });

  it("re-create a cluster whose creation was cut off before kubeadm ran", async () => {
    existingCluster("demo", { running: true, everReady: false, kubeadmRan: false });
    await up(context());
    expect(engines.kind.deleted).toEqual(["demo"]);
    expect(engines.kind.created).toHaveLength(1);
    expect(closing("cluster")).toBe(" ✓ cluster re-created demo, API on 127.0.0.1:6443");
  });

  it("refuse a cluster published on another port, changing nothing", async () => {
    existingCluster("demo", { running: true, port: 7000 });
    await expect(up(context())).rejects.toThrow(ZoneError);
    await expect(up(context())).rejects.toMatchObject({ zone: "kind cluster", message: expect.stringContaining("host port 7000, not apiServerPort 6443") });
    expect(engines.kind.created).toEqual([]);
    expect(engines.kind.deleted).toEqual([]);
  });

  it("refuse to create on a port another container publishes, naming it", async () => {
    engines.container.add({ name: "squatter", bindings: { "80/tcp": [{ hostIp: "127.0.0.1", hostPort: 6443 }] } });
    await expect(up(context())).rejects.toMatchObject({ zone: "docker host", message: expect.stringContaining("already published by container squatter") });
    expect(engines.kind.created).toEqual([]);
  });
});

describe("the up lock (issue 19, finding 7)", () => {
  it("lives in the private runtime folder: another user's file at the old shared path in /tmp does not stop up", async () => {
    const old = join(tmpdir(), "kind-cluster-demo.up.lock");
    await mkdir(old, { recursive: true });
    try {
      await up(context());
      expect(closing("ready")).toBe(" ✓ ready 1/1 node Ready");
      expect(existsSync(join(engines.services.dir, "up-demo.lock"))).toBe(false); // released
    } finally {
      await rm(old, { recursive: true, force: true });
    }
  });
});

describe("services keyed by cluster", () => {
  it("two clusters' services live side by side in one container, and down of one leaves the other's running", async () => {
    const services = engines.services;
    const gitSource = (cluster: string) => ({ repo: "/w", host: "172.18.0.9", port: 8418, kubeconfig, clusterName: cluster, engine: "flux" });
    await services.ensure(serviceKey("git-source", "dev"), gitSource("dev"));
    await services.ensure(serviceKey("git-source", "staging"), gitSource("staging"));
    await services.ensure(serviceKey("registry-relay", "", "5001"), { port: 5001, targetHost: "kind-cluster-registry", targetPort: 5000 });
    expect(engines.runner.running()).toEqual(["_container/registry-relay.5001.json", "dev/git-source.default.json", "staging/git-source.default.json"]);
    // The same configuration again is kept; another one replaces the process.
    expect((await services.ensure(serviceKey("git-source", "dev"), gitSource("dev"))).action).toBe("kept");
    expect((await services.ensure(serviceKey("git-source", "dev"), { ...gitSource("dev"), port: 8419 })).action).toBe("restarted");

    await down(engines, { ...DEFAULT_SETTINGS, clusterName: "staging" }, kubeconfig, logger);
    expect(engines.runner.running()).toEqual(["_container/registry-relay.5001.json", "dev/git-source.default.json"]);
    expect((await services.list({ cluster: "staging" })).map((s) => s.key)).toEqual([]);
    expect((await services.list({ cluster: "dev" })).map((s) => [s.key.kind, s.state?.summary])).toEqual([["git-source", "fake git-source"]]);
    expect(logger.lines.some((l) => /✓ services\s+stopped git-source of staging in this container/.test(l))).toBe(true);

    // The registry relay serves every cluster of the container: only --remove-registry stops it.
    await down(engines, { ...DEFAULT_SETTINGS, clusterName: "dev" }, kubeconfig, logger, { removeRegistry: true });
    expect(engines.runner.running()).toEqual([]);
  });
});
