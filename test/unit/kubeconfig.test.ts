import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { credentialsFromKind, currentContext, findClusterEntry, removeClusterEntry, upsertClusterEntry, type ClusterEntry } from "../../src/kubeconfig/document.js";
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
const byName = (list: Named[]) => Object.fromEntries(list.map((i) => [i.name, i]));

describe("upsertClusterEntry", () => {
  it("replaces only our cluster, user and context, keeping every other entry as it was", () => {
    const before = parse(many);
    const after = parse(upsertClusterEntry(many, entry("kind-kind"), "~/.kube/config"));
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
    expect(byName(after.users)["kind-kind"]).toEqual({ name: "kind-kind", user: { "client-certificate-data": "TkVXLUNFUlQ=", "client-key-data": "TkVXLUtFWQ==" } });
    expect(after["current-context"]).toBe("kind-kind");
  });

  it("never writes insecure-skip-tls-verify for our cluster, and keeps the user's own comments", () => {
    const text = upsertClusterEntry(many, entry("kind-kind"), "cfg");
    const ours = byName(parse(text).clusters)["kind-kind"] as unknown as { cluster: Record<string, unknown> };
    expect(ours.cluster).not.toHaveProperty("insecure-skip-tls-verify");
    expect(text).toContain("# their choice, not ours: must survive untouched");
    expect(text).toContain("# A developer's kubeconfig");
  });

  it("appends a new cluster without touching existing ones, in order", () => {
    const after = parse(upsertClusterEntry(many, entry("kind-gitops"), "cfg"));
    expect(after.clusters.map((c: Named) => c.name)).toEqual(["prod-eu", "kind-kind", "staging", "kind-gitops"]);
    expect(after.contexts.map((c: Named) => c.name)).toEqual(["prod", "kind-kind", "staging", "kind-gitops"]);
  });

  it("creates a complete kubeconfig from nothing", () => {
    const after = parse(upsertClusterEntry("", entry("kind-kind"), "cfg"));
    expect(after).toMatchObject({ apiVersion: "v1", kind: "Config", "current-context": "kind-kind" });
    expect(after.clusters).toHaveLength(1);
  });

  it("omits tls-server-name when the route's host is in the certificate", () => {
    const e = { ...entry("kind-kind"), server: "https://kind-control-plane:6443", tlsServerName: undefined };
    const cluster = byName(parse(upsertClusterEntry("", e, "cfg")).clusters)["kind-kind"] as unknown as { cluster: Record<string, unknown> };
    expect(cluster.cluster).toEqual({ "certificate-authority-data": "TkVXLUNB", server: "https://kind-control-plane:6443" });
  });

  it("is idempotent", () => {
    const once = upsertClusterEntry(many, entry("kind-kind"), "cfg");
    expect(upsertClusterEntry(once, entry("kind-kind"), "cfg")).toBe(once);
  });

  it.each([
    ["broken YAML", "clusters: [\n  - name: a\n"],
    ["a list at the top", "- a\n- b\n"],
    ["a wrong kind", "kind: Pod\napiVersion: v1\n"],
    ["clusters not a list", "kind: Config\nclusters: {a: 1}\n"],
    ["an entry without a name", "kind: Config\nusers:\n  - user: {token: x}\n"],
    ["duplicate keys", "kind: Config\nkind: Config\n"],
  ])("refuses %s with a zone-1 error naming the file", (_, text) => {
    expect(() => upsertClusterEntry(text, entry("kind-kind"), "/home/dev/.kube/config")).toThrowError(ZoneError);
    try {
      upsertClusterEntry(text, entry("kind-kind"), "/home/dev/.kube/config");
    } catch (error) {
      const e = error as ZoneError;
      expect(e.zone).toBe("dev container");
      expect(e.message).toContain("/home/dev/.kube/config");
      expect(e.message).toContain("left untouched");
    }
  });
});

describe("reading entries", () => {
  it("finds a complete entry and the current context", () => {
    const text = upsertClusterEntry(many, entry("kind-kind"), "cfg");
    expect(findClusterEntry(text, "kind-kind", "cfg")).toEqual(entry("kind-kind"));
    expect(currentContext(text, "cfg")).toBe("kind-kind");
    expect(findClusterEntry(many, "prod-eu", "cfg")).toBeUndefined(); // token user, not ours
  });

  it("takes the credentials out of kind's kubeconfig", () => {
    expect(credentialsFromKind(fromKind, "kind-gitops")).toEqual(entry("x").credentials);
    expect(() => credentialsFromKind(fromKind, "kind-other")).toThrowError(/no complete entry/);
  });
});

describe("removeClusterEntry", () => {
  it("removes only ours and clears current-context only when it was ours", () => {
    const withOurs = upsertClusterEntry(many, entry("kind-kind"), "cfg");
    const removed = parse(removeClusterEntry(withOurs, "kind-kind", "cfg"));
    expect(removed.clusters.map((c: Named) => c.name)).toEqual(["prod-eu", "staging"]);
    expect(removed.users.map((c: Named) => c.name)).toEqual(["alice@prod", "oidc"]);
    expect(removed["current-context"]).toBe("");
    expect(parse(removeClusterEntry(many, "kind-kind", "cfg"))["current-context"]).toBe("prod");
  });
});
