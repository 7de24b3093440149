import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { processStart } from "../pids.js";
import { readServiceFile, servicePaths, writeState } from "./daemon.js";
import { SERVICE_KINDS, serviceRow } from "./kinds.js";

/**
 * `kind-cluster serve <config file>`: the body of one zone-1 service instance (daemon.ts starts it).
 * It records itself as ready once it listens, and stops cleanly on SIGTERM.
 */
const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

export async function serve(configPath: string): Promise<void> {
  const file = await readServiceFile<never>(configPath);
  if (!file?.key || !(file.key.kind in SERVICE_KINDS)) throw new Error(`${configPath} is not a kind-cluster service configuration`);
  const { key, config, configHash } = file;
  // The runtime folder is where `up` put the configuration: <dir>/<scope>/<kind>.<instance>.json.
  const dir = dirname(dirname(configPath));
  const running = await serviceRow(key.kind).run(config, log);
  log(`${key.kind} ready: ${running.summary}`);
  await writeState(key, { pid: process.pid, started: (await processStart(process.pid)) ?? "", configHash, ready: true, summary: running.summary }, dir);
  const stop = async () => {
    log(`${key.kind} stopping`);
    await running.close().catch(() => undefined);
    await rm(servicePaths(key, dir).state, { force: true });
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
}
