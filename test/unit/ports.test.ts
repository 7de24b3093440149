import { describe, expect, it } from "vitest";
import {
  assignmentOrder,
  bindProblem,
  COMPANION_LABEL,
  companionCurrent,
  companionName,
  FIELD_MANAGER,
  FORWARD_ANNOTATION,
  type KubeEndpointSlice,
  type KubeNode,
  type KubeService,
  loadBalancerAddresses,
  loadBalancerDecision,
  nextLocalPort,
  parseForwardAnnotation,
  planPorts,
  type ServicePort,
} from "../../src/ports/plan.js";
import type { FullObservation } from "../../src/observe.js";
import { DEFAULT_SETTINGS } from "../../src/options.js";
import { describeTable } from "../../src/ports/table.js";
import { renderStatus, statusOf } from "../../src/status.js";

/** The ports service's decisions, from API objects as the watches deliver them. Pure. */

function service(
  name: string,
  spec: KubeService["spec"] & { annotation?: string; created?: string; labels?: Record<string, string> },
  status?: KubeService["status"],
  managers?: string[],
): KubeService {
  const { annotation, created, labels, ...rest } = spec;
  return {
    metadata: {
      name,
      namespace: "default",
      uid: `uid-${name}`,
      creationTimestamp: created ?? "2026-01-01T00:00:00Z",
      annotations: annotation === undefined ? undefined : { [FORWARD_ANNOTATION]: annotation },
      labels,
      managedFields: managers?.map((manager) => ({ manager, subresource: "status", fieldsV1: { "f:status": { "f:loadBalancer": { "f:ingress": {} } } } })),
    },
    spec: { selector: { app: name }, ...rest },
    status,
  };
}

const lb = (name: string, ports: ServicePort[], extra: Partial<NonNullable<KubeService["spec"]>> & { annotation?: string; created?: string } = {}) =>
  service(name, { type: "LoadBalancer", ports, ...extra });

function node(name: string, ip: string, options: { ready?: boolean; excluded?: boolean } = {}): KubeNode {
  return {
    metadata: { name, labels: options.excluded ? { "node.kubernetes.io/exclude-from-external-load-balancers": "" } : {} },
    status: {
      addresses: [
        { type: "InternalIP", address: ip },
        { type: "Hostname", address: name },
      ],
      conditions: [{ type: "Ready", status: options.ready === false ? "False" : "True" }],
    },
  };
}

function slice(serviceName: string, endpoints: Array<{ ready?: boolean; nodeName?: string }>): KubeEndpointSlice {
  return {
    metadata: { name: `${serviceName}-abc`, namespace: "default", labels: { "kubernetes.io/service-name": serviceName } },
    endpoints: endpoints.map((e) => ({ conditions: { ready: e.ready }, nodeName: e.nodeName })),
  };
}

const NODES = [node("c-worker", "172.18.0.3"), node("c-control-plane", "172.18.0.2")];
const plan = (
  services: KubeService[],
  slices: KubeEndpointSlice[] = [],
  options: { loadBalancer?: boolean; forwardServices?: boolean; nodes?: KubeNode[] } = {},
) =>
  planPorts({
    services,
    endpointSlices: slices,
    nodes: options.nodes ?? NODES,
    loadBalancer: options.loadBalancer ?? true,
    forwardServices: options.forwardServices ?? true,
  });

describe("load-balancer addresses", () => {
  it("are the nodes' InternalIPs in node-name order, without nodes labelled out of load balancers unless none is left", () => {
    expect(loadBalancerAddresses(NODES)).toEqual(["172.18.0.2", "172.18.0.3"]);
    expect(loadBalancerAddresses([node("a", "10.0.0.1", { excluded: true }), node("b", "10.0.0.2")])).toEqual(["10.0.0.2"]);
    expect(loadBalancerAddresses([node("a", "10.0.0.1", { excluded: true })])).toEqual(["10.0.0.1"]);
    expect(loadBalancerAddresses([node("a", "10.0.0.1", { ready: false })])).toEqual(["10.0.0.1"]);
  });

  it("are written to a LoadBalancer Service without status, in VIP mode; kept once ours and current", () => {
    const fresh = lb("web", [{ port: 80, nodePort: 30080 }]);
    expect(loadBalancerDecision(fresh, ["172.18.0.2"])).toEqual({
      service: "default/web",
      state: "write",
      addresses: ["172.18.0.2"],
      ingress: [{ ip: "172.18.0.2", ipMode: "VIP" }],
    });
    const ours = lb("web", [{ port: 80 }]);
    ours.status = { loadBalancer: { ingress: [{ ip: "172.18.0.2", ipMode: "VIP" }] } };
    ours.metadata.managedFields = [{ manager: FIELD_MANAGER, subresource: "status", fieldsV1: { "f:status": { "f:loadBalancer": { "f:ingress": {} } } } }];
    expect(loadBalancerDecision(ours, ["172.18.0.2"])?.state).toBe("assigned");
    // A node that came back with another address: written again.
    expect(loadBalancerDecision(ours, ["172.18.0.5"])?.state).toBe("write");
    // A server that drops ipMode (an older Kubernetes) is not rewritten forever.
    ours.status = { loadBalancer: { ingress: [{ ip: "172.18.0.2" }] } };
    expect(loadBalancerDecision(ours, ["172.18.0.2"])?.state).toBe("assigned");
  });

  it("are announced in Proxy mode when a port is one the nodes serve themselves (6443 would capture kubectl's own route)", () => {
    const decision = loadBalancerDecision(lb("api", [{ port: 6443 }]), ["172.18.0.2"]);
    expect(decision).toMatchObject({ state: "write", ingress: [{ ip: "172.18.0.2", ipMode: "Proxy" }] });
  });

  it("step aside for a loadBalancerClass or a status another manager wrote, and say so", () => {
    expect(loadBalancerDecision(lb("a", [{ port: 80 }], { loadBalancerClass: "metallb.io/metallb" }), ["172.18.0.2"])).toMatchObject({
      state: "aside",
      reason: "its loadBalancerClass metallb.io/metallb names another implementation",
    });
    const foreign = service("b", { type: "LoadBalancer", ports: [{ port: 80 }] }, { loadBalancer: { ingress: [{ ip: "172.18.200.1" }] } }, [
      "cloud-provider-kind",
    ]);
    expect(loadBalancerDecision(foreign, ["172.18.0.2"])).toEqual({
      service: "default/b",
      state: "aside",
      addresses: ["172.18.200.1"],
      reason: "its status was set by cloud-provider-kind",
    });
    const unnamed = service("c", { type: "LoadBalancer", ports: [{ port: 80 }] }, { loadBalancer: { ingress: [{ hostname: "lb.example" }] } });
    expect(loadBalancerDecision(unnamed, ["172.18.0.2"])).toMatchObject({
      state: "aside",
      reason: "its status was set by someone else (no field manager recorded)",
    });
  });

  it("are removed from a Service that is no longer a LoadBalancer, only when they are ours; other Services are not touched", () => {
    const was = service("d", { type: "ClusterIP", ports: [{ port: 80 }] }, { loadBalancer: { ingress: [{ ip: "172.18.0.2" }] } }, [FIELD_MANAGER]);
    expect(loadBalancerDecision(was, ["172.18.0.2"])?.state).toBe("clear");
    const theirs = service("e", { type: "ClusterIP", ports: [{ port: 80 }] }, { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } }, ["metallb"]);
    expect(loadBalancerDecision(theirs, ["172.18.0.2"])).toBeUndefined();
    expect(loadBalancerDecision(service("f", { type: "NodePort", ports: [{ port: 80 }] }), ["172.18.0.2"])).toBeUndefined();
  });

  it("are planned from the collections as the service holds them (iterators of its maps, read once each)", () => {
    const nodes = new Map(NODES.map((n) => [n.metadata.name, n]));
    const services = new Map([["default/web", lb("web", [{ port: 80, nodePort: 30080 }])]]);
    const p = planPorts({ services: services.values(), endpointSlices: [].values(), nodes: nodes.values(), loadBalancer: true, forwardServices: true });
    expect(p.loadBalancers).toMatchObject([{ state: "write", addresses: ["172.18.0.2", "172.18.0.3"] }]);
    expect(p.wants[0]?.nodes).toEqual(["172.18.0.2", "172.18.0.3"]);
  });

  it("wait while no node has an address; the loadBalancer option off writes none", () => {
    expect(loadBalancerDecision(lb("a", [{ port: 80 }]), [])).toMatchObject({ state: "pending" });
    expect(plan([lb("a", [{ port: 80, nodePort: 30001 }])], [], { loadBalancer: false }).loadBalancers).toEqual([]);
  });
});

describe("the forward annotation", () => {
  const ports: ServicePort[] = [
    { name: "http", port: 80 },
    { name: "https", port: 443 },
    { name: "dns", port: 53, protocol: "UDP" },
  ];

  it("reads true, false, one local port (one-port Services) and a list by number or name", () => {
    expect(parseForwardAnnotation(undefined, ports)).toEqual({ kind: "default" });
    expect(parseForwardAnnotation("true", ports)).toEqual({ kind: "all" });
    expect(parseForwardAnnotation(" False ", ports)).toEqual({ kind: "off" });
    expect(parseForwardAnnotation("9000", [{ port: 8080 }])).toEqual({ kind: "ports", ports: [{ port: { port: 8080 }, local: 9000 }] });
    expect(parseForwardAnnotation("80:8080, https:8443", ports)).toEqual({
      kind: "ports",
      ports: [
        { port: ports[0], local: 8080 },
        { port: ports[1], local: 8443 },
      ],
    });
  });

  it("refuses bad values with the reason: not a port, out of range, no such port, UDP, twice, one port for many", () => {
    const why = (value: string, p = ports) => {
      const r = parseForwardAnnotation(value, p);
      return r.kind === "invalid" ? r.why : `accepted: ${JSON.stringify(r)}`;
    };
    expect(why("yes")).toBe('"yes" is not "<service port>:<local port>"');
    expect(why("70000", [{ port: 80 }])).toBe("local port 70000 is out of range (1-65535)");
    expect(why("0", [{ port: 80 }])).toBe("local port 0 is out of range (1-65535)");
    expect(why("80:99999")).toBe("local port 99999 is out of range (1-65535)");
    expect(why("80:08080")).toBe('"08080" is not a port number');
    expect(why("8080:9000")).toBe("the Service has no port 8080 (its ports: 80 (http), 443 (https), 53 (dns))");
    expect(why("dns:5353")).toBe("port dns is UDP: only TCP is forwarded");
    expect(why("80:9000,443:9000")).toBe("local port 9000 is named twice");
    expect(why("9000")).toBe('one local port (9000) for a Service with 2 TCP ports (80 (http), 443 (https)); name each: "<service port>:<local port>,…"');
  });
});

describe("the forwards", () => {
  it("every TCP port of a LoadBalancer Service, on its own port, through its node port on the Ready nodes; UDP named", () => {
    const p = plan(
      [
        lb("web", [
          { port: 80, nodePort: 30080 },
          { port: 53, protocol: "UDP", nodePort: 30053 },
        ]),
      ],
      [slice("web", [{ ready: true, nodeName: "c-worker" }])],
      { nodes: [...NODES, node("c-worker2", "172.18.0.4", { ready: false })] },
    );
    expect(p.wants).toEqual([
      {
        key: "default/web:80",
        service: "default/web",
        port: 80,
        portName: undefined,
        local: 80,
        created: "2026-01-01T00:00:00Z",
        nodePort: 30080,
        nodes: ["172.18.0.2", "172.18.0.3"],
        endpoints: 1,
      },
    ]);
    expect(p.problems).toEqual([
      {
        service: "default/web",
        port: 53,
        message: "port 53 is UDP: only TCP is forwarded to localhost",
        fix: "reach it from the cluster's network, at a node's address and its node port",
      },
    ]);
  });

  it("under externalTrafficPolicy Local, only through the nodes that hold a ready endpoint", () => {
    const p = plan(
      [lb("web", [{ port: 80, nodePort: 30080 }], { externalTrafficPolicy: "Local" })],
      [
        slice("web", [
          { ready: true, nodeName: "c-worker" },
          { ready: false, nodeName: "c-control-plane" },
        ]),
      ],
    );
    expect(p.wants[0]?.nodes).toEqual(["172.18.0.3"]);
    expect(p.wants[0]?.endpoints).toBe(1);
  });

  it("NodePort and ClusterIP Services only by annotation; the annotation's local ports; false turns a LoadBalancer's off", () => {
    const p = plan([
      service("np", { type: "NodePort", ports: [{ port: 8080, nodePort: 31000 }] }),
      service("np-on", { type: "NodePort", ports: [{ port: 8080, nodePort: 31001 }], annotation: "true" }),
      service("quiet", { type: "LoadBalancer", ports: [{ port: 80, nodePort: 31002 }], annotation: "false" }),
      lb(
        "two",
        [
          { name: "http", port: 80, nodePort: 31003 },
          { name: "https", port: 443, nodePort: 31004 },
        ],
        { annotation: "https:9443" },
      ),
    ]);
    expect(p.wants.map((w) => [w.key, w.local, w.nodePort])).toEqual([
      ["default/np-on:8080", 8080, 31001],
      ["default/two:443", 9443, 31004],
    ]);
  });

  it("a ClusterIP Service gets a NodePort companion owned by it (deleted with it); its forward uses the companion's node port once it has one", () => {
    const web = service("db", { type: "ClusterIP", ports: [{ name: "pg", port: 5432, targetPort: "pg" }], annotation: "15432" });
    const first = plan([web], [slice("db", [{ ready: true }])]);
    expect(first.companions).toEqual([
      {
        namespace: "default",
        name: "kc-forward-db",
        of: "default/db",
        object: {
          apiVersion: "v1",
          kind: "Service",
          metadata: {
            name: "kc-forward-db",
            namespace: "default",
            labels: { "app.kubernetes.io/managed-by": "kind-cluster", [COMPANION_LABEL]: "db" },
            ownerReferences: [{ apiVersion: "v1", kind: "Service", name: "db", uid: "uid-db" }],
          },
          spec: { type: "NodePort", selector: { app: "db" }, ports: [{ name: "pg", port: 5432, targetPort: "pg", protocol: "TCP" }] },
        },
      },
    ]);
    expect(first.wants[0]).toMatchObject({ key: "default/db:5432", local: 15432, nodePort: undefined });
    const companion = service("kc-forward-db", {
      type: "NodePort",
      selector: { app: "db" },
      ports: [{ name: "pg", port: 5432, targetPort: "pg", protocol: "TCP", nodePort: 30999 }],
      labels: { [COMPANION_LABEL]: "db" },
    });
    const second = plan([web, companion], [slice("db", [{ ready: true }])]);
    expect(second.wants[0]).toMatchObject({ nodePort: 30999 });
    expect(companionCurrent(companion, second.companions[0]!)).toBe(true);
    expect(second.staleCompanions).toEqual([]);
    // The annotation removed: the companion is no longer wanted.
    expect(plan([{ ...web, metadata: { ...web.metadata, annotations: {} } }, companion]).staleCompanions).toEqual(["default/kc-forward-db"]);
  });

  it("a companion's name stays within the 63 characters of a Service name", () => {
    const long = "a".repeat(63);
    expect(companionName("web")).toBe("kc-forward-web");
    expect(companionName(long)).toHaveLength(63);
    expect(companionName(long)).not.toBe(companionName(`${"a".repeat(62)}b`));
  });

  it("names what cannot be forwarded, and forwards the others: bad annotation, no endpoints, no selector, no node port, ExternalName, a foreign name", () => {
    const p = plan(
      [
        lb("good", [{ port: 8080, nodePort: 30001 }]),
        lb("bad", [{ port: 80, nodePort: 30002 }], { annotation: "80:100000" }),
        lb("empty", [{ port: 81, nodePort: 30003 }]),
        // Just created: the EndpointSlice controller has not written its slice yet; not a problem.
        lb("fresh", [{ port: 85, nodePort: 30005 }]),
        lb("noport", [{ port: 82 }]),
        service("manual", { type: "ClusterIP", ports: [{ port: 83 }], annotation: "true", selector: undefined }),
        service("ext", { type: "ExternalName", annotation: "true" }),
        service("taken", { type: "ClusterIP", ports: [{ port: 84 }], annotation: "true" }),
        service("kc-forward-taken", { type: "ClusterIP", ports: [{ port: 84 }] }),
      ],
      [slice("good", [{}]), slice("empty", []), slice("noport", [{}]), slice("taken", [{}])],
    );
    expect(p.wants.map((w) => [w.key, w.endpoints])).toEqual([
      ["default/empty:81", 0],
      ["default/fresh:85", 0],
      ["default/good:8080", 1],
    ]);
    expect(p.problems.map((x) => `${x.service}: ${x.message}`)).toEqual([
      "default/bad: annotation kind-cluster.dev/forward: local port 100000 is out of range (1-65535); not forwarded",
      "default/empty: no ready endpoint: no ready pod matches its selector, so its forwards close each connection at once",
      "default/ext: an ExternalName Service has no endpoints in the cluster to forward to",
      "default/manual: a ClusterIP Service without a selector (its endpoints are set by hand) cannot be forwarded",
      "default/noport: port 82 has no node port (allocateLoadBalancerNodePorts: false), and node ports are how the dev container reaches it",
      "default/taken: its forward needs a NodePort Service named kc-forward-taken, and a Service of that name exists that kind-cluster did not make",
    ]);
    expect(p.problems.every((x) => x.fix.length > 0)).toBe(true);
  });

  it("the forwardServices option off forwards nothing (and asks for no companion)", () => {
    const p = plan([lb("web", [{ port: 80, nodePort: 30080 }]), service("db", { ports: [{ port: 5432 }], annotation: "true" })], [], {
      forwardServices: false,
    });
    expect([p.wants, p.companions, p.problems]).toEqual([[], [], []]);
  });
});

describe("local ports", () => {
  const want = (service: string, created: string, port = 80) => ({
    key: `${service}:${port}`,
    service,
    port,
    local: port,
    created,
    nodes: [],
    endpoints: 1,
  });

  it("the ones already forwarded first, then the older Service, then by name", () => {
    const older = want("default/b", "2026-01-01T00:00:00Z");
    const newer = want("default/a", "2026-01-02T00:00:00Z");
    const live = want("default/z", "2026-01-03T00:00:00Z");
    expect(assignmentOrder([newer, live, older], new Set([live.key])).map((w) => w.service)).toEqual(["default/z", "default/b", "default/a"]);
    expect(assignmentOrder([want("default/y", ""), want("default/x", "")], new Set()).map((w) => w.service)).toEqual(["default/x", "default/y"]);
  });

  it("the next port up; a privileged one this container cannot bind moves to the 8000s", () => {
    expect(nextLocalPort(8080, false)).toBe(8081);
    expect(nextLocalPort(80, true)).toBe(8080);
    expect(nextLocalPort(443, true)).toBe(8443);
    expect(nextLocalPort(65535, false)).toBe(1024);
  });

  it("why a port could not be had, with the fix: privileged (the sysctl's value), held, anything else", () => {
    expect(bindProblem("EACCES", 80, { unprivilegedPortStart: 1024, uid: 1234 })).toEqual({
      message: "port 80 is privileged in this dev container (net.ipv4.ip_unprivileged_port_start is 1024, and the service runs as uid 1234)",
      fix: 'add "runArgs": ["--sysctl", "net.ipv4.ip_unprivileged_port_start=0"] to devcontainer.json, or choose a local port with the annotation kind-cluster.dev/forward: "80:<local port>"',
    });
    expect(bindProblem("EADDRINUSE", 8080, {}).message).toBe("local port 8080 is held by another process in this dev container");
    expect(bindProblem("EADDRINUSE", 8080, {}).fix).toContain("ss -ltnp 'sport = :8080'");
    expect(bindProblem("EINVAL", 8080, {}).message).toBe("local port 8080 cannot be listened on (EINVAL)");
  });
});

describe("the table's lines", () => {
  it("name each forward with its URL, each load balancer, each problem with its fix", () => {
    const lines = describeTable({
      written: "",
      api: { connected: true },
      forwards: [
        {
          key: "default/web:80",
          service: "default/web",
          port: 80,
          portName: "http",
          wanted: 80,
          local: 80,
          nodePort: 30080,
          nodes: ["172.18.0.2"],
          endpoints: 1,
        },
        { key: "default/dup:80", service: "default/dup", port: 80, wanted: 80, local: 81, note: "80 is taken by default/web", nodes: [], endpoints: 0 },
      ],
      loadBalancers: [
        { service: "default/web", state: "assigned", addresses: ["172.18.0.2"] },
        { service: "default/x", state: "aside", addresses: [], reason: "its loadBalancerClass a/b names another implementation" },
      ],
      problems: [{ service: "default/bad", message: "it is bad", fix: "fix it" }],
    });
    expect(lines).toEqual({
      forwards: ["default/web 80 (http) -> http://localhost:80", "default/dup 80 -> http://localhost:81; 80 is taken by default/web; no ready endpoint"],
      loadBalancers: ["default/web 172.18.0.2", "default/x: left to another implementation: its loadBalancerClass a/b names another implementation"],
      problems: ["default/bad: it is bad; fix: fix it"],
    });
  });
});

describe("status", () => {
  const table = {
    written: "",
    api: { connected: true },
    forwards: [
      { key: "default/web:80", service: "default/web", port: 80, wanted: 80, local: 80, nodePort: 30080, nodes: ["172.18.0.2"], endpoints: 1 },
      {
        key: "default/dup:80",
        service: "default/dup",
        port: 80,
        wanted: 80,
        local: 81,
        note: "80 is taken by default/web",
        nodePort: 30081,
        nodes: ["172.18.0.2"],
        endpoints: 1,
      },
    ],
    loadBalancers: [{ service: "default/web", state: "assigned" as const, addresses: ["172.18.0.2"] }],
    problems: [{ service: "default/bad", message: "annotation kind-cluster.dev/forward: x; not forwarded", fix: "set it right" }],
  };
  const observation = (running: boolean): FullObservation => {
    const key = { kind: "ports" as const, cluster: "demo", instance: "default" };
    const service = {
      key,
      config: {},
      configHash: "h",
      log: "/run/ports.log",
      state: running ? { pid: 7, started: "t", configHash: "h", ready: true, summary: "watching" } : undefined,
    };
    return { kubeconfig: { path: "/k" }, docker: {}, services: [service], ports: { service: service as never, table } };
  };

  it("lists every forward (namespace/name, port, http://localhost:<local port>), the load-balancer addresses and each problem with its fix", () => {
    const s = statusOf({ ...DEFAULT_SETTINGS, clusterName: "demo" }, observation(true));
    expect(s.ports?.forwards.map((f) => [f.service, f.port, f.url])).toEqual([
      ["default/web", 80, "http://localhost:80"],
      ["default/dup", 80, "http://localhost:81"],
    ]);
    const text = renderStatus(s);
    expect(text).toContain("forward               default/web 80 -> http://localhost:80\n");
    expect(text).toContain("forward               default/dup 80 -> http://localhost:81; 80 is taken by default/web\n");
    expect(text).toContain("load balancer         default/web 172.18.0.2\n");
    expect(text).toContain("ports problem         default/bad: annotation kind-cluster.dev/forward: x; not forwarded; fix: set it right");
  });

  it("says so when the ports service does not run, and shows no stale forward", () => {
    const text = renderStatus(statusOf({ ...DEFAULT_SETTINGS, clusterName: "demo" }, observation(false)));
    expect(text).toContain("ports                 the ports service does NOT run (log /run/ports.log): run `kind-cluster up`");
    expect(text).not.toContain("http://localhost:80");
  });
});
