import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { request, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { execa } from "execa";
import { FLUSH_PKT, pktLine } from "../../src/serve/git-server.js";
import { GIT_ENV, git } from "./git.js";

/**
 * Git's smart HTTP spoken by hand, the way a hostile client would: request bodies built pkt-line by
 * pkt-line (git's own client refuses to send most of them), answers read with limits, packs opened with
 * git itself, and the git processes a server leaves behind counted from /proc.
 */

export interface UploadRequestSpec {
  wants: string[];
  /** Added to the first want line; none by default, so that the answer is a bare pack after "NAK". */
  capabilities?: string[];
  lines?: string[];
  haves?: string[];
  /** Ends with "done" (default) or with a flush-pkt, like an intermediate negotiation round. */
  done?: boolean;
}

/** A protocol v0 upload-pack request body: wants (and other first-section lines), flush, haves, done. */
export function uploadRequest(spec: UploadRequestSpec): Buffer {
  const caps = spec.capabilities?.length ? ` ${spec.capabilities.join(" ")}` : "";
  return Buffer.concat([
    ...spec.wants.map((oid, i) => pktLine(`want ${oid}${i === 0 ? caps : ""}\n`)),
    ...(spec.lines ?? []).map((line) => pktLine(`${line}\n`)),
    FLUSH_PKT,
    ...(spec.haves ?? []).map((oid) => pktLine(`have ${oid}\n`)),
    spec.done === false ? FLUSH_PKT : pktLine("done\n"),
  ]);
}

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The answer's first `keep` bytes. */
  body: Buffer;
  /** Every byte received, kept or not. */
  bytes: number;
  ms: number;
  /** How the answer ended: complete, cut by the server (socket destroyed), or given up on by us. */
  end: "complete" | "cut" | "gave-up";
}

export interface RawPostOptions {
  gzip?: boolean;
  headers?: Record<string, string>;
  /** Bytes of the answer kept in `body` (all are counted). */
  keep?: number;
  /** We stop reading after this many bytes... */
  maxBytes?: number;
  /** ...or this long. */
  timeoutMs?: number;
}

/** POSTs `body` to `<url>/git-upload-pack` and reads the answer within limits. */
export function rawPost(url: string, body: Buffer, options: RawPostOptions = {}): Promise<RawAnswer> {
  const data = options.gzip ? gzipSync(body) : body;
  const headers = { "content-type": "application/x-git-upload-pack-request", ...(options.gzip ? { "content-encoding": "gzip" } : {}), ...options.headers };
  const keep = options.keep ?? 1024 * 1024;
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let bytes = 0;
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    let settled = false;
    const settle = (end: RawAnswer["end"]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), bytes, ms: performance.now() - started, end });
      req.destroy();
    };
    const timer = setTimeout(() => settle("gave-up"), options.timeoutMs ?? 30_000);
    const req = request(`${url}/git-upload-pack`, { method: "POST", headers: { ...headers, "content-length": String(data.length) } }, (res) => {
      status = res.statusCode ?? 0;
      responseHeaders = res.headers;
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (kept < keep) {
          chunks.push(chunk.subarray(0, keep - kept));
          kept += Math.min(chunk.length, keep - kept);
        }
        if (bytes >= maxBytes) settle("gave-up");
      });
      res.on("end", () => settle("complete"));
      res.on("error", () => settle("cut"));
      res.on("aborted", () => settle("cut"));
      res.on("close", () => settle(res.complete ? "complete" : "cut"));
    });
    req.on("error", (error) => {
      if (settled) return;
      if (status) settle("cut");
      else {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    req.end(data);
  });
}

/** The pkt-line payloads at the start of an answer (up to a pack, a flush or the end). */
export function answerLines(answer: Buffer): string[] {
  const lines: string[] = [];
  let at = 0;
  while (at + 4 <= answer.length) {
    if (answer.subarray(at, at + 4).toString() === "PACK") break;
    const length = Number.parseInt(answer.subarray(at, at + 4).toString(), 16);
    if (!Number.isInteger(length) || length < 4) break;
    lines.push(answer.subarray(at + 4, at + length).toString("utf8"));
    at += length;
  }
  return lines;
}

/**
 * What a pack in an answer (sent without side-band, right after "NAK") holds: each object's content by
 * id, read back by git from a scratch repository. Empty when the answer holds no pack.
 */
export async function objectsInAnswer(answer: Buffer): Promise<Map<string, string>> {
  const start = answer.indexOf("PACK");
  const objects = new Map<string, string>();
  if (start < 0) return objects;
  const dir = await mkdtemp(join(tmpdir(), "git-wire-pack-"));
  try {
    await git(dir, ["init", "-q", "--bare"]);
    await execa("git", ["index-pack", "--stdin", "--fix-thin"], { cwd: dir, input: answer.subarray(start), env: GIT_ENV });
    const listed = await execa("git", ["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"], { cwd: dir, env: GIT_ENV });
    for (const oid of listed.stdout.split("\n").filter(Boolean)) {
      objects.set(oid, (await execa("git", ["cat-file", "-p", oid], { cwd: dir, env: GIT_ENV, stripFinalNewline: false })).stdout);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return objects;
}

export interface GitProcess {
  pid: number;
  command: string;
  uid: number;
  rssKiB: number;
}

/** Live git processes (not zombies) whose working folder is `gitDir`: upload-pack and its pack-objects run there. */
export async function gitProcessesIn(gitDir: string): Promise<GitProcess[]> {
  const found: GitProcess[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if ((await readlink(`/proc/${pid}/cwd`)) !== gitDir) continue;
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      if (/^State:\s+Z/m.test(status)) continue;
      found.push({
        pid: Number(pid),
        command: (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ").trim(),
        uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]),
        rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Polls until `gitDir` has no git process left, or the time is up; returns what is left. */
export async function waitForNoGitIn(gitDir: string, ms: number): Promise<GitProcess[]> {
  const deadline = Date.now() + ms;
  let left = await gitProcessesIn(gitDir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = await gitProcessesIn(gitDir);
  }
  return left;
}
