import type { KubeApi } from "../apiserver.js";
import type { Held } from "../gitops/engine.js";
import { gitopsEngine } from "../gitops/index.js";
import { inform } from "../informer.js";
import { clusterApi } from "./connect.js";
import { startGitServer } from "./git-server.js";
import { watchHead, type Head } from "./head.js";
import type { Running, ServiceLog } from "./service.js";

/**
 * The Git source service in zone 1: the workspace repository served read-only on the cluster's
 * network, and a watch on its checked-out HEAD. Each new HEAD is delivered: the GitOps engine is asked
 * to fetch at once, and asked again every few seconds until its source holds that commit (a request
 * made while the controllers restart with their node would otherwise wait for the engine's own poll);
 * then the engine is asked to move every nested unit along until each has done with it.
 * Engine-neutral: the engine is named in the configuration.
 */
export interface GitSourceConfig {
  repo: string;
  /** The dev container's address on the cluster's Docker network: the only place the server listens. */
  host: string;
  port: number;
  kubeconfig: string;
  clusterName: string;
  /** The GitOps engine that follows the repository (the `gitops` option). */
  engine: string;
}

/** Where the dev container serves the repository on the cluster's network (the first cluster's; see gitPort). */
const GIT_PORT = 8418;
export const GIT_PATH = "/workspace.git";

/** The URL the cluster fetches from. Pure. */
export function gitSourceUrl(host: string, port: number): string {
  return `http://${host}:${port}${GIT_PATH}`;
}

/**
 * The port of a cluster's Git server in this container: the one it has, else the first from GIT_PORT
 * that no other cluster's uses (every kind cluster shares the `kind` network, where this container has
 * one address). Pure.
 */
export function gitPort(own: number | undefined, others: readonly number[]): number {
  if (own !== undefined) return own;
  let port = GIT_PORT;
  while (others.includes(port)) port++;
  return port;
}

const ASK_AGAIN_MS = 5_000;
const HEAD_MOVED = "HEAD moved";
/** A unit still idle at an older commit this long after the fetch was not handed the new one: ask it. */
const NUDGE_IDLE_MS = 3_000;
const GIVE_UP_MS = 5 * 60_000;
/**
 * The loop is looked at again as soon as the engine's objects change (a watch), and at the latest after
 * this long: a safety net while the watch reconnects, and the clock that NUDGE_IDLE_MS and
 * ASK_AGAIN_MS are counted on.
 */
const pollMs = (since: number) => (Date.now() - since >= 30_000 ? 2_000 : 500);

/** A counter of changes seen, and a wait for the next one (or a timeout). */
export function changes() {
  let seen = 0;
  const waiting = new Set<(changed: boolean) => void>();
  return {
    get count() {
      return seen;
    },
    changed() {
      seen++;
      for (const wake of waiting) wake(true);
      waiting.clear();
    },
    /** Resolves to true once a change after `since` was seen, or to false after `ms` without one. */
    after(since: number, ms: number): Promise<boolean> {
      if (seen !== since) return Promise.resolve(true);
      return new Promise((resolve) => {
        // A plain timer: an aborted timers/promises sleep builds an AbortError, stack and all, every wake.
        const wake = (changed: boolean) => {
          clearTimeout(timer);
          waiting.delete(wake);
          resolve(changed);
        };
        const timer = setTimeout(() => wake(false), ms);
        waiting.add(wake);
      });
    },
  };
}

export async function startGitSource(config: GitSourceConfig, log: ServiceLog): Promise<Running> {
  // The repository is for the cluster's network alone: an address that means "every interface" is refused,
  // whatever the configuration file says.
  if (["0.0.0.0", "::", ""].includes(config.host))
    throw new Error(`the Git source must listen on one address of the cluster's network, not ${JSON.stringify(config.host)}`);
  const server = await startGitServer({ repo: config.repo, host: config.host, port: config.port, path: GIT_PATH, log });
  const engine = gitopsEngine(config.engine);
  let stopped = false;
  let latest = 0;
  const engineChanges = changes();

  const connect = clusterApi(config.kubeconfig, config.clusterName);
  const watchedItems = new Map<string, ReadonlyMap<string, unknown>>();
  const held: Held = (path) => {
    const items = watchedItems.get(path);
    return items && [...items.values()];
  };

  /** Until the source holds `head` and every unit has done with it (or a newer HEAD takes over, or time runs out). */
  const deliver = async (head: Head, why: string) => {
    const mine = ++latest;
    const label = `${head.branch ?? "detached HEAD"} at ${head.commit.slice(0, 12)}`;
    const start = Date.now();
    let asked = 0;
    let fetched = false;
    let fetchedAt = 0;
    const ask = async (api: KubeApi) => {
      await engine.requestSync(api, head.branch);
      log(`${asked ? "asked again" : "reconcile requested"} (${why}): ${label}`);
      asked = Date.now();
    };
    // Woken by a change, the loop reads what the watches hold; woken by the clock (a watch that has gone
    // quiet, perhaps stalled), it asks the API itself.
    let reader: Held | undefined = held;
    while (!stopped && mine === latest && Date.now() < start + GIVE_UP_MS) {
      const seen = engineChanges.count;
      try {
        const api = await connect();
        // A HEAD that has just moved is not fetched yet: ask before looking.
        if (why === HEAD_MOVED && asked === 0) await ask(api);
        if (!fetched && (await engine.observe(api, reader)).source?.revision === head.commit) {
          fetched = true;
          fetchedAt = Date.now();
          log(`fetched by ${engine.name}: ${label}`);
        }
        if (fetched && (await engine.catchUp(api, head.commit, Date.now() - fetchedAt >= NUDGE_IDLE_MS, reader)).length === 0)
          return log(`every unit has done with ${label}`);
        if (!fetched && Date.now() - asked >= ASK_AGAIN_MS) await ask(api);
      } catch (error) {
        log(`could not reach the cluster (${why}, ${label}): ${(error as Error).message}`);
      }
      reader = (await engineChanges.after(seen, pollMs(start))) ? held : undefined;
    }
    if (mine === latest && !stopped) log(`gave up waiting for ${engine.name} to ${fetched ? "apply" : "fetch"} ${label}; its own interval will`);
  };

  // Each level of nested units waits for the one it depends on: it is asked the moment that one is done.
  // What the watches hold is read in place of the API (a look no longer costs the cluster a request);
  // a watch that lost its connection holds nothing until it has listed again.
  const informers = engine.watched.map((path) =>
    inform({
      connect,
      path,
      onChange: (items) => {
        watchedItems.set(path, items);
        engineChanges.changed();
      },
      onState: ({ connected }) => {
        if (!connected) watchedItems.delete(path);
      },
    }),
  );
  const watcher = watchHead(config.repo, (head) => void deliver(head, HEAD_MOVED));
  // Commits made while the service was down are delivered now: the HEAD the watch starts from.
  void watcher.ready.then((head) => (head ? deliver(head, "service started") : log(`cannot read HEAD of ${config.repo} (no commit yet?); watching for one`)));
  return {
    summary: `${server.url} (read-only), watching ${config.repo}`,
    close: async () => {
      stopped = true;
      watcher.stop();
      for (const informer of informers) informer.stop();
      await server.close();
    },
  };
}
