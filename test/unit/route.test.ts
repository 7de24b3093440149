import { describe, expect, it } from "vitest";
import { chooseApiServerAddress, chooseRoute, routeCandidates, type RouteFacts } from "../../src/route/choose.js";

const facts: RouteFacts = { clusterName: "gitops", publishedPort: 6443, publishedHostIp: "172.17.0.1", gatewayIp: "172.17.0.1" };

describe("routeCandidates", () => {
  it("auto tries host.docker.internal, then the gateway, then the kind network", () => {
    expect(routeCandidates("auto", facts).map((c) => [c.kind, c.server, c.tlsServerName])).toEqual([
      ["host.docker.internal", "https://host.docker.internal:6443", "localhost"],
      ["gateway", "https://172.17.0.1:6443", "localhost"],
      ["kind-network", "https://gitops-control-plane:6443", undefined],
    ]);
  });

  it("honours a fixed route", () => {
    expect(routeCandidates("kind-network", facts).map((c) => c.kind)).toEqual(["kind-network"]);
    expect(routeCandidates("host.docker.internal", { ...facts, gatewayIp: undefined }).map((c) => c.kind)).toEqual(["host.docker.internal"]);
  });
});

describe("chooseRoute", () => {
  const [hdi, gw, net] = routeCandidates("auto", { ...facts, publishedHostIp: "127.0.0.1" });
  it("picks the first working route and says why the others were not chosen", () => {
    const choice = chooseRoute(
      [
        { candidate: hdi!, outcome: { ok: false, failedAt: "dns", reason: "ENOTFOUND", ms: 2 } },
        { candidate: gw!, outcome: { ok: false, failedAt: "tcp", reason: "ECONNREFUSED", ms: 1 } },
        { candidate: net!, outcome: { ok: true, ms: 20 } },
      ],
      { ...facts, publishedHostIp: "127.0.0.1" },
    );
    expect(choice.chosen?.kind).toBe("kind-network");
    expect(choice.explanation[0]).toMatch(/--add-host=host.docker.internal:host-gateway/);
    expect(choice.explanation[1]).toMatch(/published on 127.0.0.1 .* cannot reach/);
    expect(choice.explanation[2]).toMatch(/authenticated API call over verified TLS/);
  });

  it("chooses nothing when every probe failed", () => {
    const choice = chooseRoute([{ candidate: hdi!, outcome: { ok: false, failedAt: "tls", reason: "ERR_TLS_CERT_ALTNAME_INVALID", ms: 3 } }], facts);
    expect(choice.chosen).toBeUndefined();
    expect(choice.explanation[0]).toMatch(/failed at tls/);
  });
});

describe("chooseApiServerAddress", () => {
  it("publishes on the gateway on a Linux engine, loopback on Docker Desktop or for the kind network", () => {
    expect(chooseApiServerAddress({ setting: "auto", route: "auto", dockerDesktop: false, gatewayIp: "172.17.0.1" })).toBe("172.17.0.1");
    expect(chooseApiServerAddress({ setting: "auto", route: "auto", dockerDesktop: true, gatewayIp: "172.17.0.1" })).toBe("127.0.0.1");
    expect(chooseApiServerAddress({ setting: "auto", route: "kind-network", dockerDesktop: false, gatewayIp: "172.17.0.1" })).toBe("127.0.0.1");
    expect(chooseApiServerAddress({ setting: "auto", route: "auto", dockerDesktop: false })).toBe("127.0.0.1");
    expect(chooseApiServerAddress({ setting: "10.1.2.3", route: "auto", dockerDesktop: false, gatewayIp: "172.17.0.1" })).toBe("10.1.2.3");
  });
});
