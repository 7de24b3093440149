import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devcontainerUp, removeContainer, removeImages, sh, type UpResult, writeFiles } from "../support/devcontainer.js";
import {
  bootstrapRepo,
  clusterSettings,
  fluxKustomization,
  gotkComponents,
  pauseDeployment,
  TEAM_REMOTE,
  WEB_NAMESPACE,
  webConfig,
} from "../support/flux-repo.js";
import { ensureBusyboxImage } from "../support/images.js";
import { commitWorkspace, devProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, removeRegistry, type Testbed } from "../support/testbed.js";

/**
 * A Git commit alone deploys: Flux in the cluster follows the workspace repository's checked-out branch
 * through the dev container's read-only Git server; every step here is a commit (or a checkout) made as
 * the non-root user in the dev container, and the cluster is watched until it shows the result. The
 * repository starts as a plain folder and becomes a team's bootstrap-shaped Flux repository (three
 * levels of Kustomizations, its own Flux install, gotk-sync.yaml at an unreachable remote), then gets
 * SOPS-encrypted Secrets, an OCI artifact from the local registry, a preview before a commit, and bad
 * input. One dev container, one cluster.
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
  return pauseDeployment(name, "default").replace(PAUSE, image);
}

/** Writes files (as the developer, uid 1234, owns the checkout) and commits them in the dev container. */
async function commit(message: string, files: Record<string, string>, removed: string[] = []): Promise<void> {
  await writeFiles(dir, files);
  await execa("chown", ["-R", "1234:1234", dir]);
  const out = await git([...removed.map((p) => `git rm -rq '${p}'`), "git add -A", `git commit -q -m '${message}'`].join(" && "));
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
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; last: ${last.slice(-800)}`);
}

const greeting = (name: string) => `kubectl get configmap ${name} -o jsonpath='{.data.greeting}'`;
const web = (field: string) => `kubectl -n ${WEB_NAMESPACE} get configmap web-config -o jsonpath='{.data.${field}}'`;
const ready = (ks: string) => `kubectl -n flux-system get kustomization ${ks} -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'`;
const uid = (what: string) => sh(dir, `kubectl get ${what} -o jsonpath='{.metadata.uid}'`).then((r) => r.stdout);

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
  await commitWorkspace(dir);
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
  it("installs the Flux controllers of fluxComponents and applies the first commit, under the names flux bootstrap gives", async () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toMatch(/✓ gitops\s+installed flux v\d+\.\d+\.\d+, main@[0-9a-f]{7} applied/);
    expect((await sh(dir, greeting("greeting"))).stdout).toBe("first");
    const pods = await sh(dir, "kubectl -n flux-system get deploy -o jsonpath='{range .items[*]}{.metadata.name}={.status.availableReplicas} {end}'");
    // The test bed's option (its flux CLI embeds these only); the default's exact command is a unit test's.
    expect(pods.stdout.trim().split(" ").sort()).toEqual(
      testbed.featureOptions.fluxComponents
        .split(",")
        .map((c) => `${c}=1`)
        .sort(),
    );
    const names = await sh(dir, "kubectl -n flux-system get gitrepositories,kustomizations -o name");
    expect(names.stdout.split("\n").sort()).toEqual([
      "gitrepository.source.toolkit.fluxcd.io/flux-system",
      "kustomization.kustomize.toolkit.fluxcd.io/flux-system",
    ]);
  });

  it("serves the repository only on the cluster's network, read-only: a push is refused", async () => {
    const source = JSON.parse((await sh(dir, "kubectl -n flux-system get gitrepository flux-system -o json")).stdout);
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
    await until("broken commit -> Kustomization not Ready", ready("flux-system"), (out) => out === "False");
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
    expect((await sh(dir, "kubectl -n flux-system get gitrepository flux-system -o jsonpath='{.spec.ref.branch}'")).stdout).toBe("feature");
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

describe("clusters made by earlier releases, and Flux's version", () => {
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

  it("the loop of kind-cluster 1.1 (objects named `workspace`) is handed over to flux-system without deleting a workload", async () => {
    // The cluster as 1.1 left it: the loop named `workspace`, nothing named flux-system.
    const url = (await sh(dir, "kubectl -n flux-system get gitrepository flux-system -o jsonpath='{.spec.url}'")).stdout;
    const takeDown =
      'kubectl -n flux-system patch kustomization flux-system --type merge -p \'{"spec":{"suspend":true,"prune":false}}\' && kubectl -n flux-system delete kustomization flux-system && kubectl -n flux-system delete gitrepository flux-system';
    expect((await sh(dir, takeDown)).exitCode).toBe(0);
    const earlier = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: workspace, namespace: flux-system, labels: {app.kubernetes.io/managed-by: kind-cluster}}
spec: {url: "${url}", ref: {branch: main}, interval: 1m, timeout: 30s}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: workspace, namespace: flux-system, labels: {app.kubernetes.io/managed-by: kind-cluster}}
spec: {sourceRef: {kind: GitRepository, name: workspace}, path: ./${PATH_IN_REPO}, prune: true, interval: 10m, timeout: 2m, wait: false}
`;
    expect((await sh(dir, `printf '%s' '${earlier}' | kubectl apply -f -`)).exitCode).toBe(0);
    const owner = (what: string) => `kubectl get ${what} -o jsonpath='{.metadata.labels.kustomize\\.toolkit\\.fluxcd\\.io/name}'`;
    await until("1.1's Kustomization applies", owner("deployment web"), (out) => out === "workspace");
    const before = { web: await uid("deployment web"), greeting: await uid("configmap greeting") };

    const migrated = await sh(dir, "kind-cluster up");
    expect(migrated.exitCode, migrated.stderr).toBe(0);
    expect(migrated.stderr).toMatch(/the Kustomization `workspace` of an earlier release was removed without pruning/);
    await until("flux-system adopts 1.1's objects", owner("deployment web"), (out) => out === "flux-system");
    expect(await uid("deployment web")).toBe(before.web);
    expect(await uid("configmap greeting")).toBe(before.greeting);
    expect((await sh(dir, "kubectl -n flux-system get gitrepository,kustomization workspace 2>&1")).stdout).toMatch(/NotFound/);
  });
});

describe("a team's bootstrap-shaped Flux repository runs unchanged", () => {
  const components = () => testbed.featureOptions.fluxComponents;

  it("three levels of Kustomizations, gotk-sync.yaml at an unreachable remote with a deploy key, its own gotk-components.yaml: every level applied", async () => {
    const generated = await git(gotkComponents(components()));
    expect(generated.exitCode, generated.stderr).toBe(0);
    const start = Date.now();
    await commit("bootstrap layout", bootstrapRepo({ components: true }), [`${PATH_IN_REPO}/greeting.yaml`, `${PATH_IN_REPO}/web.yaml`]);
    await until("bootstrap commit -> level 3 applied", web("greeting"), (out) => out === "hello from local", 120_000);
    console.log(`[e2e] bootstrap commit -> three levels applied in ${((Date.now() - start) / 1000).toFixed(1)}s`);
    for (const ks of ["flux-system", "infrastructure", "apps", "web"]) expect((await sh(dir, ready(ks))).stdout, ks).toBe("True");
    // The repository's own gotk-sync.yaml did not re-point the source, and no deploy key was needed.
    const source = JSON.parse((await sh(dir, "kubectl -n flux-system get gitrepository flux-system -o json")).stdout);
    expect(source.spec.url).not.toBe(TEAM_REMOTE);
    expect(source.spec.secretRef).toBeUndefined();
    expect(source.status.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("True");
    // The level-2 substitution (apps' postBuild.substitute) reached the level-3 object, and through it the workload.
    expect((await sh(dir, `kubectl -n ${WEB_NAMESPACE} get deployment web -o jsonpath='{.metadata.labels.tier}'`)).stdout).toBe("local");
    // The plain files that the commit removed were pruned.
    const gone = (await sh(dir, "kubectl get configmap/greeting deployment/web 2>&1")).stdout;
    expect(gone).toMatch(/configmaps "greeting" not found/);
    expect(gone).toMatch(/deployments\.apps "web" not found/);
  });

  it("the repository owns the Flux version: a second up reinstalls nothing", async () => {
    const state = () =>
      sh(dir, "kubectl -n flux-system get deploy,pods -o jsonpath='{range .items[*]}{.metadata.name}@{.metadata.generation}/{.metadata.uid} {end}'").then(
        (r) => r.stdout,
      );
    await until(
      "gotk-components.yaml applied by the repository",
      `kubectl -n flux-system get deploy source-controller -o jsonpath='{.metadata.labels.kustomize\\.toolkit\\.fluxcd\\.io/name}'`,
      (out) => out === "flux-system",
    );
    const before = await state();
    for (const attempt of [1, 2]) {
      const again = await sh(dir, "kind-cluster up");
      expect(again.exitCode, again.stderr).toBe(0);
      expect(again.stderr, `up #${attempt}`).toMatch(
        /✓ gitops\s+flux v\d+\.\d+\.\d+ \(installed by the repository, Kustomization\/flux-system\/flux-system\), main@[0-9a-f]{7} applied \(4 Kustomizations\)/,
      );
      expect(again.stderr).not.toMatch(/│ flux:/); // flux install prints its steps
    }
    expect(await state()).toBe(before);
    const doctor = await sh(dir, "kind-cluster doctor");
    expect(doctor.stdout).toMatch(
      /✓ flux: controllers v\d+\.\d+\.\d+, installed by the repository \(Kustomization\/flux-system\/flux-system\), which owns their version/,
    );
  });

  it("a commit deep in apps/base is applied through three levels; a removal is pruned", async () => {
    await commit("web v2", { "apps/base/web/configmap.yaml": webConfig("2") });
    await until("commit in apps/base -> applied through three levels", web("version"), (out) => out === "2");
    await commit(
      "drop extra",
      {
        "apps/base/web/kustomization.yaml":
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - configmap.yaml\n  - deployment.yaml\n",
      },
      ["apps/base/web/extra.yaml"],
    );
    await until("removal in apps/base -> pruned", `kubectl -n ${WEB_NAMESPACE} get configmap extra -o name`, (out) => /NotFound/.test(out));
  });

  it("postBuild substitution from a ConfigMap that another level applies: a commit to it reaches the dependent level", async () => {
    await commit("greeting", { "infrastructure/cluster-settings.yaml": clusterSettings("bonjour") });
    await until("commit in infrastructure -> substituted in level 3 (dependsOn)", web("greeting"), (out) => out === "bonjour from local");
  });
});

/** The test bed's sops and age-keygen (branch testbed-apps records them in testbed.json). */
const apps = () => testbed as Testbed & { sops: string; ageKeygen: string };

describe("SOPS: Secrets committed encrypted", () => {
  let keyA = "";
  let keyB = "";
  let recipientA = "";
  const keysFile = "$HOME/.config/sops/age/keys.txt";
  const token = () => `kubectl -n ${WEB_NAMESPACE} get secret token -o jsonpath='{.data.token}' | base64 -d`;
  const writeKey = (key: string) => sh(dir, `mkdir -p "$(dirname ${keysFile})" && cat > ${keysFile} <<'EOF'\n${key}\nEOF`);

  beforeAll(async () => {
    const generate = async () => (await execa(apps().ageKeygen)).stdout;
    [keyA, keyB] = [await generate(), await generate()];
    recipientA = /public key: (age1[0-9a-z]+)/.exec(keyA)![1]!;
  });

  /** A Secret encrypted with the real sops for the first key, as a developer would commit it (`data`: flux diff compares those by key). */
  async function encrypted(value: string): Promise<string> {
    const file = join(mkdtempSync(join(tmpdir(), "sops-")), "token.yaml");
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: ${WEB_NAMESPACE}\ndata:\n  token: ${Buffer.from(value).toString("base64")}\n`,
    );
    const out = await execa(apps().sops, ["--encrypt", "--age", recipientA, "--encrypted-regex", "^(data|stringData)$", file], {
      env: { SOPS_DISABLE_VERSION_CHECK: "1" },
    });
    return `${out.stdout}\n`;
  }

  it("up stores the developer's age key in flux-system/sops-age, never showing it; an encrypted Secret is decrypted in the cluster", async () => {
    await writeKey(keyA);
    const stored = await sh(dir, "KIND_CLUSTER_DEBUG=1 kind-cluster up");
    expect(stored.exitCode, stored.stderr).toBe(0);
    expect(stored.stderr).toMatch(/SOPS: 1 age identity from \/home\/dev\/\.config\/sops\/age\/keys\.txt in flux-system\/sops-age \(created\)/);
    const secretLine = keyA.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
    expect(`${stored.stdout}${stored.stderr}`).not.toContain(secretLine.slice(16));
    const inCluster = await sh(dir, "kubectl -n flux-system get secret sops-age -o jsonpath='{.data.age\\.agekey}' | base64 -d");
    expect(inCluster.stdout.trim()).toBe(secretLine);
    await commit("secrets", {
      "apps/local/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - web.yaml\n  - secrets.yaml\n",
      "apps/local/secrets.yaml": fluxKustomization("secrets", "path: ./apps/base/secrets\ndecryption:\n  provider: sops\n  secretRef:\n    name: sops-age"),
      "apps/base/secrets/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - token.sops.yaml\n",
      "apps/base/secrets/token.sops.yaml": await encrypted("s3cret-one"),
    });
    await until("encrypted Secret committed -> decrypted in the cluster", token(), (out) => out === "s3cret-one");
    const status = await sh(dir, "kind-cluster status");
    expect(status.stdout).toMatch(
      /decryption\s+SOPS age key in flux-system\/sops-age \(1 age identity from \/home\/dev\/\.config\/sops\/age\/keys\.txt\); used by Kustomization\/flux-system\/secrets/,
    );
  });

  it("a wrong key is named in status and doctor with the fix; the last good state keeps running; the right key recovers", async () => {
    await writeKey(keyB);
    const updated = await sh(dir, "kind-cluster up");
    expect(updated.stderr).toMatch(/in flux-system\/sops-age \(updated\)/);
    await until("wrong key -> secrets not Ready", ready("secrets"), (out) => out === "False");
    const status = await sh(dir, "kind-cluster status");
    expect(status.stdout).toMatch(/✗ Kustomization\/flux-system\/secrets \(apps\/local\/secrets\.yaml[^)]*\): .*/);
    expect(status.stdout).toMatch(/fix: the age key in this dev container does not decrypt this file/);
    const doctor = await sh(dir, "kind-cluster doctor");
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(/✗ unit: Kustomization\/flux-system\/secrets/);
    expect((await sh(dir, token())).stdout).toBe("s3cret-one");
    await writeKey(keyA);
    await sh(dir, "kind-cluster up");
    await until("right key -> secrets Ready again", ready("secrets"), (out) => out === "True");
  });

  it("a missing key: the cluster holds none, status says so and how to fix it", async () => {
    await sh(
      dir,
      'kubectl -n flux-system delete secret sops-age && kubectl -n flux-system annotate --overwrite kustomization secrets reconcile.fluxcd.io/requestedAt="$(date +%s)"',
    );
    await until("no key -> secrets not Ready", ready("secrets"), (out) => out === "False");
    const status = await sh(dir, "kind-cluster status");
    expect(status.stdout).toMatch(/fix: the cluster holds no age key/);
    expect(status.stdout).toMatch(
      /decryption\s+1 age identity from \/home\/dev\/\.config\/sops\/age\/keys\.txt, not in the cluster yet: run `kind-cluster up`/,
    );
    await sh(dir, "kind-cluster up");
    await until("key stored again -> secrets Ready", ready("secrets"), (out) => out === "True");
  });
});

describe("kind-cluster diff: a preview before the commit", () => {
  it("nothing to show on a clean tree; an uncommitted edit deep in apps/base shows, per Kustomization; after the commit, nothing again", async () => {
    const clean = await sh(dir, "kind-cluster diff");
    expect(clean.exitCode, `${clean.stdout}\n${clean.stderr}`).toBe(0);
    expect(clean.stderr).toMatch(/nothing would change/);
    await git(`printf '%s' '${webConfig("3")}' > apps/base/web/configmap.yaml`);
    const edited = await sh(dir, "kind-cluster diff");
    expect(edited.exitCode, `${edited.stdout}\n${edited.stderr}`).toBe(1);
    expect(edited.stdout).toMatch(/ConfigMap\/team\/web-config drifted/);
    expect(edited.stdout).toMatch(/Kustomization\/flux-system\/web changed/);
    expect(edited.stdout).toMatch(/data\.version[\s\S]*- 2[\s\S]*\+ 3/);
    await git("git commit -qam 'web v3'");
    await until("commit -> applied", web("version"), (out) => out === "3");
    const after = await sh(dir, "kind-cluster diff");
    expect(after.exitCode, `${after.stdout}\n${after.stderr}`).toBe(0);
  });

  it("a broken file is shown as an error naming it; a repository without gitopsPath says so", async () => {
    await git(
      "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: [broken\\n' > apps/base/web/broken.yaml && printf '  - broken.yaml\\n' >> apps/base/web/kustomization.yaml",
    );
    try {
      const broken = await sh(dir, "kind-cluster diff");
      expect(broken.exitCode, `${broken.stdout}\n${broken.stderr}`).toBe(2);
      expect(broken.stderr).toMatch(/broken\.yaml.*\(apps\/base\/web\/broken\.yaml\)/);
    } finally {
      // Never committed: the later tests' commits must not carry it.
      await git("rm -f apps/base/web/broken.yaml && git checkout -q -- apps/base/web/kustomization.yaml");
    }
    const nowhere = await sh(dir, "kind-cluster diff --gitops-path clusters/nowhere");
    expect(nowhere.exitCode).toBe(1);
    expect(nowhere.stderr).toMatch(/has no folder clusters\/nowhere \(the gitopsPath option\)/);
  });
});

describe("OCI artifacts from the local registry", () => {
  it("flux push artifact to localhost:5001, an OCIRepository at kind-cluster-registry:5000: applied", async () => {
    const push = await sh(
      dir,
      `set -e; mkdir -p /tmp/artifact && printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: from-oci\\n  namespace: ${WEB_NAMESPACE}\\ndata:\\n  source: artifact\\n' > /tmp/artifact/cm.yaml && flux push artifact oci://localhost:5001/team-config:v1 --path=/tmp/artifact --source=local --revision=v1`,
    );
    expect(push.exitCode, push.stderr).toBe(0);
    await commit("oci", {
      "clusters/local/oci.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: team-config
  namespace: flux-system
spec:
  interval: 1m
  url: oci://kind-cluster-registry:5000/team-config
  ref:
    tag: v1
  insecure: true
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: team-config
  namespace: flux-system
spec:
  interval: 10m
  path: ./
  prune: true
  sourceRef:
    kind: OCIRepository
    name: team-config
`,
    });
    await until(
      "OCIRepository committed -> artifact applied",
      `kubectl -n ${WEB_NAMESPACE} get configmap from-oci -o jsonpath='{.data.source}'`,
      (out) => out === "artifact",
      90_000,
    );
  });
});

describe("bad input: named with its file and Flux's message; the last good state keeps running", () => {
  it("a missing source, a path not in the repository, a kind without its controller, a dependsOn cycle", async () => {
    const ks = (name: string, spec: string) => fluxKustomization(name, spec);
    await commit("bad input", {
      "clusters/local/bad.yaml": [
        ks("no-source", "path: ./apps/base/web").replace("name: flux-system\n", "name: nope\n"),
        ks("no-path", "path: ./apps/nowhere"),
        ks("needs-helm", "path: ./apps/helm"),
        ks("loop-a", "path: ./infrastructure\ndependsOn:\n  - name: loop-b"),
        ks("loop-b", "path: ./infrastructure\ndependsOn:\n  - name: loop-a"),
      ].join("---\n"),
      "apps/helm/release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: ${WEB_NAMESPACE}
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
`,
    });
    const named = [
      /✗ Kustomization\/flux-system\/no-source \(clusters\/local\/bad\.yaml\): .*"nope" not found\n\s+fix: the sourceRef names a source that does not exist/,
      /✗ Kustomization\/flux-system\/no-path \(clusters\/local\/bad\.yaml\): kustomization path not found.*apps\/nowhere.*\n\s+fix: spec\.path names a folder/,
      /✗ Kustomization\/flux-system\/needs-helm \(clusters\/local\/bad\.yaml, apps\/helm\/release\.yaml\): .*no matches for kind "HelmRelease".*\n\s+fix: HelmRelease is served by Flux's helm-controller, which is not installed: add helm-controller to the fluxComponents option/,
      /✗ Kustomization\/flux-system\/loop-a \(clusters\/local\/bad\.yaml\): dependsOn cycle: flux-system\/loop-a -> flux-system\/loop-b -> flux-system\/loop-a/,
    ];
    await until("bad input -> every problem named in status", "kind-cluster status", (out) => named.every((re) => re.test(out)), 90_000);
    const doctor = await sh(dir, "kind-cluster doctor");
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(/✗ unit: Kustomization\/flux-system\/needs-helm \(clusters\/local\/bad\.yaml, apps\/helm\/release\.yaml\): .*HelmRelease/);
    expect(doctor.stdout).toMatch(/fix: HelmRelease is served by Flux's helm-controller/);
    // The last good state keeps running.
    expect((await sh(dir, web("version"))).stdout).toBe("3");
    await commit("no more bad input", {}, ["clusters/local/bad.yaml", "apps/helm"]);
    await until("bad input removed -> doctor clean", "kind-cluster doctor; echo exit=$?", (out) => /exit=0/.test(out), 90_000);
  });
});

describe("the loop survives the dev container's life", () => {
  it("after a rebuild, a commit is still applied", async () => {
    const rebuilt = await devcontainerUp(dir, "--remove-existing-container");
    containers.push(rebuilt.containerId);
    expect(rebuilt.exitCode, rebuilt.output.slice(-4000)).toBe(0);
    expect(rebuilt.output).toMatch(/✓ gitops\s+flux v\d+\.\d+\.\d+ \(installed by the repository[^)]*\), main@[0-9a-f]{7} applied/);
    await sh(dir, "git config --global user.name dev && git config --global user.email dev@example.test");
    await commit("after rebuild", { "apps/base/web/configmap.yaml": webConfig("rebuilt") });
    await until("commit after rebuild -> applied", web("version"), (out) => out === "rebuilt");
  });

  it("after a restart (dev container and nodes stopped), a commit is still applied; the hooks never wrote to the workspace", async () => {
    const id = containers[containers.length - 1]!;
    const nodes = await nodeContainers(CLUSTER);
    await execa("docker", ["stop", id, ...nodes.map((n) => n.id)]);
    const before = await workspaceHash();
    const again = await devcontainerUp(dir);
    expect(again.exitCode, again.output.slice(-4000)).toBe(0);
    // The loop's part of the start after a restart (the controllers' leader leases, the wait), in the log.
    console.log(`[e2e] restart: ${again.output.slice(again.output.lastIndexOf("▸ gitops"), again.output.lastIndexOf("is ready in"))}`);
    expect(await workspaceHash()).toBe(before);
    await commit("after restart", { "apps/base/web/configmap.yaml": webConfig("restarted") });
    await until("commit after restart -> applied", web("version"), (out) => out === "restarted");
  });
});
