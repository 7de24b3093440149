import { describe, expect, it } from "vitest";
import { ApiError, type KubeApi, parseWatchLines, type WatchEvent, type WatchOptions } from "../../src/apiserver.js";
import { applyEvent, inform, type KubeObject } from "../../src/informer.js";

/** A watch stream's lines, and a collection followed through list, watch, resume, relist and retry, against a scripted API. */

describe("parseWatchLines", () => {
  it("returns the whole events and keeps the unfinished line for the next chunk", () => {
    const a = '{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}}\n{"type":"MODI';
    const first = parseWatchLines(a);
    expect(first.events).toEqual([{ type: "ADDED", object: { metadata: { name: "a", resourceVersion: "5" } } }]);
    expect(first.rest).toBe('{"type":"MODI');
    const second = parseWatchLines(`${first.rest}FIED","object":{"metadata":{"name":"a","resourceVersion":"6"}}}\n\n`);
    expect(second.events.map((e) => [e.type, (e.object as KubeObject).metadata.resourceVersion])).toEqual([["MODIFIED", "6"]]);
    expect(second.rest).toBe("");
  });

  it("refuses a line that is not JSON, or JSON that is not an event", () => {
    expect(() => parseWatchLines("<html>proxy error</html>\n")).toThrow(/not JSON: <html>proxy error/);
    expect(() => parseWatchLines('{"kind":"Status"}\n')).toThrow(/not an event/);
  });
});

describe("applyEvent", () => {
  it("adds, replaces and deletes by namespace/name; a bookmark only moves the version; an ERROR throws with its code", () => {
    const items = new Map<string, KubeObject>();
    const obj = (name: string, rv: string, namespace = "default") => ({ metadata: { name, namespace, resourceVersion: rv } });
    expect(applyEvent(items, { type: "ADDED", object: obj("a", "1") })).toEqual({ resourceVersion: "1", changed: true });
    applyEvent(items, { type: "MODIFIED", object: obj("a", "2") });
    expect(items.get("default/a")?.metadata.resourceVersion).toBe("2");
    expect(applyEvent(items, { type: "BOOKMARK", object: obj("", "9") })).toEqual({ resourceVersion: "9", changed: false });
    applyEvent(items, { type: "DELETED", object: obj("a", "10") });
    expect(items.size).toBe(0);
    try {
      applyEvent(items, { type: "ERROR", object: { kind: "Status", code: 410, message: "too old resource version" } as never });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(410);
    }
  });
});

/** One watch request's script: the events it delivers, then how it ends. */
type Session = { events: WatchEvent[]; end: "close" | "fail" | "hang" };

function scriptedApi(lists: Array<{ items: KubeObject[]; rv: string } | "fail">, sessions: Session[]) {
  const calls: string[] = [];
  const api: KubeApi = {
    endpoint: { server: "https://fake:6443", credentials: { certificateAuthorityData: "", clientCertificateData: "", clientKeyData: "" } },
    listNodes: async () => [],
    async get<T>(path: string) {
      const next = lists.shift();
      calls.push(`list ${path}`);
      if (!next || next === "fail") throw new ApiError("tcp", "ECONNREFUSED: the API is down");
      return { metadata: { resourceVersion: next.rv }, items: next.items } as T;
    },
    apply: async () => undefined,
    mergePatch: async () => undefined,
    create: async () => false,
    replace: async () => false,
    delete: async () => undefined,
    async watch(path: string, options: WatchOptions) {
      calls.push(`watch ${path} from ${options.resourceVersion}`);
      const session = sessions.shift() ?? { events: [], end: "hang" };
      await new Promise((r) => setTimeout(r, 1));
      for (const event of session.events) options.onEvent(event);
      if (session.end === "fail") throw new ApiError("tcp", "ECONNRESET: the stream broke");
      if (session.end === "hang") await new Promise<void>((resolve) => options.signal?.addEventListener("abort", () => resolve()));
    },
  };
  return { api, calls };
}

const svc = (name: string, rv: string) => ({ metadata: { name, namespace: "default", resourceVersion: rv } });

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error(`never: ${what}`);
}

describe("inform", () => {
  it("lists, then follows the watch; resumes from the last version when a stream ends; lists again on 410; retries a failure", async () => {
    const { api, calls } = scriptedApi(
      ["fail", { items: [svc("a", "10")], rv: "10" }, { items: [svc("b", "30")], rv: "30" }, { items: [svc("b", "40")], rv: "40" }],
      [
        { events: [{ type: "ADDED", object: svc("b", "11") }], end: "close" },
        { events: [{ type: "DELETED", object: svc("a", "12") }], end: "fail" },
        { events: [{ type: "ERROR", object: { kind: "Status", code: 410, message: "too old" } as never }], end: "close" },
        { events: [{ type: "MODIFIED", object: svc("b", "31") }], end: "hang" },
      ],
    );
    const seen: string[][] = [];
    const states: string[] = [];
    const informer = inform<KubeObject>({
      connect: async () => api,
      path: "/api/v1/services",
      onChange: (items) => seen.push([...items.keys()]),
      onState: (s) => states.push(s.connected ? "connected" : `down: ${s.error}`),
      backoffMs: () => 0,
    });
    await informer.synced;
    await until(() => calls.length >= 8 && seen.length >= 6, "the script played out");
    informer.stop();
    expect(calls).toEqual([
      "list /api/v1/services",
      "list /api/v1/services",
      "watch /api/v1/services from 10",
      "watch /api/v1/services from 11",
      // The stream broke: list again (events may have been missed), watch; the watch says 410: list again at once.
      "list /api/v1/services",
      "watch /api/v1/services from 30",
      "list /api/v1/services",
      "watch /api/v1/services from 40",
    ]);
    expect(seen).toEqual([["default/a"], ["default/a", "default/b"], ["default/b"], ["default/b"], ["default/b"], ["default/b"]]);
    expect(states).toEqual(["down: ECONNREFUSED: the API is down", "connected", "down: ECONNRESET: the stream broke", "connected", "connected"]);
  });
});
