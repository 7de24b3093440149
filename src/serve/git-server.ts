import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { finished, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { execa, type ResultPromise } from "execa";
import { run } from "../proc.js";

/**
 * A read-only Git "smart HTTP" server (gitprotocol-http(5)) for the workspace's repository, so that
 * Flux's source-controller (go-git, plain HTTP) can fetch committed content from the cluster's network.
 * Only upload-pack is served: every request runs its own `git upload-pack --stateless-rpc`, whose
 * output is streamed to the client. upload-pack never writes to the repository; nothing is configured
 * or installed in it either, so the workspace stays exactly as the developer left it.
 */

export interface GitServerOptions {
  /** The work tree, any folder inside it, or a bare repository. */
  repo: string;
  /** The exact address to listen on: there is deliberately no default (never 0.0.0.0 by accident). */
  host: string;
  /** 0 picks an ephemeral port; the real one is returned. */
  port: number;
  /** The URL path of the repository; default "/workspace.git". */
  path?: string;
  log?: (line: string) => void;
}

export interface GitServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

const DEFAULT_GIT_PATH = "/workspace.git";

// `safe.directory=*`: the workspace may belong to another uid (a bind mount from the host), and git
// refuses such repositories unless told otherwise. Given on the command line, it changes no file.
const GIT = ["-c", "safe.directory=*"];

// Only branches, tags and HEAD are advertised: refs/stash holds uncommitted work, and notes or
// remote-tracking branches are nobody's business in the cluster. With protocol v0 a hidden ref's objects
// cannot be asked for either; v2 serves any object whose id the client already knows (git's design), but
// the ids of hidden or uncommitted objects are never shown to it.
const SERVED_REFS = ["-c", "uploadpack.hideRefs=refs/", "-c", "uploadpack.hideRefs=!refs/heads/", "-c", "uploadpack.hideRefs=!refs/tags/"];

// ---------------------------------------------------------------------------------------------------
// Pure helpers

/** One pkt-line: four hex digits giving the length (their own four included), then the payload. */
export function pktLine(payload: string | Buffer): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const length = body.length + 4;
  if (length > 65520) throw new RangeError(`pkt-line payload too long: ${body.length} bytes`);
  return Buffer.concat([Buffer.from(length.toString(16).padStart(4, "0"), "ascii"), body]);
}

/** The flush-pkt that ends a section. */
export const FLUSH_PKT = Buffer.from("0000", "ascii");

export type GitRoute = "advertise" | "upload-pack" | "read-only" | "not-found";

/** What a request asks for. Anything touching receive-pack (a push) is refused as read-only. */
export function routeRequest(method: string | undefined, rawUrl: string | undefined, basePath: string): GitRoute {
  const url = new URL(rawUrl ?? "/", "http://x");
  const service = url.searchParams.get("service");
  if (service === "git-receive-pack" || url.pathname.endsWith("/git-receive-pack")) return "read-only";
  if (method === "GET" && url.pathname === `${basePath}/info/refs` && service === "git-upload-pack") return "advertise";
  if (method === "POST" && url.pathname === `${basePath}/git-upload-pack`) return "upload-pack";
  return "not-found";
}

/** Normalizes the URL path: one leading slash, no trailing one. */
export function normalizeBasePath(path: string | undefined): string {
  const trimmed = (path ?? DEFAULT_GIT_PATH).replace(/^\/+|\/+$/g, "");
  return trimmed ? `/${trimmed}` : DEFAULT_GIT_PATH;
}

/** An http URL for host:port (IPv6 literals in brackets). */
export function httpUrl(host: string, port: number, path: string): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
}

// Headers `git http-backend` sends so that no proxy caches a ref advertisement or a pack.
const NO_CACHE = {
  expires: "Fri, 01 Jan 1980 00:00:00 GMT",
  pragma: "no-cache",
  "cache-control": "no-cache, max-age=0, must-revalidate",
};

// ---------------------------------------------------------------------------------------------------

/** The repository's git directory, found from any folder of the work tree. */
async function findGitDir(repo: string): Promise<string> {
  const result = await run("git", [...GIT, "-C", repo, "rev-parse", "--absolute-git-dir"]);
  if (result.exitCode !== 0) throw new Error(`not a Git repository: ${repo}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** The environment of git children: ours without variables that would point git at another repository. */
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^GIT_(DIR|WORK_TREE|COMMON_DIR|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|NAMESPACE|PROTOCOL)$/.test(key))
      env[key] = value;
  }
  return env;
}

/** Kills a detached git child and its own children (pack-objects): git holds no lock worth a grace period here. */
function killGroup(child: ResultPromise): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export async function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const log = opts.log ?? (() => {});
  const basePath = normalizeBasePath(opts.path);
  const gitDir = await findGitDir(opts.repo);
  const children = new Set<ResultPromise>();

  /**
   * Runs upload-pack for one request and streams its stdout into the response. The status line waits
   * for the first byte (or the exit), so that a git failure still becomes a 500 rather than a 200 with
   * a truncated body.
   */
  function serveGit(req: IncomingMessage, res: ServerResponse, advertise: boolean): void {
    // Protocol v0 only (a client's Git-Protocol header is not passed on): in v2, upload-pack hands out
    // any object whose id the client names, advertised or not (a staged blob, a stash); v0 refuses
    // those. Flux's go-git speaks v0; git's own client falls back to it.
    const args = [...GIT, ...SERVED_REFS, "upload-pack", "--stateless-rpc", ...(advertise ? ["--advertise-refs"] : []), gitDir];
    // Its own process group, so that pack-objects (upload-pack's child) dies with it on a kill.
    const child = execa("git", args, {
      cwd: "/",
      env: childEnv(),
      extendEnv: false,
      detached: true,
      reject: false,
      stdin: advertise ? "ignore" : "pipe",
      buffer: { stdout: false, stderr: true },
      maxBuffer: { stderr: 64 * 1024 },
    });
    children.add(child);
    const kill = () => killGroup(child);

    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      const type = advertise ? "application/x-git-upload-pack-advertisement" : "application/x-git-upload-pack-result";
      res.writeHead(200, { "content-type": type, ...NO_CACHE });
      if (advertise) res.write(Buffer.concat([pktLine("# service=git-upload-pack\n"), FLUSH_PKT]));
    };
    const stdout = child.stdout as Readable;
    stdout.once("data", start);
    stdout.pipe(res, { end: false });

    if (!advertise) {
      // The request body (gzip-compressed by git's client when large) goes straight into upload-pack.
      const encoding = (req.headers["content-encoding"] ?? "").toLowerCase();
      const body = encoding === "gzip" || encoding === "x-gzip" ? req.pipe(createGunzip()) : req;
      body.on("error", (error) => {
        log(`git-server: request body: ${error.message}`);
        kill();
      });
      child.stdin?.on("error", () => {}); // EPIPE when upload-pack exits early: its exit says why
      body.pipe(child.stdin!);
    }

    // The client went away before the answer was complete: no one will read the rest.
    res.on("close", () => {
      if (!res.writableFinished) kill();
    });

    void child.then((result) => {
      children.delete(child);
      const failed = result.exitCode !== 0;
      if (failed && !res.destroyed) log(`git-server: git upload-pack exited with ${result.signal ?? result.exitCode}: ${String(result.stderr).trim()}`);
      if (res.destroyed) return;
      if (!started && failed) {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8", ...NO_CACHE }).end("git upload-pack failed\n");
        return;
      }
      start();
      // stdout may still hold buffered bytes after the exit: end the response once it has drained.
      finished(stdout, (error) => {
        if (failed || error)
          res.destroy(); // a truncated body must not look complete
        else res.end();
      });
    });
  }

  const server = createServer((req, res) => {
    try {
      const route = routeRequest(req.method, req.url, basePath);
      if (route === "advertise" || route === "upload-pack") return serveGit(req, res, route === "advertise");
      req.resume();
      if (route === "read-only") log(`git-server: refused ${req.method} ${req.url} from ${req.socket.remoteAddress}: read-only`);
      const [status, text] = route === "read-only" ? [403, "This Git server is read-only: push is not supported.\n"] : [404, "Not found.\n"];
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(text);
    } catch (error) {
      log(`git-server: ${req.method} ${req.url}: ${(error as Error).message}`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end("internal error\n");
    }
  });
  server.on("clientError", (error, socket) => {
    log(`git-server: client error: ${error.message}`);
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => log(`git-server: ${error.message}`));
  const port = (server.address() as AddressInfo).port;

  return {
    url: httpUrl(opts.host, port, basePath),
    host: opts.host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // each response's close kills its git child
        for (const child of children) killGroup(child);
      }),
  };
}
