import { open, readFile, rm } from "node:fs/promises";
import { ZoneError } from "./errors.js";

/**
 * An exclusive lock file holding the owner's pid, in the style kubectl and kind use for
 * `<kubeconfig>.lock`. A lock whose owner is gone (crash, killed hook) is taken over.
 */
export interface LockOptions {
  timeoutMs: number;
  /** What is being locked, for the error message. */
  purpose: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function tryAcquire(path: string): Promise<boolean> {
  try {
    const handle = await open(path, "wx", 0o600);
    await handle.writeFile(String(process.pid));
    await handle.close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

async function removeIfStale(path: string): Promise<void> {
  const text = await readFile(path, "utf8").catch(() => "");
  const pid = Number(text.trim());
  // An empty file may be a lock being written right now: leave it to its owner for this round.
  if (Number.isInteger(pid) && pid > 0 && !alive(pid)) await rm(path, { force: true });
}

export async function withLock<T>(path: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let delay = 25;
  while (!(await tryAcquire(path))) {
    await removeIfStale(path);
    if (Date.now() > deadline) {
      throw new ZoneError(
        "dev container",
        `timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for the lock on ${options.purpose} (${path})`,
        `another kind-cluster or kubectl process holds it; if none runs, delete ${path}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 500);
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
