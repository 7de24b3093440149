import { dirname } from "node:path";
import { processStart } from "../pids.js";
import { readServiceFile, servicePaths, writeState } from "./daemon.js";
import { SERVICE_KINDS, serviceRow } from "./kinds.js";
import { removeFile, rotatingLog } from "./runtime.js";
import { ensureSupervisor } from "./supervisor.js";

/**
 * `kind-cluster serve <config file>`: the body of one zone-1 service instance, started by the
 * supervisor (supervisor.ts). It logs one escaped line per event to its own bounded log, records
 * itself as ready once it serves, stops cleanly on SIGTERM, and starts a supervisor again when it
 * finds none running (the supervisor was killed; the new one adopts this process).
 */
const SUPERVISOR_CHECK_MS = 2_000;

export async function serve(configPath: string): Promise<void> {
  const file = await readServiceFile<never>(configPath);
  if (!file?.key || !(file.key.kind in SERVICE_KINDS)) throw new Error(`${configPath} is not a kind-cluster service configuration`);
  const { key, config, configHash } = file;
  // The runtime folder is where `up` put the configuration: <dir>/<scope>/<kind>.<instance>.json.
  const dir = dirname(dirname(configPath));
  const paths = servicePaths(key, dir);
  const log = await rotatingLog(paths.log);
  const running = await serviceRow(key.kind).run(config, (line) => log.write(line));
  log.write(`${key.kind} ready: ${running.summary}`);
  await writeState(key, { pid: process.pid, started: (await processStart(process.pid)) ?? "", configHash, ready: true, summary: running.summary }, dir);
  const keeper = setInterval(
    () => void ensureSupervisor(dir).catch((error: Error) => log.write(`could not start the supervisor: ${error.message}`)),
    SUPERVISOR_CHECK_MS,
  );
  const stop = async () => {
    clearInterval(keeper);
    log.write(`${key.kind} stopping`);
    await running.close().catch(() => undefined);
    await removeFile(paths.state);
    await log.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
}
