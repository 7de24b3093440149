import { credentialsFromKind, currentContext, findClusterEntry, removeClusterEntry, upsertClusterEntry, type ClusterEntry, type Credentials } from "./document.js";
import { kubeconfigPath, readText, updateKubeconfig } from "./file.js";

/**
 * Zone 1's kubeconfig: the one front door (like kind's pkg/cluster/internal/kubeconfig). Export our
 * entry, remove it, read it back, name it. Locking, reading, merging and writing stay behind it.
 */
export type { ClusterEntry, Credentials };
export { credentialsFromKind, kubeconfigPath };

/** kind's naming: the cluster, user and context of a cluster are all `kind-<clusterName>`. */
export function contextName(clusterName: string): string {
  return `kind-${clusterName}`;
}

export interface KubeconfigView {
  path: string;
  /** Our complete entry (server, TLS server name, credentials), if there is one. */
  entry?: ClusterEntry;
  currentContext?: string;
}

/** Reads the file once: our entry and the current context. Throws a zone-1 error for a malformed file. */
export async function readKubeconfig(path: string, clusterName: string): Promise<KubeconfigView> {
  const text = await readText(path);
  return { path, entry: findClusterEntry(text, contextName(clusterName), path), currentContext: currentContext(text, path) };
}

/** Writes our cluster, user and context and makes the context current; every other entry stays. */
export async function exportEntry(path: string, entry: ClusterEntry): Promise<boolean> {
  return updateKubeconfig(path, (text) => upsertClusterEntry(text, entry, path));
}

/** Removes our three entries; every other entry stays. */
export async function removeEntry(path: string, clusterName: string): Promise<boolean> {
  return updateKubeconfig(path, (text) => (text.trim() === "" ? text : removeClusterEntry(text, contextName(clusterName), path)));
}
