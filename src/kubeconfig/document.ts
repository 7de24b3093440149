import { isDeepStrictEqual } from "node:util";
import { isMap, isScalar, isSeq, parseDocument, type Node, type Pair, type YAMLMap } from "yaml";
import { ZoneError } from "../errors.js";

/**
 * One kubeconfig file read the way kubectl reads it: client-go decodes YAML with YAML 1.1 rules
 * (sigs.k8s.io/yaml over go-yaml v2: `010` is 8, `yes` is true, `<<` merges), and refuses a file
 * whose lists repeat a name. Pure: text in, data out.
 */

/** What our cluster's kubeconfig entries hold: the route's server and kind's credentials. */
export interface ClusterEntry {
  /** kind's naming: cluster, user and context are all `kind-<clusterName>`. */
  name: string;
  server: string;
  /** Absent when the server's host is a name in the API certificate (kind-network route). */
  tlsServerName?: string;
  credentials: Credentials;
}

export interface Credentials {
  certificateAuthorityData: string;
  clientCertificateData: string;
  clientKeyData: string;
}

/** The three named lists of a kubeconfig and the key holding each item's body. */
export const SECTIONS = { clusters: "cluster", users: "user", contexts: "context" } as const;
export type Section = keyof typeof SECTIONS;
export const SECTION_NAMES = Object.keys(SECTIONS) as Section[];

/** One item of a named list, as data: `{ name, cluster: {...} }`. */
export type Item = { name: string } & Record<string, unknown>;

/** What kubectl sees in a file, compared before and after every rewrite. */
export interface Model {
  /** Each list as name -> the whole item. */
  sections: Record<Section, Map<string, unknown>>;
  /** "" when unset, as kubectl treats it. */
  currentContext: string;
  /** Every other top-level key: apiVersion, kind, preferences, extensions, keys kubectl ignores. */
  rest: Record<string, unknown>;
}

export interface Kubeconfig {
  path: string;
  text: string;
  /** The top-level mapping (with source ranges); absent when the file is empty or only comments. */
  top?: YAMLMap;
  model: Model;
}

/** kubectl's reading: YAML 1.1, and the source tokens kept so that edits can splice the text. */
const YAML_OPTIONS = { version: "1.1", uniqueKeys: true, keepSourceTokens: true } as const;

function malformed(path: string, problem: string, detail?: string): ZoneError {
  return new ZoneError({
    zone: "dev container",
    message: `the kubeconfig ${path} is malformed (${problem}); it was left untouched`,
    fix: `repair or move ${path} aside, then run \`kind-cluster up\` again`,
    detail,
  });
}

/** kubectl (Go) refuses bytes that are not UTF-8; so do we, rather than rewrite them as U+FFFD. */
export function decodeKubeconfig(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw malformed(path, "not UTF-8 text");
  }
}

function emptyModel(): Model {
  return { sections: { clusters: new Map(), users: new Map(), contexts: new Map() }, currentContext: "", rest: {} };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses a kubeconfig, refusing anything kubectl would refuse or we could not edit safely. */
export function parseKubeconfig(text: string, path: string): Kubeconfig {
  const doc = parseDocument(text, YAML_OPTIONS);
  if (doc.errors.length > 0) throw malformed(path, "not valid YAML", doc.errors[0]?.message);
  // Empty, or only comments: client-go reads an empty file as an empty config; a comment is no different.
  if (doc.contents === null) return { path, text, model: emptyModel() };
  if (!isMap(doc.contents)) throw malformed(path, "the top level is not a mapping");
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    throw malformed(path, "its aliases cannot be resolved", (error as Error).message);
  }
  return { path, text, top: doc.contents, model: toModel(data as Record<string, unknown>, path) };
}

function toModel(data: Record<string, unknown>, path: string): Model {
  const { clusters, users, contexts, "current-context": current, ...rest } = data;
  if (rest.kind !== undefined && rest.kind !== "Config") throw malformed(path, `kind is ${JSON.stringify(rest.kind)}, not Config`);
  if (current !== undefined && current !== null && typeof current !== "string") throw malformed(path, "current-context is not a string");
  const model = emptyModel();
  model.currentContext = typeof current === "string" ? current : "";
  model.rest = rest;
  const lists: Record<Section, unknown> = { clusters, users, contexts };
  for (const section of SECTION_NAMES) {
    const list = lists[section];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw malformed(path, `${section} is not a list`);
    for (const item of list) {
      if (!isRecord(item) || typeof item.name !== "string") throw malformed(path, `an entry of ${section} has no name`);
      // client-go stops at a repeated name ("duplicate name in list"): kubectl cannot read such a file.
      if (model.sections[section].has(item.name)) throw malformed(path, `${section} names ${JSON.stringify(item.name)} twice, which kubectl refuses too`);
      model.sections[section].set(item.name, item);
    }
  }
  return model;
}

/** A top-level key's pair, as the text holds it. */
export function pairOf(top: YAMLMap, key: string): Pair<unknown, unknown> | undefined {
  return top.items.find((p) => isScalar(p.key) && p.key.value === key);
}

/** The position of a named item in its list: the model keeps the items in their order in the text. */
export function itemIndex(kc: Kubeconfig, section: Section, name: string): number {
  return [...kc.model.sections[section].keys()].indexOf(name);
}

/** The node of a named item as the text holds it. */
export function itemNode(kc: Kubeconfig, section: Section, name: string): Node | undefined {
  const list = kc.top && pairOf(kc.top, section)?.value;
  const index = itemIndex(kc, section, name);
  return isSeq(list) && index >= 0 ? (list.items[index] as Node) : undefined;
}

/** Our three items, as they should read back. */
export function entryItems(entry: ClusterEntry): Record<Section, Item> {
  const cluster: Record<string, string> = { "certificate-authority-data": entry.credentials.certificateAuthorityData, server: entry.server };
  if (entry.tlsServerName) cluster["tls-server-name"] = entry.tlsServerName;
  return {
    clusters: { name: entry.name, cluster },
    users: {
      name: entry.name,
      user: { "client-certificate-data": entry.credentials.clientCertificateData, "client-key-data": entry.credentials.clientKeyData },
    },
    contexts: { name: entry.name, context: { cluster: entry.name, user: entry.name } },
  };
}

/** Whether an item already reads exactly as wanted (then kubectl, and we, write nothing). */
export function sameItem(current: unknown, wanted: Item): boolean {
  return isDeepStrictEqual(current, wanted);
}

/** Our entry from a cluster item and a user item (from whichever files define them), if complete. */
export function entryFromItems(name: string, clusterItem: unknown, userItem: unknown): ClusterEntry | undefined {
  const cluster = isRecord(clusterItem) ? clusterItem.cluster : undefined;
  const user = isRecord(userItem) ? userItem.user : undefined;
  if (!isRecord(cluster) || !isRecord(user)) return undefined;
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const server = str(cluster.server);
  const ca = str(cluster["certificate-authority-data"]);
  const cert = str(user["client-certificate-data"]);
  const key = str(user["client-key-data"]);
  if (!server || !ca || !cert || !key) return undefined;
  return {
    name,
    server,
    tlsServerName: str(cluster["tls-server-name"]),
    credentials: { certificateAuthorityData: ca, clientCertificateData: cert, clientKeyData: key },
  };
}

/** Takes the credentials out of the kubeconfig kind prints for a cluster (`kind get kubeconfig`). */
export function credentialsFromKind(text: string, name: string): Credentials {
  const { model } = parseKubeconfig(text, `kind's kubeconfig for ${name}`);
  const entry = entryFromItems(name, model.sections.clusters.get(name), model.sections.users.get(name));
  if (!entry) {
    throw new ZoneError({
      zone: "kind cluster",
      message: `kind's kubeconfig for cluster ${name} has no complete entry (certificate authority, client certificate and key)`,
      fix: "check that the control-plane node is healthy: `docker logs <name>-control-plane`",
    });
  }
  return entry.credentials;
}
