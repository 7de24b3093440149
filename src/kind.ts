import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ZoneError } from "./errors.js";
import { execInContainer } from "./docker.js";
import { run } from "./proc.js";

/** Zone 3: the only module that runs the kind CLI. Node state itself is read through docker.ts. */

function kindMissing(): ZoneError {
  return new ZoneError("dev container", "the kind CLI is not installed in the dev container", "rebuild the dev container with the kind-cluster Feature (it installs kind)");
}

/** Creates the cluster; kind writes its kubeconfig to a scratch file we return, never to the user's. */
export async function createCluster(input: {
  name: string;
  configYaml: string;
  image?: string;
  timeoutMs: number;
}): Promise<{ kubeconfig: string }> {
  const dir = await mkdtemp(join(tmpdir(), "kind-cluster-"));
  try {
    const config = join(dir, "kind.yaml");
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(config, input.configYaml, { mode: 0o600 });
    const args = ["create", "cluster", "--name", input.name, "--config", config, "--kubeconfig", kubeconfig];
    if (input.image) args.push("--image", input.image);
    const result = await run("kind", args, { timeoutMs: input.timeoutMs });
    if (result.exitCode === 127) throw kindMissing();
    const output = `${result.stderr}\n${result.stdout}`;
    if (result.exitCode !== 0) {
      if (/node\(s\) already exist/i.test(output))
        throw new ZoneError("kind cluster", `cluster ${input.name} appeared while up ran (created by something that does not take kind-cluster's lock)`, "run `kind-cluster up` again to adopt it", output);
      if (/port is already allocated|address already in use/i.test(output))
        throw new ZoneError("docker host", `the API port is taken on the Docker host by a process outside Docker; kind could not publish it`, "free the port on the host, or choose another apiServerPort", output);
      if (/pull|not found|no such image/i.test(output) && input.image)
        throw new ZoneError("docker host", `the node image ${input.image} is not available to the Docker host`, "load or build the image on the host (`docker images`), or unset nodeImage", output);
      throw new ZoneError("kind cluster", `kind could not create cluster ${input.name}`, "read kind's output below; `kind-cluster doctor` checks each zone", output);
    }
    return { kubeconfig: await readFile(kubeconfig, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** kind's kubeconfig for the cluster (admin credentials, read from the control-plane node). */
export async function kindKubeconfig(name: string): Promise<string> {
  const result = await run("kind", ["get", "kubeconfig", "--name", name], { timeoutMs: 60_000 });
  if (result.exitCode === 127) throw kindMissing();
  if (result.exitCode !== 0)
    throw new ZoneError("kind cluster", `kind could not read the kubeconfig of cluster ${name}`, "the control-plane node may still be starting; run `kind-cluster up` again", result.stderr);
  return result.stdout;
}

export async function deleteCluster(name: string): Promise<void> {
  const result = await run("kind", ["delete", "cluster", "--name", name], { timeoutMs: 180_000 });
  if (result.exitCode === 127) throw kindMissing();
  if (result.exitCode !== 0) throw new ZoneError("kind cluster", `kind could not delete cluster ${name}`, "remove the node containers with `docker rm -f`", result.stderr);
}

export async function kindVersion(): Promise<string | undefined> {
  const result = await run("kind", ["version"], { timeoutMs: 10_000 });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/**
 * Waits until the API server answers /readyz inside the control-plane node. Asked from inside the node,
 * so the answer does not depend on any route from zone 1 (used after a stopped cluster is started).
 */
export async function apiServerReadyInNode(controlPlaneId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const result = await execInContainer(controlPlaneId, ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "--raw=/readyz", "--request-timeout=5s"], 15_000);
    if (result.exitCode === 0) return;
    last = result.stderr || result.stdout;
    await sleep(1000);
  }
  throw new ZoneError(
    "kind cluster",
    `the API server did not become ready within ${Math.round(timeoutMs / 1000)}s after the nodes were started`,
    "look at `docker logs <name>-control-plane`; if the nodes cannot recover, `kind-cluster down` then `kind-cluster up`",
    last,
  );
}
