import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { KubeApi } from "../../src/apiserver.js";
import type { GitOpsEngine, GitOpsView } from "../../src/gitops/engine.js";
import { DEFAULT_SETTINGS } from "../../src/options.js";
import type { ClusterAction, UpContext } from "../../src/up/context.js";
import { gitopsStage } from "../../src/up/gitops.js";
import { up } from "../../src/up/index.js";
import { FakeGitOps, fakeEngines, recordingLogger, recordingStage } from "../support/fakes.js";

/**
 * The GitOps stage's wait for the workspace's commit while the loop is not live yet: the controllers
 * are starting, or a leader lease of a stopped controller is still held, so the engine has not acted
 * on `up`'s sync request, and the status it shows (the root unit Ready at the workspace's commit) is
 * left from before. What was applied counts only once the source has acted on the request (commit
 * 5cdf4c6: the guard had come to hold only while a start was being handled).
 *
 * The stage sleeps between looks (node:timers/promises): while it runs here, a sleep returns at once
 * and moves a clock of its own forward, which Date.now() reads, so the stage's bound (waitSeconds)
 * passes in no real time.
 */
const clock = vi.hoisted(() => ({ virtual: false, offset: 0, sleeps: [] as number[] }));
const COMMIT = vi.hoisted(() => "c0ffee".padEnd(40, "0"));
const OLDER = "0dd5".padEnd(40, "0");

vi.mock("node:timers/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:timers/promises")>();
  const setTimeout = (async (ms?: number, value?: unknown, options?: Parameters<typeof real.setTimeout>[2]) => {
    if (!clock.virtual) return real.setTimeout(ms, value, options);
    clock.sleeps.push(ms ?? 0);
    clock.offset += ms ?? 0;
    return value;
  }) as typeof real.setTimeout;
  return { ...real, setTimeout, default: { ...real, setTimeout } };
});

// The workspace's HEAD, without running git (the unit tier runs no process).
vi.mock("../../src/serve/head.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../src/serve/head.js")>()),
  readHead: async () => ({ commit: COMMIT, branch: "main" }),
}));

/** What `requestSync` returns, and an earlier request the source acted on before this `up`. */
const REQUEST = "5";
const EARLIER_REQUEST = "4";

/** One look at the engine, as the script gives it (the rest of the view is the fake's). */
type Look = Pick<GitOpsView, "source" | "sync">;

const starting: Look = {};
/** The controllers restarted; the root unit's status is the one left from before the nodes stopped. */
const staleNotReady: Look = {
  source: { ready: false, reason: "Starting" },
  sync: { ready: true, applied: COMMIT, attempted: COMMIT, progressing: false },
};
/** The source is Ready but has acted only on an earlier request (its leader lease is held by a dead process). */
const staleEarlierRequest: Look = {
  source: { ready: true, handled: EARLIER_REQUEST, revision: COMMIT },
  sync: { ready: true, applied: COMMIT, attempted: COMMIT, progressing: false },
};
/** Live: it acted on our request, and applied an older commit so far. */
const liveOlder: Look = {
  source: { ready: true, handled: REQUEST, revision: COMMIT },
  sync: { ready: true, applied: OLDER, attempted: OLDER, progressing: true },
};
const liveApplied: Look = {
  source: { ready: true, handled: REQUEST, revision: COMMIT },
  sync: { ready: true, applied: COMMIT, attempted: COMMIT, progressing: false },
};

const isLive = (look: Look) => look.source?.handled !== undefined && look.source.handled >= REQUEST;

// FakeGitOps as the interface types it: its own methods' inferred types are narrower than what an engine may return.
const TypedFakeGitOps: new (commit: () => string) => GitOpsEngine = FakeGitOps;

/**
 * A GitOps engine whose looks after `up`'s sync request follow a script (its last look repeats); the
 * look before the request (the branch the cluster follows) is the fake's. It records each look,
 * whether what it applied was read, when the stage caught up, and each lease release.
 */
class ScriptedGitOps extends TypedFakeGitOps {
  readonly looks: Array<{ live: boolean; appliedRead: boolean }> = [];
  /** The number of looks taken when each catchUp came. */
  readonly caughtUpAt: number[] = [];
  releases = 0;
  private requested = false;

  constructor(private readonly script: readonly Look[]) {
    super(() => COMMIT);
  }

  override async requestSync() {
    this.requested = true;
    return REQUEST;
  }

  override async observe(api: KubeApi) {
    const base = await super.observe(api);
    if (!this.requested) return base;
    const step = this.script[Math.min(this.looks.length, this.script.length - 1)]!;
    const look = { live: isLive(step), appliedRead: false };
    this.looks.push(look);
    const sync = step.sync && { ...step.sync };
    if (sync)
      Object.defineProperty(sync, "applied", {
        enumerable: true,
        get: () => {
          look.appliedRead = true;
          return step.sync?.applied;
        },
      });
    return { ...base, source: step.source && { ...step.source }, sync };
  }

  override async catchUp() {
    this.caughtUpAt.push(this.looks.length);
    return [];
  }

  override async afterNodesStarted() {
    this.releases++;
    return ["flux-system/source-controller-leader-election"];
  }
}

let engines: ReturnType<typeof fakeEngines>;
let kubeconfig = "";

beforeEach(async () => {
  engines = fakeEngines();
  kubeconfig = join(await mkdtemp(join(tmpdir(), "kc-gitops-wait-")), "config");
  Object.assign(clock, { virtual: false, offset: 0, sleeps: [] });
});
afterEach(() => {
  clock.virtual = false;
  vi.restoreAllMocks();
});

/**
 * Runs the GitOps stage against a cluster `up` made (its other stages as usual), as after `action`,
 * with `engine` and a bound of `waitSeconds` on the stage's own clock; returns what the stage said.
 */
async function runGitOpsStage(engine: ScriptedGitOps, action: ClusterAction, waitSeconds: number) {
  const settings = { ...DEFAULT_SETTINGS, clusterName: "demo" };
  const made = await up({ ...engines, settings, workspace: "/nonexistent", kubeconfig, logger: recordingLogger(), dockerWaitMs: 0 });
  const ctx: UpContext = {
    ...made,
    settings: { ...settings, gitops: "flux", waitSeconds },
    gitops: () => engine,
    cluster: { ...made.cluster!, action },
  };
  const { status, lines } = recordingStage();
  const now = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => now() + clock.offset);
  clock.virtual = true;
  try {
    await gitopsStage.run(ctx, status);
  } finally {
    clock.virtual = false;
  }
  return lines;
}

describe("up's GitOps stage, waiting for the workspace's commit", () => {
  it.each<ClusterAction>(["created", "adopted", "started"])(
    "looks again until the loop is live (cluster %s), and reads what was applied only then",
    async (action) => {
      // Three looks before the loop is live, each but the first showing the workspace's commit applied
      // (from before); then live at an older commit; then at the workspace's.
      const engine = new ScriptedGitOps([starting, staleNotReady, staleEarlierRequest, liveOlder, liveApplied]);
      const lines = await runGitOpsStage(engine, action, 60);

      expect(lines.find((l) => l.startsWith("note "))).toBe(`note installed fake, main@${COMMIT.slice(0, 7)} applied`);
      expect(lines.filter((l) => l.startsWith("warn "))).toEqual([]);
      // Looked 5 times until applied (and once more for the view the stage reports), 500 ms apart.
      expect(engine.looks.map((l) => l.live)).toEqual([false, false, false, true, true, true]);
      expect(clock.sleeps).toEqual([500, 500, 500, 500]);
      // Acted on the commit once, at the first live look that showed it applied; never on a stale look.
      expect(engine.caughtUpAt).toEqual([5]);
      expect(engine.looks.slice(0, 3).map((l) => l.appliedRead)).toEqual([false, false, false]);
      expect(engine.looks[4]!.appliedRead).toBe(true);
      // After a start, every look at a loop that is not live yet releases the stopped controllers' leases.
      expect(engine.releases).toBe(action === "started" ? 3 : 0);
      if (action === "started")
        expect(lines).toContain("detail released the leader leases of stopped controllers: flux-system/source-controller-leader-election");
    },
  );

  it.each<ClusterAction>(["created", "started"])(
    "does not report the commit applied while the loop is not live, however long it shows it applied from before (cluster %s)",
    async (action) => {
      const engine = new ScriptedGitOps([staleNotReady, staleEarlierRequest]);
      const lines = await runGitOpsStage(engine, action, 3);

      expect(lines.find((l) => l.startsWith("note "))).toBe(`note installed fake, main@${COMMIT.slice(0, 7)} not applied yet`);
      expect(lines).toContain(
        `warn ${DEFAULT_SETTINGS.gitopsPath} at ${COMMIT.slice(0, 7)}: the source controller has not acted on the request yet (starting, or waiting for its leader lease); \`kind-cluster status\` shows the GitOps hop`,
      );
      // Looked every 500 ms for the whole bound of 3 s, never live, and never took what it showed as applied.
      expect(engine.looks.length).toBeGreaterThanOrEqual(6);
      expect(engine.looks.every((l) => !l.live && !l.appliedRead)).toBe(true);
      expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3000);
      expect(engine.caughtUpAt).toEqual([]);
    },
  );
});
