import { mkdtempSync, readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeApi, NodeSummary } from "../../src/apiserver.js";
import { KIND_CLUSTER_LABEL, KIND_ROLE_LABEL } from "../../src/cluster/view.js";
import { PortTakenError, type CreateInput, type KindTool } from "../../src/cluster/kind.js";
import type { ContainerDetails, ContainerEngine, ContainerSpec, NodeHandle } from "../../src/engine/engine.js";
import type { Engines } from "../../src/engines.js";
import type { GitOpsEngine } from "../../src/gitops/engine.js";
import { claimOwner, readOwner } from "../../src/gitops/owner.js";
import { createLogger, type Logger, type StageHandle } from "../../src/log.js";
import { identityOf, type Self } from "../../src/route/self.js";
import { createServices, type ServiceKey, type ServiceRunner, writeState } from "../../src/serve/daemon.js";
import { type Live, plan, type Wanted } from "../../src/serve/policy.js";

/**
 * Fakes of our own interfaces, for unit tests of the orchestration: a container engine holding its
 * containers in memory, a kind that "creates" node containers in it, an API whose nodes are Ready, a
 * service runner whose processes are entries in a table. Each records what it was asked to do.
 */

export interface FakeContainer extends ContainerDetails {
  files: Map<string, string>;
}

export class FakeEngine implements ContainerEngine {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: string[] = [];
  /** Every container asked for, as asked. */
  readonly specs: ContainerSpec[] = [];
  private next = 1;

  add(spec: Partial<FakeContainer> & { name: string }): FakeContainer {
    const id = spec.id ?? `${String(this.next++).padStart(4, "0")}${"f".repeat(60)}`;
    const c: FakeContainer = { id, image: "img", running: true, status: "running", labels: {}, bindings: {}, networks: {}, files: new Map(), ...spec };
    this.containers.set(id, c);
    return c;
  }

  private find(ref: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.id === ref || c.name === ref);
  }

  async info() {
    return { serverVersion: "fake-1.0", operatingSystem: "FakeOS", cgroupVersion: "2", dockerDesktop: false };
  }
  waitReady() {
    return this.info();
  }
  async inspect(refs: readonly string[]) {
    return refs.map((r) => this.find(r)).filter((c): c is FakeContainer => c !== undefined);
  }
  async withLabel(label: string) {
    const [key, value] = label.split("=");
    return [...this.containers.values()].filter((c) => key! in c.labels && (value === undefined || c.labels[key!] === value));
  }
  async portHolders(port: number, hostIp: string) {
    return [...this.containers.values()]
      .filter((c) => c.running && Object.values(c.bindings).some((list) => list.some((b) => b.hostPort === port && (b.hostIp === hostIp || b.hostIp === ""))))
      .map((c) => ({ id: c.id, name: c.name, hostIp }));
  }
  async publishedPorts() {
    return [...this.containers.values()].flatMap((c) =>
      Object.values(c.bindings).flatMap((list) => list.map((b) => ({ id: c.id, name: c.name, hostIp: b.hostIp, hostPort: b.hostPort, running: c.running }))),
    );
  }
  async create(spec: ContainerSpec) {
    if (this.find(spec.name)) return { conflict: true };
    this.specs.push(spec);
    const c = this.add({ name: spec.name, image: spec.image, labels: spec.labels, running: false, status: "created" });
    this.calls.push(`create ${spec.name}`);
    return { id: c.id, conflict: false };
  }
  async start(ids: readonly string[]) {
    for (const id of ids) Object.assign(this.find(id)!, { running: true, status: "running" });
    if (ids.length) this.calls.push(`start ${ids.map((id) => this.find(id)!.name).join(" ")}`);
  }
  async tryStart(id: string) {
    await this.start([id]);
    return undefined;
  }
  async waitStopped(id: string) {
    this.calls.push(`wait ${this.find(id)?.name ?? id}`);
  }
  async stop(ids: readonly string[]) {
    for (const id of ids) Object.assign(this.find(id)!, { running: false, status: "exited" });
    if (ids.length) this.calls.push(`stop ${ids.map((id) => this.find(id)!.name).join(" ")}`);
  }
  async unpause(ids: readonly string[]) {
    for (const id of ids) Object.assign(this.find(id)!, { running: true, status: "running" });
  }
  async remove(id: string) {
    const c = this.find(id);
    if (c) this.containers.delete(c.id);
  }
  async removeVolume() {}
  async connect(network: string, container: string) {
    this.find(container)!.networks[network] = { ip: "172.18.0.9" };
    this.calls.push(`connect ${network}`);
  }
  async anyImage() {
    return "img";
  }
  node(container: { id: string; name: string }): NodeHandle {
    const c = () => this.find(container.id)!;
    return {
      id: container.id,
      name: container.name,
      exec: async (args) => {
        if (!c().running) return { command: args.join(" "), stdout: "", stderr: "not running", exitCode: 1 };
        if (args[0] === "touch") c().files.set(args[1]!, "");
        // `find DIR -name *.json ... -exec cat {} +`: the files under DIR, one after the other.
        const stdout =
          args[0] === "find"
            ? [...c().files]
                .filter(([path]) => path.startsWith(`${args[1]}/`) && path.endsWith(".json"))
                .map(([, text]) => text)
                .join("")
            : "";
        return { command: args.join(" "), stdout, stderr: "", exitCode: 0 };
      },
      readFile: async (path) => c().files.get(path),
      writeFile: async (path, text) => void c().files.set(path, text),
      exists: async (path) => c().files.has(path),
    };
  }
}

const KIND_KUBECONFIG = readFileSync("test/fixtures/kind-kubeconfig.yaml", "utf8");

/** A kind that makes a control-plane container (published on 127.0.0.1:<port>, on network "kind") and records what it was asked. */
export class FakeKind implements KindTool {
  readonly created: CreateInput[] = [];
  readonly deleted: string[] = [];
  /** Host ports a process outside Docker holds: kind's create fails on them, as Docker's publish would. */
  readonly hostProcessPorts = new Set<number>();
  constructor(private readonly engine: FakeEngine) {}

  async create(input: CreateInput) {
    this.created.push(input);
    const port = Number(/apiServerPort: (\d+)/.exec(input.configYaml)?.[1]);
    // Creating takes a while: what others do meanwhile (a race) is seen.
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.hostProcessPorts.has(port))
      throw new PortTakenError(port, `Error starting userland proxy: listen tcp4 127.0.0.1:${port}: bind: address already in use`);
    // As Docker's publish would: a port a running container holds is refused.
    if ((await this.engine.portHolders(port, "127.0.0.1")).length > 0)
      throw new PortTakenError(port, `Bind for 127.0.0.1:${port} failed: port is already allocated`);
    const node = this.engine.add({
      name: `${input.name}-control-plane`,
      labels: { [KIND_CLUSTER_LABEL]: input.name, [KIND_ROLE_LABEL]: "control-plane" },
      bindings: { "6443/tcp": [{ hostIp: "127.0.0.1", hostPort: port }] },
      networks: { kind: { ip: "172.18.0.2" } },
    });
    node.files.set("/etc/kubernetes/admin.conf", "");
    return { kubeconfig: KIND_KUBECONFIG.replaceAll("kind-gitops", `kind-${input.name}`) };
  }
  async kubeconfig(name: string) {
    return KIND_KUBECONFIG.replaceAll("kind-gitops", `kind-${name}`);
  }
  async delete(name: string) {
    this.deleted.push(name);
    for (const c of await this.engine.withLabel(`${KIND_CLUSTER_LABEL}=${name}`)) await this.engine.remove(c.id);
  }
  async version() {
    return "kind fake";
  }
}

/**
 * An API server whose nodes are the cluster's node containers, all Ready; it records applied objects,
 * and keeps created ones by cluster and path, with a resourceVersion that a replace must name.
 */
export function fakeApi(engine: FakeEngine, applied: Array<{ path: string; object: object }> = []): Engines["api"] {
  const stored = new Map<string, { metadata?: { resourceVersion?: string } }>();
  let version = 0;
  return (endpoint) => {
    const key = (path: string) => `${endpoint.server} ${path}`;
    const keep = (path: string, object: object) => {
      const copy = structuredClone(object) as { metadata?: { resourceVersion?: string } };
      copy.metadata = { ...copy.metadata, resourceVersion: String(++version) };
      stored.set(key(path), copy);
    };
    const api: KubeApi = {
      endpoint,
      async listNodes(): Promise<NodeSummary[]> {
        const cluster = /^https:\/\/(.+)-control-plane:6443$/.exec(endpoint.server)?.[1];
        const nodes = [...engine.containers.values()].filter((c) => c.running && c.labels[KIND_CLUSTER_LABEL] === cluster);
        if (nodes.length === 0) throw Object.assign(new Error("ENOTFOUND"), { step: "dns" });
        return nodes.map((n) => ({ name: n.name, ready: true, roles: [n.labels[KIND_ROLE_LABEL] ?? ""], version: "v1.34.4" }));
      },
      get: async <T>(path: string) => structuredClone(stored.get(key(path))) as T | undefined,
      apply: async (path, object) => void applied.push({ path, object }),
      mergePatch: async () => undefined,
      async create(path, object) {
        if (stored.has(key(path))) return false;
        keep(path, object);
        return true;
      },
      async replace(path, object) {
        const current = stored.get(key(path));
        if (current?.metadata?.resourceVersion !== (object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion) return false;
        keep(path, object);
        return true;
      },
      delete: async (path) => void stored.delete(key(path)),
      // Nothing changes in this cluster: the watch waits until it is stopped.
      watch: (_path, options) => new Promise<void>((resolve) => options.signal?.addEventListener("abort", () => resolve())),
    };
    return api;
  };
}

/** This container, in the fake engine: joins networks by asking it. */
export function fakeSelf(engine: FakeEngine, name = "devcontainer"): Self {
  const me = engine.add({ name, image: "vsc-project", labels: { "devcontainer.local_folder": `/home/dev/${name}` } });
  return {
    gateway: "172.17.0.1",
    id: async () => me.id,
    image: async () => me.image,
    identity: async () => identityOf(me),
    socketSource: async () => "/var/run/docker.sock",
    addressOn: async (network) => me.networks[network]?.ip,
    async join(network) {
      if (!network) return "no network";
      if (!me.networks[network]) await engine.connect(network, me.id);
      return undefined;
    },
  };
}

/**
 * A GitOps engine that applies at once: it records what each cluster was told to follow, reports the
 * workspace's commit as applied, and keeps its owner the way every engine does (gitops/owner.ts).
 */
export class FakeGitOps implements GitOpsEngine {
  readonly name = "fake";
  readonly watched: string[] = [];
  /** By API server: what it follows. */
  readonly following = new Map<string, { url: string; branch: string; path: string }>();
  readonly installs: string[] = [];
  constructor(private readonly commit: () => string) {}

  async install({ api }: { api: KubeApi }) {
    this.installs.push(api.endpoint.server);
    return "installed fake";
  }
  async follow(api: KubeApi, source: { url: string; branch: string; path: string }) {
    this.following.set(api.endpoint.server, source);
    return [];
  }
  async requestSync() {
    return "0";
  }
  async observe(api: KubeApi) {
    const source = this.following.get(api.endpoint.server);
    return {
      ...source,
      source: { ready: true, handled: "1", revision: this.commit() },
      sync: { ready: true, applied: this.commit(), progressing: false },
      units: [],
      problems: [],
      decryption: { key: false, users: [] },
    };
  }
  async catchUp() {
    return [];
  }
  async storeDecryptionKey() {
    return "unchanged" as const;
  }
  async preview(): Promise<never> {
    throw new Error("no preview in this fake");
  }
  async afterNodesStarted() {
    return [];
  }
  async versions() {
    return { installed: "v1", cli: "v1" };
  }
  owner = readOwner;
  claim = claimOwner;
}

/**
 * A supervisor whose processes are entries of a table: each ensureSupervisor() is one supervisor tick
 * (the real policy decides what to stop and start); a started instance is ready at once, as a real one
 * would write its state.
 */
export class FakeRunner implements ServiceRunner {
  private pid = 1000;
  /** pid -> the configuration file it serves. */
  readonly alive = new Map<number, string>();
  constructor(private readonly dir: () => string) {}

  /** Two supervisor ticks: the first stops what changed, the second starts it again. */
  async ensureSupervisor(dir: string) {
    await this.tick(dir);
    await this.tick(dir);
  }

  private async tick(dir: string) {
    const wanted: Array<Wanted & { path: string; key: ServiceKey }> = [];
    for (const scope of await readdir(dir).catch(() => [])) {
      for (const f of await readdir(join(dir, scope)).catch(() => [])) {
        if (!f.endsWith(".json") || /\.(state|supervision)\.json$/.test(f)) continue;
        const path = join(dir, scope, f);
        const file = JSON.parse(readFileSync(path, "utf8")) as { key: ServiceKey; configHash: string };
        wanted.push({ id: path, configHash: file.configHash, path, key: file.key });
      }
    }
    const live: Live[] = [...this.alive].map(([pid, path]) => ({
      id: path,
      pid,
      configHash: JSON.parse(readFileSync(`${path.slice(0, -5)}.state.json`, "utf8")).configHash,
      startedAt: 0,
    }));
    const { stop, start } = plan(wanted, live, new Map(), Date.now());
    for (const l of stop) this.alive.delete(l.pid);
    for (const w of start) {
      const pid = ++this.pid;
      this.alive.set(pid, w.path);
      await writeState(w.key, { pid, started: `t${pid}`, configHash: w.configHash, ready: true, summary: `fake ${w.key.kind}` }, dir);
    }
  }
  async supervising() {
    return false;
  }
  async isOurs(pid: number, started: string, argument: string) {
    return started === `t${pid}` && this.alive.get(pid) === argument;
  }
  kill(pid: number) {
    this.alive.delete(pid);
  }
  /** The configurations served by live processes, relative to the runtime folder. */
  running(): string[] {
    return [...this.alive.values()].map((p) => p.slice(this.dir().length + 1)).sort();
  }
}

export function fakeEngines(): Engines & { container: FakeEngine; kind: FakeKind; runner: FakeRunner; applied: Array<{ path: string; object: object }> } {
  const container = new FakeEngine();
  const dir = mkdtempSync(join(tmpdir(), "kc-services-"));
  const runner = new FakeRunner(() => dir);
  const applied: Array<{ path: string; object: object }> = [];
  const self = fakeSelf(container);
  const gitops = (): GitOpsEngine => {
    throw new Error("no GitOps engine in this fake");
  };
  return {
    container,
    kind: new FakeKind(container),
    api: fakeApi(container, applied),
    gitops,
    services: createServices({ dir, runner }),
    self: async () => self,
    runner,
    applied,
  };
}

/** A logger that keeps its lines. */
/** A stage's handle that records what the stage says, a line each ("note ...", "detail ...", "warn ..."). */
export function recordingStage(): { status: StageHandle; lines: string[] } {
  const lines: string[] = [];
  const status: StageHandle = {
    note: (t) => lines.push(`note ${t}`),
    detail: (t) => lines.push(`detail ${t}`),
    warn: (t) => lines.push(`warn ${t}`),
    progress: () => {},
  };
  return { status, lines };
}

export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ write: (l) => lines.push(l), now: () => 0 }), { lines });
}
