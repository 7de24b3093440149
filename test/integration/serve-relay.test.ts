import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer, request, type Server as HttpServer } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRelay, type Relay } from "../../src/serve/relay.js";

/** The relay over real sockets on loopback: big bodies both ways, half-close, a target that comes and goes. */

const MB = 1024 * 1024;
const CHUNK = randomBytes(MB);
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** `count` MB whose hash is known in advance: the chunk repeated, each copy made distinct by its index. */
function bigBody(count: number): { chunks: () => Generator<Buffer>; hash: string } {
  const chunks = function* () {
    for (let i = 0; i < count; i++) {
      const chunk = Buffer.from(CHUNK);
      chunk.writeUInt32BE(i, 0);
      yield chunk;
    }
  };
  const hash = createHash("sha256");
  for (const chunk of chunks()) hash.update(chunk);
  return { chunks, hash: hash.digest("hex") };
}

const listen = (server: Server | HttpServer, host = "127.0.0.1", port = 0) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
const closeServer = (server: Server | HttpServer) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A port nothing listens on (just freed). */
async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

/** Connects, sends `data` (then half-closes), and collects everything until the other side ends or closes. */
function exchange(port: number, data: Buffer | undefined, host = "127.0.0.1"): Promise<{ received: Buffer; ms: number; error?: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = connect({ host, port, allowHalfOpen: true });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (e) => (error = e.message));
    socket.on("close", () => resolve({ received: Buffer.concat(chunks), ms: performance.now() - started, error }));
    socket.on("end", () => socket.end());
    if (data) socket.end(data);
  });
}

const big = bigBody(50);
let http: HttpServer;
let httpPort: number;
let relay: Relay;
const logs: string[] = [];

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    if (req.method === "GET" && req.url === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const chunks = big.chunks();
      // Streamed with backpressure: never 50 MB in memory at once.
      const pump = () => {
        for (let next = chunks.next(); !next.done; next = chunks.next()) if (!res.write(next.value)) return void res.once("drain", pump);
        res.end();
      };
      return pump();
    }
    if (req.method === "POST" && req.url === "/hash") {
      const hash = createHash("sha256");
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on("end", () => res.end(JSON.stringify({ hash: hash.digest("hex"), length })));
      return;
    }
    res.writeHead(404).end();
  });
  httpPort = await listen(http);
  relay = await startRelay({ listen: { host: "127.0.0.1", port: 0 }, target: { host: "localhost", port: httpPort }, log: (line) => logs.push(line) });
});

afterAll(async () => {
  await relay?.close();
  http?.closeAllConnections();
  await closeServer(http);
});

describe("startRelay", () => {
  it("streams a 50 MB answer intact (target named, resolved at connect time)", async () => {
    const direct = performance.now();
    await download(httpPort);
    const directMs = performance.now() - direct;
    const started = performance.now();
    const { hash, length } = await download(relay.port);
    const ms = performance.now() - started;
    console.log(`relay download: 50 MB in ${ms.toFixed(0)} ms = ${((50 / ms) * 1000).toFixed(0)} MB/s (direct: ${directMs.toFixed(0)} ms)`);
    expect(length).toBe(50 * MB);
    expect(hash).toBe(big.hash);
  });

  function download(port: number) {
    return new Promise<{ hash: string; length: number }>((resolve, reject) => {
      request({ host: "127.0.0.1", port, path: "/big" }, (res) => {
        const h = createHash("sha256");
        let n = 0;
        res.on("data", (chunk: Buffer) => {
          h.update(chunk);
          n += chunk.length;
        });
        res.on("end", () => resolve({ hash: h.digest("hex"), length: n }));
        res.on("error", reject);
      })
        .on("error", reject)
        .end();
    });
  }

  it("streams a 50 MB request body intact", async () => {
    const started = performance.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: relay.port, path: "/hash", method: "POST" }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve(text));
      }).on("error", reject);
      const chunks = big.chunks();
      const pump = () => {
        for (let next = chunks.next(); !next.done; next = chunks.next()) if (!req.write(next.value)) return void req.once("drain", pump);
        req.end();
      };
      pump();
    });
    const ms = performance.now() - started;
    console.log(`relay upload: 50 MB in ${ms.toFixed(0)} ms = ${((50 / ms) * 1000).toFixed(0)} MB/s`);
    expect(JSON.parse(answer)).toEqual({ hash: big.hash, length: 50 * MB });
  });

  it("carries a half-close: a client that ends its request still gets the whole answer", async () => {
    // The target answers only after the request has ended (EOF), like a hash service, with 4 MB.
    const answerBody = Buffer.concat(Array.from({ length: 4 }, () => randomBytes(MB)));
    const target = createServer({ allowHalfOpen: true }, (socket) => {
      const hash = createHash("sha256");
      socket.on("data", (chunk: Buffer) => hash.update(chunk));
      socket.on("end", () => {
        socket.write(`${hash.digest("hex")}\n`);
        socket.end(answerBody);
      });
    });
    const targetPort = await listen(target);
    const halfRelay = await startRelay({ listen: { host: "127.0.0.1", port: 0 }, target: { host: "127.0.0.1", port: targetPort } });
    try {
      const request = randomBytes(3 * MB);
      const { received, error } = await exchange(halfRelay.port, request);
      expect(error).toBeUndefined();
      const newline = received.indexOf(0x0a);
      expect(received.subarray(0, newline).toString()).toBe(sha256(request));
      expect(sha256(received.subarray(newline + 1))).toBe(sha256(answerBody));
    } finally {
      await halfRelay.close();
      await closeServer(target);
    }
  });

  it("closes the client promptly while the target is down, and serves again once it is back", async () => {
    const port = await freePort();
    const lines: string[] = [];
    const downRelay = await startRelay({ listen: { host: "127.0.0.1", port: 0 }, target: { host: "localhost", port }, log: (l) => lines.push(l) });
    try {
      const down = await exchange(downRelay.port, undefined);
      expect(down.received.length).toBe(0);
      expect(down.ms).toBeLessThan(1000);
      expect(lines.join("\n")).toMatch(/ECONNREFUSED/);

      const served = new Set<Socket>();
      const echo = createServer({ allowHalfOpen: true }, (socket) => {
        served.add(socket);
        socket.pipe(socket);
      });
      await listen(echo, "127.0.0.1", port);
      try {
        const up = await exchange(downRelay.port, Buffer.from("hello"));
        expect(up.received.toString()).toBe("hello");

        // The target dies with a connection open: the client's connection closes too.
        const open = connect({ host: "127.0.0.1", port: downRelay.port });
        open.resume(); // consume the echo, or 'end' and 'close' would wait for a reader
        await new Promise<void>((resolve) => open.once("connect", () => resolve()));
        open.write("ping");
        await new Promise((r) => setTimeout(r, 100));
        const closed = new Promise<number>((resolve) => {
          const t = performance.now();
          open.once("close", () => resolve(performance.now() - t));
        });
        open.on("error", () => {});
        expect(served.size).toBeGreaterThan(0);
        for (const socket of served) socket.resetAndDestroy();
        echo.close();
        expect(await closed).toBeLessThan(1000);
      } finally {
        await closeServer(echo).catch(() => undefined);
      }
    } finally {
      await downRelay.close();
    }
  });

  it("a target that refuses, after the client has sent its request: a clean close (FIN), not a reset or a hang", async () => {
    const port = await freePort();
    const refusing = await startRelay({ listen: { host: "127.0.0.1", port: 0 }, target: { host: "127.0.0.1", port } });
    try {
      // What a browser does: connect and send the request at once, before the relay knows the target is gone.
      const result = await exchange(refusing.port, Buffer.from("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n"));
      expect(result.error).toBeUndefined();
      expect(result.received.length).toBe(0);
      expect(result.ms).toBeLessThan(1000);
    } finally {
      await refusing.close();
    }
  });

  it("a target chosen at each connection; none (no endpoint behind it) closes the client at once, cleanly", async () => {
    const target = createServer((socket) => socket.end("served"));
    const targetPort = await listen(target);
    let current: { host: string; port: number } | undefined;
    const chosen = await startRelay({ listen: { host: "127.0.0.1", port: 0 }, target: () => current });
    try {
      const none = await exchange(chosen.port, Buffer.from("GET / HTTP/1.1\r\n\r\n"));
      expect([none.error, none.received.length]).toEqual([undefined, 0]);
      expect(none.ms).toBeLessThan(500);
      current = { host: "127.0.0.1", port: targetPort };
      expect((await exchange(chosen.port, undefined)).received.toString()).toBe("served");
    } finally {
      await chosen.close();
      await closeServer(target);
    }
  });

  it("listens exactly on the host given", async () => {
    const target = createServer((socket) => socket.end("hi"));
    const targetPort = await listen(target);
    const only = await startRelay({ listen: { host: "127.0.0.2", port: 0 }, target: { host: "127.0.0.1", port: targetPort } });
    try {
      expect((await exchange(only.port, undefined, "127.0.0.2")).received.toString()).toBe("hi");
      const elsewhere = await exchange(only.port, undefined, "127.0.0.1");
      expect(elsewhere.error).toMatch(/ECONNREFUSED/);
    } finally {
      await only.close();
      await closeServer(target);
    }
  });

  it("close() stops listening and ends open connections", async () => {
    const target = createServer(() => {}); // holds every connection open
    const targetPort = await listen(target);
    const closing = await startRelay({ listen: { host: "127.0.0.1", port: 0 }, target: { host: "127.0.0.1", port: targetPort } });
    const open = connect({ host: "127.0.0.1", port: closing.port });
    open.resume();
    open.on("error", () => {});
    await new Promise<void>((resolve) => open.once("connect", () => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    const closed = new Promise<void>((resolve) => open.once("close", () => resolve()));
    const { close } = closing; // unbound, as a caller may hold it
    await close();
    await closed;
    expect((await exchange(closing.port, undefined)).error).toMatch(/ECONNREFUSED/);
    target.close();
  });

  it("logged nothing on the happy paths", () => {
    expect(logs).toEqual([]);
  });
});
