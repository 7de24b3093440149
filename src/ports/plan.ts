import { createHash } from "node:crypto";
import type { KubeObject } from "../informer.js";

/**
 * Apps one click away, decided (pure): which LoadBalancer Services get the nodes' addresses in their
 * status, which Service ports answer on the dev container's localhost and through which node port,
 * what a `kind-cluster.dev/forward` annotation asks for, and what is wrong with a Service that cannot
 * be forwarded. The zone-1 service (serve/ports.ts) does what this decides.
 */

/** `"true"`, `"false"`, a local port, or `"<service port>:<local port>,…"`; LoadBalancer Services are forwarded without it. */
export const FORWARD_ANNOTATION = "kind-cluster.dev/forward";
/** The field manager of what we write: a load-balancer status owned by anyone else belongs to another implementation. */
export const FIELD_MANAGER = "kind-cluster";
/** On the NodePort companion of a forwarded ClusterIP Service: the name of the Service it stands in for. */
export const COMPANION_LABEL = "kind-cluster.dev/forward-of";
/** The standard label that keeps a node out of load balancers' address lists. */
const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";
/**
 * Ports the nodes themselves serve on their address on the cluster's network (API server, etcd,
 * kubelet, kube-proxy's health check). A load-balancer address in "VIP" mode makes kube-proxy capture
 * <node address>:<port>; for these ports it would capture the node's own service (kubectl's route
 * is <node>:6443), so such a Service's address is announced in "Proxy" mode: through its node ports only.
 */
const NODE_OWN_PORTS = new Set([2379, 2380, 6443, 10250, 10256]);

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  nodePort?: number;
  targetPort?: number | string;
}

interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ipMode?: string;
}

interface ManagedField {
  manager?: string;
  subresource?: string;
  fieldsV1?: unknown;
}

export interface KubeService extends KubeObject {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    creationTimestamp?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    managedFields?: ManagedField[];
  };
  spec?: {
    type?: string;
    ports?: ServicePort[];
    selector?: Record<string, string>;
    loadBalancerClass?: string;
    externalTrafficPolicy?: string;
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

export interface KubeNode extends KubeObject {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  status?: { addresses?: Array<{ type: string; address: string }>; conditions?: Array<{ type: string; status: string }> };
}

export interface KubeEndpointSlice extends KubeObject {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; resourceVersion?: string };
  endpoints?: Array<{ conditions?: { ready?: boolean }; nodeName?: string }>;
}

/** Something about one Service that the user fixes: named in `status` and `doctor`, the others unaffected. */
export interface Problem {
  /** namespace/name */
  service: string;
  port?: number;
  message: string;
  fix: string;
}

const fullName = (s: KubeService) => `${s.metadata.namespace}/${s.metadata.name}`;
const typeOf = (s: KubeService) => s.spec?.type ?? "ClusterIP";
const isTcp = (p: ServicePort) => (p.protocol ?? "TCP") === "TCP";

// ---------------------------------------------------------------------------------------------
// The nodes

interface NodeFacts {
  name: string;
  address: string;
  ready: boolean;
  excluded: boolean;
}

function nodeFacts(nodes: Iterable<KubeNode>): NodeFacts[] {
  const facts: NodeFacts[] = [];
  for (const node of nodes) {
    const address = node.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
    if (!address) continue;
    const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    facts.push({ name: node.metadata.name, address, ready, excluded: EXCLUDE_LABEL in (node.metadata.labels ?? {}) });
  }
  return facts.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The addresses a load balancer announces: every node's InternalIP (its address on the cluster's
 * Docker network), in node-name order, without the nodes labelled out of load balancers, unless that
 * leaves none. NotReady nodes stay: a node restarting would otherwise make every status flap.
 */
export function loadBalancerAddresses(nodes: Iterable<KubeNode>): string[] {
  const all = nodeFacts(nodes);
  const kept = all.filter((n) => !n.excluded);
  return (kept.length ? kept : all).map((n) => n.address);
}

// ---------------------------------------------------------------------------------------------
// Load-balancer status

export type LoadBalancerDecision =
  /** Ours and current. */
  | { service: string; state: "assigned"; addresses: string[] }
  /** To write (merge patch of the status subresource). */
  | { service: string; state: "write"; addresses: string[]; ingress: LoadBalancerIngress[] }
  /** The addresses we wrote on a Service that is no longer a LoadBalancer: to remove. */
  | { service: string; state: "clear"; addresses: string[] }
  /** Another implementation's. */
  | { service: string; state: "aside"; addresses: string[]; reason: string }
  /** Nothing to announce yet (no node has an address). */
  | { service: string; state: "pending"; addresses: string[]; reason: string };

/** Whether a managedFields entry owns status.loadBalancer.ingress. */
function ownsIngress(field: ManagedField): boolean {
  const status = (field.fieldsV1 as Record<string, Record<string, Record<string, unknown>>> | undefined)?.["f:status"];
  return field.subresource === "status" && status?.["f:loadBalancer"]?.["f:ingress"] !== undefined;
}

/** Who, besides us, wrote the Service's load-balancer ingress; "someone" when it is set and nobody says. */
function foreignIngressOwner(service: KubeService): string | undefined {
  const ingress = service.status?.loadBalancer?.ingress ?? [];
  if (ingress.length === 0) return undefined;
  const owners = (service.metadata.managedFields ?? []).filter(ownsIngress).map((f) => f.manager ?? "an unnamed manager");
  if (owners.length === 0) return "someone else (no field manager recorded)";
  return owners.find((o) => o !== FIELD_MANAGER);
}

const ipsOf = (ingress: readonly LoadBalancerIngress[]) => ingress.map((i) => i.ip ?? i.hostname ?? "?");

/**
 * What to do about one Service's load-balancer status, k3s ServiceLB's way: the node addresses, the
 * traffic through the node ports. Undefined: not ours to think about (not a LoadBalancer, nothing of
 * ours on it). A Service with a loadBalancerClass, or whose status another manager wrote, is left to
 * that implementation and said so.
 */
export function loadBalancerDecision(service: KubeService, addresses: readonly string[]): LoadBalancerDecision | undefined {
  const name = fullName(service);
  const current = service.status?.loadBalancer?.ingress ?? [];
  const foreign = foreignIngressOwner(service);
  if (typeOf(service) !== "LoadBalancer") return current.length > 0 && !foreign ? { service: name, state: "clear", addresses: ipsOf(current) } : undefined;
  const cls = service.spec?.loadBalancerClass;
  if (cls) return { service: name, state: "aside", addresses: ipsOf(current), reason: `its loadBalancerClass ${cls} names another implementation` };
  if (foreign) return { service: name, state: "aside", addresses: ipsOf(current), reason: `its status was set by ${foreign}` };
  if (addresses.length === 0) return { service: name, state: "pending", addresses: [], reason: "no node has an InternalIP yet" };
  const ipMode = (service.spec?.ports ?? []).some((p) => NODE_OWN_PORTS.has(p.port)) ? "Proxy" : "VIP";
  const ingress = addresses.map((ip) => ({ ip, ipMode }));
  // A server without the ipMode field drops it: an absent mode is not a difference (or we would write forever).
  const same =
    current.length === ingress.length && current.every((c, i) => c.ip === ingress[i]!.ip && (c.ipMode === undefined || c.ipMode === ingress[i]!.ipMode));
  return same ? { service: name, state: "assigned", addresses: [...addresses] } : { service: name, state: "write", addresses: [...addresses], ingress };
}

// ---------------------------------------------------------------------------------------------
// The forward annotation

export type ForwardRequest =
  | { kind: "default" }
  | { kind: "off" }
  | { kind: "all" }
  | { kind: "ports"; ports: Array<{ port: ServicePort; local: number }> }
  | { kind: "invalid"; why: string };

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function localPort(text: string): number | string {
  if (!DECIMAL.test(text)) return `${JSON.stringify(text)} is not a port number`;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : `local port ${n} is out of range (1-65535)`;
}

const describePorts = (ports: readonly ServicePort[]) => ports.map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(", ") || "none";

/** Reads the annotation against the Service's ports. Pure. */
export function parseForwardAnnotation(value: string | undefined, ports: readonly ServicePort[]): ForwardRequest {
  if (value === undefined) return { kind: "default" };
  const text = value.trim();
  if (/^true$/i.test(text)) return { kind: "all" };
  if (/^false$/i.test(text)) return { kind: "off" };
  if (DECIMAL.test(text)) {
    const local = localPort(text);
    if (typeof local === "string") return { kind: "invalid", why: local };
    const tcp = ports.filter(isTcp);
    if (tcp.length !== 1)
      return {
        kind: "invalid",
        why: `one local port (${local}) for a Service with ${tcp.length} TCP ports (${describePorts(tcp)}); name each: "<service port>:<local port>,…"`,
      };
    return { kind: "ports", ports: [{ port: tcp[0]!, local }] };
  }
  const chosen: Array<{ port: ServicePort; local: number }> = [];
  for (const item of text.split(",")) {
    const m = /^\s*([A-Za-z0-9-]+)\s*:\s*([^\s,]+)\s*$/.exec(item);
    if (!m) return { kind: "invalid", why: `${JSON.stringify(item.trim())} is not "<service port>:<local port>"` };
    const [, which = "", to = ""] = m;
    const port = ports.find((p) => String(p.port) === which || p.name === which);
    if (!port) return { kind: "invalid", why: `the Service has no port ${which} (its ports: ${describePorts(ports)})` };
    if (!isTcp(port)) return { kind: "invalid", why: `port ${which} is ${port.protocol}: only TCP is forwarded` };
    const local = localPort(to);
    if (typeof local === "string") return { kind: "invalid", why: local };
    if (chosen.some((c) => c.local === local)) return { kind: "invalid", why: `local port ${local} is named twice` };
    chosen.push({ port, local });
  }
  return { kind: "ports", ports: chosen };
}

const ANNOTATION_FIX = `set the annotation ${FORWARD_ANNOTATION} to "true", "false", a local port (one-port Services), or "<service port>:<local port>,…" such as "80:8080"`;

// ---------------------------------------------------------------------------------------------
// The forwards

/** One Service port that should answer on the dev container's localhost. */
export interface Want {
  /** namespace/name:port: what a forward is known by from one change to the next. */
  key: string;
  service: string;
  port: number;
  portName?: string;
  /** The local port asked for: the Service's own, or the annotation's. */
  local: number;
  /** The Service's creationTimestamp: the older of two Services wanting one port keeps it. */
  created: string;
  /** The node port the relay sends to; undefined while a companion has none yet. */
  nodePort?: number;
  /** The nodes' addresses that carry it (only those with a ready endpoint under externalTrafficPolicy Local). */
  nodes: string[];
  /** Ready endpoints behind the Service. */
  endpoints: number;
}

/** The NodePort Service that stands in for a forwarded ClusterIP Service (kube-proxy then does the work). */
export interface Companion {
  namespace: string;
  name: string;
  /** The Service it stands in for (it is deleted with it: an owner reference). */
  of: string;
  object: object;
}

export interface Plan {
  loadBalancers: LoadBalancerDecision[];
  wants: Want[];
  companions: Companion[];
  /** Companions that exist but are no longer wanted: namespace/name. */
  staleCompanions: string[];
  problems: Problem[];
}

export interface PlanInput {
  services: Iterable<KubeService>;
  endpointSlices: Iterable<KubeEndpointSlice>;
  nodes: Iterable<KubeNode>;
  loadBalancer: boolean;
  forwardServices: boolean;
}

/** A companion's name: recognisable, within the 63 characters a Service name may have, and stable. */
export function companionName(name: string): string {
  const prefix = "kc-forward-";
  if (prefix.length + name.length <= 63) return `${prefix}${name}`;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return `${prefix}${name.slice(0, 63 - prefix.length - 1 - hash.length)}-${hash}`;
}

const isCompanion = (s: KubeService) => COMPANION_LABEL in (s.metadata.labels ?? {});

function companionOf(service: KubeService, ports: readonly ServicePort[]): Companion {
  const name = companionName(service.metadata.name);
  const { namespace } = service.metadata;
  return {
    namespace,
    name,
    of: fullName(service),
    object: {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name,
        namespace,
        labels: { "app.kubernetes.io/managed-by": "kind-cluster", [COMPANION_LABEL]: service.metadata.name },
        ownerReferences: [{ apiVersion: "v1", kind: "Service", name: service.metadata.name, uid: service.metadata.uid }],
      },
      spec: {
        type: "NodePort",
        selector: service.spec?.selector,
        ports: ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, targetPort: p.targetPort ?? p.port, protocol: "TCP" })),
      },
    },
  };
}

/** Whether a companion as it exists already has the selector and ports we would apply. */
export function companionCurrent(existing: KubeService | undefined, wanted: Companion): boolean {
  if (!existing) return false;
  const spec = (wanted.object as { spec: { selector?: Record<string, string>; ports: ServicePort[] } }).spec;
  const ports = (existing.spec?.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, targetPort: p.targetPort, protocol: "TCP" }));
  return JSON.stringify(existing.spec?.selector ?? {}) === JSON.stringify(spec.selector ?? {}) && JSON.stringify(ports) === JSON.stringify(spec.ports);
}

function readyEndpoints(slices: readonly KubeEndpointSlice[], service: KubeService): { count: number; nodes: Set<string>; slices: number } {
  const nodes = new Set<string>();
  let count = 0;
  let found = 0;
  for (const slice of slices) {
    if (slice.metadata.namespace !== service.metadata.namespace || slice.metadata.labels?.["kubernetes.io/service-name"] !== service.metadata.name) continue;
    found++;
    for (const e of slice.endpoints ?? []) {
      // An absent condition means ready (the API's own rule).
      if (e.conditions?.ready === false) continue;
      count++;
      if (e.nodeName) nodes.add(e.nodeName);
    }
  }
  return { count, nodes, slices: found };
}

/** Everything the service does next, from what the API shows. Pure. */
export function planPorts(input: PlanInput): Plan {
  // Each collection may be an iterator (a map's values): read once, here.
  const services = [...input.services].sort((a, b) => fullName(a).localeCompare(fullName(b)));
  const slices = [...input.endpointSlices];
  const allNodes = [...input.nodes];
  const nodes = nodeFacts(allNodes);
  const addresses = loadBalancerAddresses(allNodes);
  const plan: Plan = { loadBalancers: [], wants: [], companions: [], staleCompanions: [], problems: [] };
  const byName = new Map(services.map((s) => [fullName(s), s]));

  for (const service of services) {
    if (isCompanion(service)) continue;
    if (input.loadBalancer) {
      const decision = loadBalancerDecision(service, addresses);
      if (decision) plan.loadBalancers.push(decision);
    }
    if (input.forwardServices) forwardsOf(service, slices, nodes, byName, plan);
  }
  const wanted = new Set(plan.companions.map((c) => `${c.namespace}/${c.name}`));
  plan.staleCompanions = services.filter((s) => isCompanion(s) && !wanted.has(fullName(s))).map(fullName);
  return plan;
}

function forwardsOf(
  service: KubeService,
  slices: readonly KubeEndpointSlice[],
  nodes: readonly NodeFacts[],
  byName: Map<string, KubeService>,
  plan: Plan,
): void {
  const name = fullName(service);
  const type = typeOf(service);
  const ports = service.spec?.ports ?? [];
  const request = parseForwardAnnotation(service.metadata.annotations?.[FORWARD_ANNOTATION], ports);
  const problem = (message: string, fix: string, port?: number) => plan.problems.push({ service: name, port, message, fix });
  if (request.kind === "invalid") return void problem(`annotation ${FORWARD_ANNOTATION}: ${request.why}; not forwarded`, ANNOTATION_FIX);
  if (request.kind === "off" || (request.kind === "default" && type !== "LoadBalancer")) return;
  if (type === "ExternalName")
    return void problem("an ExternalName Service has no endpoints in the cluster to forward to", `remove the annotation ${FORWARD_ANNOTATION}`);

  const chosen = request.kind === "ports" ? request.ports : ports.filter(isTcp).map((port) => ({ port, local: port.port }));
  for (const p of ports)
    if (!isTcp(p) && request.kind !== "ports")
      problem(
        `port ${p.port} is ${p.protocol}: only TCP is forwarded to localhost`,
        "reach it from the cluster's network, at a node's address and its node port",
        p.port,
      );

  // Where the traffic goes: the Service's own node ports, or those of a NodePort companion.
  let target: KubeService = service;
  if (type === "ClusterIP") {
    if (!service.spec?.selector || Object.keys(service.spec.selector).length === 0)
      return void problem(
        "a ClusterIP Service without a selector (its endpoints are set by hand) cannot be forwarded",
        "make it type NodePort, or forward a Service that selects the pods",
      );
    const companion = companionOf(
      service,
      chosen.map((c) => c.port),
    );
    const existing = byName.get(`${companion.namespace}/${companion.name}`);
    if (existing && !isCompanion(existing))
      return void problem(
        `its forward needs a NodePort Service named ${companion.name}, and a Service of that name exists that kind-cluster did not make`,
        `rename that Service, or make ${service.metadata.name} type NodePort`,
      );
    plan.companions.push(companion);
    target = existing ?? { metadata: { name: companion.name, namespace: companion.namespace } };
  }

  const endpoints = readyEndpoints(slices, service);
  const local = service.spec?.externalTrafficPolicy === "Local" && type !== "ClusterIP";
  const carriers = nodes.filter((n) => (local ? endpoints.nodes.has(n.name) : true));
  // Ready nodes first; a restarting node is tried only when no other is Ready.
  const ready = carriers.filter((n) => n.ready);
  const via = (ready.length ? ready : carriers).map((n) => n.address);
  // A Service that selects pods has an EndpointSlice within moments (an empty one when nothing matches):
  // until then it is just new, not a problem.
  const sliced = endpoints.slices > 0 || !service.spec?.selector;
  if (endpoints.count === 0 && sliced)
    problem(
      "no ready endpoint: no ready pod matches its selector, so its forwards close each connection at once",
      `look at its pods: \`kubectl get endpointslices -n ${service.metadata.namespace} -l kubernetes.io/service-name=${service.metadata.name}\`, \`kubectl describe service -n ${service.metadata.namespace} ${service.metadata.name}\``,
    );

  for (const { port, local: wantedLocal } of chosen) {
    const nodePort = (target.spec?.ports ?? []).find((p) => p.port === port.port && isTcp(p))?.nodePort;
    if (target === service && nodePort === undefined) {
      problem(
        `port ${port.port} has no node port (allocateLoadBalancerNodePorts: false), and node ports are how the dev container reaches it`,
        "remove allocateLoadBalancerNodePorts: false from the Service",
        port.port,
      );
      continue;
    }
    plan.wants.push({
      key: `${name}:${port.port}`,
      service: name,
      port: port.port,
      portName: port.name,
      local: wantedLocal,
      created: service.metadata.creationTimestamp ?? "",
      nodePort,
      nodes: via,
      endpoints: endpoints.count,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Local ports

/**
 * The order in which wants get their local ports: those already forwarded keep theirs (a live tab in
 * the browser stays valid), then the older Service first (so after a rebuild the same Service gets
 * the contested port again), then by name and port.
 */
export function assignmentOrder(wants: readonly Want[], forwarded: ReadonlySet<string>): Want[] {
  return [...wants].sort(
    (a, b) =>
      Number(forwarded.has(b.key)) - Number(forwarded.has(a.key)) ||
      a.created.localeCompare(b.created) ||
      a.service.localeCompare(b.service) ||
      a.port - b.port,
  );
}

/**
 * The next local port to try after `port` could not be had: the next one up; for a privileged port this
 * container may not bind, the same port in the 8000s (80 -> 8080, 443 -> 8443), where web ports usually go.
 */
export function nextLocalPort(port: number, privileged: boolean): number {
  if (privileged && port + 8000 <= 65535) return port + 8000;
  return port >= 65535 ? 1024 : port + 1;
}

/** Why a local port could not be listened on, with the fix. */
export function bindProblem(code: string | undefined, port: number, facts: { unprivilegedPortStart?: number; uid?: number }): { message: string; fix: string } {
  if (code === "EACCES")
    return {
      message: `port ${port} is privileged in this dev container (net.ipv4.ip_unprivileged_port_start is ${facts.unprivilegedPortStart ?? "unknown"}, and the service runs as uid ${facts.uid ?? "?"})`,
      fix: `add "runArgs": ["--sysctl", "net.ipv4.ip_unprivileged_port_start=0"] to devcontainer.json, or choose a local port with the annotation ${FORWARD_ANNOTATION}: "${port}:<local port>"`,
    };
  if (code === "EADDRINUSE")
    return {
      message: `local port ${port} is held by another process in this dev container`,
      fix: `stop it (\`ss -ltnp 'sport = :${port}'\` names it), or choose a local port with the annotation ${FORWARD_ANNOTATION}: "${port}:<local port>"`,
    };
  return {
    message: `local port ${port} cannot be listened on (${code ?? "unknown error"})`,
    fix: `choose a local port with the annotation ${FORWARD_ANNOTATION}`,
  };
}
