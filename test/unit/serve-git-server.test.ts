import { describe, expect, it } from "vitest";
import { DEFAULT_GIT_LIMITS, httpUrl, isInside, normalizeBasePath, routeRequest, uploadPackArgs } from "../../src/serve/git-server.js";
import { logText } from "../../src/serve/log-text.js";
import { errPkt, FLUSH_PKT, pktLine, splitPktLines } from "../../src/serve/pkt-line.js";
import { Slots } from "../../src/serve/slots.js";
import { advertisedTips, parseUploadRequest, RecentTips, unadvertisedWants } from "../../src/serve/upload-request.js";

const A = "a".repeat(40);
const B = "b".repeat(40);
const C = "c".repeat(40);
const body = (...parts: Array<string | null>) => Buffer.concat(parts.map((part) => (part === null ? FLUSH_PKT : pktLine(`${part}\n`))));

describe("pktLine", () => {
  it("prefixes the length in four hex digits, counting the prefix itself", () => {
    expect(pktLine("# service=git-upload-pack\n").toString()).toBe("001e# service=git-upload-pack\n");
    expect(pktLine("").toString()).toBe("0004");
    expect(pktLine(Buffer.from([0, 1, 2])).equals(Buffer.from([0x30, 0x30, 0x30, 0x37, 0, 1, 2]))).toBe(true);
    expect(FLUSH_PKT.toString()).toBe("0000");
  });

  it("counts bytes, not characters", () => {
    expect(pktLine("é").toString()).toBe("0006é");
  });

  it("refuses a payload beyond the protocol's 65516 bytes", () => {
    expect(pktLine(Buffer.alloc(65516)).length).toBe(65520);
    expect(() => pktLine(Buffer.alloc(65517))).toThrow(RangeError);
  });
});

describe("routeRequest", () => {
  const base = "/workspace.git";
  it("serves only upload-pack's two endpoints", () => {
    expect(routeRequest("GET", "/workspace.git/info/refs?service=git-upload-pack", base)).toBe("advertise");
    expect(routeRequest("POST", "/workspace.git/git-upload-pack", base)).toBe("upload-pack");
  });

  it("refuses anything about receive-pack as read-only", () => {
    expect(routeRequest("GET", "/workspace.git/info/refs?service=git-receive-pack", base)).toBe("read-only");
    expect(routeRequest("POST", "/workspace.git/git-receive-pack", base)).toBe("read-only");
    expect(routeRequest("POST", "/elsewhere/git-receive-pack", base)).toBe("read-only");
  });

  it("answers not-found for the rest: dumb HTTP, other paths, wrong methods", () => {
    for (const [method, url] of [
      ["GET", "/workspace.git/info/refs"],
      ["GET", "/workspace.git/HEAD"],
      ["GET", "/workspace.git/objects/info/packs"],
      ["GET", "/other.git/info/refs?service=git-upload-pack"],
      ["POST", "/workspace.git/info/refs?service=git-upload-pack"],
      ["GET", "/workspace.git/git-upload-pack"],
      ["PUT", "/workspace.git/git-upload-pack"],
      ["GET", "/workspace.git/info/refs?service=git-upload-archive"],
      ["GET", "/workspace.git/../info/refs?service=git-upload-pack"],
      ["GET", "http://[::1"],
    ] as const) {
      expect(routeRequest(method, url, base), `${method} ${url}`).toBe("not-found");
    }
  });

  it("follows a custom path", () => {
    expect(routeRequest("GET", "/a/b.git/info/refs?service=git-upload-pack", "/a/b.git")).toBe("advertise");
    expect(routeRequest("GET", "/workspace.git/info/refs?service=git-upload-pack", "/a/b.git")).toBe("not-found");
  });
});

describe("paths and URLs", () => {
  it("normalizes the base path", () => {
    expect(normalizeBasePath(undefined)).toBe("/workspace.git");
    expect(normalizeBasePath("repo.git/")).toBe("/repo.git");
    expect(normalizeBasePath("//a/b.git")).toBe("/a/b.git");
    expect(normalizeBasePath("/")).toBe("/workspace.git");
  });

  it("brackets IPv6 literals", () => {
    expect(httpUrl("172.18.0.5", 8080, "/workspace.git")).toBe("http://172.18.0.5:8080/workspace.git");
    expect(httpUrl("::1", 80, "/w.git")).toBe("http://[::1]:80/w.git");
  });
});

describe("splitPktLines", () => {
  it("reads data lines (one trailing newline dropped) and flush-pkts", () => {
    expect(splitPktLines(Buffer.from("0009done\n00000008abc\n0007xyz"))).toEqual({ ok: true, pkts: ["done", null, "abc", "xyz"] });
    expect(splitPktLines(Buffer.alloc(0))).toEqual({ ok: true, pkts: [] });
  });

  it("keeps any byte of a payload, newlines inside included", () => {
    const parsed = splitPktLines(Buffer.concat([pktLine(Buffer.from([0x1b, 0x0a, 0xff, 0x0a]))]));
    expect(parsed).toEqual({ ok: true, pkts: ["\x1b\n\xff"] });
  });

  it("refuses what is not pkt-lines: bad or truncated lengths, v2's delimiter packets", () => {
    for (const [input, reason] of [
      ["this is not pkt-line", /bad pkt-line length 'this'/],
      ["00", /truncated pkt-line length/],
      ["0010abc", /truncated pkt-line at byte 0: 16 bytes announced, 7 left/],
      ["0001", /protocol v2 packet/],
      ["0002", /protocol v2 packet/],
      ["000G", /bad pkt-line length/],
      ["0009done\nXXXX", /bad pkt-line length 'XXXX' at byte 9/],
    ] as const) {
      const parsed = splitPktLines(Buffer.from(input));
      expect(parsed.ok, input).toBe(false);
      if (!parsed.ok) expect(parsed.reason).toMatch(reason);
    }
  });

  it("frames git's ERR refusal", () => {
    expect(errPkt("no").toString()).toBe("000bERR no\n");
  });
});

describe("parseUploadRequest", () => {
  const limits = { maxHaves: 3 };
  it("reads a clone (wants, capabilities on the first, done) and a negotiation round (haves, flush)", () => {
    expect(parseUploadRequest(body(`want ${A} multi_ack_detailed side-band-64k ofs-delta agent=git/2.39`, `want ${B}`, null, "done"), limits)).toEqual({
      ok: true,
      request: { wants: [A, B], capabilities: ["multi_ack_detailed", "side-band-64k", "ofs-delta", "agent=git/2.39"], haves: 0, done: true },
    });
    expect(parseUploadRequest(body(`want ${A}`, null, `have ${B}`, `have ${C}`, null), limits)).toEqual({
      ok: true,
      request: { wants: [A], capabilities: [], haves: 2, done: false },
    });
  });

  it("takes a shallow fetch's lines, and its first round that ends at the flush", () => {
    const shallow = body(`want ${A} shallow`, `shallow ${B}`, "deepen 1", null);
    expect(parseUploadRequest(shallow, limits)).toMatchObject({ ok: true, request: { wants: [A], done: false } });
    for (const line of ["deepen 2147483647", "deepen-since 1700000000", "deepen-not refs/heads/old", `shallow ${"d".repeat(64)}`]) {
      expect(parseUploadRequest(body(`want ${A}`, line, null, "done"), limits).ok, line).toBe(true);
    }
  });

  it("accepts sha256 ids", () => {
    expect(parseUploadRequest(body(`want ${"e".repeat(64)}`, null, `have ${"f".repeat(64)}`, "done"), limits).ok).toBe(true);
  });

  it("refuses malformed wants, unknown lines, filters and v2 commands, quoting the line", () => {
    for (const [request, reason] of [
      [body(`want ${A.toUpperCase()}`, null, "done"), /malformed want line: 'want AAAA/],
      [body(`want ${A.slice(1)}`, null, "done"), /malformed want line/],
      [body(`want ${A}\nforged line`, null, "done"), /malformed want line: 'want a+\nforged line'/],
      [body(`want ${A}`, `want ${B} side-band`, null, "done"), /malformed want line/],
      [body(`want ${A}`, "filter blob:none", null, "done"), /unexpected line before the flush: 'filter blob:none'/],
      [body(`want ${A}`, "deepen 0", null, "done"), /unexpected line/],
      [body("command=fetch", null), /unexpected line before the flush: 'command=fetch'/],
      [body(`want ${A}`, null, `want ${B}`, "done"), /unexpected line among the haves: 'want /],
      [body(`want ${A}`, null, `have ${B} extra`, "done"), /unexpected line among the haves/],
      [body(`want ${A}`, null, `have ${B}`), /does not end with "done" or a flush-pkt/],
      [body(`want ${A}`, null, "done", `have ${B}`), /1 packets after "done"/],
      [body(`want ${A}`, null, null, null), /1 packets after the final flush-pkt/],
      [body(`want ${A}`), /no flush-pkt after the wants/],
      [body(null), /no want line/],
      [body(null, "done"), /no want line/],
    ] as const) {
      const parsed = parseUploadRequest(request, limits);
      expect(parsed.ok, String(reason)).toBe(false);
      if (!parsed.ok) expect(parsed.reason).toMatch(reason);
    }
  });

  it("cuts a quoted line short", () => {
    const parsed = parseUploadRequest(body(`junk ${"x".repeat(1000)}`, null), limits);
    expect(!parsed.ok && parsed.reason.length).toBeLessThan(200);
  });

  it("marks framing errors apart from protocol ones", () => {
    expect(parseUploadRequest(Buffer.from("garbage"), limits)).toMatchObject({ ok: false, framing: true });
    expect(parseUploadRequest(body("garbage", null), limits)).not.toHaveProperty("framing");
  });

  it("refuses more haves than the cap", () => {
    expect(parseUploadRequest(body(`want ${A}`, null, `have ${A}`, `have ${B}`, `have ${C}`, "done"), limits).ok).toBe(true);
    expect(parseUploadRequest(body(`want ${A}`, null, `have ${A}`, `have ${B}`, `have ${C}`, `have ${A}`, "done"), limits)).toEqual({
      ok: false,
      reason: "more than 3 have lines in one request",
    });
  });
});

describe("advertisedTips and unadvertisedWants", () => {
  const advertisement = body(
    `${A} HEAD\0multi_ack side-band-64k symref=HEAD:refs/heads/main`,
    `${A} refs/heads/main`,
    `${B} refs/tags/v1`,
    `${C} refs/tags/v1^{}`,
    `${"d".repeat(40)} refs/stash`,
    `${"e".repeat(40)} refs/remotes/origin/main`,
    `${"0".repeat(40)} capabilities^{}`,
    null,
  );

  it("offers HEAD, branches, tags and peeled tags only, whatever else an advertisement holds", () => {
    expect(advertisedTips(advertisement)).toEqual([A, A, B, C]);
    expect(advertisedTips(Buffer.from("garbage"))).toEqual([]);
    expect(advertisedTips(body(`${"0".repeat(40)} capabilities^{}\0multi_ack`, null))).toEqual([]);
  });

  it("names each want that is not a tip, once", () => {
    const tips = new Set(advertisedTips(advertisement));
    const request = { wants: [A, "d".repeat(40), C, "d".repeat(40)], capabilities: [], haves: 0, done: true };
    expect(unadvertisedWants(request, (oid) => tips.has(oid))).toEqual(["d".repeat(40)]);
  });
});

describe("RecentTips", () => {
  it("remembers tips for ttl after they were last advertised, and forgets older ones", () => {
    const tips = new RecentTips(1000);
    tips.remember([A, B], 0);
    expect(tips.has(A, 1000)).toBe(true);
    expect(tips.has(A, 1001)).toBe(false);
    tips.remember([A], 900);
    expect(tips.has(A, 1500)).toBe(true);
    expect(tips.has(C, 0)).toBe(false);
    tips.remember([C], 1600);
    // B (last seen at 0) is dropped; A (900) stays.
    expect(tips.size).toBe(2);
    expect(tips.has(B, 1600)).toBe(false);
  });
});

describe("logText", () => {
  it("escapes line breaks, controls, separators and backslashes so that one event stays one line", () => {
    expect(logText("a\nb\r\tc\\d")).toBe("a\\nb\\r\\tc\\\\d");
    expect(logText("\x1b[2J\x00\x7f\x85")).toBe("\\x1b[2J\\x00\\x7f\\x85");
    expect(logText("x\u2028y\u202ez")).toBe("x\\u2028y\\u202ez");
    expect(logText("café ✓")).toBe("café ✓");
    expect(logText("ok\n2030-01-01T00:00:00Z gitops ready: forged")).not.toContain("\n");
  });

  it("cuts at the cap, saying how long the text was", () => {
    expect(logText("x".repeat(50), 10)).toBe("xxxxxxxxxx… (50 chars)");
    expect(logText("\n".repeat(50), 10)).toBe("\\n\\n\\n\\n\\n… (50 chars)");
    expect(logText("x".repeat(10), 10)).toBe("x".repeat(10));
  });
});

describe("Slots", () => {
  it("grants up to its size, queues the rest in order, and hands a freed slot to the first in line", async () => {
    const slots = new Slots(2);
    const a = await slots.acquire(1000);
    const b = await slots.acquire(1000);
    expect(slots.inUse).toBe(2);
    const order: string[] = [];
    const c = slots.acquire(1000).then((release) => {
      order.push("c");
      return release;
    });
    const d = slots.acquire(1000).then((release) => {
      order.push("d");
      return release;
    });
    a!();
    a!(); // idempotent: frees one slot only
    (await c)!();
    b!();
    (await d)!();
    expect(order).toEqual(["c", "d"]);
    expect(slots.inUse).toBe(0);
  });

  it("says no after the wait, or when the waiter gives up, and forgets that waiter", async () => {
    const slots = new Slots(1);
    const held = await slots.acquire(1000);
    const started = Date.now();
    expect(await slots.acquire(30)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    const controller = new AbortController();
    const gaveUp = slots.acquire(10_000, controller.signal);
    controller.abort();
    expect(await gaveUp).toBeNull();
    const next = slots.acquire(1000);
    held!();
    expect(await next).not.toBeNull();
    expect(slots.inUse).toBe(1);
  });
});

describe("uploadPackArgs", () => {
  it("scopes safe.directory to the git dir, hides all but branches and tags, and turns off every wider want", () => {
    const args = uploadPackArgs("/ws/.git", false);
    const config = args.filter((_, i) => args[i - 1] === "-c");
    expect(config).toContain("safe.directory=/ws/.git");
    expect(config.filter((entry) => entry.startsWith("safe.directory="))).toEqual(["safe.directory=/ws/.git"]);
    expect(config).toEqual(
      expect.arrayContaining([
        "uploadpack.allowTipSHA1InWant=false",
        "uploadpack.allowReachableSHA1InWant=false",
        "uploadpack.allowAnySHA1InWant=false",
        "uploadpack.allowFilter=false",
      ]),
    );
    expect(config.filter((entry) => entry.startsWith("uploadpack.hideRefs="))).toEqual([
      "uploadpack.hideRefs=refs/",
      "uploadpack.hideRefs=!refs/heads/",
      "uploadpack.hideRefs=!refs/tags/",
    ]);
    expect(args.slice(-3)).toEqual(["upload-pack", "--stateless-rpc", "/ws/.git"]);
    expect(uploadPackArgs("/ws/.git", true).slice(-4)).toEqual(["upload-pack", "--stateless-rpc", "--advertise-refs", "/ws/.git"]);
  });

  it("keeps the default limits where a real fetch fits: git's 1 MiB compressed body, its 16384-have rounds, Flux's 30 s timeout", () => {
    expect(DEFAULT_GIT_LIMITS.maxBodyBytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(DEFAULT_GIT_LIMITS.maxHaves).toBeGreaterThan(16384);
    expect(DEFAULT_GIT_LIMITS.requestTimeoutMs).toBeGreaterThan(30_000);
  });
});

describe("isInside", () => {
  it("compares whole path segments", () => {
    expect(isInside("/ws/.git", "/ws")).toBe(true);
    expect(isInside("/ws", "/ws")).toBe(true);
    expect(isInside("/ws2/.git", "/ws")).toBe(false);
    expect(isInside("/other", "/ws")).toBe(false);
    expect(isInside("/ws/x", "/")).toBe(true);
  });
});
