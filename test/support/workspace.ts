import { execa } from "execa";
import { expect } from "vitest";
import { sh } from "./devcontainer.js";

/**
 * A project's workspace as the developer keeps it: a Git repository of theirs (uid 1234, the dev
 * user of devProject), committed to from inside the dev container, and the cluster watched from there.
 */

/** Makes `dir` a repository with everything in it committed, owned by the dev user. */
export async function initRepository(dir: string): Promise<void> {
  const init = `cd '${dir}' && git init -q -b main && git add -A && git -c user.name=dev -c user.email=dev@example.test commit -q -m first && chown -R 1234:1234 .`;
  const out = await execa("bash", ["-c", init], { reject: false });
  expect(out.exitCode, out.stderr).toBe(0);
}

/** The developer's Git identity in a new dev container. */
export async function setGitIdentity(dir: string): Promise<void> {
  await sh(dir, "git config --global user.name dev && git config --global user.email dev@example.test");
}

/** A word for sh: single-quoted, its own single quotes kept. */
const quoted = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** Writes files in the workspace and commits them, in the dev container, as the developer. */
export async function commitFiles(dir: string, message: string, files: Record<string, string>): Promise<void> {
  const writes = Object.entries(files).map(([path, text]) => `mkdir -p "$(dirname ${quoted(path)})" && printf '%s' ${quoted(text)} > ${quoted(path)}`);
  const script = [...writes, "git add -A", `git commit -q -m ${quoted(message)}`].join(" && ");
  const out = await sh(dir, `set -e; cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"; ${script}`);
  expect(out.exitCode, out.stderr).toBe(0);
}

/** Runs `script` in the dev container until its output satisfies `done`; returns the seconds it took. */
export async function waitFor(dir: string, what: string, script: string, done: (out: string) => boolean, timeoutMs = 90_000): Promise<number> {
  const start = Date.now();
  let last = "";
  while (Date.now() - start < timeoutMs) {
    last = (await sh(dir, `${script} 2>&1`)).stdout;
    if (done(last)) return (Date.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last: ${last.slice(-500)}`);
}

/** A ConfigMap in namespace default holding one value. */
export function configMapYaml(name: string, value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  value: "${value}"\n`;
}
