import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { locateProblems } from "../../src/gitops/problems.js";
import { git } from "../support/git.js";

/** The files a problem names come from the committed tree (what the cluster applies), read with real git. */
describe("the files of the committed tree that declare an object", () => {
  it("finds the Kustomization's file and the file of the object Flux's message names, at HEAD only", async () => {
    const repo = mkdtempSync(join(tmpdir(), "locate-"));
    await git(repo, ["init", "-q", "-b", "main"]);
    mkdirSync(join(repo, "clusters/local"), { recursive: true });
    mkdirSync(join(repo, "apps/helm"), { recursive: true });
    writeFileSync(
      join(repo, "clusters/local/apps.yaml"),
      "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\n---\nkind: ConfigMap\nmetadata:\n  name: apps\n",
    );
    // No namespace in the file (an overlay sets it): found by kind and name.
    writeFileSync(join(repo, "apps/helm/release.yaml"), "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: 'podinfo'\n");
    writeFileSync(join(repo, "apps/helm/broken.yaml"), "kind: HelmRelease\nmetadata: [name: podinfo\n");
    await git(repo, ["add", "-A"]);
    await git(repo, ["commit", "-qm", "c"]);
    // Uncommitted: the cluster does not apply it, so it is not named.
    writeFileSync(join(repo, "clusters/local/other.yaml"), "kind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\n");

    const [problem] = await locateProblems(repo, [
      {
        subject: "Kustomization/flux-system/apps",
        message: "HelmRelease/team/podinfo dry-run failed",
        refs: [
          { kind: "Kustomization", namespace: "flux-system", name: "apps" },
          { kind: "HelmRelease", namespace: "team", name: "podinfo" },
          { kind: "GitRepository", namespace: "flux-system", name: "absent" },
        ],
      },
    ]);
    expect(problem!.files).toEqual(["clusters/local/apps.yaml", "apps/helm/release.yaml"]);
  });
});
