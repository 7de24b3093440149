import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { beforeEach, describe, expect, it } from "vitest";

/** scripts/check-version-bump.mjs against a real git history. */
const SCRIPT = resolve("scripts/check-version-bump.mjs");
let repo = "";

const manifest = (version: string) => JSON.stringify({ id: "kind-cluster", version }, null, 2);
const git = (...args: string[]) => execa("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: repo });
const write = (path: string, text: string) => writeFile(join(repo, path), text);
const check = () => execa("node", [SCRIPT, "base"], { cwd: repo, reject: false });

beforeEach(async () => {
  repo = await mkdtemp(join(tmpdir(), "bump-"));
  await mkdir(join(repo, "features/src/kind-cluster"), { recursive: true });
  await git("init", "-q");
  await write("features/src/kind-cluster/devcontainer-feature.json", manifest("1.2.3"));
  await write("features/src/kind-cluster/install.sh", "echo one\n");
  await write("README.md", "docs\n");
  await git("add", "-A");
  await git("commit", "-qm", "base");
  await git("branch", "base");
});

describe("check-version-bump", () => {
  it("passes when the Feature did not change", async () => {
    await write("README.md", "more docs\n");
    const result = await check();
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("did not change");
  });

  it("fails when the Feature changed without a bump, naming the files and the fix", async () => {
    await write("features/src/kind-cluster/install.sh", "echo two\n");
    const result = await check();
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("features/src/kind-cluster/install.sh");
    expect(result.stderr).toContain('bump "version"');
  });

  it("passes when the Feature changed and the version went up", async () => {
    await write("features/src/kind-cluster/install.sh", "echo two\n");
    await write("features/src/kind-cluster/devcontainer-feature.json", manifest("1.10.0"));
    const result = await check();
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("from 1.2.3 to 1.10.0");
  });

  it("fails when the version went down or is not semver", async () => {
    await write("features/src/kind-cluster/devcontainer-feature.json", manifest("1.2.2"));
    expect((await check()).exitCode).toBe(1);
    await write("features/src/kind-cluster/devcontainer-feature.json", manifest("1.3"));
    expect((await check()).stderr).toContain("is not semver");
  });
});
