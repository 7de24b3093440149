import { isMap, isSeq, parseDocument, type Document, YAMLMap } from "yaml";
import { ZoneError } from "../errors.js";

const API_VERSION = "kind.x-k8s.io/v1alpha4";

export interface KindConfigInput {
  clusterName: string;
  apiServerPort: number;
  apiServerAddress: string;
  /** The user's kind config text, if any, and where it came from (for messages). */
  userConfig?: { text: string; path: string };
  /** The Docker host runs cgroup v1: Kubernetes 1.35+ kubelets refuse it unless told otherwise. */
  cgroupV1: boolean;
  /** The local registry is wanted: containerd must read registry host files from /etc/containerd/certs.d. */
  registryHosts?: boolean;
}

export interface RenderedKindConfig {
  yaml: string;
  warnings: string[];
}

/**
 * containerd's registry host files (certs.d). kind's base config (format version 2) leaves config_path
 * empty, and containerd 2 then reads no hosts.toml at all. The same table, merged by kind, for new clusters;
 * registry.ts adds it to nodes of clusters created without it.
 */
export const CONTAINERD_HOSTS_PATCH = '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n';

/** The kubelet patch that lets 1.35+ kubelets run on cgroup v1; unversioned so it matches any kubeadm API. */
const CGROUP_V1_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n";

function userError(path: string, message: string, detail?: string): ZoneError {
  return new ZoneError({
    zone: "dev container",
    message: `kind config ${path}: ${message}`,
    fix: `fix ${path} (a kind config, apiVersion ${API_VERSION}, kind: Cluster) or unset the kindConfig option`,
    detail,
  });
}

function parseUserConfig(text: string, path: string): Document {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw userError(path, "is not valid YAML", doc.errors[0]?.message);
  if (doc.contents === null) return parseDocument(`kind: Cluster\napiVersion: ${API_VERSION}\n`);
  if (!isMap(doc.contents)) throw userError(path, "must be a YAML mapping");
  const kind = doc.get("kind");
  const apiVersion = doc.get("apiVersion");
  if (kind !== undefined && kind !== "Cluster") throw userError(path, `has kind ${JSON.stringify(kind)}, expected Cluster`);
  if (apiVersion !== undefined && apiVersion !== API_VERSION)
    throw userError(path, `has apiVersion ${JSON.stringify(apiVersion)}; this kind reads ${API_VERSION}`);
  const nodes = doc.get("nodes");
  if (nodes !== undefined && !isSeq(nodes)) throw userError(path, "nodes must be a list");
  return doc;
}

/** Appends `patch` to the list `key`, unless one of the user's patches already sets `setting`. */
function addPatchOnce(doc: Document, key: string, setting: string, patch: string): void {
  const patches = doc.get(key);
  if (isSeq(patches) && patches.items.some((p) => String((p as { value?: unknown }).value ?? p).includes(setting))) return;
  if (isSeq(patches)) patches.add(doc.createNode(patch));
  else doc.set(key, doc.createNode([patch]));
}

/**
 * Renders the kind config we create the cluster with: the user's config (workers, mounts, port mappings,
 * patches all kept) with the cluster name, API port and API address that the route depends on enforced.
 */
export function renderKindConfig(input: KindConfigInput): RenderedKindConfig {
  const warnings: string[] = [];
  const doc = input.userConfig ? parseUserConfig(input.userConfig.text, input.userConfig.path) : parseDocument(`kind: Cluster\napiVersion: ${API_VERSION}\n`);
  const where = input.userConfig?.path ?? "";

  doc.set("kind", "Cluster");
  doc.set("apiVersion", API_VERSION);

  const name = doc.get("name");
  if (name !== undefined && name !== input.clusterName)
    warnings.push(`${where}: name ${JSON.stringify(name)} replaced by clusterName ${JSON.stringify(input.clusterName)}`);
  doc.set("name", input.clusterName);

  let networking = doc.get("networking");
  if (!isMap(networking)) {
    networking = new YAMLMap();
    doc.set("networking", networking);
  }
  const enforce = (key: string, value: string | number, why: string) => {
    const current = doc.getIn(["networking", key]);
    if (current !== undefined && String(current) !== String(value))
      warnings.push(`${where}: networking.${key} ${JSON.stringify(current)} replaced by ${JSON.stringify(value)} (${why})`);
    doc.setIn(["networking", key], value);
  };
  enforce("apiServerPort", input.apiServerPort, "the apiServerPort option pins it");
  enforce("apiServerAddress", input.apiServerAddress, "the route from the dev container depends on it");

  if (!doc.has("nodes")) doc.set("nodes", doc.createNode([{ role: "control-plane" }]));
  const nodes = doc.get("nodes");
  const roles = isSeq(nodes) ? nodes.items.map((n) => (isMap(n) ? n.get("role") : undefined)) : [];
  if (!roles.includes("control-plane")) throw userError(where, "has no node with role control-plane");

  if (input.cgroupV1) addPatchOnce(doc, "kubeadmConfigPatches", "failCgroupV1", CGROUP_V1_PATCH);
  if (input.registryHosts) addPatchOnce(doc, "containerdConfigPatches", "config_path", CONTAINERD_HOSTS_PATCH);

  return { yaml: doc.toString({ lineWidth: 0 }), warnings };
}
