import type { KubeApi } from "../apiserver.js";
import type { Identity } from "../route/self.js";
import type { LoopOwner } from "./engine.js";

/**
 * The loop's owner as a small ConfigMap of ours in kube-system (which every cluster has, so the claim
 * comes before anything of the engine is installed). Engine-neutral: every GitOps engine records its
 * owner this way. Creating it is the API server's atomic claim; replacing it names the version read.
 */
const PATH = "/api/v1/namespaces/kube-system/configmaps/kind-cluster-gitops-owner";

interface OwnerConfigMap {
  metadata?: { resourceVersion?: string };
  data?: Partial<Record<keyof Identity | "since", string>>;
}

/** The owner a ConfigMap records; undefined when it records none. Pure. */
function ownerOf(cm: OwnerConfigMap | undefined): LoopOwner | undefined {
  const d = cm?.data;
  if (!d?.container) return undefined;
  return { container: d.container, name: d.name ?? "", project: d.project ?? d.name ?? "", since: d.since ?? "", revision: cm?.metadata?.resourceVersion };
}

function configMap(owner: Identity, revision: string | undefined): object {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: PATH.split("/").pop(),
      namespace: "kube-system",
      labels: { "app.kubernetes.io/managed-by": "kind-cluster" },
      ...(revision ? { resourceVersion: revision } : {}),
    },
    data: { container: owner.container, name: owner.name, project: owner.project, since: new Date().toISOString() },
  };
}

export async function readOwner(api: KubeApi): Promise<LoopOwner | undefined> {
  return ownerOf(await api.get<OwnerConfigMap>(PATH));
}

export async function claimOwner(api: KubeApi, owner: Identity, previous: LoopOwner | undefined): Promise<LoopOwner> {
  if (previous) await api.replace(PATH, configMap(owner, previous.revision));
  else await api.create(PATH, configMap(owner, undefined));
  // Whoever won, the record says so now.
  const now = await readOwner(api);
  if (!now) throw new Error(`the GitOps loop's owner record ${PATH} vanished while it was claimed`);
  return now;
}
