import type { Server } from "node:https";
import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, type Endpoint, kubeApi, type WatchEvent } from "../../src/apiserver.js";
import { listenApi, makePki } from "../support/pki.js";

/**
 * The API client's watch over real TLS sockets: a server on loopback that, like the API server, demands
 * a client certificate and streams one JSON event a line, in chunks that cut lines in two.
 */
let server: Server;
let endpoint: Endpoint;
const requests: string[] = [];
let handler: (url: URL, res: ServerResponse) => void = () => undefined;

beforeAll(async () => {
  ({ server, endpoint } = await listenApi(await makePki(), (req, res) => {
    const url = new URL(req.url ?? "/", "https://localhost");
    requests.push(`${url.pathname}?${url.searchParams.toString()}`);
    handler(url, res);
  }));
});

afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

const line = (type: string, name: string, rv: string) => `${JSON.stringify({ type, object: { metadata: { name, resourceVersion: rv } } })}\n`;

describe("KubeApi.watch", () => {
  it("asks from the version given, with bookmarks and a server-side timeout, and hands over each event as its line completes", async () => {
    const text = line("ADDED", "a", "8") + line("MODIFIED", "a", "9") + line("BOOKMARK", "", "10");
    handler = (_url, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      // Three chunks, cut inside lines, a little apart.
      const cuts = [0, 30, 100, text.length];
      let i = 0;
      const next = () => {
        if (i === cuts.length - 1) return void res.end();
        res.write(text.slice(cuts[i], cuts[i + 1]));
        i++;
        setTimeout(next, 20);
      };
      next();
    };
    const events: WatchEvent[] = [];
    await kubeApi(endpoint).watch("/api/v1/services", { resourceVersion: "7", timeoutSeconds: 30, onEvent: (e) => events.push(e) });
    expect(requests.pop()).toBe("/api/v1/services?watch=1&allowWatchBookmarks=true&timeoutSeconds=30&resourceVersion=7");
    expect(events.map((e) => [e.type, (e.object as { metadata: { resourceVersion: string } }).metadata.resourceVersion])).toEqual([
      ["ADDED", "8"],
      ["MODIFIED", "9"],
      ["BOOKMARK", "10"],
    ]);
  });

  it("a version too old (410 Gone) rejects with the status, so the caller lists again", async () => {
    handler = (_url, res) => {
      res.writeHead(410, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", code: 410, message: "too old resource version: 7 (40)" }));
    };
    const error = await kubeApi(endpoint)
      .watch("/api/v1/services", { resourceVersion: "7", onEvent: () => undefined })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 410, message: "watch /api/v1/services answered 410: too old resource version: 7 (40)" });
  });

  it("a stream that falls silent (a node gone without a word) is given up after idleMs; a handler's refusal ends it too", async () => {
    handler = (_url, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(line("ADDED", "a", "8"));
    };
    const started = performance.now();
    const silent = await kubeApi(endpoint)
      .watch("/api/v1/services", { resourceVersion: "7", idleMs: 300, onEvent: () => undefined })
      .catch((e: unknown) => e);
    expect(silent).toMatchObject({ step: "tcp", message: expect.stringContaining("silent for 300ms") });
    expect(performance.now() - started).toBeLessThan(2_000);

    const refused = await kubeApi(endpoint)
      .watch("/api/v1/services", {
        resourceVersion: "7",
        onEvent: () => {
          throw new ApiError("api", "the watch ended with an error: too old", 410);
        },
      })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 410 });
  });

  it("stops when its signal is aborted, without an error", async () => {
    handler = (_url, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(line("ADDED", "a", "8"));
    };
    const controller = new AbortController();
    const events: WatchEvent[] = [];
    const watching = kubeApi(endpoint).watch("/api/v1/services", { resourceVersion: "7", signal: controller.signal, onEvent: (e) => events.push(e) });
    while (events.length === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    await expect(watching).resolves.toBeUndefined();
  });
});

describe("KubeApi requests while the API server restarts", () => {
  it("sends a request again after a 429 (storage still initializing), after its Retry-After, within the request's time", async () => {
    let answered = 0;
    handler = (_url, res) => {
      answered++;
      if (answered < 3) {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
        return void res.end(JSON.stringify({ kind: "Status", code: 429, message: "storage is (re)initializing" }));
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ items: [] }));
    };
    const start = Date.now();
    expect(await kubeApi(endpoint).get("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations", 10_000)).toEqual({ items: [] });
    expect(answered).toBe(3);
    expect(Date.now() - start).toBeGreaterThanOrEqual(2000);
    // Not within the time left: the 429 is the answer, with the server's message.
    answered = 0;
    await expect(kubeApi(endpoint).get("/apis/x", 500)).rejects.toThrow(/answered 429: storage is \(re\)initializing/);
  });
});
