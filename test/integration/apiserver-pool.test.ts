import { rename, writeFile } from "node:fs/promises";
import type { Server } from "node:https";
import type { Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Endpoint, kubeApi } from "../../src/apiserver.js";
import { clusterApi } from "../../src/serve/connect.js";
import { listenApi, makePki } from "../support/pki.js";

/**
 * The API client's kept-open connections, over real TLS on loopback: a server that, like the API
 * server, demands a client certificate, counts the connections it accepts, and can drop a kept-open
 * one the moment the next request arrives on it (the race of a server closing an idle connection).
 */
let server: Server;
let endpoint: Endpoint;
let pkiDir = "";
let connections = 0;
/** Requests to answer by destroying their socket, when it served a request before. */
let dropReused = 0;
const served = new WeakMap<Socket, number>();

beforeAll(async () => {
  const pki = await makePki();
  pkiDir = pki.dir;
  ({ server, endpoint } = await listenApi(pki, (req, res) => {
    const count = served.get(req.socket) ?? 0;
    served.set(req.socket, count + 1);
    if (count > 0 && dropReused > 0) {
      dropReused--;
      return void req.socket.destroy();
    }
    req.resume();
    req.on("end", () => {
      res.writeHead(req.method === "POST" ? 201 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ metadata: { name: "x" }, method: req.method }));
    });
  }));
  server.on("secureConnection", () => connections++);
});

afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(async () => {
  // Each test starts with no connection open (the client has seen them close) and none counted.
  server.closeAllConnections();
  await new Promise((resolve) => setTimeout(resolve, 50));
  connections = 0;
  dropReused = 0;
});

describe("KubeApi's connections", () => {
  it("keeps one connection open for a stream of requests, whichever KubeApi of the same endpoint sends them", async () => {
    for (let i = 0; i < 10; i++) expect(await kubeApi({ ...endpoint }).get("/api/v1/namespaces/default")).toMatchObject({ method: "GET" });
    expect(connections).toBe(1);
  });

  it("sends a GET again on a new connection when the kept-open one was closed as it was sent", async () => {
    const api = kubeApi(endpoint);
    await api.get("/api/v1/namespaces/default");
    dropReused = 1;
    expect(await api.get("/api/v1/namespaces/default")).toMatchObject({ method: "GET" });
    expect(dropReused).toBe(0);
    expect(connections).toBe(2);
  });

  it("does not send a POST twice: the server may have acted on it before the connection went", async () => {
    const api = kubeApi(endpoint);
    await api.get("/api/v1/namespaces/default");
    dropReused = 1;
    await expect(api.create("/api/v1/namespaces/default/configmaps/x", { metadata: { name: "x" } })).rejects.toThrow(/ECONNRESET|socket hang up/);
    expect(connections).toBe(1);
  });
});

describe("clusterApi", () => {
  const kubeconfig = () => join(pkiDir, "kubeconfig");
  // As `up` replaces it: a new file renamed over the old one, here of the same size.
  const write = async (server: string) => {
    await writeFile(
      `${kubeconfig()}.new`,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: kind-pool\n  cluster:\n    server: ${server}\n    tls-server-name: localhost\n    certificate-authority-data: ${endpoint.credentials.certificateAuthorityData}`,
        "users:",
        `- name: kind-pool\n  user:\n    client-certificate-data: ${endpoint.credentials.clientCertificateData}\n    client-key-data: ${endpoint.credentials.clientKeyData}`,
        "contexts:",
        "- name: kind-pool\n  context:\n    cluster: kind-pool\n    user: kind-pool",
        "current-context: kind-pool",
        "",
      ].join("\n"),
    );
    await rename(`${kubeconfig()}.new`, kubeconfig());
  };

  it("reads the kubeconfig again only when it was rewritten, and says when the cluster has no entry", async () => {
    await write(endpoint.server);
    const connect = clusterApi(kubeconfig(), "pool");
    const first = await connect();
    expect(first.endpoint.server).toBe(endpoint.server);
    expect(await connect()).toBe(first);
    await write(endpoint.server.replace("127.0.0.1", "localhost"));
    const second = await connect();
    expect(second).not.toBe(first);
    expect(second.endpoint.server).toBe(endpoint.server.replace("127.0.0.1", "localhost"));
    expect(await second.get("/api/v1/namespaces/default")).toMatchObject({ method: "GET" });
    await expect(clusterApi(kubeconfig(), "other")()).rejects.toThrow(/no entry for cluster other/);
  });
});
