import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import feature from "../../features/src/kind-cluster/devcontainer-feature.json" with { type: "json" };
import { ageIdentities, ageKeyFiles, readAgeKey } from "../../src/gitops/age-key.js";
import { diffArgs, installArgs } from "../../src/gitops/flux/cli.js";
import { controllerFor, FLUX_DEFAULT_COMPONENTS, parseComponents } from "../../src/gitops/flux/components.js";
import type { KubeApi } from "../../src/apiserver.js";
import type { Held } from "../../src/gitops/engine.js";
import { fluxEngine } from "../../src/gitops/flux/index.js";
import {
  decryptionSecret,
  GIT_REPOSITORIES_PATH,
  GIT_REPOSITORY_PATH,
  gitRepository,
  KUSTOMIZATIONS_PATH,
  kustomization,
  SOPS_SECRET_PATH,
  strayFields,
} from "../../src/gitops/flux/objects.js";
import {
  catchUpPlan,
  combinedPreview,
  dependencyCycles,
  fixFor,
  type Kustomization,
  previewOf,
  problemsOf,
  refsIn,
  viewOf,
} from "../../src/gitops/flux/view.js";
import { declares, withPaths } from "../../src/gitops/locate.js";
import { DEFAULT_SETTINGS, resolveSettings } from "../../src/options.js";
import { decryptionOf } from "../../src/status.js";

const C = "0123456789abcdef0123456789abcdef01234567";
const OLD = "89abcdef0123456789abcdef0123456789abcdef";
const rev = (commit: string) => `main@sha1:${commit}`;

/** A Kustomization as the API returns it. */
function ks(
  name: string,
  ready: "True" | "False" | "Unknown",
  options: {
    reason?: string;
    message?: string;
    applied?: string;
    attempted?: string;
    dependsOn?: string[];
    source?: string;
    requested?: string;
    handled?: string;
  } = {},
): Kustomization {
  return {
    metadata: { name, namespace: "flux-system", annotations: options.requested ? { "reconcile.fluxcd.io/requestedAt": options.requested } : {} },
    spec: {
      sourceRef: { kind: options.source ?? "GitRepository", name: "flux-system" },
      dependsOn: options.dependsOn?.map((d) => ({ name: d })),
    },
    status: {
      conditions: [{ type: "Ready", status: ready, reason: options.reason, message: options.message }],
      lastAppliedRevision: options.applied && rev(options.applied),
      lastAttemptedRevision: (options.attempted ?? options.applied) && rev((options.attempted ?? options.applied)!),
      lastHandledReconcileAt: options.handled,
    },
  };
}

describe("fluxComponents: Flux's default controllers, narrowed or widened", () => {
  it("defaults to exactly what `flux install` installs, and the command line says so", () => {
    expect(feature.options.fluxComponents.default).toBe(FLUX_DEFAULT_COMPONENTS.join(","));
    expect(DEFAULT_SETTINGS.fluxComponents).toEqual(["source-controller", "kustomize-controller", "helm-controller", "notification-controller"]);
    // The exact command `up` runs on a fresh cluster with the default options (the test bed cannot run it:
    // its flux CLI embeds only the source and kustomize controllers, whose Go modules it can build).
    expect(installArgs({ context: "kind-kind", components: DEFAULT_SETTINGS.fluxComponents, timeoutMs: 120_000 })).toEqual([
      "install",
      "--context",
      "kind-kind",
      "--components",
      "source-controller,kustomize-controller,helm-controller,notification-controller",
      "--timeout",
      "120s",
    ]);
  });

  it("accepts the extras and a narrower list, refuses unknown, repeated or missing required controllers", () => {
    expect(parseComponents("source-controller, kustomize-controller,image-reflector-controller,image-automation-controller")).toEqual([
      "source-controller",
      "kustomize-controller",
      "image-reflector-controller",
      "image-automation-controller",
    ]);
    expect(resolveSettings([{ origin: () => "t", values: { fluxComponents: "source-controller,kustomize-controller" } }]).fluxComponents).toEqual([
      "source-controller",
      "kustomize-controller",
    ]);
    expect(parseComponents("source-controller,kustomize-controller,tofu-controller")).toBeUndefined();
    expect(parseComponents("source-controller,kustomize-controller,source-controller")).toBeUndefined();
    expect(parseComponents("source-controller,helm-controller")).toBeUndefined();
    expect(() => resolveSettings([{ origin: () => "devcontainer.json", values: { fluxComponents: "helm-controller" } }])).toThrow(
      /fluxComponents="helm-controller" \(from devcontainer.json\) is not valid: a comma-separated list of Flux controllers.*source-controller and kustomize-controller/,
    );
  });

  it("names the controller of a kind that is not served", () => {
    expect(controllerFor("HelmRelease", "helm.toolkit.fluxcd.io/v2")).toBe("helm-controller");
    expect(controllerFor("Alert", "notification.toolkit.fluxcd.io/v1beta3")).toBe("notification-controller");
    expect(controllerFor("ImagePolicy", "image.toolkit.fluxcd.io/v1")).toBe("image-reflector-controller");
    expect(controllerFor("ImageUpdateAutomation", "image.toolkit.fluxcd.io/v1")).toBe("image-automation-controller");
    expect(controllerFor("Certificate", "cert-manager.io/v1")).toBeUndefined();
  });
});

describe("a bootstrap-shaped repository runs unchanged", () => {
  it("keeps the repository's gotk-sync.yaml from re-pointing the source: ours is skipped by kustomize-controller", () => {
    const source = gitRepository("http://172.18.0.5:8418/workspace.git", "main") as { metadata: { annotations: Record<string, string> } };
    expect(source.metadata.annotations).toEqual({ "kustomize.toolkit.fluxcd.io/reconcile": "disabled" });
  });

  it("removes what a team's GitRepository had and ours does not set (their deploy key, verification)", () => {
    const ours = gitRepository("http://x/workspace.git", "main").spec;
    expect(strayFields({ url: "ssh://git@github.com/team/repo", ref: { branch: "main" }, secretRef: { name: "flux-system" }, verify: {} }, ours)).toEqual({
      spec: { secretRef: null, verify: null },
    });
    expect(strayFields(ours, ours)).toBeUndefined();
    expect(strayFields(undefined, ours)).toBeUndefined();
  });

  it("writes the root Kustomization as flux bootstrap does, with one patch keeping its own copy on gitopsPath and our source", () => {
    const root = kustomization("clusters/local") as { spec: { interval: string; patches: Array<{ target: object; patch: string }> } };
    expect(root.spec.interval).toBe("10m0s");
    expect(root.spec.patches).toHaveLength(1);
    expect(root.spec.patches[0]!.target).toEqual({
      group: "kustomize.toolkit.fluxcd.io",
      kind: "Kustomization",
      name: "flux-system",
      namespace: "flux-system",
    });
    expect(JSON.parse(root.spec.patches[0]!.patch)).toEqual([
      { op: "add", path: "/spec/path", value: "./clusters/local" },
      { op: "add", path: "/spec/sourceRef", value: { kind: "GitRepository", name: "flux-system" } },
    ]);
  });
});

describe("a commit reaches every nested level", () => {
  it("asks a Kustomization waiting on a dependency once that dependency applied the commit, not before, and never one at work", () => {
    const waiting = { reason: "DependencyNotReady", message: "dependency 'flux-system/infrastructure' revision is not up to date", applied: OLD };
    const before = [
      ks("flux-system", "True", { applied: C }),
      ks("infrastructure", "Unknown", { applied: OLD, attempted: C }),
      ks("apps", "False", { ...waiting, dependsOn: ["infrastructure"] }),
    ];
    expect(catchUpPlan(before, C).due).toEqual([]);
    expect(catchUpPlan(before, C).behind).toEqual(["Kustomization/flux-system/apps", "Kustomization/flux-system/infrastructure"]);
    const after = [before[0]!, ks("infrastructure", "True", { applied: C }), before[2]!];
    expect(catchUpPlan(after, C).due.map((k) => k.metadata.name)).toEqual(["apps"]);
    // Asked already and not handled yet: not again.
    const asked = [before[0]!, after[1]!, ks("apps", "False", { ...waiting, dependsOn: ["infrastructure"], requested: "t1", handled: "t0" })];
    expect(catchUpPlan(asked, C).due).toEqual([]);
    const done = [before[0]!, after[1]!, ks("apps", "True", { applied: C, dependsOn: ["infrastructure"] })];
    expect(catchUpPlan(done, C)).toEqual({ due: [], behind: [] });
  });

  it("stops waiting for what only a new commit mends: a failure, a unit behind a failed dependency, a cycle", () => {
    const list = [
      ks("flux-system", "True", { applied: C }),
      ks("infrastructure", "False", { attempted: C, message: "kustomize build failed" }),
      ks("apps", "False", { reason: "DependencyNotReady", dependsOn: ["infrastructure"] }),
      ks("a", "False", { reason: "DependencyNotReady", dependsOn: ["b"] }),
      ks("b", "False", { reason: "DependencyNotReady", dependsOn: ["a"] }),
      ks("oci", "Unknown", { source: "OCIRepository" }),
    ];
    expect(catchUpPlan(list, C)).toEqual({ due: [], behind: [] });
  });

  it("asks a unit idle at an older commit only once the commit was fetched a while ago (Flux hands a new revision to none when a dependsOn cycle blocks its ordering)", () => {
    const list = [
      ks("flux-system", "True", { applied: OLD }),
      ks("web", "False", { attempted: OLD, message: "kustomize build failed" }),
      ks("a", "False", { reason: "DependencyNotReady", dependsOn: ["b"] }),
      ks("b", "False", { reason: "DependencyNotReady", dependsOn: ["a"] }),
      ks("busy", "Unknown", { applied: OLD }),
    ];
    expect(catchUpPlan(list, C).due).toEqual([]);
    expect(catchUpPlan(list, C, true).due.map((k) => k.metadata.name)).toEqual(["flux-system", "web"]);
    // Asked already, not handled yet: not again.
    const asked = [ks("flux-system", "True", { applied: OLD, requested: "t1", handled: "t0" })];
    expect(catchUpPlan(asked, C, true).due).toEqual([]);
  });

  it("reads every Kustomization as a unit, the root first", () => {
    const view = viewOf(
      { spec: { url: "http://x", ref: { branch: "main" } } },
      [ks("apps", "True", { applied: C }), ks("flux-system", "Unknown", { attempted: C })],
      false,
    );
    expect(view.units.map((u) => [u.id, u.ready, u.progressing, u.applied])).toEqual([
      ["Kustomization/flux-system/flux-system", false, true, undefined],
      ["Kustomization/flux-system/apps", true, false, C],
    ]);
    expect(view.sync).toMatchObject({ progressing: true, attempted: C });
  });

  describe("from what the Git source's watches hold", () => {
    const waiting = { reason: "DependencyNotReady", dependsOn: ["infrastructure"], applied: OLD };
    const ready = [ks("flux-system", "True", { applied: C }), ks("infrastructure", "True", { applied: C })];
    const source = (commit: string) => ({
      metadata: { name: "flux-system" },
      status: { conditions: [{ type: "Ready", status: "True" }], artifact: { revision: rev(commit) } },
    });
    /** The API as the engine sees it: the Kustomizations it lists, each GET and merge patch recorded. */
    const api = (listed: Kustomization[]) => {
      const calls: string[] = [];
      const fake = {
        get: async (path: string) => {
          calls.push(`GET ${path}`);
          return path === KUSTOMIZATIONS_PATH ? { items: listed } : path === GIT_REPOSITORY_PATH ? source(OLD) : undefined;
        },
        mergePatch: async (path: string) => void calls.push(`PATCH ${path.split("/").pop()}`),
      };
      return { calls, api: fake as unknown as KubeApi };
    };
    const held =
      (kustomizations: Kustomization[], sources: object[] = []): Held =>
      (path) =>
        path === KUSTOMIZATIONS_PATH ? kustomizations : path === GIT_REPOSITORIES_PATH ? sources : undefined;

    it("costs the API nothing while no unit is due", async () => {
      const cluster = api([]);
      const behind = await fluxEngine.catchUp(cluster.api, C, false, held([...ready, ks("apps", "Unknown", { applied: OLD, attempted: C })]));
      expect(behind).toEqual(["Kustomization/flux-system/apps"]);
      expect(cluster.calls).toEqual([]);
    });

    it("reads the API again before asking, and does not ask a unit the watch shows unasked but the API shows asked", async () => {
      const cached = [...ready, ks("apps", "False", waiting)];
      const askedAlready = api([...ready, ks("apps", "False", { ...waiting, requested: "t1", handled: "t0" })]);
      await fluxEngine.catchUp(askedAlready.api, C, false, held(cached));
      expect(askedAlready.calls).toEqual([`GET ${KUSTOMIZATIONS_PATH}`]);
      const unasked = api(cached);
      await fluxEngine.catchUp(unasked.api, C, false, held(cached));
      expect(unasked.calls).toEqual([`GET ${KUSTOMIZATIONS_PATH}`, "PATCH apps"]);
    });

    it("reads the API when the watches hold nothing (not listed yet, or disconnected)", async () => {
      const cluster = api([...ready, ks("apps", "False", waiting)]);
      await fluxEngine.catchUp(cluster.api, C, false, () => undefined);
      expect(cluster.calls).toEqual([`GET ${KUSTOMIZATIONS_PATH}`, "PATCH apps"]);
      const view = await fluxEngine.observe(api([]).api, () => undefined);
      expect(view.source?.revision).toBe(OLD);
    });

    it("observes the source and the units from the watches, and only the key from the API", async () => {
      const cluster = api([]);
      const view = await fluxEngine.observe(cluster.api, held(ready, [{ ...source(OLD), metadata: { name: "other" } }, source(C)]));
      expect(view.source?.revision).toBe(C);
      expect(view.units?.map((u) => u.id)).toEqual(["Kustomization/flux-system/flux-system", "Kustomization/flux-system/infrastructure"]);
      expect(cluster.calls).toEqual([`GET ${SOPS_SECRET_PATH}`]);
    });
  });
});

describe("bad input is named: the object, the file, Flux's message, the fix", () => {
  it("finds each dependsOn cycle once", () => {
    const list = [
      ks("a", "False", { dependsOn: ["b"] }),
      ks("b", "False", { dependsOn: ["c"] }),
      ks("c", "False", { dependsOn: ["a"] }),
      ks("d", "False", { dependsOn: ["a"] }),
      ks("e", "False", { dependsOn: ["e"] }),
    ];
    expect(dependencyCycles(list)).toEqual([["flux-system/a", "flux-system/b", "flux-system/c"], ["flux-system/e"]]);
  });

  it("turns each failing Kustomization and each cycle into a problem with the objects to find files for", () => {
    const message =
      'HelmRelease/podinfo/podinfo dry-run failed: no matches for kind "HelmRelease" in version "helm.toolkit.fluxcd.io/v2"\n/tmp/kustomization-123/apps/base';
    const problems = problemsOf(
      [
        ks("flux-system", "True", { applied: C }),
        ks("apps", "False", { attempted: C, message }),
        ks("x", "False", { reason: "DependencyNotReady", dependsOn: ["y"] }),
        ks("y", "False", { reason: "DependencyNotReady", dependsOn: ["x"] }),
      ],
      false,
    );
    expect(problems.map((p) => p.subject)).toEqual(["Kustomization/flux-system/x", "Kustomization/flux-system/apps"]);
    expect(problems[0]!.message).toBe("dependsOn cycle: flux-system/x -> flux-system/y -> flux-system/x; none of them will ever apply");
    expect(problems[1]!.message).toContain("\napps/base");
    expect(problems[1]!.refs).toEqual([
      { kind: "Kustomization", namespace: "flux-system", name: "apps" },
      { kind: "HelmRelease", namespace: "podinfo", name: "podinfo" },
    ]);
    expect(problems[1]!.fix).toMatch(/helm-controller, which is not installed: add helm-controller to the fluxComponents option/);
  });

  it("gives the fix for a missing source, a path not in the tree, a key that does not decrypt, a missing key", () => {
    expect(fixFor('gitrepositories.source.toolkit.fluxcd.io "nope" not found', false)).toMatch(/sourceRef names a source that does not exist/);
    expect(fixFor("kustomization path not found: stat apps/nowhere: no such file or directory", false)).toMatch(/spec.path names a folder/);
    const wrong = "decryption failed for 'secret.yaml': failed to get the data key required to decrypt the SOPS file";
    expect(fixFor(wrong, true)).toMatch(/does not decrypt this file: put the key whose public key is in .sops.yaml/);
    expect(fixFor(wrong, false)).toMatch(/the cluster holds no age key/);
    expect(refsIn("Source 'GitRepository/flux-system/nope' not found")).toEqual([{ kind: "GitRepository", namespace: "flux-system", name: "nope" }]);
  });

  it("matches a declaration by kind and name, and by namespace only when the file says one", () => {
    const ref = { kind: "Kustomization", namespace: "flux-system", name: "apps" };
    expect(declares({ kind: "Kustomization", metadata: { name: "apps", namespace: "flux-system" } }, ref)).toBe(true);
    expect(declares({ kind: "Kustomization", metadata: { name: "apps" } }, ref)).toBe(true);
    expect(declares({ kind: "Kustomization", metadata: { name: "apps", namespace: "other" } }, ref)).toBe(false);
    expect(declares({ kind: "ConfigMap", metadata: { name: "apps" } }, ref)).toBe(false);
    expect(declares(null, ref)).toBe(false);
  });
});

describe("SOPS: the developer's age key, where sops looks", () => {
  it("looks where sops does on Linux", () => {
    expect(ageKeyFiles({}, "/home/dev")).toEqual(["/home/dev/.config/sops/age/keys.txt"]);
    expect(ageKeyFiles({ SOPS_AGE_KEY_FILE: "/k.txt", XDG_CONFIG_HOME: "/cfg" }, "/home/dev")).toEqual(["/k.txt", "/cfg/sops/age/keys.txt"]);
  });

  it("takes the identities only, from every place, once each", async () => {
    const id = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    const other = "AGE-SECRET-KEY-1PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP";
    expect(ageIdentities(`# created: 2026-11-30\n# public key: age1xyz\n${id}\n\n`)).toEqual([id]);
    const home = mkdtempSync(join(tmpdir(), "age-"));
    mkdirSync(join(home, ".config/sops/age"), { recursive: true });
    writeFileSync(join(home, ".config/sops/age/keys.txt"), `# public key: age1xyz\n${id}\n`);
    writeFileSync(join(home, "other.txt"), `${other}\n${id}\n`);
    expect(await readAgeKey({ SOPS_AGE_KEY_FILE: join(home, "other.txt") }, home)).toEqual({
      secret: `${other}\n${id}\n`,
      count: 2,
      sources: [join(home, "other.txt"), join(home, ".config/sops/age/keys.txt")],
    });
    expect(await readAgeKey({}, join(home, "nobody"))).toBeUndefined();
  });

  it("stores it in the Secret Flux's guide names, under age.agekey", () => {
    const secret = decryptionSecret("AGE-SECRET-KEY-1X\n") as { metadata: object; data: Record<string, string> };
    expect(secret.metadata).toMatchObject({ name: "sops-age", namespace: "flux-system" });
    expect(Buffer.from(secret.data["age.agekey"]!, "base64").toString()).toBe("AGE-SECRET-KEY-1X\n");
  });

  it("says whether decryption is set up", () => {
    const view = (key: boolean, users: string[]) => ({ ...viewOf(undefined, [], key), decryption: { key, users } });
    expect(decryptionOf({ view: view(true, ["Kustomization/flux-system/apps"]), ageKey: { count: 1, sources: ["/home/dev/.config/sops/age/keys.txt"] } })).toBe(
      "SOPS age key in flux-system/sops-age (1 age identity from /home/dev/.config/sops/age/keys.txt); used by Kustomization/flux-system/apps",
    );
    expect(decryptionOf({ view: view(false, ["Kustomization/flux-system/apps"]) })).toMatch(/^NOT set up: Kustomization\/flux-system\/apps decrypt/);
    expect(decryptionOf({ view: view(false, []) })).toMatch(/^not set up \(no age key in/);
  });
});

describe("kind-cluster diff", () => {
  it("runs flux diff recursively with the working tree standing for the workspace's source", () => {
    expect(
      diffArgs({
        context: "kind-loop",
        namespace: "flux-system",
        name: "flux-system",
        path: "/w/clusters/local",
        localSources: { "GitRepository/flux-system/flux-system": "/w" },
        timeoutMs: 120_000,
      }),
    ).toEqual([
      "diff",
      "kustomization",
      "flux-system",
      "--namespace",
      "flux-system",
      "--context",
      "kind-loop",
      "--path",
      "/w/clusters/local",
      "--recursive",
      "--local-sources",
      "GitRepository/flux-system/flux-system=/w",
      "--progress-bar=false",
      "--timeout",
      "120s",
    ]);
  });

  it("takes the Kustomizations one by one when flux diff cannot follow one of another source (an OCIRepository)", () => {
    const one = { id: "Kustomization/flux-system/web", preview: { changed: true, text: "► ConfigMap/team/web-config drifted\n", errors: [] } };
    const two = { id: "Kustomization/flux-system/apps", preview: { changed: false, text: "", errors: ["kustomize build failed: apps/x.yaml"] } };
    expect(combinedPreview([one, two], ["cannot get local path for OCIRepository/flux-system/team-config of kustomization team-config"])).toEqual({
      changed: true,
      text: "📁 Kustomization/flux-system/web changed\n► ConfigMap/team/web-config drifted\n► Kustomization team-config applies from OCIRepository/flux-system/team-config, not from the workspace: not compared\n",
      errors: ["Kustomization/flux-system/apps: kustomize build failed: apps/x.yaml"],
    });
    expect(diffArgs({ context: "c", namespace: "tenant", name: "web", path: "/w/apps/base/web", timeoutMs: 60_000 })).not.toContain("--recursive");
  });

  it("reads flux diff's exit and output: a change, nothing, errors one per line with paths from the repository's top", () => {
    const changed = previewOf(
      { exitCode: 1, stdout: "► ConfigMap/default/a drifted\n", stderr: "⚠️ identified at least one change, exiting with non-zero exit code" },
      "/w",
    );
    expect(changed).toEqual({ changed: true, text: "► ConfigMap/default/a drifted\n", errors: [] });
    expect(previewOf({ exitCode: 0, stdout: "", stderr: "" }, "/w")).toEqual({ changed: false, text: "", errors: [] });
    const failed = previewOf(
      { exitCode: 2, stdout: "", stderr: "✗ [kustomize build failed: /w/apps/base/a.yaml: yaml: line 2, failed to decode /w/apps/b.yaml]" },
      "/w",
    );
    expect(failed.errors).toEqual(["kustomize build failed: apps/base/a.yaml: yaml: line 2", "failed to decode apps/b.yaml"]);
  });

  it("names a file that kustomize quotes by its name alone with its path in the working tree", () => {
    const error = "kustomize build failed: accumulating resources from 'broken.yaml': MalformedYAMLError: yaml: line 2 in File: broken.yaml";
    const files = ["apps/base/web/broken.yaml", "apps/base/web/kustomization.yaml", "clusters/local/apps.yaml"];
    expect(withPaths(error, files)).toBe(`${error} (apps/base/web/broken.yaml)`);
    // Nothing quoted, or a name too common to point at one file: left as it is.
    expect(withPaths("kustomization path not found", files)).toBe("kustomization path not found");
    const common = ["a/kustomization.yaml", "b/kustomization.yaml", "c/kustomization.yaml", "d/kustomization.yaml"];
    expect(withPaths("error in 'kustomization.yaml'", common)).toBe("error in 'kustomization.yaml'");
  });
});
