import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { ZoneError } from "../errors.js";
import { processStart } from "../pids.js";
import type { ContainerDetails, ContainerEngine } from "./engine.js";

/**
 * A lock across every dev container of one Docker host: a container named after what it guards, created
 * and never started. The engine refuses a second container of that name, so creating it is an atomic
 * claim. Its labels say who holds it; a lock whose holder container is gone or stopped, or whose lease
 * ran out (a holder killed mid-way), is reclaimed by removing it by id, so only one waiter can reclaim it.
 */
const LABEL = "io.kind-cluster.lock";

export interface HostLockOptions {
  /** What it guards, e.g. "cluster kind" (the container is named kind-cluster-lock-<key>). */
  key: string;
  purpose: string;
  /** How long the holder may keep it; a lock older than this is stale. */
  leaseMs: number;
  /** How long to wait for another holder. */
  timeoutMs: number;
  /** Called once when we start waiting for another holder. */
  onWait?: (holder: string) => void;
  /** Called when a stale lock is removed, with why it was stale. */
  onReclaim?: (why: string) => void;
}

/** Who takes the lock: this dev container (if it is one) and the image it runs, for the claim container. */
export interface LockTaker {
  container?: string;
  image?: string;
}

interface Holder {
  container: string;
  pid: number;
  host: string;
  until: number;
}

function holderOf(lock: ContainerDetails): Holder {
  const l = lock.labels;
  return { container: l[`${LABEL}.holder`] ?? "", pid: Number(l[`${LABEL}.pid`]), host: l[`${LABEL}.host`] ?? "", until: Number(l[`${LABEL}.until`]) };
}

/** Why a lock is stale, or undefined while its holder may still be working. */
async function staleness(engine: ContainerEngine, holder: Holder, self: string | undefined, now: number): Promise<string | undefined> {
  if (!(holder.until > now)) return "its lease ran out";
  if (holder.container) {
    const [container] = await engine.inspect([holder.container]);
    if (!container) return `its holder container ${holder.container.slice(0, 12)} is gone`;
    if (!container.running) return `its holder container ${container.name} is stopped`;
    if (holder.container === self && (await processStart(holder.pid)) === null) return `its holder process ${holder.pid} in this container is gone`;
  } else if (holder.host === hostname() && (await processStart(holder.pid)) === null) {
    return `its holder process ${holder.pid} is gone`;
  }
  return undefined;
}

/** One claim: taken (the claim container's id), or held by a live holder (who); a stale lock is removed first. */
async function claimOnce(
  engine: ContainerEngine,
  taker: LockTaker,
  image: string,
  options: Pick<HostLockOptions, "key" | "leaseMs" | "onReclaim">,
): Promise<{ id: string } | { holder: string } | undefined> {
  const name = lockName(options.key);
  const now = Date.now();
  const labels = {
    [LABEL]: options.key,
    [`${LABEL}.holder`]: taker.container ?? "",
    [`${LABEL}.pid`]: String(process.pid),
    [`${LABEL}.host`]: hostname(),
    [`${LABEL}.until`]: String(now + options.leaseMs),
  };
  const claim = await engine.create({ name, image, labels, command: ["true"], network: "none" });
  if (claim.id) return { id: claim.id };
  const [lock] = await engine.inspect([name]);
  if (!lock) return undefined; // released meanwhile: try again
  const holder = holderOf(lock);
  const stale = await staleness(engine, holder, taker.container, now);
  if (!stale) return { holder: holder.container ? `container ${holder.container.slice(0, 12)}` : `process ${holder.pid} on ${holder.host}` };
  await engine.remove(lock.id);
  options.onReclaim?.(`${name}: ${stale}`);
  return undefined;
}

const lockName = (key: string) => `kind-cluster-lock-${key}`;

async function holding<T>(engine: ContainerEngine, id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await engine.remove(id);
  }
}

export async function withHostLock<T>(engine: ContainerEngine, taker: LockTaker, options: HostLockOptions, fn: () => Promise<T>): Promise<T> {
  const image = taker.image || (await engine.anyImage());
  if (!image) return fn(); // An empty Docker host: nothing else can be creating anything.
  const deadline = Date.now() + options.timeoutMs;
  let waiting = false;
  for (;;) {
    const claim = await claimOnce(engine, taker, image, options);
    if (claim && "id" in claim) return holding(engine, claim.id, fn);
    if (claim && !waiting) {
      waiting = true;
      options.onWait?.(claim.holder);
    }
    if (Date.now() > deadline)
      throw new ZoneError({
        zone: "docker host",
        message: `timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for another dev container that holds ${options.purpose} (lock container ${lockName(options.key)})`,
        fix: `if no other dev container is starting this cluster, remove the lock: \`docker rm ${lockName(options.key)}\``,
      });
    if (claim) await sleep(1000);
  }
}

/**
 * The lock if nobody holds it, without waiting: runs `fn` under it, or says who holds it (a stale lock
 * is reclaimed and taken). For choosing among many things, each with its own lock (the ports).
 */
export async function tryHostLock<T>(
  engine: ContainerEngine,
  taker: LockTaker,
  options: Pick<HostLockOptions, "key" | "leaseMs" | "onReclaim">,
  fn: () => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false; holder: string }> {
  const image = taker.image || (await engine.anyImage());
  if (!image) return { ran: true, value: await fn() };
  for (let tries = 0; ; tries++) {
    const claim = await claimOnce(engine, taker, image, options);
    if (claim && "id" in claim) return { ran: true, value: await holding(engine, claim.id, fn) };
    if (claim || tries >= 3) return { ran: false, holder: claim?.holder ?? "another dev container" };
  }
}
