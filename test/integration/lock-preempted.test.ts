import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { withLock } from "../../src/lock.js";

/**
 * The stale-lock takeover with one taker preempted at the worst moment, every time: the first removal
 * of the lock file is held back 100 ms, as a taker descheduled on a busy CPU between judging the lock
 * stale and removing it would be. A takeover that is not a compare-and-swap then removes a lock that
 * another taker has taken meanwhile, and two hold it at once (the racing-process test in lock.test.ts
 * catches that only in some runs; this one forces it).
 */
const slowed = vi.hoisted(() => ({ path: "", held: false }));

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const rm: typeof real.rm = async (path, options) => {
    if (path === slowed.path && !slowed.held) {
      slowed.held = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return real.rm(path, options);
  };
  return { ...real, rm, default: { ...real, rm } };
});

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lock-preempted-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("stale-lock takeover, a taker preempted before its removal", () => {
  it("never lets two of 4 takers hold the lock at once", async () => {
    const path = join(dir, "config.lock");
    // A lock nobody can vouch for (not our format), older than the lease: stale for everyone.
    await writeFile(path, "999999");
    slowed.path = path;
    let inside = 0;
    const overlaps: number[] = [];
    await Promise.all(
      [0, 1, 2, 3].map((taker) =>
        withLock(path, { timeoutMs: 20_000, leaseMs: 0, purpose: "the test" }, async () => {
          if (++inside > 1) overlaps.push(taker);
          await new Promise((resolve) => setTimeout(resolve, 150));
          inside--;
        }),
      ),
    );
    expect(slowed.held).toBe(true); // the preemption did happen
    expect(overlaps).toEqual([]);
    expect(await readdir(dir)).toEqual([]); // no lock, claim or temporary file left behind
  }, 30_000);
});
