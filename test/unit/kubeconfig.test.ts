import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { credentialsFromKind, type ClusterEntry } from "../../src/kubeconfig/document.js";
import { kubeconfigFiles, kubeconfigPath } from "../../src/kubeconfig/index.js";
import { mergedView, planExport, planRemove, type SourceFile } from "../../src/kubeconfig/plan.js";
import { ZoneError } from "../../src/errors.js";

const many = readFileSync("test/fixtures/kubeconfig-many.yaml", "utf8");
const fromKind = readFileSync("test/fixtures/kind-kubeconfig.yaml", "utf8");

const entry = (name: string): ClusterEntry => ({
  name,
  server: "https://host.docker.internal:6443",
  tlsServerName: "localhost",
  credentials: { certificateAuthorityData: "TkVXLUNB", clientCertificateData: "TkVXLUNFUlQ=", clientKeyData: "TkVXLUtFWQ==" },
});

type Named = { name: string; [k: string]: any };
const byName = (list: Named[] | null): Record<string, any> => Object.fromEntries((list ?? []).map((i) => [i.name, i]));
/** Reads as kubectl reads: YAML 1.1 (`010` is 8). */
const read = (text: string) => parse(text, { version: "1.1" });

/** One file in, its new text out ("" when nothing would be written). */
function exported(text: string | undefined, e = entry("kind-kind")): string {
  const [rewrite] = planExport([{ path: "/home/dev/.kube/config", text }], e);
  return rewrite?.text ?? "";
}

/** Lines of `before` that are not in `after` in the same order (a longest-common-subsequence diff). */
function removedLines(before: string, after: string): string[] {
  const a = before.split("\n");
  const b = after.split("\n");
  const lcs = a.map(() => new Array<number>(b.length + 1).fill(0));
  lcs.push(new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const removed: string[] = [];
  for (let i = 0, j = 0; i < a.length; ) {
    if (j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < b.length && lcs[i]![j + 1]! >= lcs[i + 1]![j]!) j++;
    else removed.push(a[i++]!);
  }
  return removed;
}

function refusal(fn: () => unknown): ZoneError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ZoneError);
    return error as ZoneError;
  }
  throw new Error("expected a refusal");
}

describe("exporting our entry into one file", () => {
  it("replaces only our cluster, user and context, keeping every other entry as it was", () => {
    const before = read(many);
    const after = read(exported(many));
    for (const section of ["clusters", "users", "contexts"]) {
      const b = byName(before[section]);
      const a = byName(after[section]);
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      for (const name of Object.keys(b).filter((n) => n !== "kind-kind")) expect(a[name]).toEqual(b[name]);
    }
    expect(after.preferences).toEqual({ colors: true });
    expect(byName(after.clusters)["kind-kind"]).toEqual({
      name: "kind-kind",
      cluster: { "certificate-authority-data": "TkVXLUNB", server: "https://host.docker.internal:6443", "tls-server-name": "localhost" },
    });
    expect(byName(after.users)["kind-kind"]).toEqual({
      name: "kind-kind",
      user: { "client-certificate-data": "TkVXLUNFUlQ=", "client-key-data": "TkVXLUtFWQ==" },
    });
    expect(after["current-context"]).toBe("kind-kind");
  });

  it("changes no byte outside our items: every other line, comment and the order stay", () => {
    const after = exported(many, entry("kind-gitops"));
    // Adding an entry only inserts lines; of the original, only the current-context line goes.
    expect(removedLines(many, after)).toEqual(["current-context: prod"]);
    expect(read(after).clusters.map((c: Named) => c.name)).toEqual(["prod-eu", "kind-kind", "staging", "kind-gitops"]);
  });

  it("keeps an empty block scalar with a comment and an octal number exactly (the issue's examples)", () => {
    const text = [
      "apiVersion: v1",
      "kind: Config",
      "users:",
      "- name: manual",
      "  user:",
      "    token: |- # rotated by hand",
      "extensions:",
      "- name: tuning",
      "  extension:",
      "    retries: 010",
      "",
    ].join("\n");
    for (const after of [exported(text), exported(exported(text), { ...entry("kind-kind"), server: "https://changed:6443" })]) {
      expect(after).toContain("    token: |- # rotated by hand\n");
      expect(after).toContain("    retries: 010\n");
      expect(byName(read(after).users).manual.user.token).toBe("");
      expect(read(after).extensions[0].extension.retries).toBe(8);
    }
  });

  it("writes into a JSON kubeconfig (kubectl -o json) and leaves it JSON", () => {
    const json = JSON.stringify(
      {
        kind: "Config",
        apiVersion: "v1",
        preferences: {},
        clusters: [{ name: "a", cluster: { server: "https://a" } }],
        users: null,
        contexts: [],
        "current-context": "",
      },
      null,
      4,
    );
    const after = JSON.parse(exported(json));
    expect(after.clusters.map((c: Named) => c.name)).toEqual(["a", "kind-kind"]);
    expect(byName(after.users)["kind-kind"].user["client-key-data"]).toBe("TkVXLUtFWQ==");
    expect(after.contexts).toHaveLength(1);
    expect(after["current-context"]).toBe("kind-kind");
    const changed = JSON.parse(exported(JSON.stringify(after), { ...entry("kind-kind"), server: "https://other:6443" }));
    expect(byName(changed.clusters)["kind-kind"].cluster.server).toBe("https://other:6443");
    expect(byName(changed.clusters).a).toEqual({ name: "a", cluster: { server: "https://a" } });
  });

  it("edits flow lists, null lists and missing lists", () => {
    const text = "clusters: [{name: a, cluster: {server: x}}, &k {name: kind-kind, cluster: {}}]\nusers:\ncontexts: ~ # none yet\ncurrent-context: a\n";
    const after = exported(text);
    expect(after).toContain("{name: a, cluster: {server: x}}");
    expect(after).toContain("contexts:  # none yet\n");
    const config = read(after);
    expect(config.clusters.map((c: Named) => c.name)).toEqual(["a", "kind-kind"]);
    expect(byName(config.users)["kind-kind"]).toBeDefined();
    expect(byName(config.contexts)["kind-kind"].context).toEqual({ cluster: "kind-kind", user: "kind-kind" });
    expect(read(exported("preferences: {}\n")).clusters).toHaveLength(1);
  });

  it("appends to a list that ends the file before adding the keys that follow it, with or without a final line break", () => {
    for (const text of ["apiVersion: v1\nusers:\n- name: a\n  user: {}\n", "users:\n- name: a\n  user: {token: t}", '{"users": [{"name": "a", "user": {}}]}']) {
      const config = read(exported(text));
      // Without a final line break, the new item goes before the last one (see linesAfter in splice.ts).
      expect(config.users.map((u: Named) => u.name).sort()).toEqual(["a", "kind-kind"]);
      expect(config.clusters.map((c: Named) => c.name)).toEqual(["kind-kind"]);
      expect(config["current-context"]).toBe("kind-kind");
    }
  });

  it("reads an empty file and a comments-only file as an empty kubeconfig, keeping the comments", () => {
    for (const text of ["", "# managed by hand\n# nothing yet", undefined]) {
      const after = exported(text);
      expect(after.startsWith(text ?? "")).toBe(true);
      expect(read(after)).toMatchObject({ apiVersion: "v1", kind: "Config", "current-context": "kind-kind" });
      expect(read(after).clusters).toHaveLength(1);
    }
    expect(mergedView([{ path: "c", text: "# only a comment\n" }], "kind-kind")).toEqual({ entry: undefined, currentContext: undefined });
  });

  it("keeps CRLF line ends", () => {
    const after = exported(many.replace(/\n/g, "\r\n"), entry("kind-new"));
    expect(after.replace(/\r\n/g, "")).not.toContain("\n");
    expect(read(after)["current-context"]).toBe("kind-new");
  });

  it("quotes what YAML 1.1 would read as something else", () => {
    const odd = { ...entry("kind-kind"), server: "https://[fd00::1]:6443", tlsServerName: "yes" };
    const cluster = byName(read(exported(many, odd)).clusters)["kind-kind"].cluster;
    expect(cluster).toMatchObject({ server: "https://[fd00::1]:6443", "tls-server-name": "yes" });
  });

  it("omits tls-server-name when the route's host is in the certificate, and never writes insecure-skip-tls-verify", () => {
    const e = { ...entry("kind-kind"), server: "https://kind-control-plane:6443", tlsServerName: undefined };
    expect(byName(read(exported(many, e)).clusters)["kind-kind"].cluster).toEqual({
      "certificate-authority-data": "TkVXLUNB",
      server: "https://kind-control-plane:6443",
    });
  });

  it("writes nothing when our entries already read as wanted", () => {
    const once = exported(many);
    expect(planExport([{ path: "c", text: once }], entry("kind-kind"))).toEqual([]);
  });

  it("refuses, writing nothing, when another entry aliases an anchor inside our entry", () => {
    const text = "clusters:\n- name: kind-kind\n  cluster: &shared\n    server: https://old:6443\n- name: mirror\n  cluster: *shared\n";
    const error = refusal(() => exported(text));
    expect(error.zone).toBe("dev container");
    expect(error.message).toContain('our cluster "kind-kind" holds &shared');
    expect(error.message).toContain("nothing was written");
    expect(() => planRemove([{ path: "c", text }], "kind-kind")).toThrowError(/holds &shared/);
  });

  it("refuses when replacing our entry would change what another entry's alias means", () => {
    // *a after our item means our anchor; without it, the earlier &a: the mirror would change server.
    const text =
      "clusters:\n- name: first\n  cluster: &a {server: https://first}\n- name: kind-kind\n  cluster: &a {server: https://ours}\n- name: mirror\n  cluster: *a\n";
    expect(refusal(() => exported(text)).message).toContain('would change the cluster "mirror" (cluster.server)');
  });

  it.each([
    ["broken YAML", "clusters: [\n  - name: a\n"],
    ["a list at the top", "- a\n- b\n"],
    ["a wrong kind", "kind: Pod\napiVersion: v1\n"],
    ["clusters not a list", "kind: Config\nclusters: {a: 1}\n"],
    ["an entry without a name", "kind: Config\nusers:\n  - user: {token: x}\n"],
    ["duplicate keys", "kind: Config\nkind: Config\n"],
    ["a name twice (kubectl refuses it too)", "clusters:\n- {name: a, cluster: {}}\n- {name: a, cluster: {}}\n"],
    ["our name twice", "users:\n- {name: kind-kind, user: {}}\n- {name: kind-kind, user: {}}\n"],
  ])("refuses %s with a zone-1 error naming the file", (_, text) => {
    const error = refusal(() => exported(text));
    expect(error.zone).toBe("dev container");
    expect(error.message).toContain("/home/dev/.kube/config");
    expect(error.message).toContain("left untouched");
  });
});

describe("removing our entry", () => {
  it("removes only ours and clears current-context only when it was ours", () => {
    const [removed] = planRemove([{ path: "c", text: exported(many) }], "kind-kind");
    const config = read(removed!.text);
    expect(config.clusters.map((c: Named) => c.name)).toEqual(["prod-eu", "staging"]);
    expect(config.users.map((c: Named) => c.name)).toEqual(["alice@prod", "oidc"]);
    expect(config["current-context"]).toBe("");
    expect(read(planRemove([{ path: "c", text: many }], "kind-kind")[0]!.text)["current-context"]).toBe("prod");
    expect(planRemove([{ path: "c", text: "" }], "kind-kind")).toEqual([]);
  });

  it("removes items from flow lists", () => {
    const text = "clusters: [{name: a}, {name: kind-kind}]\nusers: [ {name: kind-kind}, {name: b} ]\ncontexts: [{name: kind-kind}]\n";
    expect(planRemove([{ path: "c", text }], "kind-kind")[0]!.text).toBe("clusters: [{name: a}]\nusers: [ {name: b} ]\ncontexts: []\n");
  });
});

describe("several files (client-go's rules)", () => {
  const names = (text: string | undefined, section: string) => (text ? (read(text)?.[section] ?? []).map((i: Named) => i.name) : []);
  const written = (files: SourceFile[], e = entry("kind-kind")) => Object.fromEntries(planExport(files, e).map((r) => [r.path, r.text]));

  it("puts new entries in the first file that exists, else the last of the list", () => {
    expect(Object.keys(written([{ path: "a" }, { path: "b", text: many }, { path: "c", text: "" }]))).toEqual(["b"]);
    expect(Object.keys(written([{ path: "a" }, { path: "b" }, { path: "c" }]))).toEqual(["c"]);
    expect(Object.keys(written([{ path: "only" }]))).toEqual(["only"]);
  });

  it("writes a changed entry to the file it came from, and current-context to the default file", () => {
    const a = "clusters:\n- {name: x, cluster: {server: https://x}}\n";
    const b = "clusters:\n- {name: kind-kind, cluster: {server: https://old}}\ncurrent-context: x\n";
    const out = written([
      { path: "a", text: a },
      { path: "b", text: b },
    ]);
    expect(names(out.b, "clusters")).toEqual(["kind-kind"]);
    expect(names(out.a, "clusters")).toEqual(["x"]);
    expect(names(out.a, "users")).toEqual(["kind-kind"]);
    expect(read(out.a!)["current-context"]).toBe("kind-kind");
    expect(read(out.b!)["current-context"]).toBe("x"); // shadowed by a's, as kubectl leaves it
  });

  it("merges like kubectl: the first file naming an entry wins, and the first current-context", () => {
    const first = "clusters:\n- {name: kind-kind, cluster: {server: https://first, certificate-authority-data: QQ==}}\n";
    const second = exported(undefined);
    const view = mergedView(
      [
        { path: "a", text: first },
        { path: "b", text: second },
      ],
      "kind-kind",
    );
    expect(view.entry?.server).toBe("https://first");
    expect(view.currentContext).toBe("kind-kind");
  });

  it("removes each entry from the file it came from and clears the first current-context", () => {
    const a = "current-context: kind-kind\nusers:\n- {name: kind-kind, user: {}}\n";
    const b = exported(undefined);
    const out = Object.fromEntries(
      planRemove(
        [
          { path: "a", text: a },
          { path: "b", text: b },
        ],
        "kind-kind",
      ).map((r) => [r.path, r.text]),
    );
    expect(read(out.a!)).toEqual({ "current-context": "", users: null });
    expect(names(out.b, "users")).toEqual(["kind-kind"]); // shadowed in b: kubectl deletes from the origin only
    expect(names(out.b, "clusters")).toEqual([]);
    expect(read(out.b!)["current-context"]).toBe("kind-kind");
  });

  it("refuses a malformed file anywhere in the list before writing any", () => {
    expect(() =>
      planExport(
        [
          { path: "good", text: many },
          { path: "bad", text: "clusters: {" },
        ],
        entry("kind-kind"),
      ),
    ).toThrowError(/bad is malformed/);
  });

  it("takes the list from KUBECONFIG, deduplicated, or ~/.kube/config", () => {
    expect(kubeconfigPath({}, "/home/dev")).toBe("/home/dev/.kube/config");
    expect(kubeconfigPath({ KUBECONFIG: "/a::/b:/a" }, "/h")).toBe("/a:/b");
    expect(kubeconfigFiles("/a::/b:/a")).toEqual(["/a", "/b"]);
  });
});

describe("credentials from kind", () => {
  it("takes the credentials out of kind's kubeconfig", () => {
    expect(credentialsFromKind(fromKind, "kind-gitops")).toEqual(entry("x").credentials);
    expect(() => credentialsFromKind(fromKind, "kind-other")).toThrowError(/no complete entry/);
  });
});

describe("a second cluster's entry", () => {
  it("does not take the current context from the first (extraClusters), unless none is current", () => {
    const first = exported(undefined, entry("kind-dev"));
    const [second] = planExport([{ path: "c", text: first }], entry("kind-staging"), false);
    expect(read(second!.text)["current-context"]).toBe("kind-dev");
    expect(byName(read(second!.text).contexts)["kind-staging"]).toBeDefined();
    const [alone] = planExport([{ path: "c", text: undefined }], entry("kind-staging"), false);
    expect(read(alone!.text)["current-context"]).toBe("kind-staging");
  });
});
