import { join } from "node:path";
import type { KubeApi } from "../../apiserver.js";
import { ZoneError } from "../../errors.js";
import type { GitOpsEngine, Held, Versions } from "../engine.js";
import { claimOwner, readOwner } from "../owner.js";
import { fluxCliVersion, fluxDiff, fluxInstall } from "./cli.js";
import {
  decryptionSecret,
  DEPLOYMENTS_PATH,
  EARLIER_GIT_REPOSITORY_PATH,
  EARLIER_KUSTOMIZATION_PATH,
  GIT_REPOSITORIES_PATH,
  GIT_REPOSITORY_PATH,
  gitRepository,
  HAND_OVER_PATCH,
  kustomization,
  KUSTOMIZATION_PATH,
  kustomizationPath,
  KUSTOMIZATIONS_PATH,
  LEASES_PATH,
  NAME,
  NAMESPACE_PATH,
  PODS_PATH,
  reconcilePatch,
  SOPS_SECRET_PATH,
  staleLeases,
  strayFields,
  usesOurKey,
  type Lease,
  type Pod,
} from "./objects.js";
import {
  catchUpPlan,
  combinedPreview,
  followsWorkspace,
  OTHER_SOURCE,
  previewOf,
  viewOf,
  WORKSPACE_SOURCE,
  type FluxObject,
  type Kustomization,
} from "./view.js";

interface Labelled {
  metadata: { name: string; labels?: Record<string, string> };
}

/**
 * The controllers as they run: their version (as `flux install` and a repository's gotk-components.yaml
 * label their namespace), the Deployments, and the Kustomization that applied them when a repository
 * installs Flux itself (then it owns their version).
 */
async function controllers(api: KubeApi): Promise<Omit<Versions, "cli">> {
  const [ns, deployments] = await Promise.all([api.get<Labelled>(NAMESPACE_PATH), api.get<{ items: Labelled[] }>(DEPLOYMENTS_PATH)]);
  const flux = (deployments?.items ?? []).filter((d) => d.metadata.labels?.["app.kubernetes.io/part-of"] === "flux");
  const labels = flux.find((d) => d.metadata.labels?.["kustomize.toolkit.fluxcd.io/name"])?.metadata.labels;
  return {
    installed: ns?.metadata.labels?.["app.kubernetes.io/version"],
    components: flux.map((d) => d.metadata.name).sort(),
    ownedBy: labels && `Kustomization/${labels["kustomize.toolkit.fluxcd.io/namespace"]}/${labels["kustomize.toolkit.fluxcd.io/name"]}`,
  };
}

const kustomizations = async (api: KubeApi) => (await api.get<{ items: Kustomization[] }>(KUSTOMIZATIONS_PATH))?.items ?? [];
/** The Kustomizations as the watches hold them, when they hold them. */
const heldKustomizations = (held: Held | undefined) => held?.(KUSTOMIZATIONS_PATH) as Kustomization[] | undefined;

/** What `flux reconcile kustomization` does, for each of them; at once, so that the last asked does not wait on the others. */
async function requestReconcile(api: KubeApi, list: readonly Kustomization[]): Promise<void> {
  const requestedAt = new Date().toISOString();
  await Promise.all(list.map((ks) => api.mergePatch(kustomizationPath(ks.metadata.namespace, ks.metadata.name), reconcilePatch(requestedAt))));
}

const isOurs = (object: { metadata?: { labels?: Record<string, string> } } | undefined) =>
  object?.metadata?.labels?.["app.kubernetes.io/managed-by"] === "kind-cluster";

/** Flux as the GitOps engine: `flux install` from the CLI's embedded manifests, the GitRepository and Kustomization flux-system. */
export const fluxEngine: GitOpsEngine = {
  name: "flux",
  watched: [GIT_REPOSITORIES_PATH, KUSTOMIZATIONS_PATH],

  async install({ api, components, ...install }) {
    const [cli, running] = await Promise.all([fluxCliVersion(), controllers(api)]);
    // The repository installs Flux itself (its gotk-components.yaml): `flux install` would fight it on every start.
    if (running.ownedBy) return `flux ${running.installed ?? "?"} (installed by the repository, ${running.ownedBy})`;
    const missing = components.filter((c) => !running.components?.includes(c));
    if (running.installed === cli && missing.length === 0) return `flux ${cli}`;
    await fluxInstall({ ...install, components });
    if (!running.installed) return `installed flux ${cli}`;
    return running.installed === cli ? `flux ${cli}, added ${missing.join(", ")}` : `flux ${running.installed} -> ${cli}`;
  },

  async follow(api, source) {
    // An earlier release followed the workspace as `workspace`: stop it and keep what it applied.
    const earlier = await api.get<Kustomization & Labelled>(EARLIER_KUSTOMIZATION_PATH);
    if (earlier && isOurs(earlier)) await api.mergePatch(EARLIER_KUSTOMIZATION_PATH, HAND_OVER_PATCH);
    const repository = gitRepository(source.url, source.branch);
    const current = await api.get<{ spec?: Record<string, unknown> }>(GIT_REPOSITORY_PATH);
    await api.apply(GIT_REPOSITORY_PATH, repository);
    const stray = strayFields(current?.spec, repository.spec);
    if (stray) await api.mergePatch(GIT_REPOSITORY_PATH, stray);
    await api.apply(KUSTOMIZATION_PATH, kustomization(source.path));
    if (!earlier || !isOurs(earlier)) return [];
    await api.delete(EARLIER_KUSTOMIZATION_PATH);
    await api.delete(EARLIER_GIT_REPOSITORY_PATH);
    return ["the Kustomization `workspace` of an earlier release was removed without pruning: flux-system adopts what it applied, nothing was deleted"];
  },

  async requestSync(api, branch) {
    const requestedAt = new Date().toISOString();
    await api.mergePatch(GIT_REPOSITORY_PATH, reconcilePatch(requestedAt, branch));
    return requestedAt;
  },

  async catchUp(api, commit, nudgeIdle, held) {
    const cached = heldKustomizations(held);
    let plan = catchUpPlan(cached ?? (await kustomizations(api)), commit, nudgeIdle);
    // A watch can lag our own last request: asked twice, a unit would apply twice. The API has the last word.
    if (cached && plan.due.length > 0) plan = catchUpPlan(await kustomizations(api), commit, nudgeIdle);
    await requestReconcile(api, plan.due);
    return plan.behind;
  },

  async storeDecryptionKey(api, key) {
    const secret = decryptionSecret(key);
    const current = await api.get<{ data?: Record<string, string> }>(SOPS_SECRET_PATH);
    if (current && JSON.stringify(current.data) === JSON.stringify(secret.data)) return "unchanged";
    // The API's own error could quote what it was sent: only its status is passed on.
    await api.apply(SOPS_SECRET_PATH, secret).catch((error: unknown) => {
      throw new ZoneError({
        zone: "kind cluster",
        message: `could not store the SOPS age key in flux-system/sops-age (${(error as Error).message.split(":")[0]})`,
        fix: "run `kind-cluster doctor`",
      });
    });
    // Those that decrypt with it try again now (one that failed on the old key would wait for its interval).
    const list = await api.get<{ items: Kustomization[] }>(KUSTOMIZATIONS_PATH);
    await requestReconcile(
      api,
      (list?.items ?? []).filter((ks) => usesOurKey(ks.spec?.decryption)),
    );
    return current ? "updated" : "created";
  },

  async observe(api, held) {
    const sources = held?.(GIT_REPOSITORIES_PATH) as Array<FluxObject & Labelled> | undefined;
    const [source, list, key] = await Promise.all([
      sources ? sources.find((s) => s.metadata.name === NAME) : api.get<FluxObject>(GIT_REPOSITORY_PATH),
      heldKustomizations(held) ?? kustomizations(api),
      api.get<object>(SOPS_SECRET_PATH),
    ]);
    return viewOf(source, list, key !== undefined);
  },

  async afterNodesStarted(api) {
    const [leases, pods] = await Promise.all([api.get<{ items: Lease[] }>(LEASES_PATH), api.get<{ items: Pod[] }>(PODS_PATH)]);
    const stale = staleLeases(leases?.items ?? [], pods?.items ?? []);
    for (const name of stale) await api.delete(`${LEASES_PATH}/${name}`);
    return stale;
  },

  async versions(api) {
    const [cli, running] = await Promise.all([fluxCliVersion().catch(() => undefined), controllers(api)]);
    return { cli, ...running };
  },

  async preview({ api, repo, path, ...input }) {
    const whole = previewOf(
      await fluxDiff({ ...input, namespace: "flux-system", name: "flux-system", path: join(repo, path), localSources: { [WORKSPACE_SOURCE]: repo } }),
      repo,
    );
    const elsewhere = whole.errors.filter((e) => OTHER_SOURCE.test(e));
    if (elsewhere.length === 0 || elsewhere.length < whole.errors.length) return whole;
    // flux diff stops following at a Kustomization of another source (an OCIRepository): it has no local
    // folder. Then each Kustomization of the workspace on its own, against its folder of the working tree.
    const list = (await api.get<{ items: Kustomization[] }>(KUSTOMIZATIONS_PATH))?.items ?? [];
    const parts = [];
    for (const ks of list.filter(followsWorkspace)) {
      const result = await fluxDiff({ ...input, namespace: ks.metadata.namespace, name: ks.metadata.name, path: join(repo, ks.spec?.path ?? "") });
      parts.push({ id: `Kustomization/${ks.metadata.namespace}/${ks.metadata.name}`, preview: previewOf(result, repo) });
    }
    return combinedPreview(parts, elsewhere);
  },

  owner: readOwner,
  claim: claimOwner,
};
