import { chown } from "node:fs/promises";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devcontainerUp, removeContainer, removeImages, sh, type UpResult } from "../support/devcontainer.js";
import { ensureBusyboxImage } from "../support/images.js";
import { devProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, removeRegistry, type Testbed } from "../support/testbed.js";

/**
 * A Git commit alone deploys: Flux in the cluster follows the workspace repository's checked-out branch
 * through the dev container's read-only Git server; every step here is a commit (or a checkout) made as
 * the non-root user in the dev container, and the cluster is watched until it shows the result.
 */
const CLUSTER = "loop";
const PATH_IN_REPO = "clusters/local";
/** On every kind node already (the sandbox image): a workload that needs no pull. */
const PAUSE = "registry.k8s.io/pause:3.10";
let testbed: Testbed;
let dir = "";
let up: UpResult;
const containers: Array<string | undefined> = [];
const timings: Array<[string, number]> = [];

const git = (script: string) => sh(dir, `set -e; cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"; ${script}`);

function configMap(name: string, value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  greeting: ${value}\n`;
}

function deployment(name: string, image: string): string {
  return `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:\n        - name: ${name}\n          image: ${image}\n`;
}

/** Writes files and commits them as the developer would. */
async function commit(message: string, files: Record<string, string>, removed: string[] = []): Promise<void> {
  const writes = Object.entries(files).map(([path, text]) => `mkdir -p "$(dirname '${path}')" && printf '%s' '${text}' > '${path}'`);
  const out = await git([...writes, ...removed.map((p) => `git rm -q '${p}'`), "git add -A", `git commit -q -m '${message}'`].join(" && "));
  expect(out.exitCode, out.stderr).toBe(0);
}

/** Polls a kubectl query until `done` holds; returns the seconds it took. */
async function until(what: string, query: string, done: (out: string) => boolean, timeoutMs = 60_000): Promise<number> {
  const start = Date.now();
  let last = "";
  while (Date.now() - start < timeoutMs) {
    last = (await sh(dir, `${query} 2>&1`)).stdout;
    if (done(last)) {
      const seconds = (Date.now() - start) / 1000;
      timings.push([what, seconds]);
      return seconds;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last: ${last.slice(-500)}`);
}

const greeting = (name: string) => `kubectl get configmap ${name} -o jsonpath='{.data.greeting}'`;

/** Every file of the workspace and its .git, hashed: the hooks must never write there. */
const workspaceHash = async () => (await execa("bash", ["-c", `cd '${dir}' && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`])).stdout;

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
  await removeRegistry();
  dir = await devProject({
    options: { clusterName: CLUSTER, apiServerPort: "6485", gitops: "flux", gitopsPath: PATH_IN_REPO, localRegistry: true },
    files: { [`${PATH_IN_REPO}/greeting.yaml`]: configMap("greeting", "first") },
  });
  // The workspace is the developer's own checkout: a repository with one commit, owned by them (uid 1234).
  const init = `cd '${dir}' && git init -q -b main && git add -A && git -c user.name=dev -c user.email=dev@example.test commit -q -m 'first'`;
  expect((await execa("bash", ["-c", init], { reject: false })).exitCode).toBe(0);
  await execa("chown", ["-R", "1234:1234", dir]);
  await chown(dir, 1234, 1234);
  up = await devcontainerUp(dir);
  containers.push(up.containerId);
  await sh(dir, "git config --global user.name dev && git config --global user.email dev@example.test");
});

afterAll(async () => {
  console.log(`[e2e] gitops: ${timings.map(([w, s]) => `${w} ${s.toFixed(1)}s`).join("; ")}`);
  for (const id of containers) await removeContainer(id);
  await deleteClusters(testbed, CLUSTER);
  await removeRegistry();
  await removeImages(["localhost:5001/web:1"]);
});

describe("the GitOps loop comes up with the dev container", () => {
  it("installs Flux's controllers and applies the first commit", async () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toMatch(/✓ gitops\s+installed flux v\d+\.\d+\.\d+, main@[0-9a-f]{7} applied/);
    expect((await sh(dir, greeting("greeting"))).stdout).toBe("first");
    const pods = await sh(dir, "kubectl -n flux-system get deploy -o jsonpath='{range .items[*]}{.metadata.name}={.status.availableReplicas} {end}'");
    expect(pods.stdout.trim().split(" ").sort()).toEqual(["kustomize-controller=1", "source-controller=1"]);
  });

  it("serves the repository only on the cluster's network, read-only: a push is refused", async () => {
    const source = JSON.parse((await sh(dir, "kubectl -n flux-system get gitrepository workspace -o json")).stdout);
    const url = new URL(source.spec.url as string);
    const ours = JSON.parse((await execa("docker", ["inspect", up.containerId!])).stdout)[0].NetworkSettings.Networks.kind.IPAddress;
    expect(url.hostname).toBe(ours);
    // The local address column of every listening socket on that port: only ours on the cluster's network.
    const local = (await sh(dir, `ss -Hltn 'sport = :${url.port}'`)).stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/)[3]);
    expect(local).toEqual([`${ours}:${url.port}`]);
    const push = await git(`git push '${url.href}' HEAD:refs/heads/intruder 2>&1 || true`);
    expect(push.stdout).toMatch(/403|read-only/i);
    expect((await git("git branch --list intruder")).stdout.trim()).toBe("");
  });
});

describe("a Git commit alone creates, updates and destroys workloads", () => {
  it("a committed Deployment and ConfigMap become Available", async () => {
    await commit("app", { [`${PATH_IN_REPO}/app.yaml`]: `${deployment("app", PAUSE)}---\n${configMap("app-config", "v1")}` });
    // The times are logged at the end and measured by the benchmark; a bound here would flake on a slow host.
    await until("commit -> Deployment Available", "kubectl get deployment app -o jsonpath='{.status.availableReplicas}'", (out) => out === "1");
    expect((await sh(dir, greeting("app-config"))).stdout).toBe("v1");
  });

  it("a changed ConfigMap, committed, is applied within seconds", async () => {
    await commit("change", { [`${PATH_IN_REPO}/greeting.yaml`]: configMap("greeting", "second") });
    await until("commit -> ConfigMap changed", greeting("greeting"), (out) => out === "second");
  });

  it("git rm and commit: pruned", async () => {
    await commit("remove", {}, [`${PATH_IN_REPO}/app.yaml`]);
    await until("commit -> Deployment pruned", "kubectl get deployment app -o name", (out) => /NotFound/.test(out));
    expect((await sh(dir, "kubectl get configmap app-config -o name 2>&1")).stdout).toMatch(/NotFound/);
  });

  it("an uncommitted change: nothing happens", async () => {
    await git(`printf '%s' '${configMap("greeting", "uncommitted")}' > ${PATH_IN_REPO}/greeting.yaml`);
    await new Promise((r) => setTimeout(r, 12_000));
    expect((await sh(dir, greeting("greeting"))).stdout).toBe("second");
    await git(`git checkout -q -- ${PATH_IN_REPO}/greeting.yaml`);
  });

  it("a broken manifest: not Ready, status and doctor name the file, the last good state keeps running; a fix recovers", async () => {
    await commit("broken", { [`${PATH_IN_REPO}/broken.yaml`]: "apiVersion: v1\nkind: ConfigMap\nmetadata: [not, a, map\n" });
    await until(
      "broken commit -> Kustomization not Ready",
      "kubectl -n flux-system get kustomization workspace -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'",
      (out) => out === "False",
    );
    const status = await sh(dir, "kind-cluster status");
    expect(status.stdout).toMatch(/gitops\s+following main, applied [0-9a-f]{7} \(workspace HEAD [0-9a-f]{7}\), not Ready: .*broken\.yaml/);
    const doctor = await sh(dir, "kind-cluster doctor");
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(/✗ applied: .*not Ready: .*broken\.yaml/);
    expect((await sh(dir, greeting("greeting"))).stdout).toBe("second");
    await commit("fix", { [`${PATH_IN_REPO}/greeting.yaml`]: configMap("greeting", "third") }, [`${PATH_IN_REPO}/broken.yaml`]);
    await until("fixing commit -> applied", greeting("greeting"), (out) => out === "third");
    const healthy = await sh(dir, "kind-cluster doctor");
    expect(healthy.stdout).toMatch(/✓ applied: [0-9a-f]{7} applied, workspace HEAD [0-9a-f]{7}/);
  });

  it("a checkout of another branch: its content is applied", async () => {
    await git("git checkout -q -b feature");
    await commit("feature", { [`${PATH_IN_REPO}/greeting.yaml`]: configMap("greeting", "from-feature") });
    await until("checkout + commit on feature -> applied", greeting("greeting"), (out) => out === "from-feature");
    expect((await sh(dir, "kubectl -n flux-system get gitrepository workspace -o jsonpath='{.spec.ref.branch}'")).stdout).toBe("feature");
    await git("git checkout -q main");
    await until("checkout main -> applied", greeting("greeting"), (out) => out === "third");
  });

  it("an image pushed to the local registry, referenced by a committed manifest, runs", async () => {
    const base = await ensureBusyboxImage();
    const build = await sh(
      dir,
      `set -e; mkdir -p /tmp/web && cd /tmp/web && printf 'FROM ${base}\\nCMD ["sleep", "3600"]\\n' > Dockerfile && DOCKER_BUILDKIT=0 docker build -q -t localhost:5001/web:1 . && docker push -q localhost:5001/web:1`,
    );
    expect(build.exitCode, build.stderr).toBe(0);
    await commit("web", { [`${PATH_IN_REPO}/web.yaml`]: deployment("web", "localhost:5001/web:1") });
    await until(
      "commit with a local-registry image -> Available",
      "kubectl get deployment web -o jsonpath='{.status.availableReplicas}'",
      (out) => out === "1",
    );
  });
});

describe("the services heal themselves (issue 19)", () => {
  it("every service process killed with SIGKILL: with no up, a commit is applied and a push through localhost:5001 works again within 30 s", async () => {
    const serving = async () => (await sh(dir, "pgrep -f 'kind-cluster[.]mjs serve' || true")).stdout.split("\n").filter(Boolean).sort();
    const before = await serving();
    expect(before.length, "the Git source and the registry relay run").toBeGreaterThanOrEqual(2);
    expect((await sh(dir, "pkill -KILL -f 'kind-cluster[.]mjs serve'")).exitCode).toBe(0);
    const killedAt = Date.now();
    await commit("after the kill", { [`${PATH_IN_REPO}/greeting.yaml`]: configMap("greeting", "healed") });
    await until("commit after every service was killed -> applied", greeting("greeting"), (out) => out === "healed", 30_000);
    const chart =
      "set -e; rm -rf /tmp/heal && mkdir -p /tmp/heal && cd /tmp/heal && helm create healchart >/dev/null && helm package healchart >/dev/null && helm push healchart-0.1.0.tgz oci://localhost:5001/charts --plain-http";
    let pushed = await sh(dir, chart);
    while (pushed.exitCode !== 0 && Date.now() - killedAt < 30_000) pushed = await sh(dir, chart);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    console.log(
      `[e2e] gitops: every service killed -> commit applied and a push through localhost:5001 done in ${((Date.now() - killedAt) / 1000).toFixed(1)}s`,
    );
    const after = await serving();
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    const status = await sh(dir, "kind-cluster status");
    expect(status.stdout).toMatch(/service\s+Git source: running \(pid \d+; restarted 1 time, last it killed by SIGKILL after/);
    expect(status.stdout).toMatch(/service\s+registry relay 5001: running \(pid \d+; restarted 1 time, last it killed by SIGKILL after/);
  });
});

describe("the loop survives the dev container's life", () => {
  it("Flux's controllers are upgraded when the pinned flux version differs from the cluster's, and kept when it matches", async () => {
    // One Flux version exists offline: the cluster is marked as running an older one, as after a Feature update.
    await sh(dir, "kubectl label namespace flux-system app.kubernetes.io/version=v2.9.4 --overwrite");
    const upgraded = await sh(dir, "kind-cluster up");
    expect(upgraded.exitCode, upgraded.stderr).toBe(0);
    expect(upgraded.stderr).toMatch(/✓ gitops\s+flux v2\.9\.4 -> v\d+\.\d+\.\d+, main@[0-9a-f]{7} applied/);
    expect((await sh(dir, "kubectl get namespace flux-system -o jsonpath='{.metadata.labels.app\\.kubernetes\\.io/version}'")).stdout).not.toBe("v2.9.4");
    const kept = await sh(dir, "kind-cluster up");
    expect(kept.stderr).toMatch(/✓ gitops\s+flux v\d+\.\d+\.\d+, main@/);
  });

  it("after a rebuild, a commit is still applied", async () => {
    const rebuilt = await devcontainerUp(dir, "--remove-existing-container");
    containers.push(rebuilt.containerId);
    expect(rebuilt.exitCode, rebuilt.output.slice(-4000)).toBe(0);
    expect(rebuilt.output).toMatch(/✓ gitops\s+flux v\d+\.\d+\.\d+, main@[0-9a-f]{7} applied/);
    await sh(dir, "git config --global user.name dev && git config --global user.email dev@example.test");
    await commit("after rebuild", { [`${PATH_IN_REPO}/greeting.yaml`]: configMap("greeting", "rebuilt") });
    await until("commit after rebuild -> applied", greeting("greeting"), (out) => out === "rebuilt");
  });

  it("after a restart (dev container and nodes stopped), a commit is still applied; the hooks never wrote to the workspace", async () => {
    const id = containers[containers.length - 1]!;
    const nodes = await nodeContainers(CLUSTER);
    await execa("docker", ["stop", id, ...nodes.map((n) => n.id)]);
    const before = await workspaceHash();
    const again = await devcontainerUp(dir);
    expect(again.exitCode, again.output.slice(-4000)).toBe(0);
    expect(await workspaceHash()).toBe(before);
    await commit("after restart", { [`${PATH_IN_REPO}/greeting.yaml`]: configMap("greeting", "restarted") });
    await until("commit after restart -> applied", greeting("greeting"), (out) => out === "restarted");
  });
});
