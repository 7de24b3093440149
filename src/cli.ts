import { readFileSync } from "node:fs";
import { isZoneError } from "./errors.js";
import { kubeconfigPath } from "./kubeconfig-file.js";
import { createLogger } from "./log.js";
import { contextName, envLayer, parseOptionsFile, resolveSettings, type Settings, type SettingsLayer } from "./settings.js";

/**
 * Argument parsing and dispatch only; each command lives in its own module, loaded when it runs
 * (the bundle splits them, so `--version` and `--help` start without loading execa or yaml).
 */

declare const __VERSION__: string;
const VERSION = typeof __VERSION__ === "string" ? __VERSION__ : "dev";

/** Where install.sh records the Feature's options for the hooks (they never see the options themselves). */
export const OPTIONS_FILE = "/usr/local/share/kind-cluster/options.env";

const USAGE = `kind-cluster ${VERSION}: a local kind cluster for this dev container

usage: kind-cluster <command> [flags]

commands:
  up        create, adopt or start the cluster, patch the kubeconfig, wait until nodes are Ready
  status    the three zones at a glance (--json for machines)
  doctor    check every hop from this container to the API server, with a fix for each failure
  down      delete the cluster and its kubeconfig entries (other entries are kept)

flags (override the Feature's options):
  --name NAME          cluster name                  --port PORT      API port on the Docker host
  --route ROUTE        auto | host.docker.internal | kind-network
  --config PATH        kind config to merge          --wait SECONDS   how long to wait for Ready
  --strict             fail the hook instead of only reporting (for CI)
  --hook NAME          run as a lifecycle hook: report failures loudly, exit 0 unless strict
`;

const FLAGS: Record<string, keyof Settings> = {
  "--name": "clusterName",
  "--port": "apiServerPort",
  "--route": "route",
  "--config": "kindConfig",
  "--wait": "waitSeconds",
  "--image": "nodeImage",
};

interface Parsed {
  command: string;
  flags: Record<string, string>;
  json: boolean;
  hook?: string;
}

function parseArgs(argv: readonly string[]): Parsed {
  const parsed: Parsed = { command: "", flags: {}, json: false };
  for (let i = 0; i < argv.length; i++) {
    const [arg = "", inline] = argv[i]!.split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i] ?? "";
    if (arg in FLAGS) parsed.flags[FLAGS[arg]!] = value();
    else if (arg === "--strict") parsed.flags.strict = "true";
    else if (arg === "--json") parsed.json = true;
    else if (arg === "--hook") parsed.hook = value();
    else if (arg === "--version" || arg === "-v") parsed.command = "version";
    else if (arg === "--help" || arg === "-h") parsed.command = "help";
    else if (!arg.startsWith("-") && !parsed.command) parsed.command = arg;
    else throw new Error(`unknown argument ${arg}; see \`kind-cluster --help\``);
  }
  return parsed;
}

function loadSettings(flags: Record<string, string>): Settings {
  const file = process.env.KIND_CLUSTER_OPTIONS_FILE ?? OPTIONS_FILE;
  const layers: SettingsLayer[] = [];
  try {
    layers.push({ source: file, values: parseOptionsFile(readFileSync(file, "utf8")) });
  } catch {
    // No Feature install (running from a checkout): defaults, environment and flags only.
  }
  layers.push(envLayer(process.env), { source: "command line", values: flags });
  return resolveSettings(layers);
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.command === "version") {
    process.stdout.write(`kind-cluster ${VERSION}\n`);
    return 0;
  }
  if (args.command === "help" || args.command === "") {
    process.stdout.write(USAGE);
    return args.command === "help" ? 0 : 2;
  }
  const settings = loadSettings(args.flags);
  const kubeconfig = kubeconfigPath(process.env);
  const logger = createLogger();
  switch (args.command) {
    case "up": {
      if (args.hook && !settings.createCluster) {
        logger.info("createCluster is false: the tools are installed, no cluster is managed");
        return 0;
      }
      const [{ up }, { renderNodes }] = await Promise.all([import("./up.js"), import("./report.js")]);
      const start = performance.now();
      // At container start the socket proxy may still be coming up: hooks wait longer than a person would.
      const dockerWaitMs = args.hook ? 60_000 : 5_000;
      const result = await up({ settings, workspace: process.cwd(), kubeconfig, logger, dockerWaitMs });
      logger.info(`cluster ${settings.clusterName} is ready in ${((performance.now() - start) / 1000).toFixed(1)}s; context ${contextName(settings.clusterName)}`);
      process.stdout.write(`${renderNodes(result.nodes)}\n`);
      return 0;
    }
    case "status": {
      const { renderStatus, status } = await import("./status.js");
      const s = await status(settings, kubeconfig);
      process.stdout.write(args.json ? `${JSON.stringify(s, null, 2)}\n` : `${renderStatus(s)}\n`);
      return s.route.reachable ? 0 : 1;
    }
    case "doctor": {
      const [{ doctor }, { renderChecks }] = await Promise.all([import("./doctor.js"), import("./report.js")]);
      const checks = await doctor(settings, kubeconfig);
      process.stdout.write(`${renderChecks(checks)}\n`);
      return checks.some((c) => c.state === "fail") ? 1 : 0;
    }
    case "down": {
      const { down } = await import("./down.js");
      await down(settings, kubeconfig, logger);
      return 0;
    }
    default:
      throw new Error(`unknown command ${args.command}; see \`kind-cluster --help\``);
  }
}

/** In hook mode a failure must not block the dev container (a failing hook skips the user's own hooks). */
function report(error: unknown, hook: string | undefined, strict: boolean): number {
  const text = isZoneError(error) ? error.render() : `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  if (!hook) {
    process.stderr.write(`kind-cluster: ${text}\n`);
    return 1;
  }
  const bar = "=".repeat(78);
  process.stderr.write(`\n${bar}\nkind-cluster (${hook}): the cluster is NOT ready\n${text}\n`);
  process.stderr.write(strict ? `strict is set: failing the ${hook} hook.\n${bar}\n` : `The dev container is usable. Run \`kind-cluster doctor\` for every hop, then \`kind-cluster up\`.\n${bar}\n`);
  return strict ? 1 : 0;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => process.exit(code),
  (error: unknown) => {
    let hook: string | undefined;
    let strict = argv.includes("--strict");
    try {
      const parsed = parseArgs(argv);
      hook = parsed.hook;
      strict = loadSettings(parsed.flags).strict;
    } catch {
      // The settings themselves are what failed; report with what we know.
    }
    process.exit(report(error, hook, strict));
  },
);
