import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devcontainerCli, devcontainerExec, devcontainerUp, makeProject, removeContainer } from "../support/devcontainer.js";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/**
 * Issue 5: the Feature published to a real OCI registry (Debian's docker-registry on loopback) and used
 * by a separate project by reference, exactly as from a public registry; then the users' CI recipe.
 */
const NAMESPACE = "kind-cluster/features";
let testbed: Testbed;
let registry: ResultPromise;
let address = "";
const containers: Array<string | undefined> = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, "published", "neverready");
  const dir = await mkdtemp(join(tmpdir(), "registry-"));
  const port = await freePort();
  address = `localhost:${port}`;
  const config = join(dir, "config.yml");
  await writeFile(config, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\nlog:\n  level: error\n`);
  registry = execa("docker-registry", ["serve", config], { reject: false });
  for (let i = 0; i < 50; i++) {
    const probe = await execa("curl", ["-fsS", `http://${address}/v2/`], { reject: false });
    if (probe.exitCode === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  for (const id of containers) await removeContainer(id);
  registry?.kill();
  await deleteClusters(testbed, "published", "neverready");
});

describe("publish and consume", () => {
  it("publishes tags 1, 1.x, 1.x.y and latest", async () => {
    const version = JSON.parse((await execa("cat", ["features/src/kind-cluster/devcontainer-feature.json"])).stdout).version as string;
    const published = await devcontainerCli(["features", "publish", "features/src", "--registry", address, "--namespace", NAMESPACE]);
    expect(published.exitCode, published.all).toBe(0);
    const tags = JSON.parse((await execa("curl", ["-fsS", `http://${address}/v2/${NAMESPACE}/kind-cluster/tags/list`])).stdout).tags as string[];
    const [major, minor] = version.split(".");
    expect(tags.sort()).toEqual([major, `${major}.${minor}`, version, "latest"].sort());
  });

  it("a separate project naming the Feature by reference gets a Ready cluster (users' CI recipe, strict)", async () => {
    const dir = await makeProject({
      image: testbed.baseImage,
      featureRef: `${address}/${NAMESPACE}/kind-cluster:1`,
      options: { ...testbed.featureOptions, clusterName: "published", apiServerPort: "6490" },
    });
    const up = await devcontainerUp(dir, "--remote-env", "KIND_CLUSTER_STRICT=true");
    containers.push(up.containerId);
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toContain(`${address}/${NAMESPACE}/kind-cluster`);
    const nodes = await devcontainerExec(dir, ["kubectl", "get", "nodes", "--no-headers"]);
    expect(nodes.stdout).toMatch(/^published-control-plane\s+Ready\s/);
  });

  it("with KIND_CLUSTER_STRICT=true, a cluster that cannot be made ready fails `devcontainer up`", async () => {
    const dir = await makeProject({
      image: testbed.baseImage,
      featureRef: `${address}/${NAMESPACE}/kind-cluster:1`,
      options: { ...testbed.featureOptions, clusterName: "neverready", apiServerPort: "6491" },
    });
    const up = await devcontainerUp(dir, "--remote-env", "KIND_CLUSTER_STRICT=true", "--remote-env", "KIND_CLUSTER_KIND_CONFIG=no/such/kind.yaml");
    containers.push(up.containerId);
    expect(up.exitCode).not.toBe(0);
    expect(up.output).toContain("strict is set: failing the postCreate hook");
    expect(await nodeContainers("neverready")).toEqual([]);
  });
});
