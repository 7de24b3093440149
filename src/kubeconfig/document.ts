import { isMap, isSeq, parseDocument, type Document, type YAMLSeq } from "yaml";
import { ZoneError } from "../errors.js";

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

const SECTIONS = { clusters: "cluster", users: "user", contexts: "context" } as const;
type Section = keyof typeof SECTIONS;

export function malformed(path: string, problem: string, detail?: string): ZoneError {
  return new ZoneError(
    "dev container",
    `the kubeconfig ${path} is malformed (${problem}); it was left untouched`,
    `repair or move ${path} aside, then run \`kind-cluster up\` again`,
    detail,
  );
}

/** Parses a kubeconfig, refusing anything we could not rewrite without losing the user's data. */
function parseKubeconfig(text: string, path: string): Document {
  if (text.trim() === "") return parseDocument("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw malformed(path, "not valid YAML", doc.errors[0]?.message);
  if (!isMap(doc.contents)) throw malformed(path, "the top level is not a mapping");
  const kind = doc.get("kind");
  if (kind !== undefined && kind !== "Config") throw malformed(path, `kind is ${JSON.stringify(kind)}, not Config`);
  for (const section of Object.keys(SECTIONS) as Section[]) {
    const list = doc.get(section);
    if (list === undefined || list === null) continue;
    if (!isSeq(list)) throw malformed(path, `${section} is not a list`);
    for (const item of list.items) {
      if (!isMap(item) || typeof item.get("name") !== "string") throw malformed(path, `an entry of ${section} has no name`);
    }
  }
  return doc;
}

function sectionOf(doc: Document, section: Section): YAMLSeq {
  const list = doc.get(section);
  if (isSeq(list)) return list;
  doc.set(section, doc.createNode([]));
  return doc.get(section) as YAMLSeq;
}

function upsert(doc: Document, section: Section, name: string, body: Record<string, unknown>): void {
  const list = sectionOf(doc, section);
  const node = doc.createNode({ name, [SECTIONS[section]]: body });
  const index = list.items.findIndex((item) => isMap(item) && item.get("name") === name);
  if (index >= 0) list.items[index] = node;
  else list.items.push(node);
}

/**
 * Returns the kubeconfig with our cluster, user and context replaced (or added) and made current.
 * Every other entry, comment and setting is kept as it was.
 */
export function upsertClusterEntry(text: string, entry: ClusterEntry, path: string): string {
  const doc = parseKubeconfig(text, path);
  if (!doc.has("apiVersion")) doc.set("apiVersion", "v1");
  if (!doc.has("kind")) doc.set("kind", "Config");
  const cluster: Record<string, string> = {
    "certificate-authority-data": entry.credentials.certificateAuthorityData,
    server: entry.server,
  };
  if (entry.tlsServerName) cluster["tls-server-name"] = entry.tlsServerName;
  upsert(doc, "clusters", entry.name, cluster);
  upsert(doc, "users", entry.name, {
    "client-certificate-data": entry.credentials.clientCertificateData,
    "client-key-data": entry.credentials.clientKeyData,
  });
  upsert(doc, "contexts", entry.name, { cluster: entry.name, user: entry.name });
  doc.set("current-context", entry.name);
  return doc.toString({ lineWidth: 0 });
}

/** Removes our three entries; clears current-context only when it pointed at them. */
export function removeClusterEntry(text: string, name: string, path: string): string {
  const doc = parseKubeconfig(text, path);
  for (const section of Object.keys(SECTIONS) as Section[]) {
    const list = doc.get(section);
    if (isSeq(list)) list.items = list.items.filter((item) => !(isMap(item) && item.get("name") === name));
  }
  if (doc.get("current-context") === name) doc.set("current-context", "");
  return doc.toString({ lineWidth: 0 });
}

function entryBody(doc: Document, section: Section, name: string): Record<string, unknown> | undefined {
  const list = doc.get(section);
  if (!isSeq(list)) return undefined;
  const item = list.items.find((i) => isMap(i) && i.get("name") === name);
  const body = isMap(item) ? item.get(SECTIONS[section]) : undefined;
  return isMap(body) ? (body.toJSON() as Record<string, unknown>) : undefined;
}

/** Reads our entry back, if it is complete. */
export function findClusterEntry(text: string, name: string, path: string): ClusterEntry | undefined {
  const doc = parseKubeconfig(text, path);
  const cluster = entryBody(doc, "clusters", name);
  const user = entryBody(doc, "users", name);
  if (!cluster || !user) return undefined;
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

export function currentContext(text: string, path: string): string | undefined {
  const value = parseKubeconfig(text, path).get("current-context");
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Takes the credentials out of the kubeconfig kind prints for a cluster (`kind get kubeconfig`). */
export function credentialsFromKind(text: string, name: string): Credentials {
  const entry = findClusterEntry(text, name, `kind's kubeconfig for ${name}`);
  if (!entry) {
    throw new ZoneError(
      "kind cluster",
      `kind's kubeconfig for cluster ${name} has no complete entry (certificate authority, client certificate and key)`,
      "check that the control-plane node is healthy: `docker logs <name>-control-plane`",
    );
  }
  return entry.credentials;
}
