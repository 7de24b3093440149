import type { Condition, GitOpsView } from "../engine.js";

/**
 * Flux's objects for the loop, as pure renderers, and how their status reads. A GitRepository follows
 * the workspace repository through the dev container's read-only Git server; a Kustomization applies
 * the gitopsPath folder from it, with pruning.
 */
const NAMESPACE = "flux-system";
const NAME = "workspace";

const SOURCE_API = "/apis/source.toolkit.fluxcd.io/v1";
const KUSTOMIZE_API = "/apis/kustomize.toolkit.fluxcd.io/v1";
export const GIT_REPOSITORY_PATH = `${SOURCE_API}/namespaces/${NAMESPACE}/gitrepositories/${NAME}`;
export const KUSTOMIZATION_PATH = `${KUSTOMIZE_API}/namespaces/${NAMESPACE}/kustomizations/${NAME}`;
export const NAMESPACE_PATH = `/api/v1/namespaces/${NAMESPACE}`;
export const LEASES_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`;
export const PODS_PATH = `/api/v1/namespaces/${NAMESPACE}/pods`;

/** A reconcile request is how Flux is told "now" instead of at its next interval (what `flux reconcile` does). */
const REQUESTED_AT = "reconcile.fluxcd.io/requestedAt";

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

/** The merge patch that asks for a reconcile now (and, with a branch, switches to it). Pure. */
export function reconcilePatch(requestedAt: string, branch?: string): object {
  const patch: Record<string, unknown> = { metadata: { annotations: { [REQUESTED_AT]: requestedAt } } };
  if (branch) patch.spec = { ref: { branch } };
  return patch;
}

export interface Lease {
  metadata: { name: string };
  spec?: { holderIdentity?: string; renewTime?: string };
}

export interface Pod {
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

export interface FluxObject {
  spec?: { ref?: { branch?: string }; url?: string };
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    artifact?: { revision?: string };
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
    lastHandledReconcileAt?: string;
  };
}

function readyOf(object: FluxObject | undefined): Condition | undefined {
  const c = object?.status?.conditions?.find((x) => x.type === "Ready");
  return c ? { ready: c.status === "True", reason: c.reason, message: c.message } : undefined;
}

/** "main@sha1:0123…" -> "0123…"; Flux writes revisions as <ref>@<algo>:<digest>. Pure. */
export function commitOf(revision: string | undefined): string | undefined {
  return revision?.split(":").pop();
}

/** The loop's state from the GitRepository and the Kustomization. Pure. */
export function viewOf(source: FluxObject | undefined, ks: FluxObject | undefined): GitOpsView {
  const sourceReady = readyOf(source);
  const ksReady = readyOf(ks);
  return {
    branch: source?.spec?.ref?.branch,
    url: source?.spec?.url,
    source:
      source && sourceReady
        ? { ...sourceReady, revision: commitOf(source.status?.artifact?.revision), handled: source.status?.lastHandledReconcileAt }
        : undefined,
    sync: ks && ksReady ? { ...ksReady, applied: commitOf(ks.status?.lastAppliedRevision), attempted: commitOf(ks.status?.lastAttemptedRevision) } : undefined,
  };
}
