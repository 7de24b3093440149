import { spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processStart } from "../../src/pids.js";
import { createServices, type ServiceKey, serviceKey, type Services, supervisedRunner } from "../../src/serve/daemon.js";
import { LOG_LIMIT_BYTES, rotatingLog } from "../../src/serve/runtime.js";
import { supervisorFiles } from "../../src/serve/supervisor.js";

/**
 * The supervisor with real processes: the built CLI's `supervise` and `serve` (run `npm run build`
 * first; the integration tier runs after it), a real TCP relay as the service, kill -9 as the fault.
 */
const CLI = resolve("features/src/kind-cluster/dist/kind-cluster.mjs");
let dir = "";
let services: Services;
let echo: Server;
let echoPort = 0;
const sleepers: number[] = [];

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One round trip through a relay on 127.0.0.1:<port>, or undefined when nothing answers. */
function roundTrip(port: number): Promise<string | undefined> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.end("ping"));
    let got = "";
    socket.on("data", (d) => (got += d.toString()));
    socket.on("close", () => done(got || undefined));
    socket.on("error", () => done(undefined));
    socket.setTimeout(3000, () => socket.destroy());
  });
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const relay = (port: number) => ({ port, targetHost: "127.0.0.1", targetPort: echoPort });
const supervisorPid = async () => JSON.parse(await readFile(supervisorFiles(dir).pid, "utf8")).pid as number;
const alive = async (pid: number) => (await processStart(pid)) !== null;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kc-supervisor-"));
  services = createServices({ dir, runner: supervisedRunner(CLI) });
  echo = createServer((s) => s.on("data", (d) => s.end(`echo:${d}`)));
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of await services.list()) await services.stop(s.key);
  const pid = await supervisorPid().catch(() => undefined);
  if (pid) process.kill(pid, "SIGKILL");
  for (const pid of sleepers) process.kill(pid, "SIGKILL");
  echo.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the supervisor keeps every service instance running", () => {
  let key: ServiceKey;
  let port = 0;

  it("starts an instance through the supervisor, and brings it back within seconds after kill -9, counting the restart and its cause", async () => {
    port = await freePort();
    key = serviceKey("registry-relay", "", String(port));
    const first = await services.ensure(key, relay(port));
    expect(first.action).toBe("started");
    expect(await roundTrip(port)).toBe("echo:ping");
    process.kill(first.state.pid, "SIGKILL");
    const killedAt = Date.now();
    const next = await until("a new process", async () => {
      const s = await services.readState(key);
      return s && s.pid !== first.state.pid ? s : undefined;
    });
    const seconds = (Date.now() - killedAt) / 1000;
    console.log(`[integration] a killed service was serving again after ${seconds.toFixed(1)}s`);
    expect(seconds).toBeLessThan(10);
    expect(await roundTrip(port)).toBe("echo:ping");
    const [instance] = await services.list({ cluster: "" });
    expect(instance?.state?.pid).toBe(next.pid);
    expect(instance?.supervision).toMatchObject({ restarts: 1, failing: false, lastExit: expect.stringMatching(/^killed by SIGKILL after/) });
    expect(await readFile(supervisorFiles(dir).log, "utf8")).toMatch(/registry-relay\.\d+ \(pid \d+\) killed by SIGKILL after [\d.]+s; restart 1/);
    // The same configuration again: kept, not restarted.
    expect((await services.ensure(key, relay(port))).action).toBe("kept");
  });

  it("a killed supervisor is started again by the services it left running, and the new one adopts them", async () => {
    const before = await supervisorPid();
    const serving = (await services.readState(key))!;
    process.kill(before, "SIGKILL");
    const after = await until("a new supervisor", async () => {
      const pid = await supervisorPid();
      return pid !== before && (await alive(pid)) ? pid : undefined;
    });
    expect(after).not.toBe(before);
    // The service never stopped, and the new supervisor restarts it when it dies.
    expect((await services.readState(key))?.pid).toBe(serving.pid);
    expect(await roundTrip(port)).toBe("echo:ping");
    process.kill(serving.pid, "SIGKILL");
    await until("the adopted service restarted", async () => {
      const s = await services.readState(key);
      return s && s.pid !== serving.pid ? s : undefined;
    });
    expect(await roundTrip(port)).toBe("echo:ping");
  });

  it("a service that crashes on start is reported as failing with its cause and last log lines, and backs off instead of a hot loop", async () => {
    const held = await freePort();
    const holder = createServer().listen(held, "127.0.0.1");
    await new Promise((r) => holder.once("listening", r));
    const bad = serviceKey("registry-relay", "", String(held));
    try {
      const error = await services.ensure(bad, relay(held)).catch((e: Error) => e);
      expect(error).toMatchObject({ zone: "dev container", message: expect.stringMatching(/did not start within 10s \(it exited with code 1 after/) });
      expect((error as { detail?: string }).detail).toMatch(/EADDRINUSE/);
      await sleep(5_000);
      const [instance] = (await services.list({ cluster: "" })).filter((s) => s.key.instance === String(held));
      expect(instance?.state).toBeUndefined();
      expect(instance?.supervision?.failing).toBe(true);
      // 15 s of a hot loop would be dozens of starts; the back-off allows 0.5 + 1 + 2 + 4 + 8 s of waits.
      expect(instance?.supervision?.restarts).toBeGreaterThanOrEqual(3);
      expect(instance?.supervision?.restarts).toBeLessThanOrEqual(6);
    } finally {
      await services.stop(bad);
      holder.close();
    }
  });

  it("stop ends the instance and forgets it; the others keep running", async () => {
    const other = await freePort();
    const second = serviceKey("registry-relay", "", String(other));
    const { state } = await services.ensure(second, relay(other));
    expect(await services.stop(second)).toBe(true);
    expect(await alive(state.pid)).toBe(false);
    expect(await roundTrip(other)).toBeUndefined();
    expect(await roundTrip(port)).toBe("echo:ping");
    expect((await services.list({ cluster: "" })).map((s) => s.key.instance)).toEqual([String(port)]);
  });
});

describe("the runtime folder is ours, and so is every process we signal (issue 19, finding 5)", () => {
  it("a forged state file naming another process is ignored: stop does not signal it", async () => {
    const victim = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
    sleepers.push(victim.pid!);
    const key = serviceKey("registry-relay", "", "forged");
    const paths = services.paths(key);
    await mkdir(join(dir, "_container"), { recursive: true });
    await writeFile(paths.config, JSON.stringify({ key, config: relay(1), configHash: "x" }));
    await writeFile(paths.state, JSON.stringify({ pid: victim.pid, started: await processStart(victim.pid!), configHash: "x", ready: true }));
    expect(await services.readState(key)).toBeUndefined();
    expect(await services.stop(key)).toBe(false);
    await sleep(300);
    expect(await alive(victim.pid!)).toBe(true);
  });

  it("refuses a runtime folder another user made, or one that lets others in, or a link, and writes nothing there", async () => {
    for (const make of [
      async (d: string) => {
        await mkdir(d, { mode: 0o700 });
        await chown(d, 1234, 1234);
      },
      async (d: string) => {
        await mkdir(d);
        await chmod(d, 0o777);
      },
      async (d: string) => {
        const target = await mkdtemp(join(tmpdir(), "kc-elsewhere-"));
        await symlink(target, d);
      },
    ]) {
      const planted = join(await mkdtemp(join(tmpdir(), "kc-planted-")), "kind-cluster");
      await make(planted);
      const foreign = createServices({ dir: planted, runner: supervisedRunner(CLI) });
      await expect(foreign.ensure(serviceKey("registry-relay", "", "1"), relay(1))).rejects.toMatchObject({
        zone: "dev container",
        message: expect.stringMatching(/cannot be trusted/),
      });
      expect((await stat(planted)).isDirectory()).toBe(true);
      expect(await foreign.list()).toEqual([]);
    }
  });
});

describe("logs are bounded and one event is one line (issue 19, finding 6)", () => {
  it("rotates at the size limit and escapes what a client sent", async () => {
    const path = join(dir, "rotate.log");
    const log = await rotatingLog(path, 10_000);
    log.write("GET /x\n2026-01-01T00:00:00.000Z git-source ready: forged");
    for (let i = 0; i < 500; i++) log.write(`event ${i} ${"y".repeat(50)}`);
    await log.close();
    const [current, previous] = await Promise.all([readFile(path, "utf8"), readFile(`${path}.1`, "utf8")]);
    expect(Buffer.byteLength(current)).toBeLessThanOrEqual(10_000);
    expect(Buffer.byteLength(previous)).toBeLessThanOrEqual(10_000);
    expect(current).toMatch(/event 499/);
    for (const line of `${previous}${current}`.trim().split("\n")) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z (event \d+ y+|GET \/x\\n.*forged)$/);
    expect(LOG_LIMIT_BYTES).toBe(1024 * 1024);
  });
});
