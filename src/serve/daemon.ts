import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ZoneError } from "../errors.js";
import { SERVICE_KINDS, type ServiceKind } from "./kinds.js";
import { logTail, privateDir, readPrivate, removeFile, runtimeDir, writePrivate } from "./runtime.js";
import { ensureSupervisor, isOurs, type Supervision, supervisorRuns } from "./supervisor.js";

/**
 * Zone 1's background service instances, as `up`, `down`, `status` and `doctor` see them. An instance
 * is keyed by its kind, its cluster and its instance name, so two clusters' services live side by side
 * in one container. `up` writes what it wants into the runtime folder (runtime.ts) and the supervisor
 * (supervisor.ts) makes it so and keeps it so; the instance records itself once it serves.
 */
export interface ServiceKey {
  kind: ServiceKind;
  /** The cluster it serves; "" for a service of the whole container (the registry relay). */
  cluster: string;
  /** Tells instances of one kind and cluster apart (a port, a name). */
  instance: string;
}

export interface ServiceState {
  pid: number;
  /** The process's start time (from /proc), so a recycled pid is not mistaken for it. */
  started: string;
  configHash: string;
  ready: boolean;
  /** What it serves, for status lines (e.g. "127.0.0.1:5001 -> kind-cluster-registry:5000"). */
  summary?: string;
}

/** What the config file holds: the key, the kind's configuration and its hash. */
export interface ServiceFile<C = unknown> {
  key: ServiceKey;
  config: C;
  configHash: string;
}

export interface ServiceInstance<C = unknown> extends ServiceFile<C> {
  /** The live process, when one runs (with this configuration or a previous one). */
  state?: ServiceState;
  /** What the supervisor recorded: restarts, the last exit, whether it is failing. */
  supervision?: Supervision;
  log: string;
}

const CONTAINER_SCOPE = "_container";
const INSTANCE = /^[A-Za-z0-9._-]+$/;

/** The key of an instance; the instance name becomes part of file names, so it is checked. */
export function serviceKey(kind: ServiceKind, cluster: string, instance = "default"): ServiceKey {
  if (!INSTANCE.test(instance)) throw new Error(`invalid service instance name ${JSON.stringify(instance)}`);
  return { kind, cluster, instance };
}

/** The files of an instance: <runtime>/<cluster or _container>/<kind>.<instance>.{json,state.json,supervision.json,log}. */
export function servicePaths(key: ServiceKey, dir: string) {
  const stem = join(dir, key.cluster || CONTAINER_SCOPE, `${key.kind}.${key.instance}`);
  return { config: `${stem}.json`, state: `${stem}.state.json`, supervision: `${stem}.supervision.json`, log: `${stem}.log` };
}

function hashConfig(config: unknown): string {
  return createHash("sha256").update(JSON.stringify(config)).digest("hex").slice(0, 16);
}

const readJson = async <T>(path: string): Promise<T | undefined> => {
  const text = await readPrivate(path);
  try {
    return text ? (JSON.parse(text) as T) : undefined;
  } catch {
    return undefined;
  }
};

/** Written by the service itself once it serves. */
export async function writeState(key: ServiceKey, state: ServiceState, dir: string): Promise<void> {
  await writePrivate(servicePaths(key, dir).state, JSON.stringify(state));
}

/** The configuration an instance was last asked for. */
export async function readServiceFile<C>(path: string): Promise<ServiceFile<C> | undefined> {
  return readJson<ServiceFile<C>>(path);
}

/** How the instances' processes are kept and told apart: the supervisor and /proc, or a fake in unit tests. */
export interface ServiceRunner {
  /** Makes sure the supervisor of `dir` runs: it starts, restarts and stops the instances. */
  ensureSupervisor(dir: string): Promise<void>;
  /** Whether a supervisor runs for `dir` (it stops an instance whose configuration is removed). */
  supervising(dir: string): Promise<boolean>;
  /** Whether `pid` is still the process that started at `started` with `argument` on its command line. */
  isOurs(pid: number, started: string, argument: string): Promise<boolean>;
  /** Signals a process directly (when it must end and no supervisor runs to do it). */
  kill(pid: number, signal: NodeJS.Signals): void;
}

/** The real runner: the supervisor, started from `cli` (this CLI's own script unless told). */
export function supervisedRunner(cli = process.argv[1]!): ServiceRunner {
  return { ensureSupervisor: (dir) => ensureSupervisor(dir, cli), supervising: supervisorRuns, isOurs, kill: (pid, signal) => process.kill(pid, signal) };
}

/** This container's service instances: start, keep, stop, list. */
export interface Services {
  readonly dir: string;
  paths(key: ServiceKey): ReturnType<typeof servicePaths>;
  /** The instance's live process, or undefined when none runs (a stale or forged state file is ignored). */
  readState(key: ServiceKey): Promise<ServiceState | undefined>;
  /** Every instance this container has a configuration for; with `cluster`, only that cluster's ("" for the container's own). */
  list(filter?: { cluster?: string }): Promise<ServiceInstance[]>;
  /** Makes the instance run with this configuration, and keeps it running. Returns what was done. */
  ensure<C extends object>(key: ServiceKey, config: C): Promise<{ action: "kept" | "started" | "restarted"; state: ServiceState }>;
  /** Stops an instance and forgets it; returns whether one ran. */
  stop(key: ServiceKey): Promise<boolean>;
  /** The last lines of an instance's log, for error messages and `status`. */
  logTail(key: ServiceKey, lines?: number): Promise<string>;
}

export function createServices(options: { dir?: string; runner?: ServiceRunner; startTimeoutMs?: number } = {}): Services {
  const dir = options.dir ?? runtimeDir();
  const runner = options.runner ?? supervisedRunner();
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const paths = (key: ServiceKey) => servicePaths(key, dir);

  const readState = async (key: ServiceKey): Promise<ServiceState | undefined> => {
    const state = await readJson<ServiceState>(paths(key).state);
    // Only a process whose command line serves this very configuration counts: a forged state file
    // naming another process's pid is ignored, so nothing but our own service is ever signalled.
    return state && (await runner.isOurs(state.pid, state.started, paths(key).config)) ? state : undefined;
  };
  const tail = (key: ServiceKey, lines = 8) => logTail(paths(key).log, lines);

  const waitGone = async (key: ServiceKey, state: ServiceState, ms: number) => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) {
      if (!(await runner.isOurs(state.pid, state.started, paths(key).config))) return true;
    }
    return false;
  };

  return {
    dir,
    paths,
    readState,
    logTail: tail,
    async list(filter = {}) {
      const scopes = filter.cluster === undefined ? await readdir(dir).catch(() => []) : [filter.cluster || CONTAINER_SCOPE];
      const instances: ServiceInstance[] = [];
      for (const scope of scopes.sort()) {
        const files = (await readdir(join(dir, scope)).catch(() => [])).filter((f) => f.endsWith(".json") && !/\.(state|supervision)\.json$/.test(f)).sort();
        for (const file of files) {
          const saved = await readServiceFile(join(dir, scope, file));
          if (!saved?.key || !(saved.key.kind in SERVICE_KINDS)) continue;
          const p = paths(saved.key);
          instances.push({ ...saved, state: await readState(saved.key), supervision: await readJson<Supervision>(p.supervision), log: p.log });
        }
      }
      return instances;
    },
    async stop(key) {
      const p = paths(key);
      const state = await readState(key);
      // The supervisor stops what is no longer wanted; when none runs (killed), the process is told here.
      await removeFile(p.config);
      if (state && !((await runner.supervising(dir)) && (await waitGone(key, state, 7_000)))) {
        runner.kill(state.pid, "SIGTERM");
        if (!(await waitGone(key, state, 5_000))) runner.kill(state.pid, "SIGKILL");
      }
      await Promise.all([removeFile(p.state), removeFile(p.supervision)]);
      return state !== undefined;
    },
    async ensure(key, config) {
      const p = paths(key);
      const configHash = hashConfig(config);
      await privateDir(dir);
      await privateDir(dirname(p.config));
      const current = await readState(key);
      await writePrivate(p.config, JSON.stringify({ key, config, configHash } satisfies ServiceFile<typeof config>));
      await runner.ensureSupervisor(dir);
      if (current?.ready && current.configHash === configHash) return { action: "kept", state: current };
      for (const deadline = Date.now() + startTimeoutMs; Date.now() < deadline; await sleep(50)) {
        const state = await readState(key);
        if (state?.ready && state.configHash === configHash) return { action: current ? "restarted" : "started", state };
      }
      const supervision = await readJson<Supervision>(p.supervision);
      throw new ZoneError({
        zone: "dev container",
        message: `the ${key.kind} service${key.cluster ? ` of cluster ${key.cluster}` : ""} did not start within ${startTimeoutMs / 1000}s${supervision?.lastExit ? ` (it ${supervision.lastExit})` : ""}; its supervisor keeps trying, backing off`,
        fix: `read its log: ${p.log}; \`kind-cluster status\` shows whether it came up since`,
        detail: await tail(key),
      });
    },
  };
}
