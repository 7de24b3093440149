import { readFileSync, writeFileSync } from "node:fs";
import { isZoneError } from "./errors.js";
// The names only: the kubeconfig's front door (./kubeconfig/index.js) brings the YAML parser, which start-up must not load.
import { contextName, kubeconfigPath } from "./kubeconfig/names.js";
import { createLogger, debugEnabled } from "./log.js";
import {
  clusterLayer,
  declaredClusters,
  DEFAULT_SETTINGS,
  describeOption,
  envLayer,
  featureEnvLayer,
  fileLayer,
  flagLayer,
  flagName,
  OPTION_NAMES,
  optionsFile,
  parseUserName,
  renderOptionsFile,
  resolveSettings,
  RUN_TIME_OPTIONS,
  settingOrigins,
  type OptionName,
  type Settings,
  type SettingsLayer,
} from "./options.js";

/**
 * Argument parsing and dispatch only; each command lives in its own module, loaded when it runs
 * (the bundle splits them, so `--version` and `--help` start without loading execa or yaml).
 */

declare const __VERSION__: string;
const VERSION = typeof __VERSION__ === "string" ? __VERSION__ : "dev";

/** Short flags kept for people typing commands; every option also has its long flag, e.g. --cluster-name. */
const SHORT_FLAGS: Record<string, OptionName> = {
  "--name": "clusterName",
  "--port": "apiServerPort",
  "--config": "kindConfig",
  "--wait": "waitSeconds",
  "--image": "nodeImage",
};
const FLAGS: Partial<Record<string, OptionName>> = { ...Object.fromEntries(RUN_TIME_OPTIONS.map((name) => [flagName(name), name])), ...SHORT_FLAGS };
const BOOLEAN_FLAGS = new Set<string>(RUN_TIME_OPTIONS.filter((name) => typeof DEFAULT_SETTINGS[name] === "boolean").map(flagName));

function usage(): string {
  const short = Object.fromEntries(Object.entries(SHORT_FLAGS).map(([flag, name]) => [name, flag]));
  const flags = RUN_TIME_OPTIONS.map((name) => `  ${`${flagName(name)}${short[name] ? `, ${short[name]}` : ""}`.padEnd(30)} ${describeOption(name)}`);
  return `kind-cluster ${VERSION}: a local kind cluster for this dev container

usage: kind-cluster <command> [flags]

commands:
  up        create, adopt or start the cluster, patch the kubeconfig, wait until nodes are Ready
  status    the three zones at a glance (--json for machines)
  doctor    check every hop from this container to the API server, with a fix for each failure
  stop      stop the cluster's nodes and this container's services for it, keeping everything
            else (kubeconfig, registry, images, the cluster's state); \`up\` starts it again
  down      delete the cluster and its kubeconfig entries (other entries are kept); the local
            registry and its images stay unless --remove-registry
  diff      what the working tree (uncommitted edits included) would change in the cluster, per
            Flux Kustomization; exit 0 when nothing, 1 when something would, 2 on errors
  options   the settings as the hooks see them, and where each came from

up, status and stop act on every cluster of this container (clusterName and extraClusters; status
also shows those brought up by hand); --name NAME acts on one, and brings up a new one beside them
(its API port chosen as with apiServerPort auto, unless --port is given).

flags (each overrides the Feature's option of the same name; so does its KIND_CLUSTER_* variable):
${flags.join("\n")}
  --hook NAME                    run as a lifecycle hook: report failures loudly, exit 0 unless strict
`;
}

interface Parsed {
  command: string;
  /** Arguments after the command (`serve <config>`). */
  positionals: string[];
  flags: Record<string, string>;
  json: boolean;
  hook?: string;
  /** `down --remove-registry`: also remove the local registry and its images. */
  removeRegistry: boolean;
  /** `options`: validate the variables install.sh received, optionally write the options file. */
  featureEnv: boolean;
  write: boolean;
  remoteUser?: string;
}

function parseArgs(argv: readonly string[]): Parsed {
  const parsed: Parsed = { command: "", positionals: [], flags: {}, json: false, featureEnv: false, removeRegistry: false, write: false };
  for (let i = 0; i < argv.length; i++) {
    const [arg = "", inline] = argv[i]!.split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i] ?? "";
    const option = FLAGS[arg];
    if (option) parsed.flags[option] = BOOLEAN_FLAGS.has(flagName(option)) && inline === undefined ? "true" : value();
    else if (arg === "--json") parsed.json = true;
    else if (arg === "--remove-registry") parsed.removeRegistry = true;
    else if (arg === "--hook") parsed.hook = value();
    else if (arg === "--feature-env") parsed.featureEnv = true;
    else if (arg === "--write") parsed.write = true;
    else if (arg === "--remote-user") parsed.remoteUser = value();
    else if (arg === "--version" || arg === "-v") parsed.command = "version";
    else if (arg === "--help" || arg === "-h") parsed.command = "help";
    else if (!arg.startsWith("-") && !parsed.command) parsed.command = arg;
    else if (!arg.startsWith("-") && (parsed.command in DAEMONS || parsed.command === "watch")) parsed.positionals.push(arg);
    else throw new Error(`unknown argument ${arg}; see \`kind-cluster --help\``);
  }
  return parsed;
}

/** The options file install.sh wrote, the KIND_CLUSTER_* variables, then the flags: later layers win. */
function settingsLayers(flags: Record<string, string>): SettingsLayer[] {
  return [...recordedLayers(), flagLayer(flags)];
}

function recordedLayers(): SettingsLayer[] {
  const file = optionsFile();
  const layers: SettingsLayer[] = [];
  try {
    layers.push(fileLayer(file, readFileSync(file, "utf8")));
  } catch {
    // No Feature install (running from a checkout): defaults, environment and flags only.
  }
  layers.push(envLayer(process.env));
  return layers;
}

function loadSettings(flags: Record<string, string>): Settings {
  return resolveSettings(settingsLayers(flags));
}

/**
 * The settings of each cluster a command acts on: with --name, that one; otherwise every cluster
 * this container declares (clusterName, then extraClusters). A cluster other than clusterName takes
 * its own name, API port (auto) and GitOps folder (clusterLayer); the other flags apply to each.
 */
function loadClusters(flags: Record<string, string>, only?: readonly string[]): Settings[] {
  const { clusterName, ...rest } = flags;
  const recorded = recordedLayers();
  const layers = [...recorded, flagLayer(rest)];
  const base = resolveSettings(layers);
  const declared = declaredClusters(base, settingOrigins(layers).extraClusters).map((c) => c.name);
  // A --name is checked on its own first, so a bad one is refused as the option would be, naming the flag.
  const names = only ?? (clusterName === undefined ? declared : [resolveSettings([flagLayer({ clusterName })]).clusterName]);
  return names.map((name) => {
    const own = clusterLayer(base, name);
    return resolveSettings([...recorded, ...(own ? [own] : []), flagLayer(flags)]);
  });
}

/**
 * `kind-cluster options`: the settings as the hooks see them, each with where it came from.
 * `kind-cluster options --feature-env`: install.sh's validation, by the same rules the hooks use.
 * Prints every option as `name=value` NUL-terminated (bash reads them without evaluating anything),
 * and with --write records the hooks' options.
 */
function optionsCommand(args: Parsed): number {
  if (!args.featureEnv) {
    const layers = settingsLayers(args.flags);
    const settings = resolveSettings(layers);
    const origins = settingOrigins(layers);
    declaredClusters(settings, origins.extraClusters);
    process.stdout.write(RUN_TIME_OPTIONS.map((name) => `${`${name}=${String(settings[name])}`.padEnd(40)} (${origins[name]})\n`).join(""));
    return 0;
  }
  const env = featureEnvLayer(process.env);
  const settings = resolveSettings([env]);
  declaredClusters(settings, env.origin("extraClusters")); // extraClusters against clusterName: refused at build time as at run time
  if (args.write) {
    const extra: Record<string, string> = args.remoteUser === undefined ? {} : { remoteUser: parseUserName(args.remoteUser) };
    writeFileSync(optionsFile(), renderOptionsFile(settings, extra), { mode: 0o644 });
  }
  process.stdout.write(OPTION_NAMES.map((name) => `${name}=${String(settings[name])}\0`).join(""));
  return 0;
}

/** The internal commands that run until stopped: the bodies of the zone-1 background processes. */
const DAEMONS: Record<string, { usage: string; run(argument: string): Promise<void> }> = {
  // Keeps the services of one runtime folder running (serve/supervisor.ts).
  supervise: { usage: "<runtime folder>", run: async (dir) => (await import("./serve/supervisor.js")).runSupervisor(dir) },
  // One service instance, started by the supervisor (serve/index.ts).
  serve: { usage: "<config file>", run: async (config) => (await import("./serve/index.js")).serve(config) },
};

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.command === "version") {
    process.stdout.write(`kind-cluster ${VERSION}\n`);
    return 0;
  }
  if (args.command === "help" || args.command === "") {
    process.stdout.write(usage());
    return args.command === "help" ? 0 : 2;
  }
  if (args.command === "options") return optionsCommand(args);
  const daemon = DAEMONS[args.command];
  if (daemon) {
    const [argument] = args.positionals;
    if (!argument || args.positionals.length > 1) throw new Error(`usage: kind-cluster ${args.command} ${daemon.usage}`);
    await daemon.run(argument);
    return new Promise<number>(() => undefined); // it runs until it is stopped
  }
  if (args.command === "watch") {
    // Internal: the body of the stop watcher container (see watch.ts), started by `up` with stopWithContainer.
    const [{ watch }, { dockerEngine }] = await Promise.all([import("./watch.js"), import("./engine/docker.js")]);
    const [container] = args.positionals;
    if (!container || args.positionals.length > 1) throw new Error("usage: kind-cluster watch <container id>");
    await watch(dockerEngine(process.env), container, (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
    return 0;
  }
  const clusters = loadClusters(args.flags);
  const settings = clusters[0]!;
  const kubeconfig = kubeconfigPath(process.env);
  const logger = createLogger();
  const engines = async () => (await import("./engines.js")).realEngines(process.env);
  switch (args.command) {
    case "up": {
      if (args.hook && !settings.createCluster) {
        logger.info("createCluster is false: the tools are installed, no cluster is managed");
        return 0;
      }
      const [{ up }, { renderNodes }] = await Promise.all([import("./up/index.js"), import("./report.js")]);
      // At container start the socket proxy may still be coming up: hooks wait longer than a person would.
      const dockerWaitMs = args.hook ? 60_000 : 5_000;
      const all = await engines();
      let code = 0;
      // One cluster after the other, each with its own context; one that fails does not keep the next from coming up.
      for (const [i, cluster] of clusters.entries()) {
        const start = performance.now();
        if (clusters.length > 1) logger.info(`cluster ${cluster.clusterName}`);
        try {
          const context = { ...all, settings: cluster, workspace: process.cwd(), kubeconfig, logger, dockerWaitMs, makeCurrent: i === 0 };
          const result = await up(context);
          logger.info(
            `cluster ${cluster.clusterName} is ready in ${((performance.now() - start) / 1000).toFixed(1)}s; context ${contextName(cluster.clusterName)}`,
          );
          process.stdout.write(`${renderNodes(result.nodes ?? [])}\n`);
        } catch (error) {
          if (clusters.length === 1) throw error;
          code = Math.max(code, report(error, args.hook, cluster.strict));
        }
      }
      return code;
    }
    case "status": {
      const [{ renderStatus, statusOf }, { observeAll, clustersOfContainer }] = await Promise.all([import("./status.js"), import("./observe.js")]);
      const all = await engines();
      const shown = args.flags.clusterName
        ? clusters
        : loadClusters(
            args.flags,
            await clustersOfContainer(
              all,
              clusters.map((c) => c.clusterName),
            ),
          );
      const statuses = [];
      for (const cluster of shown) statuses.push(statusOf(cluster, await observeAll(all, cluster, kubeconfig)));
      const [first, ...others] = statuses;
      const json = others.length > 0 ? { ...first, otherClusters: others } : first;
      process.stdout.write(args.json ? `${JSON.stringify(json, null, 2)}\n` : `${statuses.map(renderStatus).join("\n\n")}\n`);
      return statuses.every((s) => s.route.reachable) ? 0 : 1;
    }
    case "doctor": {
      const [{ doctor }, { renderChecks }] = await Promise.all([import("./doctor.js"), import("./report.js")]);
      const checks = await doctor(await engines(), settings, kubeconfig);
      process.stdout.write(`${renderChecks(checks)}\n`);
      return checks.some((c) => c.state === "fail") ? 1 : 0;
    }
    case "stop": {
      const { stop } = await import("./stop.js");
      const all = await engines();
      for (const cluster of clusters) {
        if (clusters.length > 1) logger.info(`cluster ${cluster.clusterName}`);
        await stop(all, cluster, logger);
      }
      return 0;
    }
    case "diff": {
      const { diff } = await import("./diff.js");
      return diff(await engines(), settings, kubeconfig, process.cwd(), logger);
    }
    case "down": {
      const { down } = await import("./down.js");
      await down(await engines(), settings, kubeconfig, logger, { removeRegistry: args.removeRegistry });
      return 0;
    }
    default:
      throw new Error(`unknown command ${args.command}; see \`kind-cluster --help\``);
  }
}

/** In hook mode a failure must not block the dev container (a failing hook skips the user's own hooks). */
function report(error: unknown, hook: string | undefined, strict: boolean): number {
  let text = isZoneError(error) ? error.render() : `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  if (debugEnabled() && error instanceof Error && error.cause !== undefined)
    text += `\ncaused by: ${error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : String(error.cause)}`;
  if (!hook) {
    process.stderr.write(`kind-cluster: ${text}\n`);
    return 1;
  }
  const bar = "=".repeat(78);
  process.stderr.write(`\n${bar}\nkind-cluster (${hook}): the cluster is NOT ready\n${text}\n`);
  process.stderr.write(
    strict
      ? `strict is set: failing the ${hook} hook.\n${bar}\n`
      : `The dev container is usable. Run \`kind-cluster doctor\` for every hop, then \`kind-cluster up\`.\n${bar}\n`,
  );
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
