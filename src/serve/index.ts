import { readFile, rm } from "node:fs/promises";
import { processStart } from "../pids.js";
import { servicePaths, writeState, type ServiceName } from "./daemon.js";
export { SERVICES } from "./daemon.js";
import { startGitOpsService, type GitOpsServiceConfig } from "./gitops.js";
import { startRelay } from "./relay.js";

/**
 * `kind-cluster serve <service> <config>`: the body of one zone-1 background service (see daemon.ts,
 * which starts it). It records itself as ready once it listens, and stops cleanly on SIGTERM.
 */
export interface RelayConfig {
  port: number;
  targetHost: string;
  targetPort: number;
}

type Config = { configHash: string } & (RelayConfig | GitOpsServiceConfig);

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

async function start(service: ServiceName, config: Config): Promise<{ close(): Promise<void>; summary: string }> {
  switch (service) {
    case "registry-relay": {
      const c = config as RelayConfig;
      const relay = await startRelay({ listen: { host: "127.0.0.1", port: c.port }, target: { host: c.targetHost, port: c.targetPort }, log });
      return { close: relay.close, summary: `127.0.0.1:${c.port} -> ${c.targetHost}:${c.targetPort}` };
    }
    case "gitops":
      return startGitOpsService(config as GitOpsServiceConfig, log);
  }
}

export async function serve(service: ServiceName, configPath: string): Promise<void> {
  const config = JSON.parse(await readFile(configPath, "utf8")) as Config;
  const running = await start(service, config);
  log(`${service} ready: ${running.summary}`);
  await writeState(service, { pid: process.pid, started: (await processStart(process.pid)) ?? "", configHash: config.configHash, ready: true, summary: running.summary });
  const stop = async () => {
    log(`${service} stopping`);
    await running.close().catch(() => undefined);
    await rm(servicePaths(service).state, { force: true });
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
}
