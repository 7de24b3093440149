import { describe, expect, it } from "vitest";
import { FLUSH_PKT, httpUrl, normalizeBasePath, pktLine, routeRequest } from "../../src/serve/git-server.js";

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
