// Bundles the CLI into one dependency-free file inside the Feature, so the Feature folder is self-contained.
import { build } from "esbuild";
import { cpSync, readFileSync, rmSync, statSync } from "node:fs";

const feature = JSON.parse(readFileSync("features/src/kind-cluster/devcontainer-feature.json", "utf8"));
const outdir = "features/src/kind-cluster/dist";
const started = performance.now();
rmSync(outdir, { recursive: true, force: true });
// ESM with code splitting: each command is a chunk loaded when it runs, so start-up stays small.
const result = await build({
  entryPoints: { "kind-cluster": "src/cli.ts" },
  bundle: true,
  splitting: true,
  platform: "node",
  target: "node18",
  format: "esm",
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  minify: true,
  legalComments: "none",
  // Bundled CommonJS dependencies may call require(); give them one in the ESM output.
  banner: { js: 'import { createRequire as __kcRequire } from "node:module"; const require = __kcRequire(import.meta.url);' },
  define: { __VERSION__: JSON.stringify(feature.version) },
  outdir,
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
const entry = statSync(`${outdir}/kind-cluster.mjs`).size;
console.log(
  `built ${outdir}/kind-cluster.mjs (${(entry / 1024).toFixed(0)} KiB entry, ${(bytes / 1024).toFixed(0)} KiB in all) in ${Math.round(performance.now() - started)} ms`,
);

// Our own dev container uses the Feature as a local Feature, which must live inside .devcontainer/
// (the devcontainer CLI does not follow a link out of it): keep a built copy there (gitignored).
rmSync(".devcontainer/kind-cluster", { recursive: true, force: true });
cpSync("features/src/kind-cluster", ".devcontainer/kind-cluster", { recursive: true });
