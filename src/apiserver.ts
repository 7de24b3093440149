import { createHash } from "node:crypto";
import { Agent, request, type RequestOptions as HttpsOptions } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { ZoneError } from "./errors.js";
import type { Credentials } from "./kubeconfig/index.js";
import { trace } from "./log.js";

/** A minimal Kubernetes API client: TLS verified against the cluster CA, client-certificate auth. */

/** The hops of a request, in order; a failed request names the one that failed. */
export type ProbeStep = "dns" | "tcp" | "tls" | "api";
export interface Endpoint {
  server: string;
  tlsServerName?: string;
  credentials: Credentials;
}

interface ApiResponse {
  status: number;
  body: string;
  /** The Retry-After header, when the server sent one. */
  retryAfter?: string;
}

/**
 * How long to wait before sending a request again: only after a 429, which the API server answers
 * without acting (too many requests, or its storage still starting after a restart), as long as
 * its Retry-After (1 s when it says none, at most 5 s) fits in what is left of the request's time. Pure.
 */
export function retryDelayMs(res: Pick<ApiResponse, "status" | "retryAfter">, leftMs: number): number | undefined {
  if (res.status !== 429) return undefined;
  const seconds = Number(res.retryAfter);
  const delay = Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000, 5000);
  return delay < leftMs ? delay : undefined;
}

const FIX: Record<ProbeStep, string> = {
  dns: "run `kind-cluster up`, which joins this container to the cluster's network; `kind-cluster doctor` checks each hop",
  tcp: "the cluster may be stopped or starting: `kind-cluster up` starts it; `kind-cluster doctor` checks each hop",
  tls: "the kubeconfig's credentials do not match this cluster: `kind-cluster up` rewrites them",
  api: "`kind-cluster doctor` checks each hop; `kubectl get --raw /readyz` shows the API server's own view",
};

/** A failed API request, as a zone error: the route for the network hops, zone 3 for the API's own answer. */
export class ApiError extends ZoneError {
  constructor(
    readonly step: ProbeStep,
    message: string,
    /** The API's HTTP status, when it answered (410: a watch's resource version is too old). */
    readonly status?: number,
  ) {
    super({ zone: step === "api" ? "kind cluster" : "route", message, fix: FIX[step] });
    this.name = "ApiError";
  }
}

const b64 = (s: string) => Buffer.from(s, "base64");

/** Which hop failed, from Node's error codes. */
export function stepOfError(code: string | undefined): ProbeStep {
  if (!code) return "tcp";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return "dns";
  if (/^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EPIPE|ETIMEOUT)$/.test(code)) return "tcp";
  return "tls";
}

interface RequestOptions {
  method?: string;
  body?: string;
  contentType?: string;
  timeoutMs: number;
}

/**
 * Connections kept open between requests, one pool per API server, route and credentials. A service
 * that asks every few hundred milliseconds would otherwise pay a TLS handshake each time, and its
 * native memory grows with them. Idle sockets do not keep a command from exiting (Node unrefs them),
 * and are closed before the API server would close them itself.
 */
const agents = new Map<string, Agent>();
const MAX_AGENTS = 8;
const IDLE_SOCKET_MS = 30_000;

function agentFor(endpoint: Endpoint): Agent {
  const { certificateAuthorityData, clientCertificateData, clientKeyData } = endpoint.credentials;
  const key = createHash("sha256")
    .update([endpoint.server, endpoint.tlsServerName ?? "", certificateAuthorityData, clientCertificateData, clientKeyData].join("\0"))
    .digest("hex");
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, maxSockets: 16 });
    agents.set(key, agent);
    // Credentials rewritten by `up`, routes tried one after another: the oldest pool goes.
    for (const [old, pool] of agents) {
      if (agents.size <= MAX_AGENTS) break;
      pool.destroy();
      agents.delete(old);
    }
  }
  return agent;
}

/** Verified TLS to the cluster's CA, the client certificate; `pooled`: on a kept-open connection. */
function tlsOptions(endpoint: Endpoint, method: string, timeoutMs: number, headers: Record<string, string>, pooled: boolean): HttpsOptions {
  return {
    method,
    ca: b64(endpoint.credentials.certificateAuthorityData),
    cert: b64(endpoint.credentials.clientCertificateData),
    key: b64(endpoint.credentials.clientKeyData),
    servername: endpoint.tlsServerName,
    rejectUnauthorized: true,
    agent: pooled ? agentFor(endpoint) : false,
    timeout: timeoutMs,
    headers: { accept: "application/json", ...headers },
  };
}

/** A request's socket error, as the hop that failed. */
function failedHop(e: NodeJS.ErrnoException): ApiError {
  return new ApiError(stepOfError(e.code), `${e.code ?? "error"}: ${e.message}`);
}

async function apiRequest(endpoint: Endpoint, path: string, options: RequestOptions): Promise<ApiResponse> {
  const deadline = Date.now() + options.timeoutMs;
  for (let reconnected = false; ; ) {
    const res = await apiRequestOnce(endpoint, path, { ...options, timeoutMs: Math.max(deadline - Date.now(), 1) }).catch((error: unknown) => {
      // A kept-open connection the server closed as we sent: once more on a new one (a POST could have been acted on).
      if (error instanceof StaleConnection && !reconnected && options.method !== "POST") return undefined;
      throw error instanceof StaleConnection ? error.cause : error;
    });
    if (!res) {
      reconnected = true;
      continue;
    }
    const delay = retryDelayMs(res, deadline - Date.now());
    if (delay === undefined) return res;
    await sleep(delay);
  }
}

/** A request that failed on a reused connection before any answer: the error it would have been. */
class StaleConnection extends Error {
  constructor(override readonly cause: ApiError) {
    super(cause.message);
  }
}

function apiRequestOnce(endpoint: Endpoint, path: string, options: RequestOptions): Promise<ApiResponse> {
  const url = new URL(path, endpoint.server);
  const method = options.method ?? "GET";
  const start = performance.now();
  const done = (outcome: string) => trace(`${method} ${url.pathname}${url.search} -> ${outcome}  (${Math.round(performance.now() - start)}ms)`);
  return new Promise((resolve, reject) => {
    let connected = false;
    const headers: Record<string, string> = options.body === undefined ? {} : { "content-type": options.contentType ?? "application/json" };
    const req = request(url, tlsOptions(endpoint, method, options.timeoutMs, headers, true), (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        done(String(res.statusCode));
        const retryAfter = res.headers["retry-after"];
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString("utf8"),
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        });
      });
      res.on("error", (e) => reject(new ApiError("api", e.message)));
    });
    // A kept-open connection is connected already: a timeout on it is the server's, not the route's.
    req.on("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => (connected = true));
      else connected = true;
    });
    req.on("timeout", () =>
      req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs}ms`), { code: connected ? "ETLSTIMEOUT" : "ETIMEDOUT" })),
    );
    req.on("error", (e: NodeJS.ErrnoException) => {
      done(e.code ?? "error");
      const stale = req.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE");
      reject(stale ? new StaleConnection(failedHop(e)) : failedHop(e));
    });
    req.end(options.body);
  });
}

/** One change to a collection, as a watch delivers it. */
export interface WatchEvent<T = unknown> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/**
 * Splits what a watch stream has delivered so far into its whole events (one JSON object a line) and
 * the unfinished last line, kept for the next chunk. Pure.
 */
export function parseWatchLines(text: string): { events: WatchEvent[]; rest: string } {
  const lines = text.split("\n");
  const rest = lines.pop() ?? "";
  const events: WatchEvent[] = [];
  for (const line of lines) {
    if (line.trim() === "") continue;
    let event: Partial<WatchEvent>;
    try {
      event = JSON.parse(line) as Partial<WatchEvent>;
    } catch {
      throw new ApiError("api", `the watch sent a line that is not JSON: ${line.slice(0, 120)}`);
    }
    if (typeof event.type !== "string" || typeof event.object !== "object" || event.object === null)
      throw new ApiError("api", `the watch sent a line that is not an event: ${line.slice(0, 120)}`);
    events.push(event as WatchEvent);
  }
  return { events, rest };
}

export interface WatchOptions {
  /** Where to start: the list's resourceVersion, or the last event's. */
  resourceVersion: string;
  onEvent: (event: WatchEvent) => void;
  /** The server ends the stream after this long (it is then resumed from the last event). */
  timeoutSeconds?: number;
  /** No byte for this long (a node gone without a word): the stream is given up as stalled. */
  idleMs?: number;
  signal?: AbortSignal;
}

function apiWatch(endpoint: Endpoint, path: string, options: WatchOptions): Promise<void> {
  const timeoutSeconds = options.timeoutSeconds ?? 60;
  const query = `watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(options.resourceVersion)}`;
  const url = new URL(`${path}${path.includes("?") ? "&" : "?"}${query}`, endpoint.server);
  const idleMs = options.idleMs ?? (timeoutSeconds + 15) * 1000;
  return new Promise((resolve, reject) => {
    // A stop asked for (the signal) ends the watch quietly, whatever the socket says about it.
    const settle = (error?: Error) => {
      options.signal?.removeEventListener("abort", abort);
      if (error && !options.signal?.aborted) reject(error);
      else resolve();
    };
    // Its own connection: a stream that lasts a minute has no use for the pool.
    const req = request(url, tlsOptions(endpoint, "GET", idleMs, {}, false), (res) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => settle(failed(`watch ${path}`, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })));
        return;
      }
      trace(`WATCH ${url.pathname}${url.search} -> 200`);
      res.setEncoding("utf8");
      let rest = "";
      res.on("data", (chunk: string) => {
        try {
          const parsed = parseWatchLines(rest + chunk);
          rest = parsed.rest;
          for (const event of parsed.events) options.onEvent(event);
        } catch (error) {
          // A line that is no event, or the handler's refusal (a 410 in an ERROR event): this stream is over.
          settle(error as Error);
          req.destroy();
        }
      });
      res.on("end", () => settle());
      res.on("error", (e) => settle(e instanceof ApiError ? e : new ApiError("api", e.message)));
    });
    const abort = () => req.destroy();
    options.signal?.addEventListener("abort", abort, { once: true });
    req.on("timeout", () => req.destroy(Object.assign(new Error(`the watch of ${path} was silent for ${idleMs}ms`), { code: "ETIMEDOUT" })));
    req.on("error", (e: NodeJS.ErrnoException) => settle(e instanceof ApiError ? e : failedHop(e)));
    req.end();
  });
}

function failed(what: string, res: ApiResponse): ApiError {
  let message = res.body.slice(0, 300);
  try {
    message = (JSON.parse(res.body) as { message?: string }).message ?? message;
  } catch {
    // Not a Status object: keep the text.
  }
  return new ApiError("api", `${what} answered ${res.status}: ${message}`, res.status);
}

/**
 * The API server of one cluster, through one route with one set of credentials: what the stages,
 * `status`, `doctor` and the services ask of it. An interface, so the orchestration can be tested with a fake.
 */
export interface KubeApi {
  readonly endpoint: Endpoint;
  listNodes(timeoutMs?: number): Promise<NodeSummary[]>;
  /** Reads an object; undefined when it does not exist. */
  get<T>(path: string, timeoutMs?: number): Promise<T | undefined>;
  /**
   * Server-side apply: the object ends up with exactly the fields we manage, whoever last touched them,
   * and applying it again changes nothing. `path` names the object (…/namespaces/<ns>/<plural>/<name>).
   */
  apply(path: string, object: object, timeoutMs?: number): Promise<void>;
  /** A JSON merge patch (annotations, one field). */
  mergePatch(path: string, patch: object, timeoutMs?: number): Promise<void>;
  /** Creates the object at `path`; false when one exists already (the API's own atomic claim). */
  create(path: string, object: object, timeoutMs?: number): Promise<boolean>;
  /** Replaces the object; false when it changed since the resourceVersion the object carries (or is gone). */
  replace(path: string, object: object, timeoutMs?: number): Promise<boolean>;
  /** Deletes an object; one already gone is fine. */
  delete(path: string, timeoutMs?: number): Promise<void>;
  /**
   * Follows a collection (…/services) from a resource version: each change is handed over as it
   * arrives. Resolves when the server ends the stream (its timeout); rejects when the request fails
   * (an ApiError; status 410 when the version is too old to resume from) or the stream stalls.
   */
  watch(path: string, options: WatchOptions): Promise<void>;
}

export function kubeApi(endpoint: Endpoint): KubeApi {
  return {
    endpoint,
    listNodes: (timeoutMs = 5_000) => listNodes(endpoint, timeoutMs),
    async get<T>(path: string, timeoutMs = 10_000) {
      const res = await apiRequest(endpoint, path, { timeoutMs });
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw failed(`GET ${path}`, res);
      return JSON.parse(res.body) as T;
    },
    async apply(path, object, timeoutMs = 15_000) {
      const res = await apiRequest(endpoint, `${path}?fieldManager=kind-cluster&force=true`, {
        method: "PATCH",
        body: JSON.stringify(object),
        contentType: "application/apply-patch+yaml",
        timeoutMs,
      });
      if (res.status !== 200 && res.status !== 201) throw failed(`apply ${path}`, res);
    },
    async mergePatch(path, patch, timeoutMs = 10_000) {
      const res = await apiRequest(endpoint, path, { method: "PATCH", body: JSON.stringify(patch), contentType: "application/merge-patch+json", timeoutMs });
      if (res.status !== 200) throw failed(`patch ${path}`, res);
    },
    async create(path, object, timeoutMs = 10_000) {
      const collection = path.slice(0, path.lastIndexOf("/"));
      const res = await apiRequest(endpoint, collection, { method: "POST", body: JSON.stringify(object), timeoutMs });
      if (res.status === 409) return false;
      if (res.status !== 201 && res.status !== 200) throw failed(`create ${path}`, res);
      return true;
    },
    async replace(path, object, timeoutMs = 10_000) {
      const res = await apiRequest(endpoint, path, { method: "PUT", body: JSON.stringify(object), timeoutMs });
      if (res.status === 409 || res.status === 404) return false;
      if (res.status !== 200) throw failed(`replace ${path}`, res);
      return true;
    },
    async delete(path, timeoutMs = 10_000) {
      const res = await apiRequest(endpoint, path, { method: "DELETE", timeoutMs });
      if (res.status !== 200 && res.status !== 202 && res.status !== 404) throw failed(`DELETE ${path}`, res);
    },
    watch: (path, options) => apiWatch(endpoint, path, options),
  };
}

export interface NodeSummary {
  name: string;
  ready: boolean;
  roles: string[];
  version: string;
  /** Why it is not Ready, when it is not. */
  reason?: string;
}

/** Reads a NodeList (GET /api/v1/nodes). Pure. */
export function summarizeNodes(body: string): NodeSummary[] {
  const list = JSON.parse(body) as {
    items?: Array<{
      metadata?: { name?: string; labels?: Record<string, string> };
      status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>; nodeInfo?: { kubeletVersion?: string } };
    }>;
  };
  return (list.items ?? []).map((node) => {
    const ready = node.status?.conditions?.find((c) => c.type === "Ready");
    const labels = node.metadata?.labels ?? {};
    const roles = Object.keys(labels)
      .filter((l) => l.startsWith("node-role.kubernetes.io/"))
      .map((l) => l.slice("node-role.kubernetes.io/".length));
    return {
      name: node.metadata?.name ?? "?",
      ready: ready?.status === "True",
      roles,
      version: node.status?.nodeInfo?.kubeletVersion ?? "",
      reason: ready?.status === "True" ? undefined : (ready?.message ?? ready?.reason ?? "no Ready condition yet"),
    };
  });
}

async function listNodes(endpoint: Endpoint, timeoutMs: number): Promise<NodeSummary[]> {
  const res = await apiRequest(endpoint, "/api/v1/nodes", { timeoutMs });
  if (res.status !== 200) throw new ApiError("api", `GET /api/v1/nodes answered ${res.status}: ${res.body.slice(0, 200)}`);
  return summarizeNodes(res.body);
}
