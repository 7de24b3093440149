import { mkdtempSync, readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeApi, NodeSummary } from "../../src/apiserver.js";
import { KIND_CLUSTER_LABEL, KIND_ROLE_LABEL } from "../../src/cluster/view.js";
import type { CreateInput, KindTool } from "../../src/cluster/kind.js";
import type { ContainerDetails, ContainerEngine, ContainerSpec, NodeHandle } from "../../src/engine/engine.js";
import type { Engines } from "../../src/engines.js";
import type { GitOpsEngine } from "../../src/gitops/engine.js";
import { createLogger, type Logger } from "../../src/log.js";
import type { Self } from "../../src/route/self.js";
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
  async create(spec: ContainerSpec) {
    if (this.find(spec.name)) return { conflict: true };
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
        return { command: args.join(" "), stdout: "", stderr: "", exitCode: 0 };
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
  constructor(private readonly engine: FakeEngine) {}

  async create(input: CreateInput) {
    this.created.push(input);
    const port = Number(/apiServerPort: (\d+)/.exec(input.configYaml)?.[1]);
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

/** An API server whose nodes are the cluster's node containers, all Ready; it records applied objects. */
export function fakeApi(engine: FakeEngine, applied: Array<{ path: string; object: object }> = []): Engines["api"] {
  return (endpoint) => {
    const api: KubeApi = {
      endpoint,
      async listNodes(): Promise<NodeSummary[]> {
        const cluster = /^https:\/\/(.+)-control-plane:6443$/.exec(endpoint.server)?.[1];
        const nodes = [...engine.containers.values()].filter((c) => c.running && c.labels[KIND_CLUSTER_LABEL] === cluster);
        if (nodes.length === 0) throw Object.assign(new Error("ENOTFOUND"), { step: "dns" });
        return nodes.map((n) => ({ name: n.name, ready: true, roles: [n.labels[KIND_ROLE_LABEL] ?? ""], version: "v1.34.4" }));
      },
      get: async () => undefined,
      apply: async (path, object) => void applied.push({ path, object }),
      mergePatch: async () => undefined,
      delete: async () => undefined,
    };
    return api;
  };
}

/** This container, in the fake engine: joins networks by asking it. */
export function fakeSelf(engine: FakeEngine): Self {
  const me = engine.add({ name: "devcontainer", image: "vsc-project" });
  return {
    gateway: "172.17.0.1",
    id: async () => me.id,
    image: async () => me.image,
    addressOn: async (network) => me.networks[network]?.ip,
    async join(network) {
      if (!network) return "no network";
      if (!me.networks[network]) await engine.connect(network, me.id);
      return undefined;
    },
  };
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
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ write: (l) => lines.push(l), now: () => 0 }), { lines });
}
