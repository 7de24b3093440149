import type { Dirent } from "node:fs";
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative, sep } from "node:path";
import { finished } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { execa, type ResultPromise } from "execa";
import { run } from "../proc.js";
import { safeForDiscovery } from "./head.js";
import { logText } from "./log-text.js";
import { errPkt, FLUSH_PKT, pktLine } from "./pkt-line.js";
import { Slots } from "./slots.js";
import { advertisedTips, parseUploadRequest, RecentTips, unadvertisedWants } from "./upload-request.js";

export { FLUSH_PKT, pktLine } from "./pkt-line.js";

/**
 * A read-only Git "smart HTTP" server (gitprotocol-http(5)) for the workspace's repository, so that
 * Flux's source-controller (go-git, plain HTTP) can fetch committed content from the cluster's network.
 * Only upload-pack is served, one `git upload-pack --stateless-rpc` per request, in protocol v0 only: a
 * client's Git-Protocol header is never passed on (v2 serves any object whose id a client names, by
 * design), and a v2 request body is refused. Flux's go-git speaks v0; git's own client falls back to it.
 * upload-pack never writes to the repository; nothing is configured or installed in it either, so the
 * workspace stays exactly as the developer left it.
 *
 * Anyone on the cluster's network can send requests, so the server serves committed history only and
 * holds its resources within bounds: it reads each request itself (decompressed, size-capped) and lets
 * through only wants of the tips it advertised; it refuses a repository that borrows objects or refs
 * from elsewhere; a workspace of another uid is read by git running as that uid; and processes,
 * bodies, time and stalled clients are all capped (see GitServerLimits).
 */

export interface GitServerLimits {
  /** upload-pack processes at once. Flux fetches one at a time. */
  maxProcesses: number;
  /** How long a request waits for a free process before it is answered 503. */
  queueTimeoutMs: number;
  /** Requests in progress at once (each may hold a body of up to maxBodyBytes); beyond, 503 at once. */
  maxRequests: number;
  /** From a request's arrival to its answer's last byte. Flux's own timeout is shorter (src/gitops.ts). */
  requestTimeoutMs: number;
  /** For a request body to arrive in full. */
  bodyTimeoutMs: number;
  /** A request body, as sent and once decompressed. git's client compresses up to 1 MiB (http.postBuffer). */
  maxBodyBytes: number;
  /** "have" lines in one request: git's negotiation sends up to 16384 new ones per round, go-git a handful. */
  maxHaves: number;
  /** A client that reads nothing of its answer for this long is cut off. */
  writeStallMs: number;
  /** How long an advertised tip may still be asked for after it stopped being one (a commit in between). */
  recentTipsMs: number;
}

export const DEFAULT_GIT_LIMITS: Readonly<GitServerLimits> = {
  maxProcesses: 4,
  queueTimeoutMs: 5_000,
  maxRequests: 64,
  requestTimeoutMs: 60_000,
  bodyTimeoutMs: 10_000,
  maxBodyBytes: 1024 * 1024,
  maxHaves: 20_000,
  writeStallMs: 15_000,
  recentTipsMs: 10 * 60_000,
};

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
  /** Overrides of DEFAULT_GIT_LIMITS. */
  limits?: Partial<GitServerLimits>;
}

export interface GitServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

const DEFAULT_GIT_PATH = "/workspace.git";

// ---------------------------------------------------------------------------------------------------
// Pure helpers

/**
 * The configuration every upload-pack runs with, given on the command line (it changes no file, and it
 * comes last, so it wins over the repository's and the user's configuration):
 * - safe.directory names this git dir only: the workspace may belong to another uid (a bind mount from
 *   the host), and git refuses such repositories unless told otherwise;
 * - only branches and tags are advertised (HEAD always is): refs/stash holds uncommitted work, and notes
 *   or remote-tracking branches are nobody's business in the cluster;
 * - nothing may widen what a client can ask for: no wants by id of hidden tips, of reachable or of any
 *   objects, no partial-clone filters (the server checks the wants itself too).
 */
export function uploadPackArgs(gitDir: string, advertise: boolean): string[] {
  const config = [
    `safe.directory=${gitDir}`,
    "uploadpack.hideRefs=refs/",
    "uploadpack.hideRefs=!refs/heads/",
    "uploadpack.hideRefs=!refs/tags/",
    "uploadpack.allowTipSHA1InWant=false",
    "uploadpack.allowReachableSHA1InWant=false",
    "uploadpack.allowAnySHA1InWant=false",
    "uploadpack.allowFilter=false",
    "uploadpack.allowRefInWant=false",
  ];
  return [...config.flatMap((entry) => ["-c", entry]), "upload-pack", "--stateless-rpc", ...(advertise ? ["--advertise-refs"] : []), gitDir];
}

export type GitRoute = "advertise" | "upload-pack" | "read-only" | "not-found";

/** What a request asks for. Anything touching receive-pack (a push) is refused as read-only. */
export function routeRequest(method: string | undefined, rawUrl: string | undefined, basePath: string): GitRoute {
  let url: URL;
  try {
    url = new URL(rawUrl ?? "/", "http://x");
  } catch {
    return "not-found"; // an absolute-form target that is no URL, e.g. "http://[::1"
  }
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

/** Whether `path` is `dir` or inside it (both absolute and resolved). */
export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

// Headers `git http-backend` sends so that no proxy caches a ref advertisement or a pack.
const NO_CACHE = {
  expires: "Fri, 01 Jan 1980 00:00:00 GMT",
  pragma: "no-cache",
  "cache-control": "no-cache, max-age=0, must-revalidate",
};
const ADVERTISEMENT = "application/x-git-upload-pack-advertisement";
const NOT_SERVED = "This repository is not served at the moment: see the Git server's log in the dev container.";
const RESULT = "application/x-git-upload-pack-result";

// ---------------------------------------------------------------------------------------------------
// The repository

/**
 * The repository's git dir, found from any folder of its work tree (or a bare repository). Refused when it
 * lies outside the work tree (a `.git` file or link pointing elsewhere) or shares its refs and objects
 * with another one (a linked worktree).
 */
async function locateGitDir(repo: string): Promise<string> {
  const start = await realpath(repo).catch((error: Error) => {
    throw new Error(`cannot serve ${repo}: ${error.message}`);
  });
  // Discovery only (rev-parse reads no object): safe.directory allows the places it may stop at.
  const safe = safeForDiscovery(start);
  const found = await run("git", [...safe, "-C", start, "rev-parse", "--path-format=absolute", "--absolute-git-dir", "--git-common-dir"], {
    env: withoutGitVariables(),
  });
  if (found.exitCode !== 0) throw new Error(`not a Git repository: ${repo}: ${found.stderr.trim()}`);
  const [gitDir, commonDir] = await Promise.all(
    found.stdout
      .trim()
      .split("\n")
      .map((path) => realpath(path)),
  );
  if (gitDir !== commonDir) {
    throw new Error(
      `cannot serve ${repo}: it is a linked worktree, whose refs and objects live in ${commonDir}; serve that repository's own work tree instead`,
    );
  }
  const top = await run("git", [...safe, "-C", start, "rev-parse", "--show-toplevel"], { env: withoutGitVariables() });
  const workTree = top.exitCode === 0 ? await realpath(top.stdout.trim()) : undefined;
  if (workTree ? !isInside(gitDir!, workTree) : !isInside(start, gitDir!)) {
    throw new Error(
      `cannot serve ${repo}: its git dir ${gitDir} is outside ${workTree ?? start} (a .git file or symlink points elsewhere); only a repository kept inside the workspace is served`,
    );
  }
  return gitDir!;
}

/**
 * What makes a repository read or lend content from outside its git dir: alternates (another object
 * store, git's or a dumb-HTTP one), a commondir, and symlinks among the refs and objects that lead
 * outside. Empty when the repository is self-contained. Checked at start and before each request.
 */
async function repositoryProblems(gitDir: string): Promise<string[]> {
  const borrowed = await Promise.all(
    ["objects/info/alternates", "objects/info/http-alternates", "commondir"].map(async (file) =>
      (await lstat(join(gitDir, file)).catch(() => undefined))
        ? [
            `${file} exists: the repository borrows objects or refs from elsewhere, which would be served too (make it self-contained: \`git repack -a -d\`, then remove ${file})`,
          ]
        : [],
    ),
  );
  const linkProblem = async (path: string): Promise<string[]> => {
    const target = await realpath(path).catch(() => undefined);
    return target && isInside(target, gitDir)
      ? []
      : [
          `${relative(gitDir, path)} is a symlink to ${target ?? "a missing path"}, outside the repository's git dir (replace it with a regular file or folder)`,
        ];
  };
  // Folders are read in parallel. Only folders and symlinks can lead elsewhere: the loose objects,
  // thousands of plain files, are passed over (a request with 2,095 of them: 12.5 ms instead of 16.9).
  const walk = async (path: string, entry: { isSymbolicLink(): boolean; isDirectory(): boolean }): Promise<string[]> => {
    if (entry.isSymbolicLink()) return linkProblem(path);
    if (!entry.isDirectory()) return [];
    const entries: Dirent[] = await readdir(path, { withFileTypes: true }).catch(() => []);
    const onward = entries.filter((child) => child.isDirectory() || child.isSymbolicLink());
    return (await Promise.all(onward.map((child) => walk(join(path, child.name), child)))).flat();
  };
  const linked = await Promise.all(
    ["HEAD", "packed-refs", "shallow", "refs", "objects"].map(async (name) => {
      const entry = await lstat(join(gitDir, name)).catch(() => undefined);
      return entry ? walk(join(gitDir, name), entry) : [];
    }),
  );
  return [...borrowed.flat(), ...linked.flat().sort()];
}

/** Our GIT_* variables, unset for git children: they can name another repository or inject configuration. */
function withoutGitVariables(): Record<string, undefined> {
  return Object.fromEntries(
    Object.keys(process.env)
      .filter((key) => key.startsWith("GIT_"))
      .map((key) => [key, undefined]),
  );
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

/** How a git child ended: its exit code or signal, and its error output. */
function exitOf(result: { exitCode?: number; signal?: string; stderr?: unknown }): string {
  const stderr = result.stderr instanceof Uint8Array ? Buffer.from(result.stderr).toString("utf8").trim() : "";
  return `${result.signal ?? result.exitCode}${stderr ? `: ${stderr}` : ""}`;
}

// ---------------------------------------------------------------------------------------------------
// The server

type BodyResult = { ok: true; body: Buffer } | { ok: false; status: number; reason: string };

export async function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const limits: GitServerLimits = { ...DEFAULT_GIT_LIMITS, ...opts.limits };
  const sink = opts.log ?? (() => {});
  // One line per event, client-controlled text escaped.
  const log = (text: string) => sink(logText(`git-server: ${text}`, 1000));
  const basePath = normalizeBasePath(opts.path);
  const gitDir = await locateGitDir(opts.repo);
  const startProblems = await repositoryProblems(gitDir);
  if (startProblems.length > 0) throw new Error(`refusing to serve ${gitDir}: ${startProblems.join("; ")}`);

  // A workspace of another uid is read by git running as that uid, when we can: whatever its refs or
  // objects point at (even swapped in after a check), git then reads nothing its owner could not.
  const owner = await stat(gitDir);
  let runAs = process.getuid?.() === 0 && owner.uid !== 0 ? { uid: owner.uid, gid: owner.gid } : undefined;

  const children = new Set<ResultPromise>();
  const slots = new Slots(limits.maxProcesses);
  const tips = new RecentTips(limits.recentTipsMs);
  let inFlight = 0;
  let reportedProblems = "";

  const git = (args: string[], input?: Buffer, bufferStdout = false): ResultPromise => {
    // Its own process group, so that pack-objects (upload-pack's child) dies with it on a kill.
    const child = execa("git", args, {
      cwd: "/",
      env: withoutGitVariables(),
      detached: true,
      reject: false,
      encoding: "buffer",
      ...runAs,
      ...(input ? { input } : { stdin: "ignore" as const }),
      buffer: { stdout: bufferStdout, stderr: true },
      maxBuffer: { stdout: 32 * 1024 * 1024, stderr: 64 * 1024 },
    });
    children.add(child);
    void child.finally(() => children.delete(child));
    return child;
  };

  /** Runs the ref advertisement and remembers its tips; undefined (and git's error) when it fails. */
  const advertise = async (): Promise<{ advertisement?: Buffer; error?: string }> => {
    const result = await git(uploadPackArgs(gitDir, true), undefined, true);
    if (result.exitCode !== 0) return { error: `git upload-pack --advertise-refs exited with ${exitOf(result)}` };
    const advertisement = Buffer.from(result.stdout as Uint8Array);
    tips.remember(advertisedTips(advertisement), Date.now());
    return { advertisement };
  };

  // The first advertisement proves git can serve the repository (as its owner, or else as ourselves).
  let first = await advertise();
  if (first.error && runAs) {
    log(
      `git as the repository's owner (uid ${runAs.uid}) cannot read it (${first.error}); serving as uid ${process.getuid?.()}, with the repository checked before each request`,
    );
    runAs = undefined;
    first = await advertise();
  }
  if (first.error) throw new Error(`cannot serve ${gitDir}: ${first.error}`);

  /** The repository checks before a request; a change in their outcome is logged once, not per request. */
  const checkRepository = async (): Promise<string | undefined> => {
    const problems = (await repositoryProblems(gitDir)).join("; ");
    if (problems !== reportedProblems) log(problems ? `not serving ${gitDir}: ${problems}` : `serving ${gitDir} again: its checks pass`);
    reportedProblems = problems;
    return problems || undefined;
  };

  function handle(req: IncomingMessage, res: ServerResponse, route: "advertise" | "upload-pack"): void {
    const who = `${req.method} ${req.url} from ${req.socket.remoteAddress}`;
    const aborter = new AbortController();
    const timers = new Set<NodeJS.Timeout>();
    let release: (() => void) | null = null;
    let child: ResultPromise | undefined;
    let ended = false;

    const after = (ms: number, fn: () => void) => timers.add(setTimeout(fn, ms));
    /**
     * Ends the exchange with a plain-text answer, or by cutting the connection once the answer has begun.
     * `close`: the connection ends with the answer (a client that is too slow); otherwise Node reads and
     * drops what is left of the body, within its own request timeout, and may keep the connection.
     * `detail` goes to the log only: paths and git's own words are not the client's business.
     */
    const fail = (status: number, message: string, options: { close?: boolean; logged?: boolean; detail?: string } = {}) => {
      if (ended) return;
      ended = true;
      if (!options.logged) log(`${who}: ${res.headersSent ? "cut off" : status}: ${message}${options.detail ? `: ${options.detail}` : ""}`);
      if (child) killGroup(child);
      if (res.headersSent) return void res.destroy();
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...(options.close ? { connection: "close" } : {}), ...NO_CACHE });
      res.end(`${logText(message)}\n`, () => (options.close ? req.socket.destroy() : undefined));
    };
    /** A refusal inside the protocol: git's client shows "remote error: <message>". */
    const refuse = (message: string) => {
      if (ended) return;
      ended = true;
      log(`${who}: refused: ${message}`);
      res.writeHead(200, { "content-type": RESULT, ...NO_CACHE }).end(errPkt(logText(message, 500)));
    };

    inFlight++;
    res.on("close", () => {
      inFlight--;
      aborter.abort();
      for (const timer of timers) clearTimeout(timer);
      if (child) killGroup(child);
      release?.();
      if (!ended) {
        ended = true;
        log(`${who}: the client went away`);
      }
    });
    after(limits.requestTimeoutMs, () => fail(503, `not done within ${limits.requestTimeoutMs / 1000} s`, { close: true }));

    /** A slot for one git process, or a 503. */
    const takeSlot = async (): Promise<boolean> => {
      const granted = await slots.acquire(limits.queueTimeoutMs, aborter.signal);
      if (ended) {
        granted?.(); // the exchange ended while it waited
        return false;
      }
      if (!granted) {
        fail(503, `busy: ${limits.maxProcesses} git processes already running; try again`);
        return false;
      }
      release = granted;
      return true;
    };

    const exchange = async () => {
      if (route === "advertise") {
        req.resume();
        if (!(await takeSlot())) return;
        const problems = await checkRepository();
        if (problems) return fail(500, NOT_SERVED, { logged: true });
        const { advertisement, error } = await advertise();
        if (ended) return;
        if (!advertisement) return fail(500, "git upload-pack failed", { detail: error });
        ended = true;
        res.writeHead(200, { "content-type": ADVERTISEMENT, ...NO_CACHE });
        res.end(Buffer.concat([pktLine("# service=git-upload-pack\n"), FLUSH_PKT, advertisement]));
        return;
      }

      const body = await readBody(req, limits);
      if (ended) return;
      // A body that does not arrive in time: its sender is not worth the connection.
      if (!body.ok) return fail(body.status, body.reason, { close: body.status === 408 });
      const parsed = parseUploadRequest(body.body, limits);
      if (!parsed.ok) {
        if (parsed.framing) return fail(400, `not a git upload-pack request: ${parsed.reason}`);
        return refuse(parsed.reason);
      }
      if (!(await takeSlot())) return;
      const problems = await checkRepository();
      if (problems) return fail(500, NOT_SERVED, { logged: true });
      // A want the recent advertisements do not cover may be a tip made since: advertise again to know.
      let unknown = unadvertisedWants(parsed.request, (oid) => tips.has(oid, Date.now()));
      if (unknown.length > 0) {
        await advertise();
        unknown = unadvertisedWants(parsed.request, (oid) => tips.has(oid, Date.now()));
      }
      if (ended) return;
      if (unknown.length > 0) return refuse(`want ${unknown.join(", ")}: not a branch or tag this server advertised (it serves committed history only)`);
      streamPack(body.body);
    };

    /** Runs upload-pack on the checked request and streams its answer, pausing git while the client is slow. */
    const streamPack = (body: Buffer) => {
      const proc = git(uploadPackArgs(gitDir, false), body);
      child = proc;
      const stdout = proc.stdout!;
      stdout.on("data", (chunk: Buffer) => {
        if (ended) return;
        if (!res.headersSent) res.writeHead(200, { "content-type": RESULT, ...NO_CACHE });
        if (res.write(chunk)) return;
        stdout.pause();
        const stall = setTimeout(() => fail(503, `the client read nothing for ${limits.writeStallMs / 1000} s`), limits.writeStallMs);
        timers.add(stall);
        res.once("drain", () => {
          clearTimeout(stall);
          stdout.resume();
        });
      });
      void Promise.all([proc, finished(stdout).catch(() => undefined)]).then(([result]) => {
        if (ended) return;
        if (result.exitCode !== 0) return fail(500, "git upload-pack failed", { detail: `it exited with ${exitOf(result)}` });
        ended = true;
        if (!res.headersSent) res.writeHead(200, { "content-type": RESULT, ...NO_CACHE });
        res.end();
      });
    };

    exchange().catch((error: Error) => fail(500, "internal error", { detail: error.message }));
  }

  const server = createServer(
    // Node's own limits on receiving a request, below ours (its check runs every second).
    {
      headersTimeout: Math.min(10_000, limits.bodyTimeoutMs, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      try {
        const route = routeRequest(req.method, req.url, basePath);
        if (route === "advertise" || route === "upload-pack") {
          if (inFlight >= limits.maxRequests) {
            log(`${req.method} ${req.url} from ${req.socket.remoteAddress}: 503 busy: ${inFlight} requests in progress`);
            res
              .writeHead(503, { "content-type": "text/plain; charset=utf-8", connection: "close", "retry-after": "5" })
              .end("Busy: too many requests in progress.\n");
            return;
          }
          return handle(req, res, route);
        }
        req.resume();
        if (route === "read-only") log(`refused ${req.method} ${req.url} from ${req.socket.remoteAddress}: read-only`);
        const [status, text] = route === "read-only" ? [403, "This Git server is read-only: push is not supported.\n"] : [404, "Not found.\n"];
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(text);
      } catch (error) {
        // One bad request must not take the service down.
        log(`${req.method} ${req.url}: internal error: ${(error as Error).message}`);
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("internal error\n");
      }
    },
  );
  server.maxConnections = limits.maxRequests * 2;
  server.on("clientError", (error, socket) => {
    log(`client error: ${error.message}`);
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => log(error.message));
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

/**
 * Reads a request body within the limits: its declared and actual size, as sent and once gunzipped (a
 * gzip bomb stops at the cap), and the time it takes to arrive.
 */
function readBody(req: IncomingMessage, limits: GitServerLimits): Promise<BodyResult> {
  const max = limits.maxBodyBytes;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) return Promise.resolve({ ok: false, status: 413, reason: `request body of ${declared} bytes, more than ${max}` });
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase().trim();
  if (!["identity", "gzip", "x-gzip"].includes(encoding))
    return Promise.resolve({ ok: false, status: 415, reason: `content-encoding ${encoding} is not supported (gzip is)` });
  const gunzip = encoding === "identity" ? undefined : createGunzip();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let size = 0;
    let settled = false;
    const settle = (result: BodyResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      gunzip?.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => settle({ ok: false, status: 408, reason: `request body not received within ${limits.bodyTimeoutMs / 1000} s` }),
      limits.bodyTimeoutMs,
    );
    const take = (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > max) settle({ ok: false, status: 413, reason: `request body of more than ${max} bytes${gunzip ? " once decompressed" : ""}` });
      else chunks.push(chunk);
    };
    const done = () => settle({ ok: true, body: Buffer.concat(chunks) });
    req.on("data", (chunk: Buffer) => {
      if (settled) return;
      received += chunk.length;
      if (received > max) return settle({ ok: false, status: 413, reason: `request body of more than ${max} bytes` });
      if (gunzip) gunzip.write(chunk);
      else take(chunk);
    });
    req.on("end", () => (gunzip ? gunzip.end() : done()));
    req.on("error", (error) => settle({ ok: false, status: 400, reason: `request body: ${error.message}` }));
    req.on("close", () => (req.complete ? undefined : settle({ ok: false, status: 400, reason: "the client went away during the request body" })));
    gunzip?.on("data", take);
    gunzip?.on("end", done);
    gunzip?.on("error", (error) => settle({ ok: false, status: 400, reason: `request body: gzip: ${error.message}` }));
  });
}
