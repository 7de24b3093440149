import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderKindConfig } from "../../src/cluster/kind-config.js";

const workers = readFileSync("test/fixtures/kind-config-workers.yaml", "utf8");
const base = { clusterName: "gitops", apiServerPort: 6443, apiServerAddress: "172.17.0.1", cgroupV1: false };

describe("renderKindConfig", () => {
  it("without a user config: one control plane, the pinned port and address", () => {
    const { yaml, warnings } = renderKindConfig(base);
    expect(parse(yaml)).toEqual({
      kind: "Cluster",
      apiVersion: "kind.x-k8s.io/v1alpha4",
      name: "gitops",
      networking: { apiServerPort: 6443, apiServerAddress: "172.17.0.1" },
      nodes: [{ role: "control-plane" }],
    });
    expect(warnings).toEqual([]);
  });

  it("keeps the user's workers, mounts, port mappings and patches, and enforces port, address and name with warnings", () => {
    const { yaml, warnings } = renderKindConfig({ ...base, userConfig: { text: workers, path: "local/kubernetes/kind.yaml" } });
    const out = parse(yaml);
    const original = parse(workers);
    expect(out.nodes).toEqual(original.nodes);
    expect(out.kubeadmConfigPatches).toEqual(original.kubeadmConfigPatches);
    expect(out.networking).toEqual({ apiServerPort: 6443, podSubnet: "10.244.0.0/16", apiServerAddress: "172.17.0.1" });
    expect(out.name).toBe("gitops");
    expect(warnings).toHaveLength(2);
    expect(warnings.join("\n")).toMatch(/networking.apiServerPort 7443 replaced by 6443/);
    expect(warnings.join("\n")).toMatch(/name "from-file" replaced by clusterName "gitops"/);
    expect(yaml).toContain("# The seed's local/kubernetes/kind.yaml");
  });

  it("adds the cgroup v1 kubelet patch once, after the user's patches", () => {
    const { yaml } = renderKindConfig({ ...base, cgroupV1: true, userConfig: { text: workers, path: "k.yaml" } });
    const patches = parse(yaml).kubeadmConfigPatches as string[];
    expect(patches).toHaveLength(2);
    expect(patches[1]).toBe("kind: KubeletConfiguration\nfailCgroupV1: false\n");
    const again = renderKindConfig({ ...base, cgroupV1: true, userConfig: { text: yaml, path: "k.yaml" } });
    expect(parse(again.yaml).kubeadmConfigPatches).toHaveLength(2);
  });

  it.each([
    ["not YAML", "nodes: [", /not valid YAML/],
    ["not a Cluster", "kind: Pod\n", /expected Cluster/],
    ["an old apiVersion", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n", /v1alpha4/],
    ["no control plane", "kind: Cluster\nnodes:\n  - role: worker\n", /no node with role control-plane/],
    ["nodes not a list", "kind: Cluster\nnodes: {role: worker}\n", /nodes must be a list/],
  ])("rejects %s, naming the file", (_, text, pattern) => {
    expect(() => renderKindConfig({ ...base, userConfig: { text, path: "local/kubernetes/kind.yaml" } })).toThrowError(pattern);
    expect(() => renderKindConfig({ ...base, userConfig: { text, path: "local/kubernetes/kind.yaml" } })).toThrowError(/local\/kubernetes\/kind.yaml/);
  });
});
