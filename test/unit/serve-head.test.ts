import { describe, expect, it } from "vitest";
import { changes } from "../../src/serve/git-source.js";
import { parseHead, sameHead, symbolicRef } from "../../src/serve/head.js";

const sha = "0123456789abcdef0123456789abcdef01234567";

describe("parseHead", () => {
  it("reads the commit and the branch", () => {
    expect(parseHead(`${sha}\nrefs/heads/main\n`)).toEqual({ commit: sha, branch: "main" });
    expect(parseHead(`${sha}\nrefs/heads/feature/x\n`)).toEqual({ commit: sha, branch: "feature/x" });
  });

  it("leaves the branch undefined when HEAD is detached", () => {
    const head = parseHead(`${sha}\nHEAD\n`);
    expect(head).toEqual({ commit: sha });
    expect("branch" in head).toBe(false);
  });

  it("accepts SHA-256 object names and refuses anything else", () => {
    const long = "a".repeat(64);
    expect(parseHead(`${long}\nrefs/heads/main`)).toEqual({ commit: long, branch: "main" });
    expect(() => parseHead("HEAD\nHEAD\n")).toThrow(/unexpected output/);
    expect(() => parseHead("")).toThrow(/unexpected output/);
  });
});

describe("symbolicRef", () => {
  it("reads HEAD's file", () => {
    expect(symbolicRef("ref: refs/heads/main\n")).toBe("refs/heads/main");
    expect(symbolicRef(`${sha}\n`)).toBeUndefined();
    expect(symbolicRef("-")).toBeUndefined();
  });
});

describe("sameHead", () => {
  it("compares commit and branch", () => {
    expect(sameHead({ commit: sha, branch: "a" }, { commit: sha, branch: "a" })).toBe(true);
    expect(sameHead({ commit: sha, branch: "a" }, { commit: sha })).toBe(false);
    expect(sameHead({ commit: sha }, undefined)).toBe(false);
    expect(sameHead(undefined, undefined)).toBe(true);
  });
});

describe("the Git source's wait for the engine's next change", () => {
  it("says whether a change or the clock woke it, so that a wake by the clock reads the API rather than a watch that may have stalled", async () => {
    const c = changes();
    const seen = c.count;
    const woken = c.after(seen, 5_000);
    c.changed();
    expect(await woken).toBe(true);
    // A change since `seen` already: at once.
    expect(await c.after(seen, 5_000)).toBe(true);
    const start = performance.now();
    expect(await c.after(c.count, 50)).toBe(false);
    expect(performance.now() - start).toBeGreaterThanOrEqual(45);
  });
});
