import { setTimeout as sleep } from "node:timers/promises";
import type { Endpoint } from "../apiserver.js";
import { GIT_PATH, observeGitOps, requestReconcile } from "../gitops.js";
import { readKubeconfig } from "../kubeconfig/index.js";
import { startGitServer } from "./git-server.js";
import { watchHead, type Head } from "./head.js";

/**
 * The GitOps service in zone 1: the workspace repository served read-only on the cluster's network,
 * and a watch on its checked-out HEAD. Each new HEAD is delivered: Flux is asked to fetch at once, and
 * asked again every few seconds until its source holds that commit (a request made while the
 * controllers restart with their node would otherwise wait for Flux's own poll).
 */
export interface GitOpsServiceConfig {
  repo: string;
  /** The dev container's address on the cluster's Docker network: the only place the server listens. */
  host: string;
  port: number;
  kubeconfig: string;
  clusterName: string;
}

const ASK_AGAIN_MS = 5_000;
const GIVE_UP_MS = 5 * 60_000;

export async function startGitOpsService(config: GitOpsServiceConfig, log: (line: string) => void): Promise<{ close(): Promise<void>; summary: string }> {
  const server = await startGitServer({ repo: config.repo, host: config.host, port: config.port, path: GIT_PATH, log });
  let stopped = false;
  let latest = 0;

  // Credentials are read from the kubeconfig each time: `up` may have rewritten it since we started.
  const endpoint = async (): Promise<Endpoint> => {
    const { entry } = await readKubeconfig(config.kubeconfig, config.clusterName);
    if (!entry) throw new Error(`no entry for cluster ${config.clusterName} in ${config.kubeconfig}`);
    return entry;
  };

  /** Until the source holds `head` (or a newer HEAD takes over, or time runs out). */
  const deliver = async (head: Head, why: string) => {
    const mine = ++latest;
    const label = `${head.branch ?? "detached HEAD"} at ${head.commit.slice(0, 12)}`;
    const deadline = Date.now() + GIVE_UP_MS;
    let asked = 0;
    while (!stopped && mine === latest && Date.now() < deadline) {
      try {
        const api = await endpoint();
        if ((await observeGitOps(api)).source?.revision === head.commit) return log(`fetched by Flux: ${label}`);
        if (Date.now() - asked >= ASK_AGAIN_MS) {
          await requestReconcile(api, head.branch);
          log(`${asked ? "asked again" : "reconcile requested"} (${why}): ${label}`);
          asked = Date.now();
        }
      } catch (error) {
        log(`could not reach the cluster (${why}, ${label}): ${(error as Error).message}`);
      }
      await sleep(1_000);
    }
    if (mine === latest && !stopped) log(`gave up waiting for Flux to fetch ${label}; its own interval will`);
  };

  const watcher = watchHead(config.repo, (head) => void deliver(head, "HEAD moved"));
  // Commits made while the service was down are delivered now: the HEAD the watch starts from.
  void watcher.ready.then((head) => (head ? deliver(head, "service started") : log(`cannot read HEAD of ${config.repo} (no commit yet?); watching for one`)));
  return {
    summary: `${server.url} (read-only), watching ${config.repo}`,
    close: async () => {
      stopped = true;
      watcher.stop();
      await server.close();
    },
  };
}
