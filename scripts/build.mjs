// Bundles the CLI into one dependency-free file inside the Feature, so the Feature folder is self-contained.
import { build } from "esbuild";
import { cpSync, readFileSync, rmSync, statSync } from "node:fs";

const feature = JSON.parse(readFileSync("features/src/kind-cluster/devcontainer-feature.json", "utf8"));
const outfile = "features/src/kind-cluster/dist/kind-cluster.cjs";
const started = performance.now();
await build({
  entryPoints: ["src/cli.ts"],
  bundle: true,
  platform: "node",
  target: "node18",
  format: "cjs",
  minify: true,
  legalComments: "none",
  banner: { js: "#!/usr/bin/env node" },
  define: { __VERSION__: JSON.stringify(feature.version) },
  outfile,
});
const kib = (statSync(outfile).size / 1024).toFixed(0);
console.log(`built ${outfile} (${kib} KiB) in ${Math.round(performance.now() - started)} ms`);

// Our own dev container uses the Feature as a local Feature, which must live inside .devcontainer/
// (the devcontainer CLI does not follow a link out of it): keep a built copy there (gitignored).
rmSync(".devcontainer/kind-cluster", { recursive: true, force: true });
cpSync("features/src/kind-cluster", ".devcontainer/kind-cluster", { recursive: true });
