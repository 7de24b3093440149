import { constants, createWriteStream, openSync, type WriteStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { withLock } from "../lock.js";
import { processStart } from "../pids.js";
import { describeExit, failing, type Live, plan, recordExit, type Record, type Wanted } from "./policy.js";
import { readPrivate, rotatingLog, writePrivate } from "./runtime.js";

/**
 * The supervisor: one process per runtime folder (so per user of the container) that keeps every
 * service instance `up` asked for running. `up` writes an instance's configuration into the runtime
 * folder and makes sure the supervisor runs; the supervisor starts `kind-cluster serve <config>` for
 * it, restarts it when it dies (backing off when it keeps dying, see policy.ts), records each restart
 * and its cause beside the instance, and stops it when its configuration is removed or replaced.
 * The instances in turn make sure the supervisor runs: killed, it is started again by them and adopts
 * them as they run. So nothing but a stop of the whole container ends the services, and the container's
 * next start runs `up` again through the hooks.
 */

/**
 * How often the folder is read for new, changed or removed configurations. A tick rather than a file
 * watch: Node before 20 cannot watch a folder recursively on Linux, and the hooks run on the image's
 * Node, 18 on Debian bookworm. An exit is seen at once either way (a child's exit event).
 */
const TICK_MS = 250;
const STOP_GRACE_MS = 5_000;
/** With nothing to supervise for this long, the supervisor ends; the next `up` starts it again. */
const IDLE_EXIT_MS = 10_000;

/** What the supervisor records beside each instance (`<instance>.supervision.json`). */
export interface Supervision {
  restarts: number;
  failing: boolean;
  /** Why the instance last ended, in words. */
  lastExit?: string;
  /** When the next start is due (epoch ms), while it waits out its back-off. */
  nextStartAt?: number;
}

export const supervisorFiles = (dir: string) => ({ pid: join(dir, "supervisor.json"), lock: join(dir, "supervisor.lock"), log: join(dir, "supervisor.log") });

/**
 * A file opened for appending, without following a link, whose descriptor a child inherits: it writes
 * there itself, so its output does not pass through (and end with) the process that started it.
 */
function appendStream(path: string): WriteStream {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
  return createWriteStream(path, { fd });
}

interface ProcessRecord {
  pid: number;
  started: string;
}

/**
 * The services live for days with little data each, and each tick of a watch or a poll makes short-lived
 * objects. V8 grows its young generation up to 16 MB per half under such a stream, and glibc gives each
 * thread of libuv's pool an arena of its own; both keep what they grew. A small young generation,
 * collected more often, and two arenas cost these processes little and save their memory.
 */
const SERVICE_NODE_FLAGS = ["--max-semi-space-size=1"];
const SERVICE_ENV = { MALLOC_ARENA_MAX: "2" };

/** Node running our CLI in a session of its own, its stdout and stderr appended to `logPath`. */
function startDetached(args: string[], logPath: string) {
  const out = appendStream(logPath);
  const child = execa(process.execPath, [...SERVICE_NODE_FLAGS, ...args], {
    env: SERVICE_ENV,
    detached: true,
    cleanup: false,
    reject: false,
    stdin: "ignore",
    stdout: out,
    stderr: out,
    cwd: "/",
  });
  out.close();
  return child;
}

/** Whether a pid is this process still: it runs, started at `started`, and its command line holds `argument`. */
export async function isOurs(pid: number, started: string, argument: string): Promise<boolean> {
  if ((await processStart(pid)) !== started) return false;
  const cmdline = await readPrivate(`/proc/${pid}/cmdline`);
  return cmdline?.split("\0").includes(argument) ?? false;
}

/** Whether the supervisor of `dir` runs (its record names a live `kind-cluster supervise`). */
export async function supervisorRuns(dir: string): Promise<boolean> {
  const text = await readPrivate(supervisorFiles(dir).pid);
  const record = text ? (JSON.parse(text) as ProcessRecord) : undefined;
  return record !== undefined && (await isOurs(record.pid, record.started, "supervise"));
}

/** Starts the supervisor for `dir` unless one runs; one at a time, under a lock in the folder. */
export async function ensureSupervisor(dir: string, cli = process.argv[1]!): Promise<void> {
  if (await supervisorRuns(dir)) return;
  await withLock(supervisorFiles(dir).lock, { timeoutMs: 15_000, purpose: "starting the service supervisor" }, async () => {
    if (await supervisorRuns(dir)) return;
    // Its own session: it outlives the hook (or the service) that started it.
    startDetached([cli, "supervise", dir], supervisorFiles(dir).log).unref();
    for (let i = 0; i < 100 && !(await supervisorRuns(dir)); i++) await sleep(50);
  });
}

interface Tracked extends Live {
  /** Set when the supervisor stops it on purpose: its exit is no failure. */
  stopping?: boolean;
  /** A child of this supervisor reports its own exit; an adopted process is watched by its pid. */
  child: boolean;
  startedKey: string;
}

interface WantedFile extends Wanted {
  configPath: string;
  statePath: string;
  logPath: string;
  supervisionPath: string;
}

/** The instances asked for: every `<scope>/<kind>.<instance>.json` of the folder, by id `<scope>/<kind>.<instance>`. */
async function wantedInstances(dir: string): Promise<WantedFile[]> {
  const wanted: WantedFile[] = [];
  const scopes = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const scope of scopes.filter((s) => s.isDirectory())) {
    for (const file of await readdir(join(dir, scope.name)).catch(() => [])) {
      if (!file.endsWith(".json") || file.endsWith(".state.json") || file.endsWith(".supervision.json")) continue;
      const configPath = join(dir, scope.name, file);
      const text = await readPrivate(configPath);
      const configHash = text ? (JSON.parse(text) as { configHash?: string }).configHash : undefined;
      if (!configHash) continue;
      const stem = configPath.slice(0, -".json".length);
      wanted.push({
        id: `${scope.name}/${file.slice(0, -".json".length)}`,
        configHash,
        configPath,
        statePath: `${stem}.state.json`,
        logPath: `${stem}.log`,
        supervisionPath: `${stem}.supervision.json`,
      });
    }
  }
  return wanted;
}

export async function runSupervisor(dir: string): Promise<void> {
  const files = supervisorFiles(dir);
  const log = await rotatingLog(files.log);
  const started = (await processStart(process.pid)) ?? "";
  await writePrivate(files.pid, JSON.stringify({ pid: process.pid, started } satisfies ProcessRecord));
  log.write(`supervisor ${process.pid} started for ${dir}`);
  const live = new Map<string, Tracked>();
  const records = new Map<string, Record>();
  const cli = process.argv[1]!;
  let idleSince = Date.now();
  const written = new Map<string, string>();

  const ended = (t: Tracked, code: number | null, signal: string | null) => {
    if (live.get(t.id) === t) live.delete(t.id);
    if (t.stopping) return;
    const exit = { at: Date.now(), code, signal, uptimeMs: Date.now() - t.startedAt };
    const record = recordExit(records.get(t.id), exit);
    records.set(t.id, record);
    log.write(
      `${t.id} (pid ${t.pid}) ${describeExit(exit)}; restart ${record.restarts}${record.failures > 0 ? `, in ${((record.nextStartAt - exit.at) / 1000).toFixed(1)}s` : ""}`,
    );
  };

  const start = async (w: WantedFile) => {
    // Its own process group, so its own children (git) can be ended with it; its log only catches what
    // the service cannot log itself (a crash).
    const child = startDetached([cli, "serve", w.configPath], w.logPath);
    if (child.pid === undefined) return;
    const t: Tracked = { id: w.id, pid: child.pid, configHash: w.configHash, startedAt: Date.now(), child: true, startedKey: "" };
    live.set(w.id, t);
    void child.then((result) => ended(t, result.signal ? null : (result.exitCode ?? null), result.signal ?? null));
    log.write(`${w.id} started (pid ${child.pid})`);
  };

  const stop = (t: Tracked, why: string) => {
    t.stopping = true;
    log.write(`${t.id} (pid ${t.pid}) stopping: ${why}`);
    try {
      process.kill(t.pid, "SIGTERM");
    } catch {
      live.delete(t.id);
      return;
    }
    setTimeout(() => {
      if (live.get(t.id) === t) {
        try {
          process.kill(t.pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
        if (!t.child) live.delete(t.id);
      }
    }, STOP_GRACE_MS).unref();
  };

  /** Instances already running when this supervisor started (its predecessor's children): watched by pid. */
  const adopt = async (wanted: WantedFile[]) => {
    for (const w of wanted) {
      const text = await readPrivate(w.statePath);
      const state = text ? (JSON.parse(text) as { pid: number; started: string; configHash: string }) : undefined;
      if (state && (await isOurs(state.pid, state.started, w.configPath))) {
        live.set(w.id, { id: w.id, pid: state.pid, configHash: state.configHash, startedAt: Date.now(), child: false, startedKey: state.started });
        log.write(`${w.id} adopted (pid ${state.pid})`);
      }
    }
  };

  const tick = async () => {
    const wanted = await wantedInstances(dir);
    for (const t of [...live.values()].filter((t) => !t.child)) {
      if ((await processStart(t.pid)) !== t.startedKey) ended(t, null, null);
    }
    const decision = plan(wanted, [...live.values()], records, Date.now());
    for (const t of decision.stop) {
      if (live.get(t.id)?.stopping) continue;
      records.delete(t.id); // a new configuration starts with a clean record
      stop(live.get(t.id)!, wanted.some((w) => w.id === t.id) ? "its configuration changed" : "it is no longer wanted");
    }
    for (const w of decision.start) await start(w);
    for (const w of wanted) {
      const r = records.get(w.id);
      const supervision: Supervision = {
        restarts: r?.restarts ?? 0,
        failing: failing(r),
        lastExit: r?.lastExit && describeExit(r.lastExit),
        nextStartAt: live.has(w.id) ? undefined : r?.nextStartAt,
      };
      const text = JSON.stringify(supervision);
      if (written.get(w.id) === text) continue;
      written.set(w.id, text);
      await writePrivate(w.supervisionPath, text).catch(() => undefined);
    }
    if (wanted.length > 0 || live.size > 0) idleSince = Date.now();
  };

  await adopt(await wantedInstances(dir));
  let busy = false;
  const run = () => {
    if (busy) return;
    busy = true;
    void tick()
      .catch((error: Error) => log.write(`supervisor: ${error.message}`))
      .finally(() => (busy = false));
  };
  const timer = setInterval(() => {
    run();
    if (Date.now() - idleSince > IDLE_EXIT_MS) {
      log.write("supervisor: nothing to supervise; ending");
      clearInterval(timer);
      void log.close().then(() => process.exit(0));
    }
  }, TICK_MS);
  const shutdown = () => {
    log.write("supervisor: stopping; the services keep running and the next supervisor adopts them");
    void log.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  run();
}
