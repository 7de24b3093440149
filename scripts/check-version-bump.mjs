#!/usr/bin/env node
// Fails when the Feature changed since BASE (a git ref) but its version did not go up, as the
// publishing action needs: it publishes by version and never overwrites an existing one.
//   node scripts/check-version-bump.mjs [BASE]     (default: origin/main)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const FEATURE = "features/src/kind-cluster";
const MANIFEST = `${FEATURE}/devcontainer-feature.json`;
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

const git = (...args) => execFileSync("git", args, { encoding: "utf8" }).trim();

/** -1, 0 or 1, comparing two x.y.z versions. */
export function compareVersions(a, b) {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  return 0;
}

function main() {
  const base = process.argv[2] ?? "origin/main";
  const current = JSON.parse(readFileSync(MANIFEST, "utf8")).version;
  if (!SEMVER.test(current ?? "")) fail(`${MANIFEST}: version ${JSON.stringify(current)} is not semver (x.y.z)`);
  const changed = git("diff", "--name-only", base, "--", FEATURE).split("\n").filter(Boolean);
  if (changed.length === 0) return ok(`the Feature did not change since ${base} (version ${current})`);
  let previous;
  try {
    previous = JSON.parse(git("show", `${base}:${MANIFEST}`)).version;
  } catch {
    return ok(`the Feature is new since ${base} (version ${current})`);
  }
  if (compareVersions(current, previous) <= 0)
    fail(`the Feature changed since ${base} (${changed.join(", ")}) but its version is still ${current} (was ${previous}): bump "version" in ${MANIFEST}`);
  ok(`the Feature changed and its version went from ${previous} to ${current}`);
}

function ok(message) {
  console.log(`check-version-bump: ${message}`);
}

function fail(message) {
  console.error(`check-version-bump: ${message}`);
  process.exit(1);
}

main();
