import { dirname } from "node:path";
import { withLocks } from "../lock.js";
import { credentialsFromKind, decodeKubeconfig, type ClusterEntry, type Credentials } from "./document.js";
import { ensureDir, readBytes, writeKubeconfigFile } from "./file.js";
import { contextName, kubeconfigFiles } from "./names.js";
import { mergedView, planExport, planRemove, type Rewrite, type SourceFile } from "./plan.js";

/**
 * Zone 1's kubeconfig: the one front door (like kind's pkg/cluster/internal/kubeconfig). Export our
 * entry, remove it, read it back, name it. A kubeconfig here is what kubectl uses: the KUBECONFIG
 * list of files (colon-separated) or ~/.kube/config. Locking, merging, checking and writing stay behind it.
 */
export type { ClusterEntry, Credentials };
export { credentialsFromKind };
export { contextName, kubeconfigFiles, kubeconfigPath } from "./names.js";

export interface KubeconfigView {
  path: string;
  /** Our complete entry (server, TLS server name, credentials), if there is one. */
  entry?: ClusterEntry;
  currentContext?: string;
}

/** What a write did: whether anything changed, which files were written, and which of them others may read. */
export interface WriteResult {
  changed: boolean;
  files: string[];
  /** Written files whose kept mode lets the group or others read them, with that mode (octal). */
  readableByOthers: Array<{ path: string; mode: string }>;
}

async function readSources(files: string[]): Promise<SourceFile[]> {
  return Promise.all(
    files.map(async (path) => {
      const bytes = await readBytes(path);
      return { path, text: bytes && decodeKubeconfig(bytes, path) };
    }),
  );
}

/** Reads the files once, merged as kubectl merges them. Throws a zone-1 error for a malformed file. */
export async function readKubeconfig(path: string, clusterName: string): Promise<KubeconfigView> {
  return { path, ...mergedView(await readSources(kubeconfigFiles(path)), contextName(clusterName)) };
}

/**
 * Under the lock of every file of the list (as kubectl locks them), reads them, plans the change,
 * checks every new text, then writes. A malformed file or a refused change writes nothing.
 */
async function rewrite(path: string, plan: (sources: SourceFile[]) => Rewrite[]): Promise<WriteResult> {
  const files = kubeconfigFiles(path);
  // kubectl creates the directories of all the files it locks; so must we, to lock them the same way.
  for (const file of files) await ensureDir(dirname(file));
  const locks = files.map((file) => `${file}.lock`);
  // The wait outlasts the lease, so that an empty lock left by a killed kubectl is taken over, not fatal.
  return withLocks(locks, { timeoutMs: 90_000, leaseMs: 60_000, purpose: `the kubeconfig ${path}` }, async () => {
    const rewrites = plan(await readSources(files));
    const readableByOthers: WriteResult["readableByOthers"] = [];
    for (const r of rewrites) {
      const mode = await writeKubeconfigFile(r.path, r.text);
      // The user's mode is kept, never changed behind their back; credentials in a readable file are said aloud.
      if (mode & 0o044) readableByOthers.push({ path: r.path, mode: (mode & 0o777).toString(8) });
    }
    return { changed: rewrites.length > 0, files: rewrites.map((r) => r.path), readableByOthers };
  });
}

/**
 * Writes our cluster, user and context and makes the context current (with `makeCurrent` false, only
 * when no context is); every other entry stays.
 */
export function exportEntry(path: string, entry: ClusterEntry, makeCurrent = true): Promise<WriteResult> {
  return rewrite(path, (sources) => planExport(sources, entry, makeCurrent));
}

/** Removes our three entries (and current-context when it is ours); every other entry stays. */
export function removeEntry(path: string, clusterName: string): Promise<WriteResult> {
  return rewrite(path, (sources) => planRemove(sources, contextName(clusterName)));
}
