import { readFileSync } from "node:fs";
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
});
