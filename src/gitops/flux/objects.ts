/**
 * Flux's objects for the loop, as pure renderers. The workspace is followed under the names that
 * `flux bootstrap` gives a repository's own objects, so that every Kustomization of a bootstrap-shaped
 * repository finds its source: the GitRepository `flux-system` (the dev container's read-only Git
 * server) and the Kustomization `flux-system` (gitopsPath, with pruning), both in `flux-system`.
 */
const NAMESPACE = "flux-system";
export const NAME = "flux-system";
/** The names of releases before 1.2, handed over on the first start of this one. */
const EARLIER_NAME = "workspace";

const SOURCE_API = "/apis/source.toolkit.fluxcd.io/v1";
const KUSTOMIZE_API = "/apis/kustomize.toolkit.fluxcd.io/v1";
export const GIT_REPOSITORY_PATH = `${SOURCE_API}/namespaces/${NAMESPACE}/gitrepositories/${NAME}`;
export const KUSTOMIZATION_PATH = `${KUSTOMIZE_API}/namespaces/${NAMESPACE}/kustomizations/${NAME}`;
export const EARLIER_GIT_REPOSITORY_PATH = `${SOURCE_API}/namespaces/${NAMESPACE}/gitrepositories/${EARLIER_NAME}`;
export const EARLIER_KUSTOMIZATION_PATH = `${KUSTOMIZE_API}/namespaces/${NAMESPACE}/kustomizations/${EARLIER_NAME}`;
export const GIT_REPOSITORIES_PATH = `${SOURCE_API}/namespaces/${NAMESPACE}/gitrepositories`;
/** Every Kustomization, in every namespace: nested ones may live in a tenant's. */
export const KUSTOMIZATIONS_PATH = `${KUSTOMIZE_API}/kustomizations`;
export const kustomizationPath = (namespace: string, name: string) => `${KUSTOMIZE_API}/namespaces/${namespace}/kustomizations/${name}`;
export const NAMESPACE_PATH = `/api/v1/namespaces/${NAMESPACE}`;
export const DEPLOYMENTS_PATH = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`;
export const LEASES_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`;
export const PODS_PATH = `/api/v1/namespaces/${NAMESPACE}/pods`;

/** Flux's SOPS guide: the age key in this Secret, under this key, is what `decryption.secretRef` names. */
const SOPS_SECRET = "sops-age";
const SOPS_KEY = "age.agekey";
export const SOPS_SECRET_PATH = `/api/v1/namespaces/${NAMESPACE}/secrets/${SOPS_SECRET}`;

/** A reconcile request is how Flux is told "now" instead of at its next interval (what `flux reconcile` does). */
export const REQUESTED_AT = "reconcile.fluxcd.io/requestedAt";
/**
 * On an object in the cluster, kustomize-controller skips it when applying and pruning. The
 * repository's own gotk-sync.yaml declares a GitRepository `flux-system` at the team's remote (ssh, a
 * deploy key): with this on ours, it is never applied over it, however the repository lays it out.
 */
const RECONCILE_DISABLED = { "kustomize.toolkit.fluxcd.io/reconcile": "disabled" };
const LABELS = { "app.kubernetes.io/managed-by": "kind-cluster" };

/** The source, as ours: `spec` holds every field we set (whatever else a GitRepository had is removed). */
export function gitRepository(url: string, branch: string): { metadata: object; spec: Record<string, unknown> } & Record<string, unknown> {
  return {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
    metadata: { name: NAME, namespace: NAMESPACE, labels: LABELS, annotations: RECONCILE_DISABLED },
    // The interval is only a fallback: the dev container asks for a reconcile on every commit.
    spec: { url, ref: { branch }, interval: "1m", timeout: "30s" },
  };
}

/**
 * A merge patch removing the fields of a GitRepository that ours does not set (a team's secretRef,
 * verify, proxySecretRef... left by an earlier release that applied their gotk-sync.yaml), or
 * undefined when there are none. Pure.
 */
export function strayFields(current: Record<string, unknown> | undefined, ours: Record<string, unknown>): object | undefined {
  const stray = Object.keys(current ?? {}).filter((key) => !(key in ours));
  return stray.length ? { spec: Object.fromEntries(stray.map((key) => [key, null])) } : undefined;
}

/**
 * The root Kustomization, as `flux bootstrap` writes it (so that the repository's own copy, when it
 * applies itself, changes nothing), and one patch: whatever the repository's gotk-sync.yaml says, the
 * root applies gitopsPath from our source.
 */
export function kustomization(path: string): object {
  const spec = { path: `./${path}`, sourceRef: { kind: "GitRepository", name: NAME } };
  const patch = Object.entries(spec).map(([field, value]) => ({ op: "add", path: `/spec/${field}`, value }));
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name: NAME, namespace: NAMESPACE, labels: LABELS },
    spec: {
      interval: "10m0s",
      ...spec,
      prune: true,
      patches: [
        {
          target: { group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", name: NAME, namespace: NAMESPACE },
          patch: JSON.stringify(patch),
        },
      ],
    },
  };
}

/**
 * Before an earlier release's Kustomization is deleted: suspended (it stops applying), and without
 * pruning (its finalizer then deletes none of the objects it applied; the root adopts them, with the
 * same field manager). Pure.
 */
export const HAND_OVER_PATCH = { spec: { suspend: true, prune: false } };

/** The merge patch that asks for a reconcile now (and, with a branch, switches to it). Pure. */
export function reconcilePatch(requestedAt: string, branch?: string): object {
  const patch: Record<string, unknown> = { metadata: { annotations: { [REQUESTED_AT]: requestedAt } } };
  if (branch) patch.spec = { ref: { branch } };
  return patch;
}

/** The Secret kustomize-controller decrypts with; `key` is the age identities file's content. Pure. */
export function decryptionSecret(key: string): { data: Record<string, string> } & Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: SOPS_SECRET, namespace: NAMESPACE, labels: LABELS },
    type: "Opaque",
    data: { [SOPS_KEY]: Buffer.from(key, "utf8").toString("base64") },
  };
}

/** The decryption a Kustomization asks for names our Secret. Pure. */
export function usesOurKey(decryption: { provider?: string; secretRef?: { name?: string } } | undefined): boolean {
  return decryption?.provider === "sops" && decryption.secretRef?.name === SOPS_SECRET;
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
