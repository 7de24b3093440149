import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { ZoneError } from "../errors.js";
import { processStart } from "../pids.js";

/**
 * Zone 1's background services (the registry relay, the GitOps Git server and watcher): one detached
 * `kind-cluster serve <service>` process each, started by `up` (so by the hooks on every container
 * start), kept while its configuration is unchanged, replaced when it changes. State lives in the
 * container's runtime folder, never in the workspace.
 */

export const SERVICES = ["registry-relay", "gitops"] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface ServiceState {
  pid: number;
  /** The process's start time (from /proc), so a recycled pid is not mistaken for it. */
  started: string;
  configHash: string;
  ready: boolean;
  /** What it serves, for status lines (e.g. "127.0.0.1:5001 -> kind-cluster-registry:5000"). */
  summary?: string;
}

export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_RUNTIME_DIR || tmpdir(), "kind-cluster");
}

export const servicePaths = (service: ServiceName, dir = runtimeDir()) => ({
  config: join(dir, `${service}.json`),
  state: join(dir, `${service}.state.json`),
  log: join(dir, `${service}.log`),
});

export function hashConfig(config: object): string {
  return createHash("sha256").update(JSON.stringify(config)).digest("hex").slice(0, 16);
}

/** The configuration a service was last started with (e.g. the repository the GitOps service serves). */
export async function readServiceConfig<T>(service: ServiceName): Promise<T | undefined> {
  const text = await readFile(servicePaths(service).config, "utf8").catch(() => undefined);
  return text ? (JSON.parse(text) as T) : undefined;
}

export async function readState(service: ServiceName): Promise<ServiceState | undefined> {
  const text = await readFile(servicePaths(service).state, "utf8").catch(() => undefined);
  if (!text) return undefined;
  const state = JSON.parse(text) as ServiceState;
  return (await processStart(state.pid)) === state.started ? state : undefined;
}

/** Written by the service itself once it listens. */
export async function writeState(service: ServiceName, state: ServiceState): Promise<void> {
  const { state: path } = servicePaths(service);
  await writeFile(`${path}.tmp`, JSON.stringify(state), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

async function stop(state: ServiceState): Promise<void> {
  try {
    process.kill(state.pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 50 && (await processStart(state.pid)) === state.started; i++) await sleep(100);
}

export async function stopService(service: ServiceName): Promise<boolean> {
  const state = await readState(service);
  if (state) await stop(state);
  await rm(servicePaths(service).state, { force: true });
  return state !== undefined;
}

/** Makes the service run with this configuration. Returns what was done. */
export async function ensureService(service: ServiceName, config: object): Promise<{ action: "kept" | "started" | "restarted"; state: ServiceState }> {
  const paths = servicePaths(service);
  const configHash = hashConfig(config);
  const current = await readState(service);
  if (current?.ready && current.configHash === configHash) return { action: "kept", state: current };
  if (current) await stop(current);
  await mkdir(runtimeDir(), { recursive: true, mode: 0o700 });
  await writeFile(paths.config, JSON.stringify({ ...config, configHash }), { mode: 0o600 });
  await rm(paths.state, { force: true });
  // Its own session, detached from the hook that starts it: it outlives `up` and the hook's exec.
  // An open file stream: its descriptor goes to the service, which writes to the file itself. (execa's
  // {file} target relays through this process: the service would lose its output, and die on its
  // next write, once `up` exits.)
  const log = createWriteStream(paths.log, { flags: "a", mode: 0o600 });
  await once(log, "open");
  const child = execa(process.execPath, [process.argv[1]!, "serve", service, paths.config], { detached: true, cleanup: false, reject: false, stdin: "ignore", stdout: log, stderr: log, cwd: "/" });
  child.unref();
  log.close();
  let exited = false;
  void child.then(() => (exited = true));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited) {
    const state = await readState(service);
    if (state?.ready && state.pid === child.pid) return { action: current ? "restarted" : "started", state };
    await sleep(100);
  }
  const tail = (await readFile(paths.log, "utf8").catch(() => "")).trim().split("\n").slice(-8).join("\n");
  throw new ZoneError("dev container", `the ${service} service did not start${exited ? " (it exited)" : " within 10s"}`, `read its log: ${paths.log}`, tail);
}
