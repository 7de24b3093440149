import feature from "../features/src/kind-cluster/devcontainer-feature.json" with { type: "json" };
import { ZoneError } from "./errors.js";
import { COMPONENTS_ACCEPTED, parseComponents } from "./gitops/flux/components.js";

/**
 * The Feature's options, defined once. devcontainer-feature.json holds each option's name, type,
 * default and description; this module adds the one rule that validates it, and derives everything
 * else: the settings type, the environment variable, the command-line flag, the options file.
 * install.sh validates through this same code (`kind-cluster options --feature-env`), so the rules at
 * build time and at run time cannot drift.
 */

type Definitions = typeof feature.options;
export type OptionName = keyof Definitions;

const INVALID = Symbol("invalid");
type Parsed<T> = T | typeof INVALID;

interface Rule<T> {
  /** "run": the hooks use it (recorded for them at build time); "build": only install.sh does. */
  when: "run" | "build";
  /** What is accepted, for the error message. */
  accepts: string;
  parse(text: string): Parsed<T>;
}

const rule = <T>(when: Rule<T>["when"], accepts: string, parse: (text: string) => Parsed<T>): Rule<T> => ({ when, accepts, parse });
const matching = (re: RegExp, text: string): Parsed<string> => (re.test(text) ? text : INVALID);

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const port = (when: Rule<number>["when"]) =>
  rule(when, "a port from 1 to 65535, in decimal", (t) => (DECIMAL.test(t) && Number(t) >= 1 && Number(t) <= 65535 ? Number(t) : INVALID));
const boolean = (when: Rule<boolean>["when"]) => rule(when, "true or false", (t) => (/^(true|false)$/i.test(t) ? t.toLowerCase() === "true" : INVALID));
/** An option whose values the JSON lists (`enum`); T is the union the code switches on. */
const oneOf = <T extends string>(when: Rule<T>["when"], name: "route" | "gitops") => {
  const values: readonly string[] = feature.options[name].enum;
  return rule(when, `one of ${values.join(", ")}`, (t) => (values.includes(t) ? (t as T) : INVALID));
};

/** A release version as the projects tag them: 1.2.3 or v1.2.3, with an optional pre-release suffix. */
const VERSION = /^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$/;
const version = (what: string) =>
  rule("build", `"latest" (the version this release pins) or a ${what} version such as v1.2.3`, (t) => (t === "latest" ? t : matching(VERSION, t)));

/**
 * An image reference as Docker parses it: an optional registry (a name with a dot or a port, or
 * localhost), lower-case path components, an optional tag and an optional sha256 digest.
 */
const REGISTRY = "(?:localhost|[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?";
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const IMAGE = new RegExp(`^(?:${REGISTRY}/)?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
const image = (when: Rule<string>["when"], empty?: string) =>
  rule(when, `${empty ? `${empty} or ` : ""}an image reference such as registry.example/name:tag or name@sha256:<64 hex digits>`, (t) => {
    if (t === "") return empty ? t : INVALID;
    // A first component without a dot, a port or "localhost" is a path, not a registry: it must be lower case.
    const first = t.split("/")[0] ?? "";
    if (t.includes("/") && !/[.:]|^localhost$/.test(first) && first !== first.toLowerCase()) return INVALID;
    return matching(IMAGE, t);
  });

/** An IPv4 address in dotted decimal, no leading zeros. */
function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => DECIMAL.test(p) && Number(p) <= 255);
}

const CLUSTER_NAME_ACCEPTS = "lower-case letters, digits, '-' or '.', starting and ending with a letter or digit, at most 50 characters";
const clusterNameOf = (t: string): Parsed<string> => (t.length <= 50 ? matching(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, t) : INVALID);
const GITOPS_PATH_ACCEPTS = "a relative path inside the workspace repository, of letters, digits and . _ - /, without ..";
const gitopsPathOf = (t: string): Parsed<string> =>
  /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/.test(t) && !t.split("/").includes("..") ? t.replace(/\/$/, "") : INVALID;

/** One more cluster of this dev container, as extraClusters declares it. */
export interface ClusterDeclaration {
  name: string;
  /** Its GitOps folder; absent: the gitopsPath option. */
  gitopsPath?: string;
}

/** extraClusters: `name[:gitopsPath]` separated by commas, names distinct. Pure. */
function parseClusterList(text: string): Parsed<ClusterDeclaration[]> {
  if (text === "") return [];
  const list: ClusterDeclaration[] = [];
  for (const item of text.split(",")) {
    const [name = "", path, more] = item.split(":");
    if (more !== undefined || clusterNameOf(name) === INVALID || list.some((c) => c.name === name)) return INVALID;
    if (path === undefined) list.push({ name });
    else {
      const gitopsPath = gitopsPathOf(path);
      if (gitopsPath === INVALID) return INVALID;
      list.push({ name, gitopsPath });
    }
  }
  return list;
}

const MIRROR_ACCEPTS =
  "empty, an https:// URL, or an http:// URL to a loopback or private address (127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7, localhost) together with allowInsecureMirror true; of letters, digits and . _ ~ : / ? # @ % + = & , - [ ]";

/**
 * Where a download mirror may be: https anywhere; plain http (which anyone on the path can alter) on
 * this machine or a private network only, and checkInsecureMirror also wants allowInsecureMirror.
 * An http host must be written as the URL parser reads it (no user part, no hex or short IPv4
 * forms), so that the host judged here is the host curl connects to.
 */
function isAcceptedMirror(text: string): boolean {
  if (!/^https?:\/\/[A-Za-z0-9._~:/?#@%+=&,[\]-]+$/.test(text)) return false;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (!url.hostname) return false;
  if (url.protocol === "https:") return true;
  const written = text.slice("http://".length);
  return written.toLowerCase().startsWith(url.hostname) && /^(?:[:/?#]|$)/.test(written.slice(url.hostname.length)) && isPrivateHost(url.hostname);
}

/** localhost, or an address in a loopback or private range; IPv6 as the URL parser writes it, in brackets. */
function isPrivateHost(hostname: string): boolean {
  if (hostname === "localhost") return true;
  if (isIPv4(hostname)) {
    const [a, b] = hostname.split(".").map(Number) as [number, number];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  const v6 = /^\[([0-9a-f:.]+)\]$/.exec(hostname)?.[1];
  if (v6 === undefined) return false;
  if (v6 === "::1") return true;
  const first = v6.startsWith(":") ? 0 : Number.parseInt(v6.split(":")[0] ?? "", 16);
  return (first & 0xfe00) === 0xfc00;
}

const RULES = {
  clusterName: rule("run", CLUSTER_NAME_ACCEPTS, clusterNameOf),
  apiServerPort: rule<number | "auto">(
    "run",
    `"auto" (6443, else the next free port from 6444, chosen at creation) or a port from 1 to 65535, in decimal`,
    (t) => (t === "auto" ? t : port("run").parse(t)),
  ),
  apiServerAddress: rule(
    "run",
    '"auto" (127.0.0.1, loopback only) or one IPv4 address of the Docker host; 0.0.0.0 is refused: it publishes the API on every interface, to everyone who can reach the host',
    (t) => (t === "auto" || (isIPv4(t) && t !== "0.0.0.0") ? t : INVALID),
  ),
  route: oneOf<RouteSetting>("run", "route"),
  kindConfig: rule("run", "empty or a path to a kind config (relative paths start at the workspace folder)", (t) => t),
  nodeImage: image("run", "empty (kind's default image)"),
  waitSeconds: rule("run", "a whole number of seconds from 0 to 3600, in decimal", (t) => (DECIMAL.test(t) && Number(t) <= 3600 ? Number(t) : INVALID)),
  createCluster: boolean("run"),
  strict: boolean("run"),
  localRegistry: boolean("run"),
  registryPort: port("run"),
  registryImage: image("run"),
  gitops: oneOf<"none" | "flux">("run", "gitops"),
  gitopsPath: rule("run", GITOPS_PATH_ACCEPTS, gitopsPathOf),
  // Kept as the validated text (the options file holds it as given); declaredClusters() reads it.
  extraClusters: rule(
    "run",
    `empty, or name:gitopsPath pairs separated by commas such as staging:clusters/staging,prod:clusters/prod (a name alone applies gitopsPath); names distinct, each ${CLUSTER_NAME_ACCEPTS}; paths ${GITOPS_PATH_ACCEPTS}`,
    (t) => (parseClusterList(t) === INVALID ? INVALID : t),
  ),
  loadBalancer: boolean("run"),
  forwardServices: boolean("run"),
  stopWithContainer: boolean("run"),
  fluxComponents: rule("run", COMPONENTS_ACCEPTED, (t) => parseComponents(t) ?? INVALID),
  kindVersion: version("kind"),
  kubectlVersion: version("kubectl"),
  fluxVersion: version("flux"),
  helmVersion: version("helm"),
  installHelm: boolean("build"),
  installDockerCli: boolean("build"),
  dockerVersion: rule("build", 'empty, "latest" (the version this release pins) or a Docker version such as 28.2.2', (t) =>
    t === "" || t === "latest" ? t : matching(VERSION, t),
  ),
  downloadMirror: rule("build", MIRROR_ACCEPTS, (t) => (t === "" || isAcceptedMirror(t) ? t : INVALID)),
  allowInsecureMirror: boolean("build"),
} satisfies { [K in OptionName]: Rule<unknown> };

type Rules = typeof RULES;
type Value<R> = R extends Rule<infer T> ? T : never;

/** Every option, parsed: what the CLI works with. */
export type Settings = { [K in OptionName]: Value<Rules[K]> };
/** The route option's values (devcontainer-feature.json lists them; the code switches on this union). */
export type RouteSetting = "auto" | "host.docker.internal" | "kind-network";

/**
 * Where install.sh records the Feature's options for the hooks (they never see the options themselves);
 * KIND_CLUSTER_OPTIONS_FILE moves it (tests).
 */
export function optionsFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.KIND_CLUSTER_OPTIONS_FILE || "/usr/local/share/kind-cluster/options.env";
}

/**
 * How long each wait of `up` may last. waitSeconds bounds the waits a user watches (nodes Ready, a
 * commit applied); creating a cluster and installing the GitOps controllers pull and start many
 * containers, so they are given at least these minimums, whatever waitSeconds says.
 */
const MIN_CREATE_SECONDS = 300;
const MIN_GITOPS_INSTALL_SECONDS = 120;

export function timeouts(settings: Pick<Settings, "waitSeconds">) {
  return {
    readyMs: settings.waitSeconds * 1000,
    createMs: Math.max(settings.waitSeconds, MIN_CREATE_SECONDS) * 1000,
    gitopsInstallMs: Math.max(settings.waitSeconds, MIN_GITOPS_INSTALL_SECONDS) * 1000,
  };
}

export const OPTION_NAMES = Object.keys(RULES) as OptionName[];
export const RUN_TIME_OPTIONS = OPTION_NAMES.filter((name) => RULES[name].when === "run");

/** Control characters never belong in a value: a newline would add a line to the options file. */
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The environment variable that overrides an option at run time: clusterName -> KIND_CLUSTER_NAME. */
export function envName(name: OptionName): string {
  const snake = name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  return `KIND_CLUSTER_${snake.replace(/^CLUSTER_/, "")}`;
}

/** The command-line flag: apiServerPort -> --api-server-port. */
export function flagName(name: OptionName): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The variable the devcontainer CLI gives install.sh for an option: its name in upper case. */
function featureEnvName(name: OptionName): string {
  return name.toUpperCase();
}

/** One source of raw values; `origin` says where a value was set, for error messages. */
export interface SettingsLayer {
  origin: (name: OptionName) => string;
  values: Partial<Record<string, string>>;
}

export function describeOption(name: OptionName): string {
  return (feature.options as Record<OptionName, { description: string }>)[name].description;
}

function defaultText(name: OptionName): string {
  return String((feature.options as Record<OptionName, { default: string | boolean }>)[name].default);
}

function invalid(name: OptionName, value: string, origin: string): ZoneError {
  const accepts = RULES[name].accepts;
  return new ZoneError({
    zone: "dev container",
    message: `option ${name}=${JSON.stringify(value)} (from ${origin}) is not valid: ${accepts}`,
    fix: `set ${name} in the Feature's options in devcontainer.json${RULES[name].when === "run" ? ` (or ${envName(name)})` : ""} to ${accepts.split(";")[0]}`,
  });
}

function parseOption<K extends OptionName>(name: K, value: string, origin: string): Settings[K] {
  const parsed = CONTROL.test(value) ? INVALID : RULES[name].parse(value);
  if (parsed === INVALID) throw invalid(name, value, origin);
  return parsed as Settings[K];
}

export const DEFAULT_SETTINGS: Settings = Object.fromEntries(
  OPTION_NAMES.map((name) => [name, parseOption(name, defaultText(name), "the Feature's defaults")]),
) as Settings;

/** Later layers win; every value is validated and an error names where it was set. */
export function resolveSettings(layers: readonly SettingsLayer[]): Settings {
  const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const layer of layers) {
    for (const name of OPTION_NAMES) {
      const value = layer.values[name];
      if (value !== undefined) settings[name] = parseOption(name, value, layer.origin(name));
    }
  }
  checkInsecureMirror(settings as Settings, settingOrigins(layers).downloadMirror);
  return settings as Settings;
}

/** Where each option's value came from: the last layer that set it, or the Feature's defaults. */
export function settingOrigins(layers: readonly SettingsLayer[]): Record<OptionName, string> {
  const origins = Object.fromEntries(OPTION_NAMES.map((name) => [name, "the Feature's defaults"])) as Record<OptionName, string>;
  for (const layer of layers) for (const name of OPTION_NAMES) if (layer.values[name] !== undefined) origins[name] = layer.origin(name);
  return origins;
}

/** Plain http needs the user's consent as well (downloadMirror's rule has limited it to private addresses). */
function checkInsecureMirror(settings: Settings, origin: string): void {
  if (!settings.downloadMirror.startsWith("http://") || settings.allowInsecureMirror) return;
  throw new ZoneError({
    zone: "dev container",
    message: `option downloadMirror=${JSON.stringify(settings.downloadMirror)} (from ${origin}) is not valid: it is plain http, which anyone on the network path can alter, and allowInsecureMirror is not true`,
    fix: "use an https:// mirror, or, for a mirror on this machine or your private network, set allowInsecureMirror to true in the Feature's options in devcontainer.json",
  });
}

/** KIND_CLUSTER_* variables, for the options the hooks use; empty ones are ignored. */
export function envLayer(env: NodeJS.ProcessEnv): SettingsLayer {
  const values: Record<string, string> = {};
  for (const name of RUN_TIME_OPTIONS) {
    const value = env[envName(name)];
    if (value !== undefined && value !== "") values[name] = value;
  }
  return { origin: (name) => `environment variable ${envName(name)}`, values };
}

/** The variables install.sh receives from the devcontainer CLI (every option, by its upper-case name). */
export function featureEnvLayer(env: NodeJS.ProcessEnv): SettingsLayer {
  const values: Record<string, string> = {};
  for (const name of OPTION_NAMES) {
    const value = env[featureEnvName(name)];
    if (value !== undefined) values[name] = value;
  }
  return { origin: () => "the Feature's options in devcontainer.json", values };
}

/** The options file install.sh records for the hooks: `name=value` lines, values free of control characters. */
export function renderOptionsFile(settings: Settings, extra: Record<string, string>): string {
  const lines = ["# Written by the kind-cluster Feature's install.sh; read by the kind-cluster CLI."];
  for (const name of RUN_TIME_OPTIONS) lines.push(`${name}=${String(settings[name])}`);
  for (const [key, value] of Object.entries(extra)) lines.push(`${key}=${value}`);
  return `${lines.join("\n")}\n`;
}

/** Parses the options file. Unknown names are kept for the caller to ignore. */
export function parseOptionsFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return values;
}

export function fileLayer(path: string, text: string): SettingsLayer {
  return { origin: () => path, values: parseOptionsFile(text) };
}

export function flagLayer(values: Record<string, string>): SettingsLayer {
  return { origin: (name) => `command-line flag ${flagName(name)}`, values };
}

/**
 * The clusters this dev container's settings declare, clusterName first, then extraClusters in order.
 * An extra cluster that repeats clusterName is refused as an invalid option (at build time too:
 * install.sh validates through this). Pure.
 */
export function declaredClusters(settings: Pick<Settings, "clusterName" | "extraClusters">, origin = "the settings"): ClusterDeclaration[] {
  const extras = parseClusterList(settings.extraClusters);
  if (extras === INVALID) throw invalid("extraClusters", settings.extraClusters, origin);
  if (extras.some((c) => c.name === settings.clusterName))
    throw new ZoneError({
      zone: "dev container",
      message: `option extraClusters=${JSON.stringify(settings.extraClusters)} (from ${origin}) is not valid: it names ${settings.clusterName}, which is clusterName`,
      fix: `remove ${settings.clusterName} from extraClusters in the Feature's options in devcontainer.json (clusterName is always brought up)`,
    });
  return [{ name: settings.clusterName }, ...extras];
}

/**
 * The values that make `base` (the clusterName cluster's settings) into those of another cluster of
 * this container: its name, its own API port (auto: the base's port belongs to the clusterName
 * cluster) and, when extraClusters gives one, its GitOps folder. A layer, so flags still win.
 */
export function clusterLayer(base: Settings, name: string): SettingsLayer | undefined {
  if (name === base.clusterName) return undefined;
  const declared = declaredClusters(base).find((c) => c.name === name);
  const values: Record<string, string> = { clusterName: name, apiServerPort: "auto" };
  if (declared?.gitopsPath) values.gitopsPath = declared.gitopsPath;
  return { origin: (option) => (option === "gitopsPath" ? "extraClusters" : `the cluster ${name}`), values };
}

/** A user name as useradd accepts it; recorded for the socket entrypoint, which runs as root. */
export function parseUserName(value: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,31}\$?$/.test(value))
    throw new ZoneError({
      zone: "dev container",
      message: `remote user ${JSON.stringify(value)} is not a valid user name`,
      fix: "set remoteUser in devcontainer.json to an existing user of the image",
    });
  return value;
}
