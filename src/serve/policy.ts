/**
 * The supervisor's decisions, pure: which instances to start and stop, and how long a crashing one
 * waits before its next start. supervisor.ts carries them out.
 */

/** An instance `up` asked for: its configuration file, as the runtime folder holds it. */
export interface Wanted {
  id: string;
  configHash: string;
}

/** A live service process, started by this supervisor (a child) or found running (adopted). */
export interface Live {
  id: string;
  pid: number;
  configHash: string;
  startedAt: number;
}

export interface Exit {
  at: number;
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
  uptimeMs: number;
}

/** What the supervisor remembers of an instance: how often it was restarted, why it last ended, when it may start. */
export interface Record {
  restarts: number;
  /** Exits in a row that came before the instance had run STABLE_MS. */
  failures: number;
  lastExit?: Exit;
  nextStartAt: number;
}

/** An instance that ran this long before it ended was healthy: its next start is at once. */
export const STABLE_MS = 30_000;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
/** This many quick exits in a row: the instance is failing (still retried, at the longest delay). */
const FAILING_AFTER = 3;

/** The wait before the next start after `failures` quick exits in a row: 0.5 s, doubling, at most 30 s. */
export function backoffMs(failures: number): number {
  return failures <= 0 ? 0 : Math.min(FIRST_DELAY_MS * 2 ** (failures - 1), MAX_DELAY_MS);
}

export function recordExit(before: Record | undefined, exit: Exit): Record {
  const failures = exit.uptimeMs >= STABLE_MS ? 0 : (before?.failures ?? 0) + 1;
  return { restarts: (before?.restarts ?? 0) + 1, failures, lastExit: exit, nextStartAt: exit.at + (failures === 0 ? FIRST_DELAY_MS : backoffMs(failures)) };
}

export function failing(record: Record | undefined): boolean {
  return (record?.failures ?? 0) >= FAILING_AFTER;
}

/** Why an instance ended, in words. */
export function describeExit(exit: Exit): string {
  const how = exit.signal
    ? `killed by ${exit.signal}`
    : exit.code === null
      ? "ended (not a child of this supervisor: its exit status is unknown)"
      : `exited with code ${exit.code}`;
  return `${how} after ${(exit.uptimeMs / 1000).toFixed(1)}s`;
}

/**
 * What to do now: stop every live process that is no longer wanted or runs another configuration,
 * and start every wanted instance that has no live process and whose wait is over.
 */
export function plan<W extends Wanted>(
  wanted: readonly W[],
  live: readonly Live[],
  records: ReadonlyMap<string, Record>,
  now: number,
): { stop: Live[]; start: W[] } {
  const byId = new Map(wanted.map((w) => [w.id, w]));
  const stop = live.filter((l) => byId.get(l.id)?.configHash !== l.configHash);
  const running = new Set(live.filter((l) => !stop.includes(l)).map((l) => l.id));
  const start = wanted.filter((w) => !running.has(w.id) && !live.some((l) => l.id === w.id) && (records.get(w.id)?.nextStartAt ?? 0) <= now);
  return { stop, start };
}
