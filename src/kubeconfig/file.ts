import { existsSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { withLock } from "../lock.js";

/** Zone 1's kubeconfig on disk: where it is, and a locked, atomic, mode-0600 rewrite. */

/** kubectl's rule: the first existing file of $KUBECONFIG, else its first entry, else ~/.kube/config. */
export function kubeconfigPath(env: NodeJS.ProcessEnv, exists: (p: string) => boolean = existsSync, home = homedir()): string {
  const paths = (env.KUBECONFIG ?? "").split(":").filter(Boolean);
  return paths.find(exists) ?? paths[0] ?? join(home, ".kube", "config");
}

export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw error;
  }
}

/** Writes beside the target, syncs, then renames: readers see the old file or the new one, never half. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Reads, transforms and rewrites the kubeconfig under `<path>.lock`. A transform that throws
 * (a malformed file) leaves the file untouched. Returns whether anything changed.
 */
export async function updateKubeconfig(path: string, transform: (text: string) => string): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withLock(`${path}.lock`, { timeoutMs: 30_000, purpose: `the kubeconfig ${path}` }, async () => {
    const before = await readText(path);
    const after = transform(before);
    const mode = before === "" ? 0 : (await stat(path)).mode & 0o777;
    if (after === before && mode === 0o600) return false;
    await writeAtomic(path, after);
    return true;
  });
}
