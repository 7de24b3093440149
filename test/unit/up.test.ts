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
import { gitPort } from "../../src/serve/git-source.js";
import { clustersOfContainer } from "../../src/observe.js";
import { stop } from "../../src/stop.js";
import { loopDecision, suggestClusterName, takeLoop } from "../../src/up/gitops.js";
import { ensureWatcher, watch } from "../../src/watch.js";
import { FakeGitOps, fakeEngines, fakeSelf, recordingLogger, recordingStage } from "../support/fakes.js";

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
    expect(started()).toEqual(["docker", "cluster", "route", "kubeconfig", "ready", "ports"]);
  });

  it("start the cluster's ports service (load balancer and forwards, before the GitOps stage); both options off stop it", async () => {
    await up(context());
    expect(engines.runner.running()).toEqual(["demo/ports.default.json"]);
    const [ports] = await engines.services.list({ cluster: "demo" });
    expect(ports!.config).toMatchObject({ clusterName: "demo", kubeconfig, loadBalancer: true, forwardServices: true });
    expect((ports!.config as { table: string }).table).toBe(engines.services.paths(serviceKey("ports", "demo")).state.replace(".state.json", ".table.json"));
    expect(engines.container.calls).toContain("connect kind");

    await up(context({ loadBalancer: false, forwardServices: false }));
    expect(engines.runner.running()).toEqual([]);
    expect(logger.lines.filter((l) => l.startsWith(" ✓ ports ")).pop()).toMatch(
      /off \(loadBalancer and forwardServices are false\); stopped the ports service/,
    );
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

  it("refuse a cluster published on another port than a pinned one, changing nothing", async () => {
    existingCluster("demo", { running: true, port: 7000 });
    await expect(up(context({ apiServerPort: 6443 }))).rejects.toThrow(ZoneError);
    await expect(up(context({ apiServerPort: 6443 }))).rejects.toMatchObject({
      zone: "kind cluster",
      message: expect.stringContaining("host port 7000, not apiServerPort 6443"),
    });
    expect(engines.kind.created).toEqual([]);
    expect(engines.kind.deleted).toEqual([]);
  });

  it("refuse to create on a pinned port another container publishes, naming it", async () => {
    engines.container.add({ name: "squatter", bindings: { "80/tcp": [{ hostIp: "127.0.0.1", hostPort: 6443 }] } });
    await expect(up(context({ apiServerPort: 6443 }))).rejects.toMatchObject({
      zone: "docker host",
      message: expect.stringContaining("already published by container squatter"),
    });
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

describe("apiServerPort auto: a free port, chosen at creation and remembered by Docker", () => {
  const apiPort = (name: string) =>
    [...engines.container.containers.values()].find((c) => c.name === `${name}-control-plane`)?.bindings["6443/tcp"]?.[0]?.hostPort;
  const detail = () => logger.lines.find((l) => l.includes("apiServerPort auto chose"))?.trim();

  it("takes 6443 when it is free, and says nothing more", async () => {
    await up(context());
    expect(apiPort("demo")).toBe(6443);
    expect(detail()).toBeUndefined();
  });

  it("skips a port a running container publishes, one a stopped cluster keeps, and one a host process holds; says so in one line", async () => {
    engines.container.add({ name: "web", bindings: { "80/tcp": [{ hostIp: "", hostPort: 6443 }] } });
    existingCluster("old", { running: false, port: 6444 });
    engines.kind.hostProcessPorts.add(6445);
    await up(context());
    expect(apiPort("demo")).toBe(6446);
    // kind was asked for 6445 (Docker refused it, kind deleted its nodes), then 6446; never for the ports containers hold.
    expect(engines.kind.created.map((c) => /apiServerPort: (\d+)/.exec(c.configYaml)?.[1])).toEqual(["6445", "6446"]);
    expect(detail()).toMatch(
      /^apiServerPort auto chose 6446 \(6443 is held by web \(\w+, on every interface\); 6444 is held by old-control-plane \(\w+, on 127\.0\.0\.1, stopped\); 6445 is held by a process on the Docker host\); Docker keeps it on the cluster, so every later start finds it$/,
    );
    expect(closing("cluster")).toBe(" ✓ cluster created demo, API on 127.0.0.1:6446");
    // Every lock was released.
    expect([...engines.container.containers.values()].filter((c) => c.name.startsWith("kind-cluster-lock-"))).toEqual([]);
  });

  it("skips a port another dev container is creating a cluster on (its lock is held)", async () => {
    const other = engines.container.add({ name: "other-devcontainer" });
    engines.container.add({
      name: "kind-cluster-lock-port_6443",
      running: false,
      status: "created",
      labels: { "io.kind-cluster.lock": "port_6443", "io.kind-cluster.lock.holder": other.id, "io.kind-cluster.lock.until": String(Date.now() + 60_000) },
    });
    await up(context());
    expect(apiPort("demo")).toBe(6444);
    expect(detail()).toMatch(/6443 is being taken by container \w+, which is creating a cluster/);
  });

  it("two clusters created at the same moment get two ports, and kind is never asked for a port twice", async () => {
    await Promise.all([up(context({ clusterName: "one" })), up(context({ clusterName: "two" }))]);
    expect([apiPort("one"), apiPort("two")].sort()).toEqual([6443, 6444]);
    expect(engines.kind.created).toHaveLength(2);
  });

  it("adopts and starts a cluster on whatever port it was created with; a pinned port is still enforced", async () => {
    existingCluster("demo", { running: false, port: 6471 });
    await up(context());
    expect(closing("cluster")).toBe(" ✓ cluster started demo, API on 127.0.0.1:6471");
    await expect(up(context({ apiServerPort: 6443 }))).rejects.toMatchObject({ message: expect.stringContaining("host port 6471, not apiServerPort 6443") });
  });

  it("a pinned port that a stopped container keeps is refused with today's message, naming it stopped", async () => {
    existingCluster("old", { running: false, port: 6443 });
    await expect(up(context({ apiServerPort: 6443 }))).rejects.toMatchObject({
      zone: "docker host",
      message: expect.stringMatching(
        /^port 6443 on 127\.0\.0\.1 is already published by container old-control-plane \(\w+, on 127\.0\.0\.1, stopped\); nothing was created or deleted$/,
      ),
      fix: expect.stringContaining("docker rm old-control-plane"),
    });
    expect(engines.kind.created).toEqual([]);
  });
});

describe("projects side by side on one cluster", () => {
  /** Another dev container of the host, as its own `up` sees itself. */
  const otherSelf = (name: string) => fakeSelf(engines.container, name);

  it("a dev container that starts using another project's cluster is told once, in one line", async () => {
    await up(context());
    expect(logger.lines.some((l) => l.includes("is shared with"))).toBe(false);
    const second = otherSelf("shop");
    logger.lines.length = 0;
    await up({ ...context(), self: async () => second });
    const shared = logger.lines.filter((l) => l.includes("is shared with"));
    expect(shared).toEqual([
      "   cluster demo is shared with project /home/dev/devcontainer (container devcontainer): kubectl and the registry reach the same cluster from there; set clusterName in this project's devcontainer.json for a cluster of its own",
    ]);
    logger.lines.length = 0;
    await up({ ...context(), self: async () => second });
    expect(logger.lines.some((l) => l.includes("is shared with"))).toBe(false);
  });
});

describe("the GitOps loop belongs to one dev container", () => {
  const handle = recordingStage;

  it("decides from the owner record and whether its container runs", () => {
    const owner = { container: "a".repeat(64), name: "a", project: "/p/a", since: "" };
    expect(loopDecision(undefined, "b", undefined)).toBe("claim");
    expect(loopDecision(owner, owner.container, undefined)).toBe("mine");
    expect(loopDecision(owner, "b", "running")).toBe("refuse");
    expect(loopDecision(owner, "b", "stopped")).toBe("take over");
    expect(loopDecision(owner, "b", "removed")).toBe("take over");
    expect(suggestClusterName("/home/me/Shop_API")).toBe("shop-api");
    expect(suggestClusterName("/")).toBe("my-project");
  });

  it("is claimed by the first; a second live one is refused and changes nothing; once the owner stops, the next takes it over", async () => {
    await up(context());
    const ctx = context();
    const engine = new FakeGitOps(() => "c0ffee");
    const api = engines.api({ server: "https://demo-control-plane:6443", credentials: {} as never });
    const first = handle();
    const mine = await takeLoop(ctx, engine, api, first.status);
    const me = await (await ctx.self()).identity();
    expect(mine?.container).toBe(me?.container);
    expect(await takeLoop(ctx, engine, api, handle().status)).toMatchObject({ container: me?.container });

    const shop = fakeSelf(engines.container, "shop");
    const refused = handle();
    expect(await takeLoop({ ...ctx, self: async () => shop }, engine, api, refused.status)).toBeUndefined();
    expect(refused.lines).toEqual([
      "note the loop belongs to project /home/dev/devcontainer (container devcontainer); nothing changed",
      'warn the GitOps loop of cluster demo belongs to project /home/dev/devcontainer (container devcontainer), which is running: this dev container changed nothing of it (kubectl and the registry work as before). For a cluster and loop of this project\'s own, set "clusterName" in the Feature\'s options in devcontainer.json, e.g. "clusterName": "shop"',
    ]);
    expect((await engine.owner(api))?.container).toBe(me?.container);

    await engines.container.stop([me!.container]);
    const takeover = handle();
    expect((await takeLoop({ ...ctx, self: async () => shop }, engine, api, takeover.status))?.name).toBe("shop");
    expect(takeover.lines).toEqual([
      "detail took over the GitOps loop of cluster demo from project /home/dev/devcontainer (container devcontainer), whose container is stopped",
    ]);
  });

  it("of two dev containers claiming a free loop at once, exactly one wins", async () => {
    await up(context());
    const engine = new FakeGitOps(() => "c0ffee");
    const api = engines.api({ server: "https://demo-control-plane:6443", credentials: {} as never });
    const [a, b] = [fakeSelf(engines.container, "a"), fakeSelf(engines.container, "b")];
    const outcomes = await Promise.all([a, b].map((self) => takeLoop({ ...context(), self: async () => self }, engine, api, handle().status)));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
  });

  it("each cluster of one dev container gets its own Git server port, kept on later starts", () => {
    expect(gitPort(undefined, [])).toBe(8418);
    expect(gitPort(undefined, [8418])).toBe(8419);
    expect(gitPort(8418, [8419])).toBe(8418);
    expect(gitPort(undefined, [8418, 8420])).toBe(8419);
  });
});

describe("stop and the stop watcher", () => {
  it("stop stops the nodes and this container's services for the cluster, and nothing else; up starts it again", async () => {
    await up(context());
    await engines.services.ensure(serviceKey("git-source", "demo"), { repo: "/w" });
    await engines.services.ensure(serviceKey("registry-relay", "", "5001"), { port: 5001 });
    const before = await readFile(kubeconfig, "utf8");
    logger.lines.length = 0;
    await stop(engines, { ...DEFAULT_SETTINGS, clusterName: "demo" }, logger);
    expect(engines.container.calls).toContain("stop demo-control-plane");
    expect(engines.runner.running()).toEqual(["_container/registry-relay.5001.json"]);
    expect(await readFile(kubeconfig, "utf8")).toBe(before);
    expect(engines.kind.deleted).toEqual([]);
    expect(closing("cluster")).toBe(" ✓ cluster stopped demo (1 node)");
    logger.lines.length = 0;
    await up(context());
    expect(closing("cluster")).toBe(" ✓ cluster started demo, API on 127.0.0.1:6443");
  });

  it("stopping a cluster another live dev container uses is done, and says who", async () => {
    await up(context());
    const shop = fakeSelf(engines.container, "shop");
    await up({ ...context(), self: async () => shop });
    logger.lines.length = 0;
    await stop(engines, { ...DEFAULT_SETTINGS, clusterName: "demo" }, logger);
    expect(engines.container.calls).toContain("stop demo-control-plane");
    expect(logger.lines).toContain(
      " ! cluster demo is also used by project /home/dev/shop (container shop): it is stopped for that project too, until a `kind-cluster up` there or here starts it",
    );
  });

  it("the watcher is made from this container's own image, with the host's socket and no network, once", async () => {
    expect(await ensureWatcher(engines)).toEqual({ action: "started" });
    const me = (await (await engines.self()).identity())!;
    expect(engines.container.specs.at(-1)).toMatchObject({
      name: `kind-cluster-watch-${me.container.slice(0, 12)}`,
      image: "vsc-project",
      entrypoint: "/usr/local/bin/kind-cluster",
      command: ["watch", me.container],
      user: "0",
      binds: [{ source: "/var/run/docker.sock", target: "/var/run/docker.sock" }],
      network: "none",
      autoRemove: true,
    });
    expect(await ensureWatcher(engines)).toEqual({ action: "kept" });
  });

  it("once its dev container stops, the watcher stops the clusters it used, but not one another live dev container uses", async () => {
    await up(context({ clusterName: "mine" }));
    await up(context({ clusterName: "shared" }));
    const shop = fakeSelf(engines.container, "shop");
    await up({ ...context({ clusterName: "shared" }), self: async () => shop });
    await up({ ...context({ clusterName: "theirs" }), self: async () => shop });
    const me = (await (await engines.self()).identity())!;
    await engines.container.stop([me.container]);
    const lines: string[] = [];
    await watch(engines.container, me.container, (l) => lines.push(l));
    expect(lines.slice(1)).toEqual([
      `dev container ${me.container.slice(0, 12)} stopped`,
      "stopped mine (1 node)",
      "left shared running: project /home/dev/shop (container shop) uses it",
    ]);
    expect(engines.container.calls.filter((c) => c.startsWith("stop ") && c.includes("control-plane"))).toEqual(["stop mine-control-plane"]);
  });
});

describe("the clusters of this container, for status", () => {
  it("are the declared ones, then those it brought up by hand (it is their user), not other projects' clusters", async () => {
    await up(context({ clusterName: "scratch" }));
    const shop = fakeSelf(engines.container, "shop");
    // Another dev container: its services live in its own runtime folder.
    await up({ ...context({ clusterName: "theirs" }), self: async () => shop, services: fakeEngines().services });
    expect(await clustersOfContainer(engines, ["demo", "staging"])).toEqual(["demo", "staging", "scratch"]);
  });
});
