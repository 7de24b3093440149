import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Every hook and every `kind-cluster` call starts the bundle, so what it loads before choosing a command
 * stays small: the commands (and execa, yaml) are chunks loaded on demand. This follows the entry's
 * static imports through the built files (`npm test` builds first) and names what start-up would load.
 */
const ENTRY = "features/src/kind-cluster/dist/kind-cluster.mjs";

function staticGraph(file: string, seen = new Map<string, string>()): Map<string, string> {
  if (seen.has(file)) return seen;
  const text = readFileSync(file, "utf8");
  seen.set(file, text);
  // esbuild writes static imports as `from"./chunks/x.mjs"` (minified) and dynamic ones as `import("./x.mjs")`.
  for (const [, path] of text.matchAll(/from\s*"(\.\.?\/[^"]+)"/g)) staticGraph(join(dirname(file), path!), seen);
  return seen;
}

describe("the bundle's start-up", () => {
  it("loads neither the YAML parser nor execa before a command is chosen, and under 32 KiB in all", () => {
    const graph = staticGraph(ENTRY);
    const loaded = [...graph.entries()];
    expect(loaded.filter(([, text]) => text.includes("yaml.alias")).map(([file]) => file)).toEqual([]);
    expect(loaded.filter(([, text]) => /execa|spawnSync/.test(text)).map(([file]) => file)).toEqual([]);
    const bytes = loaded.reduce((sum, [, text]) => sum + Buffer.byteLength(text), 0);
    expect(bytes).toBeLessThan(32 * 1024);
  });

  it("a tools-only hook (createCluster false) returns without loading the YAML parser", () => {
    // A module hook that names, on stderr, every file of the bundle node loads.
    const dir = mkdtempSync(join(tmpdir(), "bundle-load-"));
    writeFileSync(
      join(dir, "hooks.mjs"),
      'export async function load(url, context, next) { if (url.includes("/dist/")) process.stderr.write(`LOADED ${url.split("/dist/")[1]}\\n`); return next(url, context); }\n',
    );
    writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(`file://${dir}/hooks.mjs`)});\n`);
    const run = spawnSync(process.execPath, ["--import", join(dir, "register.mjs"), ENTRY, "up", "--hook", "postCreate"], {
      env: { ...process.env, KIND_CLUSTER_CREATE_CLUSTER: "false" },
      encoding: "utf8",
    });
    rmSync(dir, { recursive: true });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain("createCluster is false: the tools are installed, no cluster is managed");
    const loaded = [...run.stderr.matchAll(/^LOADED (\S+)$/gm)].map(([, file]) => file!);
    expect(loaded).toContain("kind-cluster.mjs");
    expect(loaded.filter((file) => readFileSync(join(dirname(ENTRY), file), "utf8").includes("yaml.alias"))).toEqual([]);
  });
});
