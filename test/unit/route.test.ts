import { describe, expect, it } from "vitest";
import { chooseApiServerAddress, chooseRoute, exposureWarning, routeCandidates, skippedRoutes, type RouteFacts } from "../../src/route/choose.js";

const facts: RouteFacts = { clusterName: "gitops", publishedPort: 6443, publishedHostIp: "172.17.0.1", gatewayIp: "172.17.0.1", dockerDesktop: false };

describe("routeCandidates", () => {
  it("auto, with the API on the gateway (asked for), tries host.docker.internal, then the gateway, then the kind network", () => {
    expect(routeCandidates("auto", facts).map((c) => [c.kind, c.server, c.tlsServerName])).toEqual([
      ["host.docker.internal", "https://host.docker.internal:6443", "localhost"],
      ["gateway", "https://172.17.0.1:6443", "localhost"],
      ["kind-network", "https://gitops-control-plane:6443", undefined],
    ]);
  });

  it("auto, with the API on loopback of a Linux engine, goes straight to the cluster's network and says why", () => {
    const loopback = { ...facts, publishedHostIp: "127.0.0.1" };
    expect(routeCandidates("auto", loopback).map((c) => c.kind)).toEqual(["kind-network"]);
    expect(skippedRoutes("auto", loopback)[0]).toMatch(/published on 127.0.0.1 of a Linux engine/);
    expect(routeCandidates("auto", { ...loopback, dockerDesktop: true }).map((c) => c.kind)).toEqual(["host.docker.internal", "gateway", "kind-network"]);
    expect(skippedRoutes("auto", { ...loopback, dockerDesktop: true })).toEqual([]);
  });

  it("reaches the gateway the API is published on, though this container's default route now goes through the cluster's network", () => {
    const joined = { ...facts, gatewayIp: "172.23.0.1" };
    expect(routeCandidates("auto", joined).find((c) => c.kind === "gateway")?.server).toBe("https://172.17.0.1:6443");
    // Published on every interface: any address of the host will do, the default gateway's first.
    expect(routeCandidates("auto", { ...joined, publishedHostIp: "0.0.0.0" }).find((c) => c.kind === "gateway")?.server).toBe("https://172.23.0.1:6443");
  });

  it("honours a fixed route", () => {
    expect(routeCandidates("kind-network", facts).map((c) => c.kind)).toEqual(["kind-network"]);
    expect(routeCandidates("host.docker.internal", { ...facts, gatewayIp: undefined }).map((c) => c.kind)).toEqual(["host.docker.internal"]);
  });
});

describe("chooseRoute", () => {
  const [hdi, gw, net] = routeCandidates("auto", { ...facts, publishedHostIp: "127.0.0.1", dockerDesktop: true });
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
  it("publishes on loopback unless the user asks otherwise", () => {
    const linux = { dockerDesktop: false, gatewayIp: "172.17.0.1" };
    expect(chooseApiServerAddress({ setting: "auto", route: "auto", ...linux })).toBe("127.0.0.1");
    expect(chooseApiServerAddress({ setting: "auto", route: "kind-network", ...linux })).toBe("127.0.0.1");
    expect(chooseApiServerAddress({ setting: "auto", route: "host.docker.internal", dockerDesktop: true, gatewayIp: "172.17.0.1" })).toBe("127.0.0.1");
    // The seed's route on a Linux engine is a request for the gateway address.
    expect(chooseApiServerAddress({ setting: "auto", route: "host.docker.internal", ...linux })).toBe("172.17.0.1");
    expect(chooseApiServerAddress({ setting: "10.1.2.3", route: "auto", ...linux })).toBe("10.1.2.3");
  });

  it("says who can reach an API published beyond loopback, and nothing for loopback", () => {
    expect(exposureWarning("127.0.0.1", 6443)).toBeUndefined();
    expect(exposureWarning("172.17.0.1", 6443)).toMatch(/172.17.0.1:6443 .* any machine on your network that routes 172.17.0.1 to it/);
    expect(exposureWarning("0.0.0.0", 6443)).toMatch(/every interface:6443 .* anyone who can reach the Docker host/);
  });
});
