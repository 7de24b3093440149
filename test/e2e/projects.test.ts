import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { createServer, type Server } from "node:net";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { autoPorts } from "../../src/cluster/ports.js";
import { dockerEngine } from "../../src/engine/docker.js";
import { REGISTRY_NAME } from "../../src/registry.js";
import { devcontainerUp, removeContainer, removeImages, sh, type UpResult } from "../support/devcontainer.js";
import { ensureBusyboxImage } from "../support/images.js";
import { devProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, removeRegistry, type Testbed } from "../support/testbed.js";
import { commitFiles, configMapYaml, initRepository, setGitIdentity, waitFor } from "../support/workspace.js";

/**
 * Projects side by side on one Docker host (issue 18), with three dev containers shared by every test:
 * - alpha: cluster pj-alpha (GitOps on clusters/dev) and, through extraClusters, pj-alpha-staging
 *   (clusters/staging), the example project's promotion; the local registry;
 * - beta: cluster pj-beta, opened at the same moment as alpha, stopWithContainer on;
 * - gamma: another project naming alpha's cluster, GitOps on.
 * Ports are left at their default (auto), while a process on the Docker host holds the first port auto
 * would take: each cluster gets a port of its own, chosen around it.
 */
const ALPHA = "pj-alpha";
const STAGING = "pj-alpha-staging";
const BETA = "pj-beta";
const IMAGE = "localhost:5001/pj-web:1";
let testbed: Testbed;
let alpha = "";
let beta = "";
let gamma = "";
const containers: Record<"alpha" | "beta" | "gamma", string | undefined> = { alpha: undefined, beta: undefined, gamma: undefined };
let holder: Server | undefined;
let heldPort = 0;
let registryBefore = false;
const timings: string[] = [];

const example = (path: string) => readFile(`examples/gitops/${path}`, "utf8");
/** The host port of a cluster's API, as Docker keeps it on the control plane; NaN when there is none. */
const apiPort = async (cluster: string) => {
  const out = await execa("docker", ["inspect", "-f", '{{(index (index .HostConfig.PortBindings "6443/tcp") 0).HostPort}}', `${cluster}-control-plane`], {
    reject: false,
  });
  return out.exitCode === 0 ? Number(out.stdout) : Number.NaN;
};
const value = (context: string, name: string, key = "value") => `kubectl --context kind-${context} get configmap ${name} -o jsonpath='{.data.${key}}'`;
const ok = (out: { exitCode: number; stdout: string; stderr: string }) => expect(out.exitCode, `${out.stdout}\n${out.stderr}`).toBe(0);

/** Listens on the host's loopback on the first port auto would try (one no container holds), as a non-Docker process would. */
async function holdFirstAutoPort(): Promise<void> {
  const uses = await dockerEngine().publishedPorts();
  for (const { port, holders } of autoPorts(uses, "127.0.0.1")) {
    if (holders.length > 0) continue;
    const server = createServer();
    const listening = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (listening) {
      holder = server;
      heldPort = port;
      return;
    }
  }
  throw new Error("no free port from 6443 for the test's host process");
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, ALPHA, STAGING, BETA);
  registryBefore = (await execa("docker", ["inspect", REGISTRY_NAME], { reject: false })).exitCode === 0;
  alpha = await devProject({
    options: { clusterName: ALPHA, gitops: "flux", gitopsPath: "clusters/dev", extraClusters: `${STAGING}:clusters/staging`, localRegistry: true },
    files: {
      "clusters/dev/greeter.yaml": await example("clusters/dev/greeter.yaml"),
      "clusters/staging/greeter.yaml": await example("clusters/staging/greeter.yaml"),
    },
  });
  beta = await devProject({ options: { clusterName: BETA, stopWithContainer: true } });
  gamma = await devProject({
    options: { clusterName: ALPHA, gitops: "flux", gitopsPath: "clusters/dev" },
    files: { "clusters/dev/gamma.yaml": configMapYaml("gamma", "from gamma") },
  });
  for (const dir of [alpha, beta, gamma]) await initRepository(dir);
  await holdFirstAutoPort();
});

afterAll(async () => {
  console.log(`[e2e] projects: ${timings.join("; ")}`);
  holder?.close();
  for (const id of Object.values(containers)) await removeContainer(id);
  await deleteClusters(testbed, ALPHA, STAGING, BETA);
  if (!registryBefore) await removeRegistry();
  await removeImages([IMAGE]);
});

describe("two projects opened at the same moment", () => {
  let ups: UpResult[] = [];

  it("both are Ready, each cluster on a port of its own (auto), around a port a host process holds; each kubeconfig is right", async () => {
    const start = Date.now();
    // Two seconds apart: the devcontainer CLI names its Feature build folder by the millisecond, so two
    // builds started in the same one share it and one image gets the other's options (seen here; the
    // class of devcontainers/cli#801). The hooks, after builds of tens of seconds, still run together.
    ups = await Promise.all([devcontainerUp(alpha), sleep(2000).then(() => devcontainerUp(beta))]);
    timings.push(`two projects opened at once ${((Date.now() - start) / 1000).toFixed(1)}s`);
    [containers.alpha, containers.beta] = ups.map((u) => u.containerId);
    for (const u of ups) expect(u.exitCode, u.output.slice(-4000)).toBe(0);
    if (ups.some((u) => u.output.includes("is NOT ready"))) console.log((await sh(alpha, "tail -n 20 /tmp/kind-cluster-1234/*/*.log")).stdout);
    // Each image holds its own project's options.
    expect((await sh(alpha, "grep ^clusterName= /usr/local/share/kind-cluster/options.env")).stdout).toBe(`clusterName=${ALPHA}`);
    expect((await sh(beta, "grep ^clusterName= /usr/local/share/kind-cluster/options.env")).stdout).toBe(`clusterName=${BETA}`);
    const ports = await Promise.all([ALPHA, STAGING, BETA].map(apiPort));
    const outputs = ups.map((u) =>
      u.output
        .split("\n")
        .filter((l) => /kind-cluster|^(\[\S+\] )? [✓✗!▸│] |^ {3}\S/.test(l))
        .join("\n"),
    );
    expect(new Set(ports.filter((p) => p > 0)).size, `ports ${ports.join(", ")}\n${outputs.join("\n-----\n")}`).toBe(3);
    expect(ports).not.toContain(heldPort);
    // Each creation said what it chose, in one line; the held port was found through kind's attempt to publish it.
    for (const u of ups) expect(u.output).toMatch(/apiServerPort auto chose \d+ \(.+\); Docker keeps it on the cluster/);
    expect(ups.map((u) => u.output).join("\n")).toContain(`${heldPort} is held by a process on the Docker host`);

    await setGitIdentity(alpha);
    expect((await sh(alpha, "kubectl config current-context")).stdout).toBe(`kind-${ALPHA}`);
    expect((await sh(beta, "kubectl config current-context")).stdout).toBe(`kind-${BETA}`);
    for (const [dir, cluster] of [
      [alpha, ALPHA],
      [alpha, STAGING],
      [beta, BETA],
    ] as const)
      expect((await sh(dir, `kubectl --context kind-${cluster} get nodes --no-headers`)).stdout).toMatch(new RegExp(`^${cluster}-control-plane\\s+Ready`));
  });

  it("status shows every cluster of the container, each with its Git server", async () => {
    const status = await sh(alpha, "kind-cluster status");
    ok(status);
    expect(status.stdout).toMatch(new RegExp(`zone 3 kind cluster +${ALPHA}: ${ALPHA}-control-plane \\(running\\)`));
    expect(status.stdout).toMatch(new RegExp(`zone 3 kind cluster +${STAGING}: ${STAGING}-control-plane \\(running\\)`));
    const servers = [...status.stdout.matchAll(/service +Git source: running \(pid \d+\), (http:\/\/\S+)/g)].map((m) => m[1]);
    expect(new Set(servers).size, status.stdout).toBe(2);
  });
});

describe("two clusters from one dev container, two loops from one repository", () => {
  it("each cluster applies its own folder; a promotion is a commit; a commit to clusters/staging reaches only staging", async () => {
    await waitFor(alpha, "dev at v2", value(ALPHA, "greeter", "release"), (o) => o === "v2");
    await waitFor(alpha, "staging at v1", value(STAGING, "greeter", "release"), (o) => o === "v1");
    await commitFiles(alpha, "promote greeter v2", { "clusters/staging/greeter.yaml": await example("clusters/dev/greeter.yaml") });
    timings.push(`promotion commit -> staging ${(await waitFor(alpha, "staging at v2", value(STAGING, "greeter", "release"), (o) => o === "v2")).toFixed(1)}s`);
    await commitFiles(alpha, "staging only", { "clusters/staging/only.yaml": configMapYaml("only-staging", "yes") });
    await waitFor(alpha, "only-staging in staging", value(STAGING, "only-staging"), (o) => o === "yes");
    expect((await sh(alpha, `kubectl --context kind-${ALPHA} get configmap only-staging -o name 2>&1`)).stdout).toMatch(/NotFound/);
  });
});

describe("a third project naming the same cluster, with GitOps on", () => {
  it("is refused politely: the cluster is shared, the loop stays the first project's, and that loop keeps applying its commits", async () => {
    const up = await devcontainerUp(gamma);
    containers.gamma = up.containerId;
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toContain(`cluster ${ALPHA} is shared with project ${alpha}`);
    expect(up.output).toMatch(
      new RegExp(
        `the GitOps loop of cluster ${ALPHA} belongs to project ${alpha} \\(container [^)]+\\), which is running: this dev container changed nothing of it`,
      ),
    );
    expect(up.output).toMatch(/set "clusterName" in the Feature's options in devcontainer.json, e.g. "clusterName": "kc-project-/);
    // Plain use stays allowed; nothing of gamma's repository reached the cluster.
    expect((await sh(gamma, "kubectl get nodes --no-headers")).stdout).toMatch(new RegExp(`^${ALPHA}-control-plane\\s+Ready`));
    await commitFiles(alpha, "alpha after gamma", { "clusters/dev/alpha.yaml": configMapYaml("alpha", "still mine") });
    await waitFor(alpha, "alpha's commit applied", value(ALPHA, "alpha"), (o) => o === "still mine");
    expect((await sh(gamma, "kubectl get configmap gamma -o name 2>&1")).stdout).toMatch(/NotFound/);
  });
});

describe("pause and resume", () => {
  it("stop keeps the kubeconfig, the registry's images and the GitOps state; says who else uses the cluster; up brings it back to Ready", async () => {
    const base = await ensureBusyboxImage();
    ok(
      await sh(
        alpha,
        `set -e; mkdir -p /tmp/web && cd /tmp/web && printf 'FROM ${base}\\nCMD ["sleep", "3600"]\\n' > Dockerfile && DOCKER_BUILDKIT=0 docker build -q -t ${IMAGE} . && docker push -q ${IMAGE}`,
      ),
    );
    await commitFiles(alpha, "web", {
      "clusters/dev/web.yaml": `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: ${IMAGE}\n`,
    });
    const available = `kubectl --context kind-${ALPHA} get deployment web -o jsonpath='{.status.availableReplicas}'`;
    await waitFor(alpha, "web Available", available, (o) => o === "1");
    const kubeconfig = (await sh(alpha, "sha256sum ~/.kube/config")).stdout;

    const stopping = Date.now();
    const stopped = await sh(alpha, `kind-cluster stop --name ${ALPHA}`);
    timings.push(`kind-cluster stop ${((Date.now() - stopping) / 1000).toFixed(1)}s`);
    ok(stopped);
    expect(stopped.stderr).toMatch(new RegExp(`✓ cluster +stopped ${ALPHA} \\(1 node\\)`));
    expect(stopped.stderr).toContain(`cluster ${ALPHA} is also used by project ${gamma}`);
    // Every service of this cluster in this container: its Git source and its ports service.
    const services = new RegExp(`✓ services +stopped (.+) of ${ALPHA} in this container`).exec(stopped.stderr)?.[1]?.split(", ");
    expect(services?.sort()).toEqual(["git-source", "ports"]);
    expect((await nodeContainers(ALPHA)).map((n) => n.state)).toEqual(["exited"]);
    expect((await sh(alpha, `kind-cluster status --name ${ALPHA}`)).stdout).toMatch(new RegExp(`${ALPHA}: stopped \\(\`kind-cluster up\` starts it\\)`));
    expect((await sh(alpha, "sha256sum ~/.kube/config")).stdout).toBe(kubeconfig);
    // The other cluster of this container runs on.
    expect((await nodeContainers(STAGING)).map((n) => n.state)).toEqual(["running"]);

    const start = Date.now();
    const again = await sh(alpha, `kind-cluster up --name ${ALPHA}`);
    timings.push(`kind-cluster stop, then up back to Ready ${((Date.now() - start) / 1000).toFixed(1)}s`);
    ok(again);
    console.log(
      `[e2e] projects: up after stop:\n${again.stderr
        .split("\n")
        .filter((l) => /^ [✓✗] /.test(l))
        .join("\n")}`,
    );
    expect(again.stderr).toMatch(new RegExp(`✓ cluster +started ${ALPHA}`));
    expect((await sh(alpha, "curl -fsS http://127.0.0.1:5001/v2/_catalog")).stdout).toContain("pj-web");
    await waitFor(alpha, "web Available after the restart", available, (o) => o === "1");
    expect((await sh(alpha, value(ALPHA, "alpha"))).stdout).toBe("still mine");
    await commitFiles(alpha, "after the pause", { "clusters/dev/alpha.yaml": configMapYaml("alpha", "resumed") });
    await waitFor(alpha, "a commit after the pause applied", value(ALPHA, "alpha"), (o) => o === "resumed");
  });

  it("down of one cluster leaves the other's services running", async () => {
    ok(await sh(alpha, `kind-cluster down --name ${STAGING}`));
    expect(await nodeContainers(STAGING)).toEqual([]);
    const status = await sh(alpha, "kind-cluster status");
    // Still declared (extraClusters): shown, without nodes, and without services.
    expect(status.stdout).toMatch(new RegExp(`zone 3 kind cluster +${STAGING}: none`));
    expect([...status.stdout.matchAll(/service +Git source: running \(pid \d+\)/g)]).toHaveLength(1);
    await commitFiles(alpha, "after down", { "clusters/dev/alpha.yaml": configMapYaml("alpha", "after down") });
    await waitFor(alpha, "a commit after the other's down applied", value(ALPHA, "alpha"), (o) => o === "after down");
  });
});

describe("the owner gone", () => {
  it("the next up of another project takes the loop over and says so; its commits are applied", async () => {
    await execa("docker", ["stop", containers.alpha!]);
    const up = await sh(gamma, "kind-cluster up");
    ok(up);
    expect(up.stderr).toMatch(
      new RegExp(`took over the GitOps loop of cluster ${ALPHA} from project ${alpha} \\(container [^)]+\\), whose container is stopped`),
    );
    await waitFor(gamma, "gamma's repository applied", `kubectl get configmap gamma -o jsonpath='{.data.value}'`, (o) => o === "from gamma");
    await setGitIdentity(gamma);
    await commitFiles(gamma, "a commit of gamma", { "clusters/dev/gamma.yaml": configMapYaml("gamma", "gamma owns it") });
    await waitFor(gamma, "gamma's commit applied", `kubectl get configmap gamma -o jsonpath='{.data.value}'`, (o) => o === "gamma owns it");
  });
});

describe("stopWithContainer", () => {
  it("the watcher stops the cluster when its dev container stops, and the next start brings it back", async () => {
    const watcher = `kind-cluster-watch-${containers.beta!.slice(0, 12)}`;
    expect((await execa("docker", ["inspect", "-f", "{{.State.Running}} {{.HostConfig.NetworkMode}} {{.Config.Image}}", watcher])).stdout).toMatch(
      /^true none vsc-kc-project-/,
    );
    const start = Date.now();
    await execa("docker", ["stop", containers.beta!]);
    const watcherGone = async () => (await execa("docker", ["ps", "-aq", "--filter", `name=^${watcher}$`])).stdout === "";
    const nodesStopped = async () => (await nodeContainers(BETA)).every((n) => n.state === "exited");
    for (let i = 0; i < 120 && !(await nodesStopped()); i++) await new Promise((r) => setTimeout(r, 500));
    timings.push(`dev container stop -> nodes stopped ${((Date.now() - start) / 1000).toFixed(1)}s`);
    expect((await nodeContainers(BETA)).map((n) => n.state)).toEqual(["exited"]);
    for (let i = 0; i < 20 && !(await watcherGone()); i++) await new Promise((r) => setTimeout(r, 500));
    expect(await watcherGone()).toBe(true);

    const again = await devcontainerUp(beta);
    expect(again.exitCode, again.output.slice(-4000)).toBe(0);
    expect(again.output).toMatch(new RegExp(`✓ cluster +started ${BETA}`));
    expect((await sh(beta, "kubectl get nodes --no-headers")).stdout).toMatch(new RegExp(`^${BETA}-control-plane\\s+Ready`));
    expect((await execa("docker", ["inspect", "-f", "{{.State.Running}}", watcher])).stdout).toBe("true");
  });
});
