import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/** The test bed itself: a kind cluster from the offline node image, Ready, with CoreDNS running. */
const CLUSTER = "testbed-proof";
let testbed: Testbed;
let dir = "";
let env: Record<string, string>;

type Item = { metadata: { name: string }; status: { phase?: string; conditions?: Array<{ type: string; status: string }> } };
const condition = (item: Item, type: string) => item.status.conditions?.find((c) => c.type === type)?.status;

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
  dir = await mkdtemp(join(tmpdir(), "testbed-proof-"));
  env = { KUBECONFIG: join(dir, "kubeconfig") };
});

afterAll(async () => {
  await deleteClusters(testbed, CLUSTER);
  await rm(dir, { recursive: true, force: true });
});

describe("the offline test bed", () => {
  it("kind create cluster --wait gives a Ready control-plane node", async () => {
    const created = await execa(testbed.kind, ["create", "cluster", "--name", CLUSTER, "--image", testbed.nodeImage, "--wait", "3m"], {
      env,
      reject: false,
      all: true,
    });
    expect(created.exitCode, created.all).toBe(0);
    const nodes = JSON.parse((await execa(testbed.kubectl, ["get", "nodes", "-o", "json"], { env })).stdout).items as Item[];
    expect(nodes.map((n) => [n.metadata.name, condition(n, "Ready")])).toEqual([[`${CLUSTER}-control-plane`, "True"]]);
  });

  it("runs CoreDNS (pods on the pod network, through kc-net)", async () => {
    const deadline = Date.now() + 120_000;
    let pods: Item[] = [];
    while (Date.now() < deadline) {
      pods = JSON.parse((await execa(testbed.kubectl, ["get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "-o", "json"], { env })).stdout).items;
      if (pods.length > 0 && pods.every((p) => p.status.phase === "Running" && condition(p, "Ready") === "True")) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(pods.map((p) => [p.status.phase, condition(p, "Ready")])).toEqual([
      ["Running", "True"],
      ["Running", "True"],
    ]);
  });

  it("kind delete cluster removes the node container", async () => {
    await execa(testbed.kind, ["delete", "cluster", "--name", CLUSTER], { env });
    expect(await nodeContainers(CLUSTER)).toEqual([]);
  });
});
