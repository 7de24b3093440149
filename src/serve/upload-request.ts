import { splitPktLines, type Pkt } from "./pkt-line.js";

/**
 * What the Git server checks in a protocol v0 upload-pack exchange before git sees it, pure. The server
 * serves committed history only: a request may want the tips it advertised (branches, tags, their peeled
 * commits, HEAD) and nothing else. upload-pack alone would not hold that line: with --stateless-rpc its
 * reachability check looks at commits only, and hands out any blob or tree whose id the client names.
 */

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export interface UploadRequest {
  wants: string[];
  /** Capabilities named on the first want line. */
  capabilities: string[];
  haves: number;
  done: boolean;
}

export interface RequestLimits {
  /** "have" lines in one request. */
  maxHaves: number;
}

/** A refusal says why; `framing` when the body is not even pkt-lines (no git client sent it). */
export type RequestCheck = { ok: true; request: UploadRequest } | { ok: false; reason: string; framing?: boolean };

// First section: what the client wants and how deep. "filter" (partial clone) is not offered: the server
// turns uploadpack.allowFilter off, and a sparse filter would make pack-objects read a blob named by the
// client.
const FIRST_SECTION = /^(?:shallow (?:[0-9a-f]{40}|[0-9a-f]{64})|deepen [1-9][0-9]{0,9}|deepen-since [0-9]{1,12}|deepen-not [\x21-\x7e]{1,255})$/;

/**
 * Parses an upload-pack request body (already decompressed): wants, shallow and deepen lines, a flush,
 * then haves, ended by "done" or a flush, and nothing after (or nothing after the first flush). Anything else is refused with the reason,
 * quoting at most a line of what the client sent.
 */
export function parseUploadRequest(body: Buffer, limits: RequestLimits): RequestCheck {
  const split = splitPktLines(body);
  if (!split.ok) return { ...split, framing: true };
  const pkts = split.pkts;
  const request: UploadRequest = { wants: [], capabilities: [], haves: 0, done: false };
  let at = 0;
  for (; at < pkts.length && pkts[at] !== null; at++) {
    const line = pkts[at] as string;
    if (line.startsWith("want ")) {
      const [, oid, ...capabilities] = line.split(" ");
      if (!OID.test(oid ?? "") || (request.wants.length > 0 && capabilities.length > 0)) return refuse("malformed want line", line);
      if (request.wants.length === 0) request.capabilities = capabilities;
      request.wants.push(oid!);
    } else if (!FIRST_SECTION.test(line)) return refuse("unexpected line before the flush", line);
  }
  if (at === pkts.length) return { ok: false, reason: "no flush-pkt after the wants" };
  if (request.wants.length === 0) return { ok: false, reason: "no want line" };
  // A shallow fetch's first round ends here: the client asks where the history will be cut.
  if (at === pkts.length - 1) return { ok: true, request };
  for (at++; at < pkts.length; at++) {
    const line = pkts[at] as Pkt;
    if (line === null || line === "done") {
      request.done = line === "done";
      if (at !== pkts.length - 1) return { ok: false, reason: `${pkts.length - at - 1} packets after ${line === null ? "the final flush-pkt" : '"done"'}` };
      return { ok: true, request };
    }
    const [word, oid, ...rest] = line.split(" ");
    if (word !== "have" || !OID.test(oid ?? "") || rest.length > 0) return refuse("unexpected line among the haves", line);
    if (++request.haves > limits.maxHaves) return { ok: false, reason: `more than ${limits.maxHaves} have lines in one request` };
  }
  return { ok: false, reason: 'the request does not end with "done" or a flush-pkt' };
}

/** A refusal quoting the line as sent (cut short; the log and the answer escape it). */
function refuse(what: string, line: string): { ok: false; reason: string } {
  return { ok: false, reason: `${what}: '${line.slice(0, 120)}'` };
}

/** The wants that are not among the tips (`isTip` says whether an id is one). */
export function unadvertisedWants(request: UploadRequest, isTip: (oid: string) => boolean): string[] {
  return [...new Set(request.wants.filter((oid) => !isTip(oid)))];
}

// The refs the server offers: HEAD, branches, tags, and tags peeled ("^{}"). upload-pack advertises only
// those already (uploadpack.hideRefs); the list is checked here again so that no configuration widens it.
const TIP_REF = /^(?:HEAD|refs\/heads\/\S+|refs\/tags\/\S+)$/;

/** The object ids an upload-pack advertisement (`--advertise-refs`, v0) offers as tips. */
export function advertisedTips(advertisement: Buffer): string[] {
  const split = splitPktLines(advertisement);
  if (!split.ok) return [];
  const tips: string[] = [];
  for (const line of split.pkts) {
    if (line === null) continue;
    const [oid, ref] = line.split("\0")[0]!.split(" ");
    if (OID.test(oid ?? "") && !/^0+$/.test(oid!) && TIP_REF.test(ref ?? "")) tips.push(oid!);
  }
  return tips;
}

/**
 * Tips advertised within the last `ttlMs`: a client fetches with two requests (the advertisement, then the
 * pack), and a commit made between them must not fail its fetch. Entries older than that are dropped, so
 * the memory holds no more than the tips of a few minutes.
 */
export class RecentTips {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs: number) {}

  remember(tips: Iterable<string>, now: number): void {
    for (const oid of tips) {
      this.seen.delete(oid); // re-inserted at the end: the map stays in the order last seen
      this.seen.set(oid, now);
    }
    for (const [oid, at] of this.seen) {
      if (now - at <= this.ttlMs) break;
      this.seen.delete(oid);
    }
  }

  has(oid: string, now: number): boolean {
    const at = this.seen.get(oid);
    return at !== undefined && now - at <= this.ttlMs;
  }

  get size(): number {
    return this.seen.size;
  }
}
