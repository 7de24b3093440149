import { readFileSync } from "node:fs";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { removeContainer, sh, type UpResult } from "../support/devcontainer.js";
import { upDevProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, type Testbed } from "../support/testbed.js";

/**
 * Every route from a non-root user's dev container to one real cluster. The first project creates the
 * cluster; the next two adopt it, as a second dev container would.
 */
const CLUSTER = "kind";
let testbed: Testbed;
const containers: Array<string | undefined> = [];

type Named = { name: string; [key: string]: unknown };
const names = (list: Named[]) => list.map((e) => e.name).sort();

async function project(spec: Parameters<typeof upDevProject>[0]) {
  const result = await upDevProject(spec);
  containers.push(result.up.containerId);
  return result;
}

async function kubeconfigOf(dir: string) {
  const out = await sh(dir, "cat ~/.kube/config");
  return parse(out.stdout);
}

async function nodesReady(dir: string) {
  const out = await sh(dir, "kubectl get nodes -o json");
  expect(out.exitCode, out.stderr).toBe(0);
  const items = JSON.parse(out.stdout).items as Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }> } }>;
  return items.map((n) => [n.metadata.name, n.status.conditions.find((c) => c.type === "Ready")?.status]);
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
});

afterAll(async () => {
  for (const id of containers) await removeContainer(id);
  await deleteClusters(testbed, CLUSTER);
});

describe("the seed's route, exactly (host.docker.internal, TLS server name localhost), for a non-root user with an existing kubeconfig", () => {
  let dir = "";
  let up: UpResult;
  beforeAll(async () => {
    const existing = readFileSync("test/fixtures/kubeconfig-many.yaml", "utf8");
    ({ dir, up } = await project({
      options: { route: "host.docker.internal", apiServerPort: "6443" },
      config: { runArgs: ["--add-host=host.docker.internal:host-gateway"] },
      dockerfile: "COPY --chown=dev:dev kubeconfig /home/dev/.kube/config\n",
      files: { ".devcontainer/kubeconfig": existing },
    }));
  });

  it("comes up and the hook says what it did", () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toMatch(/✓ cluster\s+created kind/);
    expect(up.output).toMatch(/✓ route\s+host.docker.internal -> https:\/\/host.docker.internal:6443/);
    console.log(`[e2e] devcontainer up with a new cluster took ${up.seconds.toFixed(1)}s`);
  });

  it("writes the seed's kubeconfig: host.docker.internal:6443, tls-server-name localhost, verification on", async () => {
    const config = await kubeconfigOf(dir);
    const ours = config.clusters.find((c: Named) => c.name === "kind-kind").cluster;
    expect(ours.server).toBe("https://host.docker.internal:6443");
    expect(ours["tls-server-name"]).toBe("localhost");
    expect(ours).not.toHaveProperty("insecure-skip-tls-verify");
    expect(ours["certificate-authority-data"]).toMatch(/^[A-Za-z0-9+/=]{100,}$/);
  });

  it("keeps every other cluster, user and context of the existing kubeconfig, and makes ours current", async () => {
    const config = await kubeconfigOf(dir);
    expect(names(config.clusters)).toEqual(["kind-kind", "prod-eu", "staging"]);
    expect(names(config.users)).toEqual(["alice@prod", "kind-kind", "oidc"]);
    expect(names(config.contexts)).toEqual(["kind-kind", "prod", "staging"]);
    expect(config.users.find((u: Named) => u.name === "alice@prod").user.token).toBe("secret-token-value");
    expect(config["current-context"]).toBe("kind-kind");
    // The file came in with mode 644 (COPY): kept, never changed behind the user's back, and said aloud.
    expect((await sh(dir, "stat -c %a ~/.kube/config")).stdout.trim()).toBe("644");
    expect(up.output).toMatch(/! \/home\/dev\/\.kube\/config has mode 644, kept as it was: other users of this container can read the cluster's client key/);
  });

  it("kubectl get nodes shows the node Ready, as the non-root user", async () => {
    expect(await nodesReady(dir)).toEqual([["kind-control-plane", "True"]]);
    expect((await sh(dir, "id -un")).stdout.trim()).toBe("dev");
  });

  it("publishes the API on the bridge gateway only, not on every interface", async () => {
    const [cp] = await nodeContainers(CLUSTER);
    const bindings = JSON.parse((await execa("docker", ["inspect", "-f", "{{json .HostConfig.PortBindings}}", cp!.id])).stdout);
    const hostIp = bindings["6443/tcp"][0].HostIp as string;
    expect(hostIp).toMatch(/^172\.\d+\.\d+\.1$/);
    const listening = (await execa("ss", ["-Hltn", "sport = :6443"])).stdout;
    expect(listening).toContain(`${hostIp}:6443`);
    expect(listening).not.toMatch(/(0\.0\.0\.0|\*|\[::\]):6443/);
  });
});

describe("route auto, with no help from the project", () => {
  let dir = "";
  let up: UpResult;
  beforeAll(async () => {
    ({ dir, up } = await project({ options: { route: "auto" } }));
  });

  it("adopts the running cluster, picks a working route and says why", async () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toMatch(/✓ cluster\s+adopted kind/);
    expect(up.output).toMatch(/host.docker.internal: .*failed at dns.*--add-host=host.docker.internal:host-gateway/);
    expect(up.output).toMatch(/✓ route\s+gateway -> https:\/\/172\.\d+\.\d+\.1:6443/);
    const ours = (await kubeconfigOf(dir)).clusters.find((c: Named) => c.name === "kind-kind").cluster;
    expect(ours.server).toMatch(/^https:\/\/172\.\d+\.\d+\.1:6443$/);
    expect(ours["tls-server-name"]).toBe("localhost");
    expect(await nodesReady(dir)).toEqual([["kind-control-plane", "True"]]);
  });

  it("doctor walks every hop and finds nothing wrong; status shows the three zones", async () => {
    const doctor = await sh(dir, "kind-cluster doctor");
    expect(doctor.exitCode, doctor.stdout).toBe(0);
    // The first project's route (host.docker.internal) published the API on the gateway: doctor says who can reach it.
    expect(doctor.stdout).toMatch(/✓ api port: the API is published on 172\.\d+\.\d+\.1:6443 of the Docker host: every container on the Docker host/);
    expect(doctor.stdout).toMatch(/✓ gateway: https:\/\/172\.\d+\.\d+\.1:6443: TLS verified, API answered/);
    expect(doctor.stdout).toMatch(/- host.docker.internal: not used: .*failed at dns/);
    expect(doctor.stdout).toMatch(/✓ ready: kind-control-plane Ready/);
    const status = JSON.parse((await sh(dir, "kind-cluster status --json")).stdout);
    expect(status).toMatchObject({
      devContainer: { context: "kind-kind" },
      cluster: { name: "kind", nodes: [{ name: "kind-control-plane", running: true }] },
      route: { reachable: true },
    });
  });
});

describe("route kind-network", () => {
  let dir = "";
  let up: UpResult;
  beforeAll(async () => {
    ({ dir, up } = await project({ options: { route: "kind-network" } }));
  });

  it("joins the cluster's network and talks to kind-control-plane:6443", async () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    const ours = (await kubeconfigOf(dir)).clusters.find((c: Named) => c.name === "kind-kind").cluster;
    expect(ours.server).toBe("https://kind-control-plane:6443");
    expect(ours).not.toHaveProperty("insecure-skip-tls-verify");
    const networks = (await execa("docker", ["inspect", "-f", "{{json .NetworkSettings.Networks}}", up.containerId!])).stdout;
    expect(Object.keys(JSON.parse(networks))).toContain("kind");
    expect(await nodesReady(dir)).toEqual([["kind-control-plane", "True"]]);
  });
});
