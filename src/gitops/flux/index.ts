import type { KubeApi } from "../../apiserver.js";
import type { GitOpsEngine } from "../engine.js";
import { claimOwner, readOwner } from "../owner.js";
import { fluxCliVersion, fluxInstall } from "./cli.js";
import {
  GIT_REPOSITORY_PATH,
  gitRepository,
  kustomization,
  KUSTOMIZATION_PATH,
  LEASES_PATH,
  NAMESPACE_PATH,
  PODS_PATH,
  reconcilePatch,
  staleLeases,
  viewOf,
  type FluxObject,
  type Lease,
  type Pod,
} from "./objects.js";

/** The controllers' version, as `flux install` labels their namespace. */
async function installedVersion(api: KubeApi): Promise<string | undefined> {
  const ns = await api.get<{ metadata?: { labels?: Record<string, string> } }>(NAMESPACE_PATH);
  return ns?.metadata?.labels?.["app.kubernetes.io/version"];
}

/** Flux as the GitOps engine: `flux install` from the CLI's embedded manifests, a GitRepository and a Kustomization. */
export const fluxEngine: GitOpsEngine = {
  name: "flux",

  async install({ api, ...install }) {
    const [cli, installed] = await Promise.all([fluxCliVersion(), installedVersion(api)]);
    if (installed === cli) return `flux ${cli}`;
    await fluxInstall(install);
    return installed ? `flux ${installed} -> ${cli}` : `installed flux ${cli}`;
  },

  async follow(api, source) {
    await api.apply(GIT_REPOSITORY_PATH, gitRepository(source.url, source.branch));
    await api.apply(KUSTOMIZATION_PATH, kustomization(source.path));
  },

  async requestSync(api, branch) {
    const requestedAt = new Date().toISOString();
    await api.mergePatch(GIT_REPOSITORY_PATH, reconcilePatch(requestedAt, branch));
    return requestedAt;
  },

  async observe(api) {
    const [source, ks] = await Promise.all([api.get<FluxObject>(GIT_REPOSITORY_PATH), api.get<FluxObject>(KUSTOMIZATION_PATH)]);
    return viewOf(source, ks);
  },

  async afterNodesStarted(api) {
    const [leases, pods] = await Promise.all([api.get<{ items: Lease[] }>(LEASES_PATH), api.get<{ items: Pod[] }>(PODS_PATH)]);
    const stale = staleLeases(leases?.items ?? [], pods?.items ?? []);
    for (const name of stale) await api.delete(`${LEASES_PATH}/${name}`);
    return stale;
  },

  async versions(api) {
    const [cli, installed] = await Promise.all([fluxCliVersion().catch(() => undefined), installedVersion(api)]);
    return { cli, installed };
  },

  owner: readOwner,
  claim: claimOwner,
};
