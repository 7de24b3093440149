import { deleteObject, getObject, mergePatch, type Endpoint } from "./apiserver.js";

/**
 * The GitOps loop's objects in the cluster, as pure renderers, and what they report. A GitRepository
 * follows the workspace repository through the dev container's read-only Git server; a Kustomization
 * applies gitopsPath from it, with pruning.
 */
export const NAMESPACE = "flux-system";
export const NAME = "workspace";
/** Where the dev container serves the repository on the cluster's network. */
export const GIT_PORT = 8418;
export const GIT_PATH = "/workspace.git";

const SOURCE_API = "/apis/source.toolkit.fluxcd.io/v1";
const KUSTOMIZE_API = "/apis/kustomize.toolkit.fluxcd.io/v1";
export const GIT_REPOSITORY_PATH = `${SOURCE_API}/namespaces/${NAMESPACE}/gitrepositories/${NAME}`;
export const KUSTOMIZATION_PATH = `${KUSTOMIZE_API}/namespaces/${NAMESPACE}/kustomizations/${NAME}`;
export const NAMESPACE_PATH = `/api/v1/namespaces/${NAMESPACE}`;

/** A reconcile request is how Flux is told "now" instead of at its next interval (what `flux reconcile` does). */
export const REQUESTED_AT = "reconcile.fluxcd.io/requestedAt";

export function gitRepository(url: string, branch: string): object {
  return {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: NAME, namespace: NAMESPACE, labels: { "app.kubernetes.io/managed-by": "kind-cluster" } },
    // The interval is only a fallback: the dev container asks for a reconcile on every commit.
    spec: { url, ref: { branch }, interval: "1m", timeout: "30s" },
  };
}

export function kustomization(path: string): object {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: NAME, namespace: NAMESPACE, labels: { "app.kubernetes.io/managed-by": "kind-cluster" } },
    spec: { sourceRef: { kind: "GitRepository", name: NAME }, path: `./${path}`, prune: true, interval: "10m", timeout: "2m", wait: false },
  };
}

/** Asks Flux to fetch the repository now; with a branch, follows that branch from now on. Returns the request's stamp. */
export async function requestReconcile(endpoint: Endpoint, branch?: string): Promise<string> {
  const requestedAt = new Date().toISOString();
  const patch: Record<string, unknown> = { metadata: { annotations: { [REQUESTED_AT]: requestedAt } } };
  if (branch) patch.spec = { ref: { branch } };
  await mergePatch(endpoint, GIT_REPOSITORY_PATH, patch);
  return requestedAt;
}

interface Lease {
  metadata: { name: string };
  spec?: { holderIdentity?: string; renewTime?: string };
}

interface Pod {
  metadata: { name: string };
  status?: { phase?: string; containerStatuses?: Array<{ state?: { running?: { startedAt?: string } } }> };
}

/**
 * A leader lease whose holder process is gone, so the controller's next process need not wait for it to
 * expire (about a minute after a restart): its pod does not run, or its container started after the
 * lease was last renewed (the process that renewed it is dead). Pure.
 */
export function staleLeases(leases: readonly Lease[], pods: readonly Pod[]): string[] {
  return leases
    .filter((lease) => {
      const holder = lease.spec?.holderIdentity?.split("_")[0];
      if (!holder) return false;
      const pod = pods.find((p) => p.metadata.name === holder);
      const started = pod?.status?.phase === "Running" ? pod.status.containerStatuses?.[0]?.state?.running?.startedAt : undefined;
      if (!started) return true;
      return lease.spec?.renewTime !== undefined && Date.parse(lease.spec.renewTime) < Date.parse(started);
    })
    .map((lease) => lease.metadata.name);
}

/** Deletes the Flux controllers' stale leader leases (after the nodes were restarted); returns their names. */
export async function releaseStaleLeases(endpoint: Endpoint): Promise<string[]> {
  const [leases, pods] = await Promise.all([
    getObject<{ items: Lease[] }>(endpoint, `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`),
    getObject<{ items: Pod[] }>(endpoint, `/api/v1/namespaces/${NAMESPACE}/pods`),
  ]);
  const stale = staleLeases(leases?.items ?? [], pods?.items ?? []);
  for (const name of stale) await deleteObject(endpoint, `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`);
  return stale;
}

/** The controllers' version, as `flux install` labels their namespace. */
export async function installedFluxVersion(endpoint: Endpoint): Promise<string | undefined> {
  const ns = await getObject<{ metadata?: { labels?: Record<string, string> } }>(endpoint, NAMESPACE_PATH);
  return ns?.metadata?.labels?.["app.kubernetes.io/version"];
}

interface FluxObject {
  spec?: { ref?: { branch?: string }; url?: string };
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    artifact?: { revision?: string };
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
    lastHandledReconcileAt?: string;
  };
}

export interface Condition {
  ready: boolean;
  reason?: string;
  message?: string;
}

function readyOf(object: FluxObject | undefined): Condition | undefined {
  const c = object?.status?.conditions?.find((x) => x.type === "Ready");
  return c ? { ready: c.status === "True", reason: c.reason, message: c.message } : undefined;
}

/** "main@sha1:0123…" -> "0123…"; Flux writes revisions as <ref>@<algo>:<digest>. Pure. */
export function commitOf(revision: string | undefined): string | undefined {
  return revision?.split(":").pop();
}

export interface GitOpsView {
  /** The branch and URL the cluster follows. */
  branch?: string;
  url?: string;
  /** `handled`: the last reconcile request the source-controller acted on (it is live and leading). */
  source?: Condition & { revision?: string; handled?: string };
  kustomization?: Condition & { applied?: string; attempted?: string };
}

export async function observeGitOps(endpoint: Endpoint): Promise<GitOpsView> {
  const [source, ks] = await Promise.all([getObject<FluxObject>(endpoint, GIT_REPOSITORY_PATH), getObject<FluxObject>(endpoint, KUSTOMIZATION_PATH)]);
  const sourceReady = readyOf(source);
  const ksReady = readyOf(ks);
  return {
    branch: source?.spec?.ref?.branch,
    url: source?.spec?.url,
    source: source && sourceReady ? { ...sourceReady, revision: commitOf(source.status?.artifact?.revision), handled: source.status?.lastHandledReconcileAt } : undefined,
    kustomization: ks && ksReady ? { ...ksReady, applied: commitOf(ks.status?.lastAppliedRevision), attempted: commitOf(ks.status?.lastAttemptedRevision) } : undefined,
  };
}
