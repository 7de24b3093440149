import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

/** The Feature's README is generated from devcontainer-feature.json and NOTES.md, as the publishing action does. */
describe("Feature README", () => {
  it("is what `npm run docs` generates from the current devcontainer-feature.json and NOTES.md", async () => {
    const dir = mkdtempSync(join(tmpdir(), "docs-"));
    cpSync("features/src/kind-cluster/devcontainer-feature.json", join(dir, "kind-cluster/devcontainer-feature.json"));
    cpSync("features/src/kind-cluster/NOTES.md", join(dir, "kind-cluster/NOTES.md"));
    await execa("node_modules/.bin/devcontainer", ["features", "generate-docs", "-p", dir, "-r", "REGISTRY", "-n", "OWNER/REPO"]);
    const fresh = readFileSync(join(dir, "kind-cluster/README.md"), "utf8");
    expect(readFileSync("features/src/kind-cluster/README.md", "utf8"), "run `npm run docs` and commit the README").toBe(fresh);
  }, 30_000);

  it("documents every option", () => {
    const readme = readFileSync("features/src/kind-cluster/README.md", "utf8");
    const options = Object.keys(JSON.parse(readFileSync("features/src/kind-cluster/devcontainer-feature.json", "utf8")).options);
    expect(options.length).toBeGreaterThan(10);
    for (const option of options) expect(readme).toContain(`| ${option} |`);
  });
});
