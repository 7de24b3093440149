import { kubeApi, type KubeApi } from "../apiserver.js";
import { kubeconfigFiles, readKubeconfig } from "../kubeconfig/index.js";
import { fileStamp } from "./runtime.js";

/**
 * How a service reaches its cluster: the credentials of `clusterName` in the kubeconfig, read again
 * whenever one of its files changed (`up` may rewrite them while the service runs), and only then: a
 * service that asks several times a second would otherwise parse the file as often.
 */
export function clusterApi(kubeconfig: string, clusterName: string): () => Promise<KubeApi> {
  let cached: { stamp: string; api: KubeApi } | undefined;
  return async () => {
    const stamp = (await Promise.all(kubeconfigFiles(kubeconfig).map(fileStamp))).join("|");
    if (cached?.stamp === stamp) return cached.api;
    const { entry } = await readKubeconfig(kubeconfig, clusterName);
    if (!entry) throw new Error(`no entry for cluster ${clusterName} in ${kubeconfig}`);
    cached = { stamp, api: kubeApi(entry) };
    return cached.api;
  };
}
