import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { gitRepository, kustomization, staleLeases } from "../../src/gitops/flux/objects.js";
import { commitOf } from "../../src/gitops/flux/view.js";
import { CONTAINERD_HOSTS_PATCH, renderKindConfig } from "../../src/cluster/kind-config.js";
import { nodeHosts, registryHostingConfigMap } from "../../src/registry.js";

describe("the local registry's wiring", () => {
  it("gives each node a hosts.toml for localhost:<port> and for the in-cluster name, both to plain HTTP on the cluster's network", () => {
    const hosts = nodeHosts(5001);
    expect(hosts.map((h) => h.file)).toEqual([
      "/etc/containerd/certs.d/localhost:5001/hosts.toml",
      "/etc/containerd/certs.d/kind-cluster-registry:5000/hosts.toml",
    ]);
    for (const h of hosts) expect(h.toml).toContain('[host."http://kind-cluster-registry:5000"]');
  });

  it("announces itself with the KEP-1755 ConfigMap", () => {
    const cm = registryHostingConfigMap(5001) as { metadata: { name: string; namespace: string }; data: Record<string, string> };
    expect(cm.metadata).toEqual({ name: "local-registry-hosting", namespace: "kube-public" });
    expect(parse(cm.data["localRegistryHosting.v1"]!)).toEqual({
      host: "localhost:5001",
      hostFromContainerRuntime: "kind-cluster-registry:5000",
      hostFromClusterNetwork: "kind-cluster-registry:5000",
      help: "https://kind.sigs.k8s.io/docs/user/local-registry/",
    });
  });

  it("makes new clusters' containerd read certs.d, once, keeping the user's own patches", () => {
    const base = { clusterName: "a", apiServerPort: 6443, apiServerAddress: "127.0.0.1", cgroupV1: false };
    expect(renderKindConfig(base).yaml).not.toContain("config_path");
    const user = {
      text: 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\ncontainerdConfigPatches:\n  - |\n    [plugins."io.containerd.grpc.v1.cri".containerd]\n      snapshotter = "overlayfs"\n',
      path: "kind.yaml",
    };
    const patches = parse(renderKindConfig({ ...base, registryHosts: true, userConfig: user }).yaml).containerdConfigPatches as string[];
    expect(patches).toHaveLength(2);
    expect(patches[1]).toBe(CONTAINERD_HOSTS_PATCH);
    const twice = renderKindConfig({ ...base, registryHosts: true, userConfig: { ...user, text: renderKindConfig({ ...base, registryHosts: true }).yaml } });
    expect((parse(twice.yaml).containerdConfigPatches as string[]).filter((p) => p.includes("config_path"))).toHaveLength(1);
  });
});

describe("the GitOps objects", () => {
  it("follow a branch of the dev container's Git server and apply a folder with pruning, under the names flux bootstrap gives", () => {
    expect(gitRepository("http://172.18.0.5:8418/workspace.git", "main")).toMatchObject({
      kind: "GitRepository",
      metadata: { name: "flux-system", namespace: "flux-system" },
      spec: { url: "http://172.18.0.5:8418/workspace.git", ref: { branch: "main" } },
    });
    expect(kustomization("clusters/local")).toMatchObject({
      kind: "Kustomization",
      metadata: { name: "flux-system", namespace: "flux-system" },
      spec: { sourceRef: { kind: "GitRepository", name: "flux-system" }, path: "./clusters/local", prune: true },
    });
  });

  it("reads Flux's revisions as commits", () => {
    expect(commitOf("main@sha1:0123456789abcdef0123456789abcdef01234567")).toBe("0123456789abcdef0123456789abcdef01234567");
    expect(commitOf(undefined)).toBeUndefined();
  });

  it("releases a leader lease only when its holder process is provably gone", () => {
    const lease = (name: string, holder: string, renewTime: string) => ({ metadata: { name }, spec: { holderIdentity: `${holder}_0f3c`, renewTime } });
    const pod = (name: string, phase: string, startedAt?: string) => ({
      metadata: { name },
      status: { phase, containerStatuses: [{ state: startedAt ? { running: { startedAt } } : {} }] },
    });
    const leases = [
      lease("restarted", "source-abc", "2026-11-25T03:00:00Z"), // its container started after the last renewal: the renewer died
      lease("alive", "kustomize-def", "2026-11-25T03:05:00Z"), // renewed after its container started: the holder lives
      lease("gone", "helm-ghi", "2026-11-25T03:00:00Z"), // no such pod
      lease("down", "notify-jkl", "2026-11-25T03:00:00Z"), // its pod does not run
    ];
    const pods = [pod("source-abc", "Running", "2026-11-25T03:02:00Z"), pod("kustomize-def", "Running", "2026-11-25T03:02:00Z"), pod("notify-jkl", "Pending")];
    expect(staleLeases(leases, pods)).toEqual(["restarted", "gone", "down"]);
  });
});
