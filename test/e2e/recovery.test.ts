import { readFile, writeFile } from "node:fs/promises";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeContainer, sh } from "../support/devcontainer.js";
import { upDevProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/**
 * Clusters that are not what Docker says: a creation cut off half-way (its nodes exist, kubeadm never
 * ran), a paused node, and a node Docker reports running but cannot run a command in (its runtime
 * caught in a frozen cgroup, as seen on this engine).
 */
const HALF = { name: "half", port: 6475 };
const STUCK = { name: "stuck", port: 6476 };
let testbed: Testbed;
let dir = "";
let container: string | undefined;

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, HALF.name, STUCK.name);
  const { dir: project, up } = await upDevProject({ options: { createCluster: false } });
  container = up.containerId;
  expect(up.exitCode, up.output.slice(-3000)).toBe(0);
  dir = project;
});

afterAll(async () => {
  await removeContainer(container);
  await deleteClusters(testbed, HALF.name, STUCK.name);
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("a creation cut off half-way", () => {
  it("is named, deleted and re-created, never adopted as healthy", async () => {
    // Start creating, and kill `up` and kind as soon as the node container exists (before kubeadm runs).
    void sh(dir, `kind-cluster up --name ${HALF.name} --port ${HALF.port} >/tmp/half.log 2>&1`);
    await waitFor("the half cluster's node container", async () => (await nodeContainers(HALF.name)).length > 0);
    await sh(dir, "pkill -KILL -f 'kind-cluster.mjs up' ; pkill -KILL -x kind; true");
    const half = await nodeContainers(HALF.name);
    expect(half.map((n) => n.name)).toEqual([`${HALF.name}-control-plane`]);
    const adminConf = await execa("docker", ["container", "cp", `${half[0]!.id}:/etc/kubernetes/admin.conf`, "-"], { reject: false });
    expect(adminConf.exitCode, "kubeadm had already run; the cut came too late for this test").not.toBe(0);

    const again = await sh(dir, `kind-cluster up --name ${HALF.name} --port ${HALF.port}`);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain(
      `cluster ${HALF.name} was never completed: its creation was cut off before kubeadm ran, so it holds nothing; deleting and re-creating it`,
    );
    expect(again.stderr).toMatch(/✓ cluster\s+re-created half/);
    const now = await nodeContainers(HALF.name);
    expect(now.map((n) => n.name)).toEqual([`${HALF.name}-control-plane`]);
    expect(now[0]!.id).not.toBe(half[0]!.id);
    expect((await sh(dir, "kubectl get nodes --no-headers")).stdout).toMatch(/^half-control-plane\s+Ready/);
  });
});

describe("a node that does not run although Docker says so", () => {
  beforeAll(async () => {
    const created = await sh(dir, `kind-cluster up --name ${STUCK.name} --port ${STUCK.port}`);
    expect(created.exitCode, created.stderr).toBe(0);
  });

  it("a paused node is unpaused and the cluster comes back", async () => {
    const [cp] = await nodeContainers(STUCK.name);
    await execa("docker", ["pause", cp!.id]);
    const out = await sh(dir, `kind-cluster up --name ${STUCK.name} --port ${STUCK.port}`);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/✓ cluster\s+started stuck/);
    expect((await execa("docker", ["inspect", "-f", "{{.State.Status}}", cp!.id])).stdout).toBe("running");
  });

  it("a node whose runtime is frozen: up and doctor name the state and the fix instead of 'still starting'", async () => {
    const [cp] = await nodeContainers(STUCK.name);
    // What the engine's flake left behind: the node's cgroup frozen behind Docker's back.
    const freezer = `/sys/fs/cgroup/freezer/docker/${cp!.id}/freezer.state`;
    await writeFile(freezer, "FROZEN");
    try {
      expect((await readFile(freezer, "utf8")).trim()).toMatch(/FROZEN|FREEZING/);
      expect((await execa("docker", ["inspect", "-f", "{{.State.Status}}", cp!.id])).stdout).toBe("running");
      const started = Date.now();
      const out = await sh(dir, `kind-cluster up --name ${STUCK.name} --port ${STUCK.port}`);
      const seconds = (Date.now() - started) / 1000;
      expect(out.exitCode).toBe(1);
      expect(out.stderr).toMatch(
        /\[kind cluster \(zone 3\)\] node stuck-control-plane is running, but Docker cannot run a command in it \(.+\): its container runtime is stuck; waiting will not help/,
      );
      expect(out.stderr).toContain(`docker restart ${STUCK.name}-control-plane`);
      expect(out.stderr).not.toMatch(/may still be starting|run `kind-cluster up` again/);
      expect(seconds).toBeLessThan(60);
      const doctor = await sh(dir, `kind-cluster doctor --name ${STUCK.name} --port ${STUCK.port}`);
      expect(doctor.exitCode).toBe(1);
      expect(doctor.stdout).toMatch(/✗ runtime: node stuck-control-plane is running, but Docker cannot run a command in it/);
    } finally {
      await writeFile(freezer, "THAWED");
    }
    await waitFor("the node to answer again", async () => (await execa("docker", ["exec", cp!.id, "true"], { reject: false, timeout: 5_000 })).exitCode === 0);
    const healed = await sh(dir, `kind-cluster up --name ${STUCK.name} --port ${STUCK.port}`);
    expect(healed.exitCode, healed.stderr).toBe(0);
  });
});
