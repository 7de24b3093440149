import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { exportEntry } from "../../src/kubeconfig/index.js";
import { withLock } from "../../src/lock.js";
import { bundleScripts, lineFrom } from "../support/kubeconfig-scripts.js";

/** The lock across processes and pid namespaces: stale takeover is atomic, live holders are respected. */
let dir = "";
let writer = "";
let holder = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lock-it-"));
  ({ writer, holder } = await bundleScripts(dir));
});

afterAll(async () => rm(dir, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
};

/** Takes the lock in this process; resolves with when it got it. */
async function acquire(path: string, leaseMs: number, timeoutMs = 20_000): Promise<number> {
  return withLock(path, { timeoutMs, leaseMs, purpose: "the test" }, async () => Date.now());
}

describe("lock", () => {
  it("lets exactly one of 4 writers take over a dead process's lock: 20 rounds, no entry lost", async () => {
    const many = await readFile("test/fixtures/kubeconfig-many.yaml", "utf8");
    const lost: string[] = [];
    for (let round = 0; round < 20; round++) {
      const path = join(dir, `race-${round}`);
      await writeFile(path, many, { mode: 0o600 });
      // A real holder, killed while it holds the lock: its lock stays behind, its pid is dead.
      const dead = execa("node", [holder, `${path}.lock`]);
      await lineFrom(dead, /^held /);
      dead.kill("SIGKILL");
      await dead.catch(() => undefined);
      // All four reach the stale lock within a fraction of a millisecond, spaced 0-300 µs apart (more
      // each round), on a busy CPU (hooks run while a container starts): a taker preempted between
      // judging the lock stale and removing it is how a lock just created by another gets removed.
      const start = Date.now() + 400;
      const step = (round % 7) * 0.05;
      const writers = [0, 1, 2, 3].map((w) =>
        execa("node", [writer, path, `r${round}w${w}`, "2"], { env: { START_AT: String(start + w * step) }, reject: false }),
      );
      const busy = [0, 1, 2].map(() => execa("node", ["-e", `const end = ${start} + 600; while (Date.now() < end);`]));
      const results = await Promise.all(writers);
      await Promise.all(busy);
      expect(results.map((r) => r.exitCode)).toEqual([0, 0, 0, 0]);
      const clusters = (parse(await readFile(path, "utf8")).clusters as { name: string }[]).map((c) => c.name);
      for (let w = 0; w < 4; w++) for (let i = 0; i < 2; i++) if (!clusters.includes(`r${round}w${w}-${i}`)) lost.push(`round ${round}: r${round}w${w}-${i}`);
    }
    const rounds = new Set(lost.map((l) => l.split(":")[0])).size;
    console.log(`stale-lock race: 20 rounds x 4 writers, ${lost.length} entries lost in ${rounds} rounds (every writer reported success)`);
    expect(lost).toEqual([]);
    expect((await readdir(dir)).filter((f) => f.includes(".lock") || f.includes(".tmp"))).toEqual([]);
  }, 120_000);

  it("never has two holders at once when 8 takers in one process race for a stale lock: 150 rounds", async () => {
    // In one process the takers interleave at every await, far more finely than processes do.
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let overlaps = 0;
    for (let round = 0; round < 150; round++) {
      const path = join(dir, `in-process-${round}.lock`);
      await writeFile(path, "999999"); // not ours to read: stale once older than the lease (0 here)
      let inside = 0;
      await Promise.all(
        Array.from({ length: 8 }, async (_, taker) => {
          for (let i = 0; i < taker; i++) await new Promise((resolve) => setImmediate(resolve));
          await withLock(path, { timeoutMs: 10_000, leaseMs: 0, purpose: "the test" }, async () => {
            if (++inside > 1) overlaps++;
            await sleep(1);
            inside--;
          });
        }),
      );
    }
    expect(overlaps).toBe(0);
    expect((await readdir(dir)).filter((f) => f.startsWith("in-process-"))).toEqual([]); // no lock, claim or temp file left
  }, 60_000);

  it("respects a live holder in another pid namespace whose pid is dead here, until it releases", async () => {
    const path = join(dir, "live-elsewhere.lock");
    // Give the holder an in-namespace pid that no process has in ours: fork until it is next.
    let target = 2;
    while (alive(target)) target++;
    const script = `i=2; while [ $i -lt ${target} ]; do /bin/true; i=$((i+1)); done; node ${holder} ${path} 3000; true`;
    const other = execa("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script]);
    const held = await lineFrom(other, /^held /);
    const pid = Number(held.split(" ")[1]);
    expect(alive(pid)).toBe(false); // that pid means nothing here

    const acquired = await acquire(path, 15_000);
    const released = Number((await lineFrom(other, /^released /)).split(" ")[1]);
    await other;
    expect(acquired).toBeGreaterThanOrEqual(released);
  }, 30_000);

  it("takes over a dead holder's lock from another pid namespace (its pid alive here) once the lease ends", async () => {
    const path = join(dir, "dead-elsewhere.lock");
    const other = execa("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", "node", holder, path]);
    const held = await lineFrom(other, /^held /);
    expect(held).toBe("held 1"); // pid 1 here is our init: alive, but not the holder
    const started = Date.now();
    other.kill("SIGKILL"); // --kill-child: the holder dies with unshare
    await other.catch(() => undefined);
    const acquired = await acquire(path, 1_500, 10_000);
    expect(acquired - started).toBeGreaterThanOrEqual(1_000);
  }, 30_000);

  it("takes over an empty lock (kubectl's, kind's) older than the lease, and waits for a young one", async () => {
    const config = join(dir, "kubectl-style");
    await writeFile(`${config}.lock`, "");
    const old = new Date(Date.now() - 120_000);
    await utimes(`${config}.lock`, old, old);
    const started = Date.now();
    await exportEntry(config, {
      name: "kind-x",
      server: "https://x:6443",
      credentials: { certificateAuthorityData: "Q0E=", clientCertificateData: "Q0VSVA==", clientKeyData: "S0VZ" },
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(parse(await readFile(config, "utf8"))["current-context"]).toBe("kind-x");

    const young = join(dir, "young.lock");
    await writeFile(young, "");
    const created = Date.now();
    expect((await acquire(young, 1_500)) - created).toBeGreaterThanOrEqual(1_000);
  }, 45_000);

  it("releases only its own lock: after a takeover, the new holder's lock stays", async () => {
    const path = join(dir, "taken.lock");
    await withLock(path, { timeoutMs: 1_000, purpose: "the test" }, async () => {
      await rm(path); // someone judged us stale and took over...
      await writeFile(path, "theirs"); // ...and now holds it
    });
    expect(await readFile(path, "utf8")).toBe("theirs");
    await rm(path);
  });
});
