import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Credentials } from "../../src/kubeconfig/index.js";
import { kubeApi } from "../../src/apiserver.js";
import { probeRoute, type RouteCandidate } from "../../src/route/index.js";
import { makePki, type Pki } from "../support/pki.js";

/**
 * Route probes over real sockets: a TLS server on loopback that, like kind's API server, holds a
 * certificate for `localhost` and demands a client certificate from the cluster CA.
 */
let pki: Pki;
let server: Server;
let port = 0;
const b64 = (s: string) => Buffer.from(s).toString("base64");
let credentials: Credentials;

const nodeList = JSON.stringify({
  kind: "NodeList",
  items: [{ metadata: { name: "kind-control-plane", labels: {} }, status: { conditions: [{ type: "Ready", status: "True" }] } }],
});

beforeAll(async () => {
  pki = await makePki();
  credentials = { certificateAuthorityData: b64(pki.ca), clientCertificateData: b64(pki.clientCert), clientKeyData: b64(pki.clientKey) };
  server = createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const authorized = (req.socket as import("node:tls").TLSSocket).authorized;
    res.writeHead(authorized ? 200 : 401, { "content-type": "application/json" });
    res.end(authorized && req.url === "/api/v1/nodes" ? nodeList : "{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const candidate = (host: string, tlsServerName?: string, p = port): RouteCandidate => ({
  kind: "gateway",
  host,
  port: p,
  server: `https://${host}:${p}`,
  tlsServerName,
});

describe("probeRoute (real TLS)", () => {
  it("succeeds through an address not in the certificate when the server name is localhost", async () => {
    const outcome = await probeRoute({ api: kubeApi }, candidate("127.0.0.1", "localhost"), credentials, 3000);
    expect(outcome).toMatchObject({ ok: true });
    expect(outcome.nodes?.map((n) => [n.name, n.ready])).toEqual([["kind-control-plane", true]]);
  });

  it("fails at tls without the server name: verification stays on", async () => {
    expect(await probeRoute({ api: kubeApi }, candidate("127.0.0.1"), credentials, 3000)).toMatchObject({
      ok: false,
      failedAt: "tls",
      reason: expect.stringContaining("ERR_TLS_CERT_ALTNAME_INVALID"),
    });
  });

  it("fails at tls against another CA", async () => {
    const other = await makePki();
    expect(
      await probeRoute({ api: kubeApi }, candidate("127.0.0.1", "localhost"), { ...credentials, certificateAuthorityData: b64(other.ca) }, 3000),
    ).toMatchObject({ ok: false, failedAt: "tls" });
  });

  it("fails at api when the client certificate is not the cluster's", async () => {
    const other = await makePki();
    const outcome = await probeRoute(
      { api: kubeApi },
      candidate("127.0.0.1", "localhost"),
      { ...credentials, clientCertificateData: b64(other.clientCert), clientKeyData: b64(other.clientKey) },
      3000,
    );
    expect(outcome).toMatchObject({ ok: false, failedAt: "api", reason: expect.stringContaining("401") });
  });

  it("fails at tcp on a closed port and at dns on an unknown name", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await probeRoute({ api: kubeApi }, candidate("127.0.0.1", "localhost", closedPort), credentials, 3000)).toMatchObject({
      ok: false,
      failedAt: "tcp",
    });
    expect(await probeRoute({ api: kubeApi }, candidate("no-such-host.invalid", "localhost"), credentials, 3000)).toMatchObject({ ok: false, failedAt: "dns" });
  });
});
