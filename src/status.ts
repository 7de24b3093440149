import { describeUser } from "./cluster/users.js";
import { contextName } from "./kubeconfig/names.js";
import { problemText } from "./gitops/problems.js";
import type { FullObservation } from "./observe.js";
import type { Settings } from "./options.js";
import { describeTable, type Forward, forwardUrl } from "./ports/table.js";
import type { LoadBalancerDecision, Problem } from "./ports/plan.js";
import { REGISTRY_NAME } from "./registry.js";
import type { ServiceInstance } from "./serve/daemon.js";
import { SERVICE_KINDS } from "./serve/kinds.js";

/** `kind-cluster status`: the observation, one line per zone and part. Pure: observe.ts does the looking. */
export interface Status {
  devContainer: { kubeconfig: string; context?: string; server?: string; tlsServerName?: string; currentContext?: string; error?: string };
  dockerHost: { engine?: string; error?: string };
  cluster: { name: string; state?: string; nodes: Array<{ name: string; role: string; running: boolean }>; api?: string };
  route: { server?: string; reachable: boolean; detail: string };
  registry?: { running: boolean; published?: string; onClusterNetwork: boolean; relay?: string; error?: string };
  gitops?: {
    following?: string;
    head?: string;
    applied?: string;
    ready?: boolean;
    message?: string;
    error?: string;
    /** Every Kustomization (or the engine's unit), and how many are Ready. */
    units?: { total: number; ready: number };
    /** What must be fixed: the object, the files that declare it, the engine's message, the fix. */
    problems?: Array<{ subject: string; files: string[]; message: string; fix?: string }>;
    /** Whether encrypted Secrets can be decrypted, in a sentence. */
    decryption?: string;
    /** The dev container that owns the loop, when known; `ours` when it is this one. */
    owner?: string;
    ours?: boolean;
  };
  /** Forwards and load-balancer addresses: present while the ports service runs; `error` says why there are none. */
  ports?: {
    error?: string;
    forwards: Array<Pick<Forward, "service" | "port" | "portName" | "local" | "note" | "nodePort" | "endpoints"> & { url: string }>;
    loadBalancers: LoadBalancerDecision[];
    problems: Problem[];
    /** The lines of the text form. */
    lines: { forwards: string[]; loadBalancers: string[]; problems: string[] };
  };
  services: ServiceStatus[];
}

export interface ServiceStatus {
  kind: string;
  cluster: string;
  instance: string;
  running: boolean;
  pid?: number;
  summary?: string;
  /** How often the supervisor restarted it, why it last ended, whether it keeps failing. */
  restarts: number;
  lastExit?: string;
  failing: boolean;
  log: string;
}

export function serviceStatusOf(s: ServiceInstance): ServiceStatus {
  const { supervision } = s;
  return {
    kind: s.key.kind,
    cluster: s.key.cluster,
    instance: s.key.instance,
    running: s.state !== undefined,
    pid: s.state?.pid,
    summary: s.state?.summary,
    restarts: supervision?.restarts ?? 0,
    lastExit: supervision?.lastExit,
    failing: supervision?.failing ?? false,
    log: s.log,
  };
}

/** One line for a service instance: what it serves, or why it does not. Pure. */
export function serviceLine(v: ServiceStatus): string {
  const title = `${SERVICE_KINDS[v.kind as keyof typeof SERVICE_KINDS]?.title ?? v.kind}${v.instance === "default" ? "" : ` ${v.instance}`}`;
  const history = v.restarts ? `restarted ${v.restarts} time${v.restarts > 1 ? "s" : ""}, last it ${v.lastExit}` : "";
  if (v.running) return `${title}: running (pid ${v.pid}${history ? `; ${history}` : ""}), ${v.summary}`;
  return `${title}: NOT running${v.failing ? ", FAILING" : ""}${history ? ` (${history})` : ""}; log ${v.log}`;
}

export function statusOf(settings: Settings, o: FullObservation): Status {
  const entry = o.kubeconfig.entry;
  const info = o.docker.info;
  const status: Status = {
    devContainer: o.kubeconfig.error
      ? { kubeconfig: o.kubeconfig.path, error: o.kubeconfig.error }
      : {
          kubeconfig: o.kubeconfig.path,
          context: entry ? contextName(settings.clusterName) : undefined,
          server: entry?.server,
          tlsServerName: entry?.tlsServerName,
          currentContext: o.kubeconfig.currentContext,
        },
    dockerHost: info ? { engine: `${info.serverVersion} (${info.operatingSystem})` } : { error: o.docker.error?.message },
    cluster: {
      name: settings.clusterName,
      state: o.cluster?.state,
      nodes: (o.cluster?.nodes ?? []).map((n) => ({ name: n.name, role: n.role, running: n.running })),
      api: o.cluster?.api ? `${o.cluster.api.hostIp || "*"}:${o.cluster.api.hostPort}` : undefined,
    },
    route: {
      server: entry?.server,
      reachable: o.route?.reachable ?? false,
      detail: o.route?.detail ?? (entry ? "no cluster to reach" : "no kubeconfig entry"),
    },
    services: o.services.map(serviceStatusOf),
  };
  if (o.registry) {
    const r = o.registry;
    status.registry = r.error
      ? { running: false, onClusterNetwork: false, error: r.error }
      : { running: r.view?.running ?? false, published: r.view?.published, onClusterNetwork: r.view?.onNetwork ?? false, relay: r.relay?.state?.summary };
  }
  if (o.gitops) {
    const g = o.gitops;
    const sync = g.view?.sync;
    status.gitops = g.error
      ? { error: g.error }
      : {
          following: g.view?.branch,
          head: g.head,
          applied: sync?.applied,
          ready: sync?.ready,
          message: sync?.ready ? undefined : (sync?.message ?? g.view?.source?.message),
          owner: g.owner && describeUser(g.owner),
          ours: g.owner?.ours,
          units: g.view && { total: g.view.units.length, ready: g.view.units.filter((u) => u.ready).length },
          problems: g.problems.map(({ subject, files, message, fix }) => ({ subject, files, message, fix })),
          decryption: decryptionOf(g),
        };
  }
  if (o.ports) status.ports = portsStatus(o.ports);
  return status;
}

function portsStatus(p: NonNullable<FullObservation["ports"]>): NonNullable<Status["ports"]> {
  const none = { forwards: [], loadBalancers: [], problems: [], lines: { forwards: [], loadBalancers: [], problems: [] } };
  if (!p.service?.state) return { ...none, error: `the ports service does NOT run${p.service ? ` (log ${p.service.log})` : ""}: run \`kind-cluster up\`` };
  if (!p.table) return { ...none, error: "the ports service has not written its table yet" };
  const t = p.table;
  return {
    error: t.api.connected ? undefined : `the ports service cannot follow the API: ${t.api.error}`,
    forwards: t.forwards.map((f) => ({
      service: f.service,
      port: f.port,
      portName: f.portName,
      local: f.local,
      url: forwardUrl(f),
      note: f.note,
      nodePort: f.nodePort,
      endpoints: f.endpoints,
    })),
    loadBalancers: t.loadBalancers,
    problems: t.problems,
    lines: describeTable(t),
  };
}

const KEY_PLACES = "$SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt";

/** Whether SOPS-encrypted Secrets can be decrypted: the key here, the key in the cluster, who uses it. Pure. */
export function decryptionOf(g: Pick<NonNullable<FullObservation["gitops"]>, "view" | "ageKey">): string | undefined {
  const inCluster = g.view?.decryption.key ?? false;
  const users = g.view?.decryption.users ?? [];
  const here = g.ageKey && `${g.ageKey.count} age ${g.ageKey.count === 1 ? "identity" : "identities"} from ${g.ageKey.sources.join(", ")}`;
  const usedBy = users.length ? `; used by ${users.join(", ")}` : "";
  if (inCluster) return `SOPS age key in flux-system/sops-age (${here ?? "stored by an earlier start; none in this container"})${usedBy}`;
  if (here) return `${here}, not in the cluster yet: run \`kind-cluster up\`${usedBy}`;
  if (users.length)
    return `NOT set up: ${users.join(", ")} decrypt with flux-system/sops-age and there is no age key: put yours in ${KEY_PLACES}, then \`kind-cluster up\``;
  return `not set up (no age key in ${KEY_PLACES})`;
}

export function renderStatus(s: Status): string {
  const nodes = s.cluster.nodes.map((n) => `${n.name} (${n.running ? "running" : "stopped"})`).join(", ") || "none";
  return [
    `zone 1 dev container  kubeconfig ${s.devContainer.kubeconfig}${s.devContainer.error ? `: ${s.devContainer.error}` : `, context ${s.devContainer.context ?? "missing"}, current ${s.devContainer.currentContext ?? "none"}`}`,
    `zone 2 docker host    ${s.dockerHost.error ?? `engine ${s.dockerHost.engine}`}`,
    `zone 3 kind cluster   ${s.cluster.name}: ${clusterState(s.cluster.state)}${nodes}${s.cluster.api ? `, API published on ${s.cluster.api}` : ""}`,
    `route                 ${s.route.server ?? "-"}${s.devContainer.tlsServerName ? ` (tls-server-name ${s.devContainer.tlsServerName})` : ""}: ${s.route.reachable ? "reachable" : "not reachable"}, ${s.route.detail}`,
    ...(s.registry ? [`registry              ${renderRegistry(s.registry)}`] : []),
    ...(s.gitops ? [`gitops                ${renderGitOps(s.gitops)}`, ...renderProblems(s.gitops)] : []),
    ...(s.gitops?.decryption ? [`decryption            ${s.gitops.decryption}`] : []),
    ...(s.ports?.error ? [`ports                 ${s.ports.error}`] : []),
    ...(s.ports?.lines.forwards.map((l) => `forward               ${l}`) ?? []),
    ...(s.ports?.lines.loadBalancers.map((l) => `load balancer         ${l}`) ?? []),
    ...(s.ports?.lines.problems.map((l) => `ports problem         ${l}`) ?? []),
    ...s.services.map((v) => `service               ${serviceLine(v)}`),
  ].join("\n");
}

/** The cluster's state when it is not simply running, before its nodes. Pure. */
function clusterState(state: string | undefined): string {
  if (state === "stopped") return "stopped (`kind-cluster up` starts it); ";
  if (state === "partial") return "partly stopped (`kind-cluster up` starts the rest); ";
  return "";
}

function renderRegistry(r: NonNullable<Status["registry"]>): string {
  if (r.error) return r.error;
  if (!r.published) return `${REGISTRY_NAME} does not exist (run \`kind-cluster up\`)`;
  return `${REGISTRY_NAME} ${r.running ? "running" : "stopped"} on ${r.published}, ${r.onClusterNetwork ? "on" : "NOT on"} the cluster's network, ${r.relay ? `relay ${r.relay}` : "no relay in this container"}`;
}

function renderGitOps(g: NonNullable<Status["gitops"]>): string {
  if (g.error) return g.error;
  const short = (c?: string) => c?.slice(0, 7) ?? "none";
  const state = g.ready ? "Ready" : `not Ready${g.message ? `: ${g.message}` : ""}`;
  const behind = g.head && g.applied !== g.head ? ` (workspace HEAD ${short(g.head)})` : "";
  const units = g.units && g.units.total > 1 ? `; ${g.units.ready}/${g.units.total} Kustomizations Ready` : "";
  const owner = g.owner && !g.ours ? `; the loop belongs to ${g.owner}, not this container` : "";
  return `following ${g.following ?? "?"}, applied ${short(g.applied)}${behind}, ${state}${units}${owner}`;
}

function renderProblems(g: NonNullable<Status["gitops"]>): string[] {
  return (g.problems ?? []).flatMap((p) => [`  ✗ ${problemText(p)}`, ...(p.fix ? [`    fix: ${p.fix}`] : [])]);
}
