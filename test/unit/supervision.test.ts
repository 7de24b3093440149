import { describe, expect, it } from "vitest";
import { backoffMs, describeExit, failing, plan, recordExit, STABLE_MS } from "../../src/serve/policy.js";
import { logText } from "../../src/serve/log-text.js";
import { untrusted } from "../../src/serve/runtime.js";

describe("the supervisor's policy", () => {
  const exit = (at: number, uptimeMs: number, code: number | null = 1, signal: string | null = null) => ({ at, code, signal, uptimeMs });

  it("backs off a service that keeps dying quickly (0.5 s, doubling, at most 30 s), and calls it failing after three in a row", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoffMs)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    let record = recordExit(undefined, exit(1000, 200));
    expect(record).toMatchObject({ restarts: 1, failures: 1, nextStartAt: 1500 });
    expect(failing(record)).toBe(false);
    record = recordExit(record, exit(2000, 100));
    record = recordExit(record, exit(5000, 100));
    expect(record).toMatchObject({ restarts: 3, failures: 3, nextStartAt: 7000 });
    expect(failing(record)).toBe(true);
  });

  it("restarts at once a service that had run a while before it died, and forgets its earlier failures", () => {
    const flaky = recordExit(recordExit(undefined, exit(0, 10)), exit(1000, 10));
    const record = recordExit(flaky, exit(100_000, STABLE_MS + 1, null, "SIGKILL"));
    expect(record).toMatchObject({ restarts: 3, failures: 0, nextStartAt: 100_500 });
    expect(describeExit(record.lastExit!)).toBe("killed by SIGKILL after 30.0s");
    expect(describeExit({ at: 0, code: null, signal: null, uptimeMs: 2000 })).toMatch(/^ended \(not a child/);
  });

  it("starts what is wanted and not running once its wait is over; stops what is no longer wanted or runs another configuration", () => {
    const wanted = [
      { id: "a", configHash: "1" },
      { id: "b", configHash: "2" },
      { id: "c", configHash: "3" },
    ];
    const live = [
      { id: "a", pid: 10, configHash: "1", startedAt: 0 },
      { id: "b", pid: 11, configHash: "old", startedAt: 0 },
      { id: "gone", pid: 12, configHash: "x", startedAt: 0 },
    ];
    const waiting = new Map([["c", { restarts: 1, failures: 1, nextStartAt: 2000 }]]);
    expect(plan(wanted, live, waiting, 1000)).toEqual({ stop: [live[1], live[2]], start: [] });
    // b starts on a later tick, once its old process is gone; c once its wait is over.
    expect(plan(wanted, [live[0]!], waiting, 2000).start.map((w) => w.id)).toEqual(["b", "c"]);
  });
});

describe("the runtime folder and the logs", () => {
  const dir = { isDirectory: true, isSymbolicLink: false, uid: 1000, mode: 0o40700 };

  it("trusts only a real folder of our own that nobody else may enter", () => {
    expect(untrusted(dir, 1000)).toBeUndefined();
    expect(untrusted({ ...dir, uid: 1001 }, 1000)).toBe("it belongs to uid 1001, not to uid 1000");
    expect(untrusted({ ...dir, mode: 0o40777 }, 1000)).toBe("its mode 777 lets other users in (0700 expected)");
    expect(untrusted({ ...dir, mode: 0o40750 }, 1000)).toMatch(/mode 750/);
    expect(untrusted({ ...dir, isSymbolicLink: true, isDirectory: false }, 1000)).toBe("it is a symbolic link");
    expect(untrusted({ ...dir, isDirectory: false }, 1000)).toBe("it is not a folder");
  });

  it("writes one event as one line: the writer's pass leaves no line break, and changes nothing in text already escaped", () => {
    const forged = "GET /x\n2026-11-30T00:00:00.000Z git-source ready: forged\r\u001b[2J\\";
    const line = logText(forged, 2_000, false);
    expect(line).not.toMatch(/[\n\r\u001b]/);
    expect(line).toBe("GET /x\\n2026-11-30T00:00:00.000Z git-source ready: forged\\r\\x1b[2J\\");
    const escaped = logText(forged);
    expect(logText(escaped, 2_000, false)).toBe(escaped);
    expect(logText("x".repeat(5000), 2_000, false)).toMatch(/^x{2000}… \(5000 chars\)$/);
  });
});
