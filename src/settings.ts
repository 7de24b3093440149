import { ZoneError } from "./errors.js";

/** Routes from zone 1 to the API server; see route.ts. */
export const ROUTES = ["auto", "host.docker.internal", "kind-network"] as const;
export type RouteSetting = (typeof ROUTES)[number];

export interface Settings {
  clusterName: string;
  apiServerPort: number;
  /** "auto" picks an address the dev container can reach but the LAN cannot; or an explicit IP. */
  apiServerAddress: string;
  /** Empty: kind's default image for its version. */
  nodeImage: string;
  /** Empty, or a kind config file (relative paths are taken from the workspace folder). */
  kindConfig: string;
  route: RouteSetting;
  waitSeconds: number;
  /** Whether the lifecycle hooks manage the cluster; `kind-cluster up` typed by hand always does. */
  createCluster: boolean;
  /** Hooks fail (non-zero exit) instead of reporting and exiting 0. */
  strict: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  clusterName: "kind",
  apiServerPort: 6443,
  apiServerAddress: "auto",
  nodeImage: "",
  kindConfig: "",
  route: "auto",
  waitSeconds: 120,
  createCluster: true,
  strict: false,
};

type Key = keyof Settings;

/** Environment variables that override the options the Feature recorded at build time. */
export const ENV_NAMES: Record<Key, string> = {
  clusterName: "KIND_CLUSTER_NAME",
  apiServerPort: "KIND_CLUSTER_API_SERVER_PORT",
  apiServerAddress: "KIND_CLUSTER_API_SERVER_ADDRESS",
  nodeImage: "KIND_CLUSTER_NODE_IMAGE",
  kindConfig: "KIND_CLUSTER_KIND_CONFIG",
  route: "KIND_CLUSTER_ROUTE",
  waitSeconds: "KIND_CLUSTER_WAIT_SECONDS",
  createCluster: "KIND_CLUSTER_CREATE_CLUSTER",
  strict: "KIND_CLUSTER_STRICT",
};

/** One layer of raw values and where they came from (for error messages). */
export interface SettingsLayer {
  source: string;
  values: Partial<Record<string, string>>;
}

/** Parses the `name=value` file install.sh writes. Unknown names are kept for the caller to ignore. */
export function parseOptionsFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    values[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return values;
}

/** Picks this CLI's variables out of an environment, keyed by option name. */
export function envLayer(env: NodeJS.ProcessEnv): SettingsLayer {
  const values: Record<string, string> = {};
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const value = env[name];
    if (value !== undefined && value !== "") values[key] = value;
  }
  return { source: "environment", values };
}

const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function invalid(key: Key, value: string, source: string, expected: string): ZoneError {
  return new ZoneError(
    "dev container",
    `option ${key}=${JSON.stringify(value)} (from ${source}) is not valid: ${expected}`,
    `set ${key} in the Feature's options in devcontainer.json (or ${ENV_NAMES[key]}) to ${expected}`,
  );
}

function parseValue(key: Key, value: string, source: string): Settings[Key] {
  switch (key) {
    case "clusterName":
      if (!CLUSTER_NAME.test(value) || value.length > 50)
        throw invalid(key, value, source, "lower-case letters, digits, '-' or '.', at most 50 characters");
      return value;
    case "apiServerPort": {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(key, value, source, "a port from 1 to 65535");
      return port;
    }
    case "waitSeconds": {
      const seconds = Number(value);
      if (!Number.isInteger(seconds) || seconds < 0) throw invalid(key, value, source, "a whole number of seconds (0 or more)");
      return seconds;
    }
    case "apiServerAddress": {
      const m = IPV4.exec(value);
      if (value !== "auto" && !(m && m.slice(1).every((o) => Number(o) <= 255)))
        throw invalid(key, value, source, '"auto" or an IPv4 address of the Docker host');
      return value;
    }
    case "route":
      if (!(ROUTES as readonly string[]).includes(value)) throw invalid(key, value, source, `one of ${ROUTES.join(", ")}`);
      return value as RouteSetting;
    case "createCluster":
    case "strict":
      if (!["true", "false"].includes(value.toLowerCase())) throw invalid(key, value, source, "true or false");
      return value.toLowerCase() === "true";
    case "nodeImage":
    case "kindConfig":
      return value;
  }
}

/** Later layers win. Every value is validated, and an error names the layer it came from. */
export function resolveSettings(layers: readonly SettingsLayer[]): Settings {
  const settings: Settings = { ...DEFAULT_SETTINGS };
  for (const layer of layers) {
    for (const key of Object.keys(DEFAULT_SETTINGS) as Key[]) {
      const value = layer.values[key];
      if (value === undefined) continue;
      (settings as unknown as Record<Key, Settings[Key]>)[key] = parseValue(key, value, layer.source);
    }
  }
  return settings;
}

/** kind's naming: every kubeconfig entry and the node containers derive from the cluster name. */
export function contextName(clusterName: string): string {
  return `kind-${clusterName}`;
}

export function controlPlaneName(clusterName: string): string {
  return `${clusterName}-control-plane`;
}
