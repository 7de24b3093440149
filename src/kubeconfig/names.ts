import { homedir } from "node:os";
import { join } from "node:path";

/**
 * The kubeconfig's names: which files kubectl uses and what our entries are called. Pure, and free of
 * the YAML parser, so the CLI can know them at start-up; everything else goes through the front door
 * (index.ts), which re-exports these.
 */

/** kind's naming: the cluster, user and context of a cluster are all `kind-<clusterName>`. */
export function contextName(clusterName: string): string {
  return `kind-${clusterName}`;
}

/** The kubeconfig kubectl uses: $KUBECONFIG (its files deduplicated, as client-go does) or ~/.kube/config. */
export function kubeconfigPath(env: NodeJS.ProcessEnv, home = homedir()): string {
  const files = kubeconfigFiles(env.KUBECONFIG ?? "");
  return files.length > 0 ? files.join(":") : join(home, ".kube", "config");
}

/** The files of a kubeconfig list: client-go splits on ":", skips empty names and keeps the first of duplicates. */
export function kubeconfigFiles(list: string): string[] {
  return [...new Set(list.split(":").filter(Boolean))];
}
