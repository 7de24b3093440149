import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeApi } from "../apiserver.js";
import { messageOf } from "../errors.js";
import { inform, type Informer, type KubeObject } from "../informer.js";
import {
  assignmentOrder,
  bindProblem,
  companionCurrent,
  FIELD_MANAGER,
  type KubeEndpointSlice,
  type KubeNode,
  type KubeService,
  type LoadBalancerDecision,
  nextLocalPort,
  type Plan,
  planPorts,
  type Problem,
  type Want,
} from "../ports/plan.js";
import { describeTable, type Forward, type PortsTable, readTable, writeTable } from "../ports/table.js";
import type { Running, ServiceLog } from "./service.js";
import { clusterApi } from "./connect.js";
import { type Relay, startRelay } from "./relay.js";

/**
 * The ports service of one cluster, in zone 1: it follows the cluster's Services, EndpointSlices and
 * Nodes with watches, gives LoadBalancer Services the nodes' addresses (k3s ServiceLB's way), and holds
 * one relay per forwarded Service port on the dev container's 127.0.0.1, to the Service's node port on
 * a node's address on the cluster's Docker network. What it does is written to its table (ports/table.ts).
 */
export interface PortsConfig {
  kubeconfig: string;
  clusterName: string;
  /** Write load-balancer addresses (the `loadBalancer` option). */
  loadBalancer: boolean;
  /** Forward Service ports to localhost (the `forwardServices` option). */
  forwardServices: boolean;
  /** Where the table is written. */
  table: string;
}

/** A forward kept off the port it asked for by something the user fixes, as a problem of its Service. */
function fallbackProblem(f: Forward): Problem[] {
  return f.problem
    ? [{ service: f.service, port: f.port, message: `${f.problem.message}; forwarded on localhost:${f.local} instead`, fix: f.problem.fix }]
    : [];
}

/** Forwards listen here only: the dev container's own loopback. */
const LOOPBACK = "127.0.0.1";
/** How long `up` waits for the first pass (the API may be starting). */
const FIRST_PASS_MS = 5_000;
/** A write the API refused is tried again after this long. */
const RETRY_MS = 2_000;

interface Live {
  forward: Forward;
  relay: Relay;
  /** Round robin over the nodes that carry it. */
  turn: number;
}

const servicePath = (service: string) => {
  const [namespace, name] = service.split("/");
  return `/api/v1/namespaces/${namespace}/services/${name}`;
};

async function unprivilegedPortStart(): Promise<number | undefined> {
  const text = await readFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").catch(() => "");
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
}

export async function startPorts(config: PortsConfig, log: ServiceLog): Promise<Running> {
  const facts = { uid: process.getuid?.(), unprivilegedPortStart: await unprivilegedPortStart() };
  const services = new Map<string, KubeService>();
  const slices = new Map<string, KubeEndpointSlice>();
  const nodes = new Map<string, KubeNode>();
  const live = new Map<string, Live>();
  // The last table: a restarted service gives each forward the local port it had.
  const previous = new Map((await readTable(config.table))?.forwards.map((f) => [f.key, f]) ?? []);
  const states = new Map<string, { connected: boolean; error?: string }>();
  let stopped = false;
  let lastLines = new Set<string>();
  let retry: NodeJS.Timeout | undefined;

  let api: KubeApi | undefined;
  const clusterConnect = clusterApi(config.kubeconfig, config.clusterName);
  const connect = async (): Promise<KubeApi> => {
    const fresh = await clusterConnect();
    api = fresh;
    return fresh;
  };

  const targetOf = (key: string) => {
    const l = live.get(key);
    const f = l?.forward;
    if (!l || !f || f.nodePort === undefined || f.endpoints === 0 || f.nodes.length === 0) return undefined;
    return { host: f.nodes[l.turn++ % f.nodes.length]!, port: f.nodePort };
  };

  const listen = async (want: Want, port: number): Promise<{ relay?: Relay; code?: string }> => {
    try {
      return { relay: await startRelay({ listen: { host: LOOPBACK, port }, target: () => targetOf(want.key), log }) };
    } catch (error) {
      return { code: (error as NodeJS.ErrnoException).code };
    }
  };

  /** The load-balancer statuses to write, written; each becomes "assigned", or a problem. */
  const writeStatuses = async (plan: Plan, problems: Problem[]): Promise<{ decisions: LoadBalancerDecision[]; failed: boolean }> => {
    let failed = false;
    const decisions: LoadBalancerDecision[] = [];
    for (const d of plan.loadBalancers) {
      if (d.state !== "write" && d.state !== "clear") {
        decisions.push(d);
        continue;
      }
      const ingress = d.state === "write" ? d.ingress : null;
      try {
        if (!api) throw new Error("the API is not connected");
        await api.mergePatch(`${servicePath(d.service)}/status?fieldManager=${FIELD_MANAGER}`, { status: { loadBalancer: { ingress } } });
        log(
          d.state === "write"
            ? `load balancer ${d.service}: ${d.addresses.join(", ")}`
            : `load balancer ${d.service}: addresses removed (no longer a LoadBalancer)`,
        );
        if (d.state === "write") decisions.push({ service: d.service, state: "assigned", addresses: d.addresses });
      } catch (error) {
        failed = true;
        decisions.push(d);
        problems.push({
          service: d.service,
          message: `its load-balancer status could not be written: ${messageOf(error)}`,
          fix: "it is tried again; `kind-cluster doctor` checks the API",
        });
      }
    }
    return { decisions, failed };
  };

  /** The NodePort companions of forwarded ClusterIP Services: applied when they differ, deleted when no longer wanted. */
  const keepCompanions = async (plan: Plan, problems: Problem[]): Promise<boolean> => {
    let failed = false;
    for (const c of plan.companions) {
      if (companionCurrent(services.get(`${c.namespace}/${c.name}`), c)) continue;
      try {
        await api?.apply(servicePath(`${c.namespace}/${c.name}`), c.object);
        log(`companion ${c.namespace}/${c.name} (NodePort) for ${c.of}`);
      } catch (error) {
        failed = true;
        problems.push({ service: c.of, message: `its NodePort companion ${c.name} could not be applied: ${messageOf(error)}`, fix: "it is tried again" });
      }
    }
    for (const stale of plan.staleCompanions) {
      await api?.delete(servicePath(stale)).then(
        () => log(`companion ${stale} deleted`),
        () => (failed = true),
      );
    }
    return failed;
  };

  /** Relays for the forwards: removed and changed ones closed, kept ones updated, new ones on their local port or the next free one. */
  const keepRelays = async (plan: Plan, problems: Problem[]) => {
    const wants = new Map(plan.wants.map((w) => [w.key, w]));
    for (const [key, l] of live) {
      const want = wants.get(key);
      if (want && want.local === l.forward.wanted) continue;
      await l.relay.close();
      live.delete(key);
      log(`forward ${key} closed (localhost:${l.forward.local})`);
    }
    const holders = new Map([...live.values()].map((l) => [l.forward.local, l.forward.service]));
    for (const want of assignmentOrder(plan.wants, new Set(live.keys()))) {
      const forward: Forward = {
        key: want.key,
        service: want.service,
        port: want.port,
        portName: want.portName,
        wanted: want.local,
        local: want.local,
        nodePort: want.nodePort,
        nodes: want.nodes,
        endpoints: want.endpoints,
      };
      const existing = live.get(want.key);
      if (existing) {
        existing.forward = { ...forward, local: existing.forward.local, note: existing.forward.note, problem: existing.forward.problem };
        problems.push(...fallbackProblem(existing.forward));
        continue;
      }
      // A restarted service tries the local port the forward had first, and keeps what was said about it.
      const before = previous.get(want.key);
      const resumed = before && before.wanted === want.local ? before : undefined;
      let candidate = resumed?.local ?? want.local;
      let note = resumed?.note;
      let trouble = resumed?.problem;
      for (let tries = 0; tries < 100; tries++) {
        const holder = holders.get(candidate);
        if (holder) {
          note ??= `${want.local} is taken by ${holder}`;
          candidate = nextLocalPort(candidate, false);
          continue;
        }
        const result = await listen(want, candidate);
        if (result.relay) {
          const bound: Forward = { ...forward, local: candidate, note, problem: trouble };
          live.set(want.key, { forward: bound, relay: result.relay, turn: 0 });
          holders.set(candidate, want.service);
          log(`forward ${want.key} -> localhost:${candidate}${note ? ` (${note})` : ""}`);
          problems.push(...fallbackProblem(bound));
          break;
        }
        trouble ??= bindProblem(result.code, candidate, facts);
        note ??= `${want.local}: ${trouble.message}`;
        candidate = nextLocalPort(candidate, result.code === "EACCES");
      }
      if (!live.has(want.key) && trouble)
        problems.push({ service: want.service, port: want.port, message: `${trouble.message}; not forwarded`, fix: trouble.fix });
    }
  };

  const reconcile = async () => {
    const error = [...states.values()].find((s) => !s.connected)?.error;
    const connection = { connected: !error && states.size === informers.length, error };
    // Until every collection has been listed once, a plan would see Services without their endpoints or nodes.
    if (!synced) return writeTable(config.table, { written: new Date().toISOString(), api: connection, forwards: [], loadBalancers: [], problems: [] });
    const plan = planPorts({
      services: services.values(),
      endpointSlices: slices.values(),
      nodes: nodes.values(),
      loadBalancer: config.loadBalancer,
      forwardServices: config.forwardServices,
    });
    const problems = [...plan.problems];
    const { decisions, failed } = await writeStatuses(plan, problems);
    const companionsFailed = await keepCompanions(plan, problems);
    await keepRelays(plan, problems);
    const table: PortsTable = {
      written: new Date().toISOString(),
      api: connection,
      forwards: [...live.values()].map((l) => l.forward).sort((a, b) => a.service.localeCompare(b.service) || a.port - b.port),
      loadBalancers: decisions,
      problems,
    };
    await writeTable(config.table, table);
    // Problems are logged when they change, not at every pass.
    const lines = describeTable(table).problems.map((p) => `problem: ${p}`);
    for (const line of lines) if (!lastLines.has(line)) log(line);
    lastLines = new Set(lines);
    if ((failed || companionsFailed) && !stopped) {
      clearTimeout(retry);
      retry = setTimeout(() => void schedule(), RETRY_MS);
    }
  };

  // One pass at a time; a burst of events (a watch delivers many in one chunk) is one pass.
  let chain = Promise.resolve();
  let pending = false;
  const schedule = (): Promise<void> => {
    if (pending || stopped) return chain;
    pending = true;
    chain = chain.then(async () => {
      await new Promise((resolve) => setImmediate(resolve));
      pending = false;
      if (!stopped) await reconcile().catch((error: unknown) => log(`pass failed: ${messageOf(error)}`));
    });
    return chain;
  };

  const follow = <T extends KubeObject>(path: string, into: Map<string, T>): Informer =>
    inform<T>({
      connect,
      path,
      onChange: (items) => {
        into.clear();
        for (const [k, v] of items) into.set(k, v);
        void schedule();
      },
      onState: (state) => {
        const before = states.get(path);
        states.set(path, state);
        if (before?.connected !== state.connected || before?.error !== state.error) {
          if (!state.connected) log(`watch ${path}: ${state.error}`);
          void schedule();
        }
      },
    });

  let synced = false;
  const informers = [
    follow("/api/v1/services", services),
    follow("/api/v1/nodes", nodes),
    ...(config.forwardServices ? [follow("/apis/discovery.k8s.io/v1/endpointslices", slices)] : []),
  ];
  const firstPass = Promise.all(informers.map((i) => i.synced)).then(() => {
    synced = true;
    return schedule();
  });
  // Up waits a little for the first pass, so it can print the forwards; a cluster still starting is not waited for.
  await Promise.race([firstPass, sleep(FIRST_PASS_MS)]);

  const parts = [config.loadBalancer ? "load-balancer addresses" : "", config.forwardServices ? `forwards on ${LOOPBACK}` : ""].filter(Boolean);
  return {
    summary: `watching the Services of ${config.clusterName}: ${parts.join(", ")}`,
    close: async () => {
      stopped = true;
      clearTimeout(retry);
      for (const i of informers) i.stop();
      await chain;
      await Promise.all([...live.values()].map((l) => l.relay.close()));
    },
  };
}
