import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { ZoneError } from "../errors.js";
import { processStart } from "../pids.js";
import { SERVICE_KINDS, type ServiceKind } from "./kinds.js";

/**
 * Zone 1's background service instances: one detached `kind-cluster serve <config>` process each,
 * started by `up` (so by the hooks on every container start), kept while its configuration is
 * unchanged, replaced when it changes. An instance is keyed by its kind, its cluster and its instance
 * name, so two clusters' services live side by side in one container. State lives in the container's
 * runtime folder, never in the workspace.
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
  /** The live process, when one runs with this configuration's hash or another. */
  state?: ServiceState;
  log: string;
}

const CONTAINER_SCOPE = "_container";
const INSTANCE = /^[A-Za-z0-9._-]+$/;

function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_RUNTIME_DIR || tmpdir(), "kind-cluster");
}

/** The key of an instance; the instance name becomes part of file names, so it is checked. */
export function serviceKey(kind: ServiceKind, cluster: string, instance = "default"): ServiceKey {
  if (!INSTANCE.test(instance)) throw new Error(`invalid service instance name ${JSON.stringify(instance)}`);
  return { kind, cluster, instance };
}

/** The files of an instance: <runtime>/<cluster or _container>/<kind>.<instance>.{json,state.json,log}. */
export function servicePaths(key: ServiceKey, dir = runtimeDir()) {
  const stem = join(dir, key.cluster || CONTAINER_SCOPE, `${key.kind}.${key.instance}`);
  return { config: `${stem}.json`, state: `${stem}.state.json`, log: `${stem}.log` };
}

function hashConfig(config: unknown): string {
  return createHash("sha256").update(JSON.stringify(config)).digest("hex").slice(0, 16);
}

const readJson = async <T>(path: string): Promise<T | undefined> => {
  const text = await readFile(path, "utf8").catch(() => undefined);
  return text ? (JSON.parse(text) as T) : undefined;
};

/** How an instance's process is started, stopped and recognised: a detached process, or a fake in unit tests. */
export interface ServiceRunner {
  /** Starts `kind-cluster serve <configPath>` detached, its output appended to `logPath`; returns its pid and whether it already exited. */
  spawn(configPath: string, logPath: string): Promise<{ pid?: number; exited: () => boolean }>;
  /** The pid's start time, or null/undefined when it does not live (pids.ts's processStart). */
  processStart(pid: number): Promise<string | null | undefined>;
  /** Asks the process to stop and waits a bounded time for it to go. */
  stop(state: ServiceState): Promise<void>;
}

/** This container's service instances: start, keep, stop, list. */
export interface Services {
  readonly dir: string;
  paths(key: ServiceKey): { config: string; state: string; log: string };
  /** The instance's live process, or undefined when none runs (a stale state file is ignored). */
  readState(key: ServiceKey): Promise<ServiceState | undefined>;
  /** Every instance this container has a configuration for; with `cluster`, only that cluster's ("" for the container's own). */
  list(filter?: { cluster?: string }): Promise<ServiceInstance[]>;
  /** Makes the instance run with this configuration. Returns what was done. */
  ensure<C extends object>(key: ServiceKey, config: C): Promise<{ action: "kept" | "started" | "restarted"; state: ServiceState }>;
  /** Stops an instance and forgets it; returns whether one ran. */
  stop(key: ServiceKey): Promise<boolean>;
  /** The last lines of an instance's log, for error messages and `status`. */
  logTail(key: ServiceKey, lines?: number): Promise<string>;
}

/** The real runner: `kind-cluster serve` as a detached process in its own session. */
const processRunner: ServiceRunner = {
  async spawn(configPath, logPath) {
    // An open file stream: its descriptor goes to the service, which writes to the file itself. (execa's
    // {file} target relays through this process: the service would lose its output, and die on its
    // next write, once `up` exits.)
    const log = createWriteStream(logPath, { flags: "a", mode: 0o600 });
    await once(log, "open");
    const child = execa(process.execPath, [process.argv[1]!, "serve", configPath], {
      detached: true,
      cleanup: false,
      reject: false,
      stdin: "ignore",
      stdout: log,
      stderr: log,
      cwd: "/",
    });
    child.unref();
    log.close();
    let exited = false;
    void child.then(() => (exited = true));
    return { pid: child.pid, exited: () => exited };
  },
  processStart,
  async stop(state) {
    try {
      process.kill(state.pid, "SIGTERM");
    } catch {
      return;
    }
    for (let i = 0; i < 50 && (await processStart(state.pid)) === state.started; i++) await sleep(100);
  },
};

/** Written by the service itself once it listens. */
export async function writeState(key: ServiceKey, state: ServiceState, dir = runtimeDir()): Promise<void> {
  const { state: path } = servicePaths(key, dir);
  await writeFile(`${path}.tmp`, JSON.stringify(state), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** The configuration an instance was last started with. */
export async function readServiceFile<C>(path: string): Promise<ServiceFile<C> | undefined> {
  return readJson<ServiceFile<C>>(path);
}

export function createServices(options: { dir?: string; runner?: ServiceRunner; startTimeoutMs?: number } = {}): Services {
  const dir = options.dir ?? runtimeDir();
  const runner = options.runner ?? processRunner;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const paths = (key: ServiceKey) => servicePaths(key, dir);

  const readState = async (key: ServiceKey): Promise<ServiceState | undefined> => {
    const state = await readJson<ServiceState>(paths(key).state);
    return state && (await runner.processStart(state.pid)) === state.started ? state : undefined;
  };
  const logTail = async (key: ServiceKey, lines = 8) => (await readFile(paths(key).log, "utf8").catch(() => "")).trim().split("\n").slice(-lines).join("\n");

  return {
    dir,
    paths,
    readState,
    logTail,
    async list(filter = {}) {
      const scopes = filter.cluster === undefined ? await readdir(dir).catch(() => []) : [filter.cluster || CONTAINER_SCOPE];
      const instances: ServiceInstance[] = [];
      for (const scope of scopes.sort()) {
        const files = (await readdir(join(dir, scope)).catch(() => [])).filter((f) => f.endsWith(".json") && !f.endsWith(".state.json")).sort();
        for (const file of files) {
          const saved = await readServiceFile(join(dir, scope, file)).catch(() => undefined);
          if (!saved?.key || !(saved.key.kind in SERVICE_KINDS)) continue;
          instances.push({ ...saved, state: await readState(saved.key), log: paths(saved.key).log });
        }
      }
      return instances;
    },
    async stop(key) {
      const state = await readState(key);
      if (state) await runner.stop(state);
      await rm(paths(key).state, { force: true });
      await rm(paths(key).config, { force: true });
      return state !== undefined;
    },
    async ensure(key, config) {
      const files = paths(key);
      const configHash = hashConfig(config);
      const current = await readState(key);
      if (current?.ready && current.configHash === configHash) return { action: "kept", state: current };
      if (current) await runner.stop(current);
      await mkdir(dirname(files.config), { recursive: true, mode: 0o700 });
      const file: ServiceFile<typeof config> = { key, config, configHash };
      await writeFile(files.config, JSON.stringify(file), { mode: 0o600 });
      await rm(files.state, { force: true });
      // Its own session, detached from the hook that starts it: it outlives `up` and the hook's exec.
      const child = await runner.spawn(files.config, files.log);
      const deadline = Date.now() + startTimeoutMs;
      while (Date.now() < deadline && !child.exited()) {
        const state = await readState(key);
        if (state?.ready && state.pid === child.pid) return { action: current ? "restarted" : "started", state };
        await sleep(50);
      }
      throw new ZoneError({
        zone: "dev container",
        message: `the ${key.kind} service${key.cluster ? ` of cluster ${key.cluster}` : ""} did not start${child.exited() ? " (it exited)" : ` within ${startTimeoutMs / 1000}s`}`,
        fix: `read its log: ${files.log}`,
        detail: await logTail(key),
      });
    },
  };
}
