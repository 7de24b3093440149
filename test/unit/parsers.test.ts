import { describe, expect, it } from "vitest";
import { retryDelayMs, stepOfError, summarizeNodes } from "../../src/apiserver.js";
import { containerIdFrom, parseDefaultGateway } from "../../src/route/self.js";
import { progressLine, takenPortOf } from "../../src/cluster/kind.js";
import { parseUsers } from "../../src/cluster/users.js";
import { viewOf } from "../../src/cluster/view.js";
import { bindingsClash, classifyDockerFailure, parseInspect, parsePublishedPorts } from "../../src/engine/docker.js";
import { commandLine } from "../../src/proc.js";
import { kubeconfigFiles, kubeconfigPath } from "../../src/kubeconfig/names.js";
import { createLogger } from "../../src/log.js";
import { renderNodes } from "../../src/report.js";

describe("docker parsers", () => {
  it("reads docker ps port columns, ranges and IPv6 included", () => {
    expect(parsePublishedPorts("127.0.0.1:6443->6443/tcp, :::80->80/tcp, 0.0.0.0:30000-30001->30000-30001/udp, 8080/tcp")).toEqual([
      { hostIp: "127.0.0.1", hostPort: 6443, containerPort: 6443, protocol: "tcp" },
      { hostIp: "::", hostPort: 80, containerPort: 80, protocol: "tcp" },
      { hostIp: "0.0.0.0", hostPort: 30000, containerPort: 30000, protocol: "udp" },
      { hostIp: "0.0.0.0", hostPort: 30001, containerPort: 30001, protocol: "udp" },
    ]);
  });

  it("knows which bindings clash", () => {
    expect(bindingsClash("127.0.0.1", "127.0.0.1")).toBe(true);
    expect(bindingsClash("0.0.0.0", "172.17.0.1")).toBe(true);
    expect(bindingsClash("127.0.0.1", "172.17.0.1")).toBe(false);
  });

  it("finds the container id in mountinfo", () => {
    const id = "a".repeat(64);
    expect(containerIdFrom([`712 690 8:1 /var/lib/docker/containers/${id}/resolv.conf /etc/resolv.conf rw`])).toBe(id);
    expect(containerIdFrom(["0::/init.scope"])).toBeUndefined();
  });

  it("turns docker failures into zone errors with fixes", () => {
    const perm = classifyDockerFailure(
      { exitCode: 1, stderr: "permission denied while trying to connect to the Docker daemon socket" },
      { socket: "/var/run/docker.sock", socketExists: true, user: "dev" },
    );
    expect(perm.zone).toBe("docker host");
    expect(perm.message).toMatch(/not accessible to user dev/);
    const missing = classifyDockerFailure(
      { exitCode: 1, stderr: "Cannot connect to the Docker daemon" },
      { socket: "/var/run/docker.sock", socketExists: false, user: "dev" },
    );
    expect(missing.message).toMatch(/no Docker socket at \/var\/run\/docker.sock/);
    expect(missing.fix).toMatch(/socket mount/);
    expect(classifyDockerFailure({ exitCode: 127, stderr: "" }, { socketExists: true, user: "dev" }).zone).toBe("dev container");
  });
});

describe("zone 1 parsers", () => {
  it("reads the default gateway from /proc/net/route", () => {
    const table =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
    expect(parseDefaultGateway(table)).toBe("172.17.0.1");
    expect(parseDefaultGateway("Iface\tDestination\n")).toBeUndefined();
  });

  it("follows kubectl's choice of kubeconfig file: $KUBECONFIG's files (empty names skipped, the first of duplicates kept), else ~/.kube/config", () => {
    expect(kubeconfigPath({}, "/home/dev")).toBe("/home/dev/.kube/config");
    expect(kubeconfigPath({ KUBECONFIG: "" }, "/home/dev")).toBe("/home/dev/.kube/config");
    expect(kubeconfigPath({ KUBECONFIG: "::" }, "/home/dev")).toBe("/home/dev/.kube/config");
    expect(kubeconfigPath({ KUBECONFIG: "/a/one" }, "/home/dev")).toBe("/a/one");
    expect(kubeconfigPath({ KUBECONFIG: "/a/one::/b/two:/a/one" }, "/home/dev")).toBe("/a/one:/b/two");
    expect(kubeconfigFiles("/a/one::/b/two:/a/one:/c")).toEqual(["/a/one", "/b/two", "/c"]);
  });
});

describe("API server answers", () => {
  it("summarises a NodeList and classifies network errors by hop", () => {
    const body = JSON.stringify({
      items: [
        {
          metadata: { name: "kind-control-plane", labels: { "node-role.kubernetes.io/control-plane": "" } },
          status: { conditions: [{ type: "Ready", status: "True" }], nodeInfo: { kubeletVersion: "v1.34.4" } },
        },
        {
          metadata: { name: "kind-worker", labels: {} },
          status: { conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady", message: "container runtime network not ready" }] },
        },
      ],
    });
    const nodes = summarizeNodes(body);
    expect(nodes.map((n) => [n.name, n.ready, n.roles, n.reason])).toEqual([
      ["kind-control-plane", true, ["control-plane"], undefined],
      ["kind-worker", false, [], "container runtime network not ready"],
    ]);
    expect(renderNodes(nodes).split("\n")).toEqual([
      "NAME                 STATUS     ROLES           VERSION",
      "kind-control-plane   Ready      control-plane   v1.34.4",
      "kind-worker          NotReady   <none>",
    ]);
    expect([
      stepOfError("ENOTFOUND"),
      stepOfError("ECONNREFUSED"),
      stepOfError("ERR_TLS_CERT_ALTNAME_INVALID"),
      stepOfError("UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
    ]).toEqual(["dns", "tcp", "tls", "tls"]);
  });
});

describe("logger", () => {
  it("prints a line when each stage starts, its progress as it comes, then its note and time, then its detail lines", async () => {
    const lines: string[] = [];
    let t = 0;
    const logger = createLogger({ write: (l) => lines.push(l), now: () => (t += 250) });
    await logger.stage("cluster", async (s) => {
      s.detail("why: because");
      s.progress("kind: Preparing nodes");
      s.note("adopted kind");
    });
    await expect(logger.stage("route", async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe(" ▸ cluster");
    expect(lines[1]).toBe("   │ kind: Preparing nodes");
    expect(lines[2]).toMatch(/^ ✓ cluster\s+adopted kind\s+250ms$/);
    expect(lines[3]).toBe("   why: because");
    expect(lines[4]).toBe(" ▸ route");
    expect(lines[5]).toMatch(/^ ✗ route\s+failed\s+250ms$/);
  });
});

describe("zone 2 and 3 views", () => {
  it("reads docker inspect: names, state, labels, configured port bindings, network addresses and mounts", () => {
    const [c] = parseInspect(
      JSON.stringify([
        {
          Id: "abc",
          Name: "/demo-control-plane",
          State: { Status: "running", Running: true },
          Config: { Labels: { "io.x-k8s.kind.cluster": "demo", "io.x-k8s.kind.role": "control-plane" }, Image: "kindest/node" },
          HostConfig: { PortBindings: { "6443/tcp": [{ HostIp: "127.0.0.1", HostPort: "6443" }], "80/tcp": null } },
          NetworkSettings: { Networks: { kind: { IPAddress: "172.18.0.2" }, bridge: {} } },
          Mounts: [{ Source: "/var/run/docker.sock", Destination: "/var/run/kind-cluster/docker-host.sock" }],
        },
      ]),
    );
    expect(c).toEqual({
      id: "abc",
      name: "demo-control-plane",
      image: "kindest/node",
      running: true,
      status: "running",
      labels: { "io.x-k8s.kind.cluster": "demo", "io.x-k8s.kind.role": "control-plane" },
      bindings: { "6443/tcp": [{ hostIp: "127.0.0.1", hostPort: 6443 }], "80/tcp": [] },
      networks: { kind: { ip: "172.18.0.2" }, bridge: { ip: "" } },
      mounts: { "/var/run/kind-cluster/docker-host.sock": "/var/run/docker.sock" },
    });
  });

  it("views a cluster from its node containers: a paused node does not run, the control plane is found by role, the network is not the default bridge", () => {
    const node = (name: string, role: string, status: string, extra: object = {}) => ({
      id: name,
      name,
      image: "",
      running: status !== "exited",
      status,
      labels: { "io.x-k8s.kind.cluster": "demo", "io.x-k8s.kind.role": role },
      bindings: {},
      networks: {},
      ...extra,
    });
    const cp = node("demo-control-plane", "control-plane", "running", {
      bindings: { "6443/tcp": [{ hostIp: "127.0.0.1", hostPort: 7443 }] },
      networks: { bridge: { ip: "" }, kind: { ip: "x" } },
    });
    const view = viewOf("demo", [
      node("demo-worker", "worker", "paused"),
      cp,
      { ...node("other", "worker", "running"), labels: { "io.x-k8s.kind.cluster": "other" } },
    ]);
    expect(view).toMatchObject({ state: "partial", controlPlane: { name: "demo-control-plane" }, api: { hostPort: 7443 }, network: "kind" });
    expect(view.nodes.map((n) => [n.name, n.running])).toEqual([
      ["demo-control-plane", true],
      ["demo-worker", false],
    ]);
    expect(viewOf("demo", []).state).toBe("absent");
  });

  it("reads kind's progress lines without their decoration, so a step's start and end read the same", () => {
    expect(progressLine(" ✓ Preparing nodes 📦 ")).toBe("Preparing nodes");
    expect(progressLine(" • Preparing nodes 📦  ...")).toBe("Preparing nodes");
    expect(progressLine(" • Starting control-plane 🕹️  ...")).toBe("Starting control-plane");
    expect(progressLine("   ")).toBeUndefined();
  });

  it("writes a command line that a person can paste: arguments with spaces or quotes are quoted", () => {
    expect(commandLine("docker", ["exec", "node", "sh", "-c", "echo it's here"])).toBe(`docker exec node sh -c 'echo it'\\''s here'`);
    expect(commandLine("kind", ["create", "cluster", "--name=demo"])).toBe("kind create cluster --name=demo");
  });
});

describe("projects side by side", () => {
  it("reads the port Docker names when it cannot publish one, in each engine's words", () => {
    expect(takenPortOf("Bind for 127.0.0.1:6443 failed: port is already allocated")).toBe(6443);
    expect(takenPortOf("Error starting userland proxy: listen tcp4 127.0.0.1:6444: bind: address already in use")).toBe(6444);
    expect(takenPortOf("failed to bind host port for 127.0.0.1:6445:172.18.0.2:6443/tcp: address already in use")).toBe(6445);
    expect(takenPortOf("listen tcp6 [::1]:6446: bind: address already in use")).toBe(6446);
    expect(takenPortOf("address already in use")).toBeUndefined();
  });

  it("reads a cluster's user records, one a line, skipping what is not one", () => {
    const a = { container: "a".repeat(64), name: "a", project: "/p/a", since: "2026-01-01T00:00:00Z" };
    expect(parseUsers(`${JSON.stringify(a)}\nnot json\n{"container":"../../etc"}\n\n`)).toEqual([a]);
  });
});

describe("a request sent again", () => {
  it("only after a 429, after its Retry-After (1 s without one, at most 5 s), when that fits in the time left", () => {
    expect(retryDelayMs({ status: 429, retryAfter: "2" }, 10_000)).toBe(2000);
    expect(retryDelayMs({ status: 429 }, 10_000)).toBe(1000);
    expect(retryDelayMs({ status: 429, retryAfter: "60" }, 10_000)).toBe(5000);
    expect(retryDelayMs({ status: 429, retryAfter: "1" }, 800)).toBeUndefined();
    expect(retryDelayMs({ status: 503, retryAfter: "1" }, 10_000)).toBeUndefined();
    expect(retryDelayMs({ status: 200 }, 10_000)).toBeUndefined();
  });
});
