import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { removeContainer, sh, type UpResult } from "../support/devcontainer.js";
import { upDevProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/** The user's own kind config (a worker, a port mapping), a custom name and port. */
const CLUSTER = "own-config";
const PORT = "7443";
let testbed: Testbed;
let dir = "";
let up: UpResult;
let container: string | undefined;

const KIND_YAML = `# the project's own cluster shape
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  apiServerPort: 6443
nodes:
  - role: control-plane
    extraPortMappings:
      - containerPort: 30080
        hostPort: 18080
        listenAddress: 127.0.0.1
  - role: worker
    labels:
      tier: apps
`;

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
  ({ dir, up } = await upDevProject({
    options: { clusterName: CLUSTER, apiServerPort: PORT, kindConfig: "local/kubernetes/kind.yaml", waitSeconds: "240" },
    files: { "local/kubernetes/kind.yaml": KIND_YAML },
  }));
  container = up.containerId;
});

afterAll(async () => {
  await removeContainer(container);
  await deleteClusters(testbed, CLUSTER);
});

describe("a user's kind config with a worker, a custom name and port", () => {
  it("honours the config's nodes and warns that the pinned port wins", () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toMatch(/networking.apiServerPort 6443 replaced by 7443/);
    expect(up.output).toMatch(/✓ ready\s+2\/2 nodes Ready/);
  });

  it("keys everything on the name and port: containers, context, server", async () => {
    expect((await nodeContainers(CLUSTER)).map((n) => n.name)).toEqual([`${CLUSTER}-control-plane`, `${CLUSTER}-worker`]);
    const config = parse((await sh(dir, "cat ~/.kube/config")).stdout);
    expect(config["current-context"]).toBe(`kind-${CLUSTER}`);
    const ours = config.clusters.find((c: { name: string }) => c.name === `kind-${CLUSTER}`).cluster;
    // The API is on loopback by default, so the dev container reaches it on the kind network, at the
    // node's own port; the chosen host port is where the Docker host's loopback publishes it.
    expect(ours.server).toBe(`https://${CLUSTER}-control-plane:6443`);
    const [cp] = await nodeContainers(CLUSTER);
    const bindings = JSON.parse((await execa("docker", ["inspect", "-f", "{{json .HostConfig.PortBindings}}", cp!.id])).stdout);
    expect(bindings["6443/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: PORT }]);
    expect(bindings["30080/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: "18080" }]);
  });

  it("both nodes are Ready and the worker carries the config's label", async () => {
    const out = await sh(dir, "kubectl get nodes -l tier=apps -o name; kubectl get nodes --no-headers");
    expect(out.stdout).toContain(`node/${CLUSTER}-worker`);
    const lines = out.stdout.split("\n").filter((l) => l.startsWith(CLUSTER));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.split(/\s+/)[1]).toBe("Ready");
  });
});
