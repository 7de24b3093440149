import { randomBytes } from "node:crypto";
import { type FileHandle, link, lstat, open, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { ZoneError } from "./errors.js";
import { processStart, procStat } from "./pids.js";

/**
 * An exclusive lock file, `<file>.lock` as kubectl and kind name theirs (they create it empty with
 * O_EXCL and never wait; we wait). Ours is born complete: its content is written to a temporary file
 * that is then hard-linked to the lock's name, so nobody ever reads a half-written lock of ours.
 *
 * A lock is stale, and taken over, when:
 * - its holder is in our pid namespace (same namespace, host and boot) and that pid is dead, or now
 *   belongs to a process started at another time;
 * - we cannot check its holder (another pid namespace: a container sharing ~/.kube; an empty kubectl or
 *   kind lock; unreadable content) and it is older than the lease.
 */
export interface LockOptions {
  timeoutMs: number;
  /** What is being locked, for the error message. */
  purpose: string;
  /** How long a lock whose holder we cannot check is respected (default 60 s). */
  leaseMs?: number;
}

const DEFAULT_LEASE_MS = 60_000;

/** What a lock of ours holds. `start` and `pidns` tell a live holder from a reused pid. */
interface Holder {
  pid: number;
  /** The pid's start time, in clock ticks since boot (/proc/<pid>/stat, field 22). */
  start?: string;
  /** Our pid namespace (/proc/self/ns/pid), when our /proc shows it. */
  pidns?: string;
  host: string;
  /** /proc/sys/kernel/random/boot_id: namespace numbers repeat across boots and hosts (the first is always 4026531836). */
  boot?: string;
  created: string;
  /** Tells this lock from a later one that happens to reuse its inode number. */
  nonce: string;
}

/** A lock file as seen through one open descriptor: its content and identity belong together. */
interface Seen {
  ino: bigint;
  mtimeNs: bigint;
  ageMs: number;
  text: string;
}

const code = (error: unknown) => (error as NodeJS.ErrnoException).code;

let me: Promise<Holder> | undefined;

/** Who we are. When /proc belongs to another pid namespace (its pid for us is not ours), we leave pidns out. */
function self(): Promise<Holder> {
  me ??= (async () => {
    const stat = await procStat("self");
    const procIsOurs = stat?.pid === process.pid;
    return {
      pid: process.pid,
      start: stat?.start,
      pidns: procIsOurs ? await readlink("/proc/self/ns/pid").catch(() => undefined) : undefined,
      host: hostname(),
      boot: (await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim() || undefined,
      created: "",
      nonce: "",
    };
  })();
  return me;
}

function parseHolder(text: string): Holder | undefined {
  try {
    const h = JSON.parse(text) as Holder;
    return typeof h === "object" && h !== null && Number.isInteger(h.pid) && typeof h.host === "string" ? h : undefined;
  } catch {
    return undefined;
  }
}

async function isStale(seen: Seen, leaseMs: number): Promise<boolean> {
  const holder = parseHolder(seen.text);
  const us = await self();
  const sameNamespace = holder !== undefined && us.pidns !== undefined && holder.pidns === us.pidns && holder.host === us.host && holder.boot === us.boot;
  if (sameNamespace) {
    const start = await processStart(holder.pid);
    if (start === null || (start !== undefined && start !== holder.start)) return true;
    if (start !== undefined) return false;
  }
  return seen.ageMs > leaseMs;
}

async function inspect(path: string): Promise<Seen | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if (code(error) === "ENOENT") return undefined;
    throw error;
  }
  try {
    const st = await handle.stat({ bigint: true });
    const text = await handle.readFile("utf8");
    return { ino: st.ino, mtimeNs: st.mtimeNs, ageMs: Date.now() - Number(st.mtimeMs), text };
  } finally {
    await handle.close();
  }
}

/** Hard links are what make creation and takeover atomic; a few filesystems lack them. */
const noHardLinks = (error: unknown) => ["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"].includes(code(error) ?? "");

/** Creates the lock with its content in one step. Returns its inode, or undefined when it is held. */
async function tryCreate(path: string, content: string): Promise<bigint | undefined> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, content, { mode: 0o600, flag: "wx" });
  try {
    await link(temp, path);
    return (await stat(temp, { bigint: true })).ino;
  } catch (error) {
    if (code(error) === "EEXIST") return undefined;
    if (noHardLinks(error)) return createWithoutLink(path, content);
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

/** Without hard links: O_EXCL, then the content. Until it is written, others see an empty lock (leased). */
async function createWithoutLink(path: string, content: string): Promise<bigint | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, "wx", 0o600);
  } catch (error) {
    if (code(error) === "EEXIST") return undefined;
    throw error;
  }
  try {
    await handle.writeFile(content);
    return (await handle.stat({ bigint: true })).ino;
  } finally {
    await handle.close();
  }
}

/**
 * Takes over a stale lock as a compare-and-swap: only one taker can create the claim name for this
 * inode and mtime (link fails with EEXIST for the others), and the claim holder removes the lock only
 * if the claim is the very file judged stale. A fresh lock created meanwhile has another identity and
 * is left alone. Returns whether the stale lock is gone.
 *
 * Nobody but its holder may remove a claim that is still in use: between checking its claim and
 * removing the lock, the holder relies on nobody else removing that lock, and only a claim holder may.
 */
async function takeOver(path: string, seen: Seen): Promise<boolean> {
  const claim = `${path}.stale.${seen.ino}-${seen.mtimeNs}`;
  try {
    await link(path, claim);
  } catch (error) {
    if (code(error) === "ENOENT") return true;
    if (code(error) === "EEXIST") return removeSpentClaim(path, claim, seen);
    if (!noHardLinks(error)) throw error;
    // No hard links: compare, then remove. Not atomic; the best such a filesystem allows.
    const again = await inspect(path);
    if (again?.ino === seen.ino && again.mtimeNs === seen.mtimeNs) await rm(path, { force: true });
    return true;
  }
  try {
    const claimed = await inspect(claim);
    if (claimed?.ino === seen.ino && claimed.mtimeNs === seen.mtimeNs && claimed.text === seen.text) await rm(path, { force: true });
    return true;
  } finally {
    await rm(claim, { force: true });
  }
}

/** Far longer than the two system calls a claim covers: a claim this old lost its taker mid-way. */
const ABANDONED_CLAIM_MS = 5 * 60_000;

/**
 * Someone else holds the claim. Once the lock is no longer that inode (the claim keeps the inode
 * number from being reused), its holder has done its part and the claim is only litter. A claim whose
 * lock is still there is in use, unless it is so old that its taker died between its two steps.
 */
async function removeSpentClaim(path: string, claim: string, seen: Seen): Promise<false> {
  const [lock, claimed] = await Promise.all([stat(path, { bigint: true }).catch(() => undefined), lstat(claim).catch(() => undefined)]);
  // link() sets the inode's ctime: the claim's ctime is when it was made.
  if (claimed && (lock?.ino !== seen.ino || Date.now() - claimed.ctimeMs > ABANDONED_CLAIM_MS)) await rm(claim, { force: true });
  return false;
}

/** Removes the lock only if it is still ours (after a takeover by someone else, it is not). */
async function release(path: string, ino: bigint, content: string): Promise<void> {
  const seen = await inspect(path);
  if (seen?.ino === ino && seen.text === content) await rm(path, { force: true });
}

function whoHolds(seen: Seen | undefined): string {
  if (!seen) return "";
  if (seen.text.trim() === "") return " (an empty lock file, as kubectl and kind create)";
  const holder = parseHolder(seen.text);
  return holder ? ` (held by pid ${holder.pid} on ${holder.host} since ${holder.created})` : "";
}

export async function withLock<T>(path: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const deadline = Date.now() + options.timeoutMs;
  const content = JSON.stringify({ ...(await self()), created: new Date().toISOString(), nonce: randomBytes(8).toString("hex") });
  let delay = 10;
  let ours = await tryCreate(path, content);
  for (; ours === undefined; ours = await tryCreate(path, content)) {
    const seen = await inspect(path);
    if (!seen || ((await isStale(seen, leaseMs)) && (await takeOver(path, seen)))) continue;
    if (Date.now() > deadline) {
      throw new ZoneError({
        zone: "dev container",
        message: `timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for the lock on ${options.purpose} (${path})${whoHolds(seen)}`,
        fix: `another kind-cluster or kubectl process holds it; if none runs, delete ${path}`,
      });
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 250);
  }
  try {
    return await fn();
  } finally {
    await release(path, ours, content);
  }
}

/** Several locks, always taken in sorted order (as kubectl does) so that two writers cannot deadlock. */
export function withLocks<T>(paths: readonly string[], options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = [...paths].sort();
  return first === undefined ? fn() : withLock(first, options, () => withLocks(rest, options, fn));
}
