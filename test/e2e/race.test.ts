import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeContainer, sh } from "../support/devcontainer.js";
import { upDevProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/**
 * Two dev containers on one Docker host start the same cluster at the same moment (two projects, or a
 * window reopened while the hook runs). kind's failing create deletes every node of the cluster's name,
 * the winner's included, so only one may create: the host-wide lock. Docker's own event stream shows
 * whether any node container was destroyed while the two raced.
 */
const CLUSTER = "race2";
const PORT = 6466;
// Three rounds in the suite; a longer hunt for a rare interleaving: KIND_CLUSTER_RACE_ROUNDS=50.
const ROUNDS = Number(process.env.KIND_CLUSTER_RACE_ROUNDS ?? 3);
let testbed: Testbed;
const dirs: string[] = [];
const containers: Array<string | undefined> = [];

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
  for (const _ of [1, 2]) {
    const { dir, up } = await upDevProject({ options: { createCluster: false } });
    containers.push(up.containerId);
    expect(up.exitCode, up.output.slice(-3000)).toBe(0);
    dirs.push(dir);
  }
});

afterAll(async () => {
  for (const id of containers) await removeContainer(id);
  await deleteClusters(testbed, CLUSTER);
});

describe("two dev containers start the same cluster at once", () => {
  it(`one creates, the other adopts, both are Ready, no node is ever deleted (${ROUNDS} rounds)`, async () => {
    const outcomes: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await deleteClusters(testbed, CLUSTER);
      // Docker takes fractional seconds: the window starts after the previous round's cluster is gone.
      const since = (Date.now() / 1000).toFixed(3);
      const both = await Promise.all(dirs.map((dir) => sh(dir, `kind-cluster up --name ${CLUSTER} --port ${PORT} 2>&1`)));
      const until = (Date.now() / 1000 + 1).toFixed(3);
      const events: ResultPromise = execa("docker", [
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "type=container",
        "--filter",
        "event=destroy",
        "--filter",
        `label=io.x-k8s.kind.cluster=${CLUSTER}`,
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.ID}}",
      ]);
      const destroyed = String((await events).stdout)
        .split("\n")
        .filter(Boolean);

      for (const out of both) expect(out.exitCode, out.stdout.slice(-2000)).toBe(0);
      const actions = both.map((out) => /✓ cluster\s+(created|adopted|started)/.exec(out.stdout)?.[1]).sort();
      expect(actions, both.map((o) => o.stdout).join("\n----\n")).toEqual(["adopted", "created"]);
      expect(destroyed, `round ${round}: node containers destroyed while racing`).toEqual([]);
      expect((await nodeContainers(CLUSTER)).map((n) => n.name)).toEqual([`${CLUSTER}-control-plane`]);
      for (const dir of dirs) expect((await sh(dir, "kubectl get nodes --no-headers")).stdout).toMatch(new RegExp(`^${CLUSTER}-control-plane\\s+Ready`));
      outcomes.push(`${round}: ${both.map((o) => (/waiting for container/.test(o.stdout) ? "waited" : "")).filter(Boolean).length} waited`);
    }
    console.log(`[e2e] race: ${ROUNDS} rounds, each with one "created" and one "adopted", no node container destroyed (${outcomes.join("; ")})`);
  });

  it("a lock left by a dev container that is gone is reclaimed, saying why", async () => {
    await deleteClusters(testbed, CLUSTER);
    const gone = "0".repeat(64);
    const image = (await execa("docker", ["inspect", "-f", "{{.Config.Image}}", containers[0]!])).stdout.trim();
    const labels = {
      "io.kind-cluster.lock": CLUSTER,
      "io.kind-cluster.lock.holder": gone,
      "io.kind-cluster.lock.pid": "1",
      "io.kind-cluster.lock.host": "elsewhere",
      "io.kind-cluster.lock.until": String(Date.now() + 3_600_000),
    };
    await execa("docker", [
      "container",
      "create",
      "--name",
      `kind-cluster-lock-${CLUSTER}`,
      "--network",
      "none",
      ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
      image,
      "true",
    ]);
    const out = await sh(dirs[0]!, `kind-cluster up --name ${CLUSTER} --port ${PORT}`);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stderr).toContain(`removed a stale lock (kind-cluster-lock-${CLUSTER}: its holder container ${gone.slice(0, 12)} is gone)`);
    expect(out.stderr).toMatch(/✓ cluster\s+created race2/);
    expect((await execa("docker", ["ps", "-a", "-q", "--filter", `name=^kind-cluster-lock-${CLUSTER}$`])).stdout).toBe("");
  });
});
