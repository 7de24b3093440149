import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHead, watchHead, type Head } from "../../src/serve/head.js";
import { git } from "../support/git.js";

/** HEAD read and watched on real repositories, through the changes a developer makes. */

const sha = (cwd: string, rev = "HEAD") => git(cwd, ["rev-parse", rev]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let counter = 0;
async function commit(cwd: string, ...extra: string[]) {
  await writeFile(join(cwd, "file.txt"), `change ${++counter}\n`);
  await git(cwd, ["add", "file.txt"]);
  await git(cwd, ["commit", "-q", "-m", `change ${counter}`, ...extra]);
}

/** Collects onChange calls with their time. */
function recorder() {
  const events: { head: Head; at: number }[] = [];
  return {
    events,
    onChange: (head: Head) => events.push({ head, at: performance.now() }),
    /** Waits for the n-th event (1-based) and returns it. */
    async nth(n: number, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      while (events.length < n && performance.now() < deadline) await sleep(2);
      expect(events.length, `event #${n} did not come within ${timeoutMs} ms`).toBeGreaterThanOrEqual(n);
      return events[n - 1]!;
    },
  };
}

let tmp: string;
let repo: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "serve-head-"));
  repo = join(tmp, "workspace");
  await mkdir(join(repo, "sub"), { recursive: true });
  await git(repo, ["init", "-q", "-b", "main"]);
  await commit(repo);
  await commit(repo);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("readHead", () => {
  it("reads the commit and branch, from any folder of the work tree", async () => {
    expect(await readHead(repo)).toEqual({ commit: await sha(repo), branch: "main" });
    expect(await readHead(join(repo, "sub"))).toEqual({ commit: await sha(repo), branch: "main" });
  });

  it("leaves the branch undefined when HEAD is detached", async () => {
    const detached = join(tmp, "detached");
    await git(tmp, ["clone", "-q", repo, detached]);
    await git(detached, ["checkout", "-q", "--detach", "HEAD~1"]);
    const head = await readHead(detached);
    expect(head).toEqual({ commit: await sha(repo, "HEAD~1") });
    expect(head.branch).toBeUndefined();
  });

  it("fails clearly outside a repository", async () => {
    await expect(readHead(tmpdir())).rejects.toThrow(/cannot read HEAD/);
  });
});

describe("watchHead", () => {
  it("reports each change of HEAD once, with the right commit and branch", async () => {
    const rec = recorder();
    const watcher = watchHead(repo, rec.onChange, { intervalMs: 100 });
    try {
      expect(await watcher.ready).toEqual({ commit: await sha(repo), branch: "main" });
      let n = 0;
      const expectNext = async (what: string, expected: Head) => {
        const event = await rec.nth(++n);
        expect(event.head, what).toEqual(expected);
      };

      await commit(repo);
      await expectNext("commit", { commit: await sha(repo), branch: "main" });

      await commit(repo, "--amend");
      await expectNext("amend", { commit: await sha(repo), branch: "main" });

      await git(repo, ["reset", "-q", "--hard", "HEAD~1"]);
      await expectNext("reset", { commit: await sha(repo), branch: "main" });

      // Another branch at the same commit: only the branch differs, and that is a change.
      await git(repo, ["checkout", "-q", "-b", "topic"]);
      await expectNext("checkout -b", { commit: await sha(repo), branch: "topic" });

      await commit(repo);
      await expectNext("commit on topic", { commit: await sha(repo), branch: "topic" });
      const topic = await sha(repo);

      await git(repo, ["checkout", "-q", "main"]);
      await expectNext("checkout main", { commit: await sha(repo), branch: "main" });

      await git(repo, ["merge", "-q", "--ff-only", "topic"]);
      await expectNext("fast-forward merge", { commit: topic, branch: "main" });

      await git(repo, ["checkout", "-q", "topic"]);
      await expectNext("checkout topic", { commit: topic, branch: "topic" });
      await commit(repo);
      await expectNext("another commit on topic", { commit: await sha(repo), branch: "topic" });
      await git(repo, ["checkout", "-q", "main"]);
      await expectNext("checkout main again", { commit: topic, branch: "main" });
      await git(repo, ["merge", "-q", "--no-edit", "--no-ff", "topic"]);
      await expectNext("merge commit", { commit: await sha(repo), branch: "main" });

      // Packing moves every ref into packed-refs: HEAD's commit is unchanged, so nothing is reported...
      await git(repo, ["pack-refs", "--all"]);
      await sleep(400);
      expect(rec.events.length, "pack-refs alone is no change").toBe(n);
      // ...and a change to a branch that lives only in packed-refs is seen.
      await git(repo, ["checkout", "-q", "topic"]);
      await expectNext("checkout of a packed branch", { commit: await sha(repo), branch: "topic" });
      await git(repo, ["pack-refs", "--all"]);
      await git(repo, ["update-ref", "refs/heads/topic", "HEAD~1"]);
      await expectNext("update-ref after pack-refs", { commit: await sha(repo), branch: "topic" });
      await commit(repo);
      await expectNext("commit after pack-refs", { commit: await sha(repo), branch: "topic" });

      // Work that is not committed is not a change of HEAD.
      await writeFile(join(repo, "file.txt"), "uncommitted\n");
      await writeFile(join(repo, "new.txt"), "untracked\n");
      await git(repo, ["add", "file.txt"]);
      await git(repo, ["status", "--short"]);
      await sleep(400);
      expect(rec.events.length, "an uncommitted edit is no change").toBe(n);
      await git(repo, ["reset", "-q", "--hard"]);

      await git(repo, ["checkout", "-q", "--detach", "HEAD~1"]);
      await expectNext("detached", { commit: await sha(repo) });
      expect(rec.events[n - 1]!.head.branch).toBeUndefined();
      await git(repo, ["checkout", "-q", "main"]);
      await expectNext("back on main", { commit: await sha(repo), branch: "main" });

      await sleep(400);
      expect(rec.events.length, "each change reported once").toBe(n);
    } finally {
      watcher.stop();
    }
  });

  it("follows a linked worktree's own HEAD", async () => {
    const linked = join(tmp, "linked");
    await git(repo, ["worktree", "add", "-q", "-b", "wt", linked]);
    const rec = recorder();
    const watcher = watchHead(linked, rec.onChange, { intervalMs: 100 });
    try {
      expect(await watcher.ready).toEqual({ commit: await sha(linked), branch: "wt" });
      await commit(repo); // the main work tree's branch: not this worktree's HEAD
      await sleep(400);
      expect(rec.events).toEqual([]);
      await commit(linked);
      expect((await rec.nth(1)).head).toEqual({ commit: await sha(linked), branch: "wt" });
    } finally {
      watcher.stop();
    }
  });

  it("spawns no git while nothing changes", async () => {
    // A `git` first on PATH that counts its calls, then runs the real one.
    const bin = join(tmp, "bin");
    const calls = join(tmp, "git-calls");
    await mkdir(bin, { recursive: true });
    const real = (await execa("sh", ["-c", "command -v git"])).stdout.trim();
    await writeFile(join(bin, "git"), `#!/bin/sh\necho "$*" >> '${calls}'\nexec '${real}' "$@"\n`);
    await chmod(join(bin, "git"), 0o755);
    await writeFile(calls, "");
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    const count = async () => (await execa("wc", ["-l", calls])).stdout.trim().split(" ")[0];
    const rec = recorder();
    const watcher = watchHead(repo, rec.onChange, { intervalMs: 50 });
    try {
      await watcher.ready;
      const atStart = await count();
      expect(Number(atStart)).toBeGreaterThan(0); // the wrapper is the one in use
      await sleep(1000); // 20 ticks
      expect(await count()).toBe(atStart);
    } finally {
      watcher.stop();
      process.env.PATH = path;
    }
  });

  it("sees a commit at once where the kernel reports file changes, long before the next poll", async () => {
    const rec = recorder();
    const watcher = watchHead(repo, rec.onChange, { intervalMs: 60_000 });
    try {
      await watcher.ready;
      for (let i = 1; i <= 3; i++) {
        await commit(repo);
        const event = await rec.nth(i, 2000);
        expect(event.head).toEqual({ commit: await sha(repo), branch: "main" });
      }
    } finally {
      watcher.stop();
    }
  });

  it("sees a commit by the poll alone where inotify reports nothing (Docker Desktop's file sharing)", async () => {
    const rec = recorder();
    const watcher = watchHead(repo, rec.onChange, { intervalMs: 300, inotify: false });
    try {
      await watcher.ready;
      await commit(repo);
      const done = performance.now();
      const event = await rec.nth(1, 2000);
      expect(event.head).toEqual({ commit: await sha(repo), branch: "main" });
      // Found by a tick: within one interval and a git run.
      expect(event.at - done).toBeLessThan(1000);
    } finally {
      watcher.stop();
    }
  });

  it("works through a bind mount of the repository", async (ctx) => {
    const mounted = join(tmp, "mounted");
    await mkdir(mounted);
    const bound = await execa("mount", ["--bind", repo, mounted], { reject: false });
    if (bound.exitCode !== 0) {
      console.log(`bind mount check skipped: ${bound.stderr.trim()}`);
      return ctx.skip();
    }
    const rec = recorder();
    const watcher = watchHead(mounted, rec.onChange, { intervalMs: 100 });
    try {
      await watcher.ready;
      await commit(repo); // written through the original path
      expect((await rec.nth(1)).head).toEqual({ commit: await sha(repo), branch: "main" });
    } finally {
      watcher.stop();
      // The watcher's inotify watches pin the mount until the event loop has closed them.
      await sleep(100);
      await execa("umount", [mounted], { reject: false });
    }
  });

  it("reports a commit within about the poll interval (default 300 ms): median over 20 commits", async () => {
    const rec = recorder();
    const watcher = watchHead(repo, rec.onChange);
    try {
      await watcher.ready;
      const latencies: number[] = [];
      for (let i = 1; i <= 20; i++) {
        await commit(repo);
        const done = performance.now();
        const event = await rec.nth(i);
        expect(event.head).toEqual({ commit: await sha(repo), branch: "main" });
        latencies.push(event.at - done);
        await sleep(Math.random() * 300); // commits land at random points of the poll cycle
      }
      await sleep(400);
      expect(rec.events.length).toBe(20);
      latencies.sort((a, b) => a - b);
      const median = (latencies[9]! + latencies[10]!) / 2;
      console.log(
        `watchHead latency over 20 commits (interval 300 ms): median ${median.toFixed(0)} ms, min ${latencies[0]!.toFixed(0)} ms, max ${latencies[19]!.toFixed(0)} ms`,
      );
      expect(median).toBeLessThan(400);
      expect(latencies[19]!).toBeLessThan(1000);
    } finally {
      watcher.stop();
    }
  });
});
