import { describe, expect, it } from "vitest";
import { stepOfError, summarizeNodes } from "../../src/apiserver.js";
import { parseDefaultGateway } from "../../src/route/self.js";
import { bindingsClash, classifyDockerFailure, containerIdFrom, parsePublishedPorts } from "../../src/docker.js";
import { kubeconfigPath } from "../../src/kubeconfig/index.js";
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
    const perm = classifyDockerFailure({ exitCode: 1, stderr: "permission denied while trying to connect to the Docker daemon socket" }, { socket: "/var/run/docker.sock", socketExists: true, user: "dev" });
    expect(perm.zone).toBe("docker host");
    expect(perm.message).toMatch(/not accessible to user dev/);
    const missing = classifyDockerFailure({ exitCode: 1, stderr: "Cannot connect to the Docker daemon" }, { socket: "/var/run/docker.sock", socketExists: false, user: "dev" });
    expect(missing.message).toMatch(/no Docker socket at \/var\/run\/docker.sock/);
    expect(missing.fix).toMatch(/socket mount/);
    expect(classifyDockerFailure({ exitCode: 127, stderr: "" }, { socketExists: true, user: "dev" }).zone).toBe("dev container");
  });
});

describe("zone 1 parsers", () => {
  it("reads the default gateway from /proc/net/route", () => {
    const table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
    expect(parseDefaultGateway(table)).toBe("172.17.0.1");
    expect(parseDefaultGateway("Iface\tDestination\n")).toBeUndefined();
  });

  it("follows kubectl's choice of kubeconfig file", () => {
    expect(kubeconfigPath({}, "/home/dev")).toBe("/home/dev/.kube/config");

  });
});

describe("API server answers", () => {
  it("summarises a NodeList and classifies network errors by hop", () => {
    const body = JSON.stringify({
      items: [
        { metadata: { name: "kind-control-plane", labels: { "node-role.kubernetes.io/control-plane": "" } }, status: { conditions: [{ type: "Ready", status: "True" }], nodeInfo: { kubeletVersion: "v1.34.4" } } },
        { metadata: { name: "kind-worker", labels: {} }, status: { conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady", message: "container runtime network not ready" }] } },
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
    expect([stepOfError("ENOTFOUND"), stepOfError("ECONNREFUSED"), stepOfError("ERR_TLS_CERT_ALTNAME_INVALID"), stepOfError("UNABLE_TO_VERIFY_LEAF_SIGNATURE")]).toEqual(["dns", "tcp", "tls", "tls"]);
  });
});

describe("logger", () => {
  it("prints each stage with its note and time, then its detail lines", async () => {
    const lines: string[] = [];
    let t = 0;
    const logger = createLogger({ write: (l) => lines.push(l), now: () => (t += 250) });
    await logger.stage("cluster", async (s) => {
      s.detail("why: because");
      s.note("adopted kind");
    });
    await expect(logger.stage("route", async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    expect(lines[0]).toMatch(/^ ✓ cluster\s+adopted kind\s+250ms$/);
    expect(lines[1]).toBe("   why: because");
    expect(lines[2]).toMatch(/^ ✗ route\s+failed\s+250ms$/);
  });
});
