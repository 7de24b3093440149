import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeContainer, sh } from "../support/devcontainer.js";
import { ensureBusyboxImage } from "../support/images.js";
import { upDevProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/**
 * Conflicts and faults. A tools-only dev container (createCluster false) runs `kind-cluster up` by
 * hand, so each fault is set up precisely; hook behaviour uses projects of its own.
 */
let testbed: Testbed;
let dir = "";
const containers: Array<string | undefined> = [];
const CLUSTERS = ["faults", "race", "blocked"];

async function tools(options: Record<string, string | boolean> = {}, config: Record<string, unknown> = {}) {
  const { dir: project, up } = await upDevProject({ options, config });
  containers.push(up.containerId);
  return { project, up };
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, ...CLUSTERS);
  const { project, up } = await tools({ createCluster: false });
  expect(up.exitCode, up.output.slice(-3000)).toBe(0);
  dir = project;
  const created = await sh(dir, "kind-cluster up --name faults --port 6460");
  expect(created.exitCode, created.stderr).toBe(0);
});

afterAll(async () => {
  for (const id of containers) await removeContainer(id);
  await deleteClusters(testbed, ...CLUSTERS);
});

describe("conflicts and faults: a clear message, nothing changed", () => {
  it("a port published by another container: names it, creates and deletes nothing", async () => {
    const image = await ensureBusyboxImage();
    // The API is published on 127.0.0.1 by default: the same address and port is a real conflict.
    const holder = (await execa("docker", ["run", "-d", "--name", "port-holder-e2e", "-p", "127.0.0.1:6461:80", image, "sleep", "600"])).stdout.trim();
    containers.push(holder);
    const out = await sh(dir, "kind-cluster up --name blocked --port 6461");
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("[docker host (zone 2)] port 6461 on 127.0.0.1");
    expect(out.stderr).toContain("already published by container port-holder-e2e");
    expect(out.stderr).toContain("fix: stop that container (`docker stop port-holder-e2e`)");
    expect(await nodeContainers("blocked")).toEqual([]);
    expect((await execa("docker", ["inspect", "-f", "{{.State.Running}}", holder])).stdout).toBe("true");
  });

  it("the cluster exists on another port: says which, changes nothing", async () => {
    const before = await nodeContainers("faults");
    const out = await sh(dir, "kind-cluster up --name faults --port 6462");
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("already exists with its API published on host port 6460, not apiServerPort 6462");
    expect(out.stderr).toContain("set the Feature's apiServerPort option to 6460");
    expect(await nodeContainers("faults")).toEqual(before);
  });

  it("a malformed kubeconfig is left untouched, with an error naming it", async () => {
    const broken = "apiVersion: v1\nclusters:\n- name: a\n  cluster: {server: https://a\n";
    await sh(dir, `mkdir -p /tmp/kc && printf '%s' '${broken}' > /tmp/kc/broken && cp /tmp/kc/broken /tmp/kc/original`);
    const out = await sh(dir, "KUBECONFIG=/tmp/kc/broken kind-cluster up --name faults --port 6460");
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("[dev container (zone 1)] the kubeconfig /tmp/kc/broken is malformed");
    expect(out.stderr).toContain("left untouched");
    expect((await sh(dir, "cmp /tmp/kc/broken /tmp/kc/original && ls /tmp/kc")).stdout.trim().split("\n")).toEqual(["broken", "original"]);
  });

  it("no Docker socket: a zone-2 error with the fix", async () => {
    const out = await sh(dir, "DOCKER_HOST=unix:///var/run/absent.sock kind-cluster up --name faults --port 6460");
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("[docker host (zone 2)] no Docker socket at /var/run/absent.sock");
    expect(out.stderr).toContain("fix: keep the Feature's socket mount");
  }, 120_000);

  it("two `up` at once: both succeed, one cluster", async () => {
    const out = await sh(
      dir,
      "(kind-cluster up --name race --port 6463 >/tmp/a.log 2>&1; echo a=$?) & (kind-cluster up --name race --port 6463 >/tmp/b.log 2>&1; echo b=$?) & wait; cat /tmp/a.log /tmp/b.log",
    );
    expect(out.stdout).toMatch(/a=0/);
    expect(out.stdout).toMatch(/b=0/);
    expect(out.stdout).toMatch(/✓ cluster\s+created race/);
    expect(out.stdout).toMatch(/✓ cluster\s+adopted race/);
    expect((await nodeContainers("race")).map((n) => n.name)).toEqual(["race-control-plane"]);
  });

  it("down deletes the cluster and only its kubeconfig entries", async () => {
    const out = await sh(dir, "kind-cluster down --name race && kubectl config get-contexts -o name");
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/✓ cluster\s+deleted race/);
    expect(out.stdout.split("\n")).toContain("kind-faults");
    expect(out.stdout.split("\n")).not.toContain("kind-race");
    expect(await nodeContainers("race")).toEqual([]);
  });
});

describe("a failing hook", () => {
  it("leaves the dev container usable and the project's own hook still runs", async () => {
    const { project, up } = await tools({ clusterName: "hookfail", kindConfig: "missing/kind.yaml" }, { postCreateCommand: "touch /tmp/user-hook-ran" });
    expect(up.exitCode, up.output.slice(-3000)).toBe(0);
    expect(up.outcome).toBe("success");
    expect(up.output).toContain("kind-cluster (postCreate): the cluster is NOT ready");
    expect(up.output).toMatch(/missing\/kind.yaml \(option kindConfig\) cannot be read/);
    expect((await sh(project, "test -f /tmp/user-hook-ran && kubectl version --client >/dev/null && echo usable")).stdout.trim()).toBe("usable");
    expect(await nodeContainers("hookfail")).toEqual([]);
  });

  it("with strict, the same failure fails devcontainer up (for CI)", async () => {
    const { up } = await tools({ clusterName: "hookfail", kindConfig: "missing/kind.yaml", strict: true });
    expect(up.exitCode).not.toBe(0);
    expect(up.output).toContain("strict is set: failing the postCreate hook");
  });
});
