import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REGISTRY_NAME } from "../../src/registry.js";
import { devcontainerUp, removeContainer, removeImages, sh, type UpResult } from "../support/devcontainer.js";
import { ensureBusyboxImage } from "../support/images.js";
import { upDevProject } from "../support/project.js";
import { deleteClusters, nodeContainers, readTestbed, removeRegistry, type Testbed } from "../support/testbed.js";

/**
 * The local registry, end to end, as the non-root user: build in the dev container, push to
 * localhost:5001, run in the cluster (on the worker of the user's own kind config too); a push that
 * does not go through the host's daemon; a host restart, a rebuild, a re-created cluster; and the faults.
 */
const CLUSTER = "reg";
const REGISTRY = REGISTRY_NAME;
const KIND_YAML = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n  - role: worker\n";
let testbed: Testbed;
let dir = "";
let up: UpResult;
const containers: Array<string | undefined> = [];

/** Builds and pushes localhost:5001/hello:<tag> from the dev container: busybox's httpd serving `text`. */
async function buildAndPush(tag: string, text: string) {
  const base = await ensureBusyboxImage();
  const script = [
    "set -e",
    "mkdir -p /tmp/app && cd /tmp/app",
    `printf '%s' '${text}' > index.html`,
    `printf 'FROM ${base}\\nCOPY index.html /www/index.html\\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\\n' > Dockerfile`,
    `DOCKER_BUILDKIT=0 docker build -q -t localhost:5001/hello:${tag} .`,
    `docker push -q localhost:5001/hello:${tag}`,
  ].join("\n");
  const out = await sh(dir, script);
  expect(out.exitCode, `${out.stdout}\n${out.stderr}`).toBe(0);
}

const serves = async (target: string) => (await sh(dir, `kubectl exec ${target} -- busybox wget -qO- http://127.0.0.1:8080/`)).stdout.trim();

async function rollout(deployment: string) {
  const out = await sh(dir, `kubectl rollout status deployment/${deployment} --timeout=120s`);
  expect(out.exitCode, out.stderr).toBe(0);
}

/** Forgets an image on every node, so the next pod must pull it from the registry for real. */
async function forgetOnNodes(image: string) {
  for (const node of await nodeContainers(CLUSTER)) await execa("docker", ["exec", node.id, "ctr", "-n", "k8s.io", "images", "rm", image], { reject: false });
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
  await removeRegistry();
  ({ dir, up } = await upDevProject({
    options: { clusterName: CLUSTER, apiServerPort: "6480", localRegistry: true, kindConfig: "kind.yaml", waitSeconds: "240" },
    files: { "kind.yaml": KIND_YAML },
  }));
  containers.push(up.containerId);
});

afterAll(async () => {
  for (const id of containers) await removeContainer(id);
  await deleteClusters(testbed, CLUSTER, "reg-late");
  await execa("docker", ["rm", "-f", "registry-squatter", "registry-port-holder"], { reject: false });
  await removeRegistry();
  // The images the dev container built went to the host's daemon: they go too.
  await removeImages(["localhost:5001/hello:1", "localhost:5001/hello:2", "localhost:5001/hello:3"]);
});

describe("a local registry wired into the cluster", () => {
  it("comes up with the dev container: on 127.0.0.1:5001 only, on the cluster's network, announced", async () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toMatch(/✓ registry\s+created kind-cluster-registry on 127.0.0.1:5001/);
    const inspect = JSON.parse((await execa("docker", ["inspect", REGISTRY])).stdout)[0];
    expect(inspect.HostConfig.PortBindings["5000/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: "5001" }]);
    expect(Object.keys(inspect.NetworkSettings.Networks)).toContain("kind");
    expect(inspect.Mounts.map((m: { Name: string; Destination: string }) => [m.Name, m.Destination])).toContainEqual([
      "kind-cluster-registry-data",
      "/var/lib/registry",
    ]);
    const hosting = await sh(dir, "kubectl -n kube-public get configmap local-registry-hosting -o jsonpath='{.data.localRegistryHosting\\.v1}'");
    expect(hosting.stdout).toContain("host: localhost:5001");
    expect(hosting.stdout).toContain("hostFromClusterNetwork: kind-cluster-registry:5000");
  });

  it("docker build + push localhost:5001/hello:1 in the dev container, the cluster runs it; :2 rolls out and serves the change", async () => {
    await buildAndPush("1", "hello one");
    expect((await sh(dir, "kubectl create deployment hello --image=localhost:5001/hello:1 --port=8080")).exitCode).toBe(0);
    await rollout("hello");
    expect(await serves("deploy/hello")).toBe("hello one");
    await buildAndPush("2", "hello two");
    await sh(dir, "kubectl set image deployment/hello hello=localhost:5001/hello:2");
    await rollout("hello");
    expect(await serves("deploy/hello")).toBe("hello two");
  });

  it("every node pulls from it, the worker of the user's kind config included", async () => {
    const nodes = (await nodeContainers(CLUSTER)).map((n) => n.name);
    expect(nodes).toEqual(["reg-control-plane", "reg-worker"]);
    await forgetOnNodes("localhost:5001/hello:1");
    for (const node of nodes) {
      const run = await sh(
        dir,
        `kubectl run on-${node} --image=localhost:5001/hello:1 --restart=Never --overrides='{"spec":{"nodeName":"${node}"}}' && kubectl wait --for=condition=Ready pod/on-${node} --timeout=90s`,
      );
      expect(run.exitCode, run.stderr).toBe(0);
      expect(await serves(`on-${node}`)).toBe("hello one");
    }
  });

  it("a client pushing from inside the dev container by itself (helm, over localhost:5001) works, and a pod sees the artifact", async () => {
    const push = await sh(
      dir,
      "set -e; cd /tmp && rm -rf chart && helm create chart >/dev/null && helm package chart >/dev/null && helm push chart-0.1.0.tgz oci://localhost:5001/charts --plain-http",
    );
    expect(push.exitCode, push.stderr).toBe(0);
    const seen = await sh(
      dir,
      "kubectl run look --image=localhost:5001/hello:2 --restart=Never --rm -i --quiet -- busybox wget -qO- http://kind-cluster-registry:5000/v2/charts/chart/tags/list",
    );
    expect(seen.stdout).toContain('"tags":["0.1.0"]');
  });

  it("status and doctor show every hop", async () => {
    const status = await sh(dir, "kind-cluster status");
    expect(status.stdout).toMatch(
      /registry\s+kind-cluster-registry running on 127.0.0.1:5001, on the cluster's network, relay 127.0.0.1:5001 -> kind-cluster-registry:5000/,
    );
    const doctor = await sh(dir, "kind-cluster doctor");
    expect(doctor.exitCode, doctor.stdout).toBe(0);
    for (const hop of ["container", "host port", "network", "nodes", "pull", "relay"]) expect(doctor.stdout).toMatch(new RegExp(`✓ ${hop}: `));
    expect(doctor.stdout).toMatch(/✓ pull: reg-worker fetched the manifest of \S+ from http:\/\/kind-cluster-registry:5000/);
  });
});

describe("the registry's lifecycle", () => {
  it("a cluster created without the registry is wired when the registry is enabled later (its containerd reads certs.d)", async () => {
    const created = await sh(dir, "kind-cluster up --name reg-late --port 6481 --local-registry=false");
    expect(created.exitCode, created.stderr).toBe(0);
    const node = "reg-late-control-plane";
    expect((await execa("docker", ["exec", node, "containerd", "config", "dump"])).stdout).toMatch(/config_path = ''/);
    const enabled = await sh(dir, "kind-cluster up --name reg-late --port 6481");
    expect(enabled.exitCode, enabled.stderr).toBe(0);
    expect(enabled.stderr).toMatch(/configured reg-late-control-plane/);
    const run = await sh(dir, "kubectl run late --image=localhost:5001/hello:1 --restart=Never && kubectl wait --for=condition=Ready pod/late --timeout=90s");
    expect(run.exitCode, run.stderr).toBe(0);
    await deleteClusters(testbed, "reg-late");
    await sh(dir, "kubectl config use-context kind-reg");
  });

  it("after a host restart (nodes, registry and dev container stopped) images pushed before are pulled again", async () => {
    const nodes = await nodeContainers(CLUSTER);
    await execa("docker", ["stop", up.containerId!, REGISTRY, ...nodes.map((n) => n.id)]);
    const again = await devcontainerUp(dir);
    expect(again.exitCode, again.output.slice(-4000)).toBe(0);
    expect(again.output).toMatch(/✓ registry\s+(started|adopted) kind-cluster-registry/);
    await forgetOnNodes("localhost:5001/hello:2");
    await sh(dir, "kubectl rollout restart deployment/hello");
    await rollout("hello");
    expect(await serves("deploy/hello")).toBe("hello two");
  });

  it("after a rebuild, pushes from the new dev container still work (the relay follows)", async () => {
    const rebuilt = await devcontainerUp(dir, "--remove-existing-container");
    containers.push(rebuilt.containerId);
    expect(rebuilt.exitCode, rebuilt.output.slice(-4000)).toBe(0);
    await buildAndPush("3", "hello three");
    const helm = await sh(
      dir,
      "cd /tmp && helm create chart2 >/dev/null && helm package chart2 >/dev/null && helm push chart2-0.1.0.tgz oci://localhost:5001/charts --plain-http",
    );
    expect(helm.exitCode, helm.stderr).toBe(0);
  });

  it("down keeps the registry and its images; a re-created cluster is wired again and pulls them", async () => {
    const down = await sh(dir, "kind-cluster down");
    expect(down.exitCode, down.stderr).toBe(0);
    expect((await execa("docker", ["inspect", "-f", "{{.State.Running}}", REGISTRY])).stdout).toBe("true");
    const recreated = await sh(dir, "kind-cluster up");
    expect(recreated.exitCode, recreated.stderr).toBe(0);
    expect(recreated.stderr).toMatch(/✓ cluster\s+created reg/);
    const run = await sh(dir, "kubectl create deployment hello --image=localhost:5001/hello:3 --port=8080");
    expect(run.exitCode).toBe(0);
    await rollout("hello");
    expect(await serves("deploy/hello")).toBe("hello three");
  });
});

describe("registry faults: a message, nothing changed", () => {
  it("a container with the registry's name that is not ours is refused, named, and left alone", async () => {
    await execa("docker", ["rename", REGISTRY, "kc-registry-aside"]);
    const image = await ensureBusyboxImage();
    await execa("docker", ["run", "-d", "--name", REGISTRY, image, "sleep", "600"]);
    try {
      const out = await sh(dir, "kind-cluster up");
      expect(out.exitCode).toBe(1);
      expect(out.stderr).toContain(
        `[docker host (zone 2)] a container named ${REGISTRY} (image ${image}, running) exists, but kind-cluster did not create it; nothing was changed`,
      );
      const foreign = JSON.parse((await execa("docker", ["inspect", REGISTRY])).stdout)[0];
      expect(foreign.State.Running).toBe(true);
      expect(Object.keys(foreign.NetworkSettings.Networks)).toEqual(["bridge"]);
    } finally {
      await execa("docker", ["rm", "-f", REGISTRY]);
      await execa("docker", ["rename", "kc-registry-aside", REGISTRY]);
    }
  });

  it("its port held by another container: named, nothing created; by a process: said so, nothing left", async () => {
    await execa("docker", ["rm", "-f", REGISTRY]); // the data volume stays
    const image = await ensureBusyboxImage();
    await execa("docker", ["run", "-d", "--name", "registry-port-holder", "-p", "127.0.0.1:5001:80", image, "sleep", "600"]);
    const held = await sh(dir, "kind-cluster up");
    expect(held.exitCode).toBe(1);
    expect(held.stderr).toContain("port 5001 on 127.0.0.1 is already published by container registry-port-holder; the registry was not created");
    expect((await execa("docker", ["ps", "-a", "-q", "--filter", `name=^${REGISTRY}$`])).stdout).toBe("");
    await execa("docker", ["rm", "-f", "registry-port-holder"]);

    const squatter = execa("python3", ["-m", "http.server", "--bind", "127.0.0.1", "5001"], { reject: false });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const taken = await sh(dir, "kind-cluster up");
      expect(taken.exitCode).toBe(1);
      expect(taken.stderr).toContain(
        "the registry could not start: port 5001 on the Docker host's 127.0.0.1 is held by a process outside Docker; nothing was left behind",
      );
      expect((await execa("docker", ["ps", "-a", "-q", "--filter", `name=^${REGISTRY}$`])).stdout).toBe("");
    } finally {
      squatter.kill();
    }
    const repaired = await sh(dir, "kind-cluster up");
    expect(repaired.exitCode, repaired.stderr).toBe(0);
    expect(repaired.stderr).toMatch(/✓ registry\s+created kind-cluster-registry/);
    await forgetOnNodes("localhost:5001/hello:3");
    await sh(dir, "kubectl rollout restart deployment/hello");
    await rollout("hello");
    expect(await serves("deploy/hello")).toBe("hello three"); // the volume kept the images
  });

  it("stopped or detached: doctor names the broken hop, the next up repairs it", async () => {
    await execa("docker", ["network", "disconnect", "kind", REGISTRY]);
    // The precondition, as the engine reports it (doctor reads the same inspect), before doctor looks.
    const networks = async () => Object.keys(JSON.parse((await execa("docker", ["inspect", "-f", "{{json .NetworkSettings.Networks}}", REGISTRY])).stdout));
    for (let i = 0; i < 50 && (await networks()).includes("kind"); i++) await new Promise((r) => setTimeout(r, 200));
    expect(await networks()).not.toContain("kind");
    const detached = await sh(dir, "kind-cluster doctor");
    expect(detached.exitCode, `${detached.stdout}\n${detached.stderr}`).toBe(1);
    expect(detached.stdout).toMatch(/✗ network: not on the cluster's network kind/);
    await execa("docker", ["stop", REGISTRY]);
    const stopped = await sh(dir, "kind-cluster doctor");
    expect(stopped.stdout).toMatch(/✗ container: kind-cluster-registry stopped/);
    expect(stopped.stdout).toContain("fix: run `kind-cluster up`, which repairs it");
    const repaired = await sh(dir, "kind-cluster up");
    expect(repaired.exitCode, repaired.stderr).toBe(0);
    const healthy = await sh(dir, "kind-cluster doctor");
    expect(healthy.exitCode, healthy.stdout).toBe(0);
  });
});
