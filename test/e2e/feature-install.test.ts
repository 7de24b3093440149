import { chmod, cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devcontainerCli, devcontainerUp, makeProject, removeContainer, sh, type UpResult } from "../support/devcontainer.js";
import { devProject } from "../support/project.js";
import { ensureBusyboxImage } from "../support/images.js";
import { readTestbed, type Testbed } from "../support/testbed.js";

/**
 * The Feature's build step for real: the devcontainer CLI builds a Debian image with our Feature,
 * every download comes from the test bed's mirror with its checksum verified, and the tools work
 * for root and for a non-root user whose uid owns nothing of the Docker socket.
 */
let testbed: Testbed;
let project = "";
let up: UpResult;
const cleanup: Array<string | undefined> = [];

beforeAll(async () => {
  testbed = readTestbed();
  project = await devProject({ options: { createCluster: false } });
  // As in CI, where the checkout belongs to another uid: the workspace is unreadable for the remote user.
  await chmod(project, 0o700);
  up = await devcontainerUp(project);
  cleanup.push(up.containerId);
});

afterAll(async () => {
  for (const id of cleanup) await removeContainer(id);
});

describe("Feature install (devcontainer up, offline mirror)", () => {
  it("builds and starts the dev container", () => {
    expect(up.exitCode, up.output.slice(-3000)).toBe(0);
    expect(up.outcome).toBe("success");
  });

  it("installed exactly the mirror's binaries (their published checksums)", async () => {
    const mirrorDir = testbed.mirrorDir ?? join(testbed.kind, "..", "..", "mirror");
    const expected = async (path: string) => (await readFile(join(mirrorDir, `${path}.sha256`), "utf8")).split(/\s+/)[0];
    const installed = (await sh(project, "sha256sum /usr/local/bin/kind /usr/local/bin/kubectl | cut -d' ' -f1")).stdout.split("\n");
    const { kindVersion, kubectlVersion } = testbed.featureOptions;
    expect(installed).toEqual([await expected(`kind/${kindVersion}/kind-linux-amd64`), await expected(`kubectl/${kubectlVersion}/kubectl-linux-amd64`)]);
  });

  it("installs kind and kubectl at the requested versions", async () => {
    const kind = await sh(project, "kind version");
    expect(kind.stdout).toContain(testbed.kindVersion);
    const kubectl = await sh(project, "kubectl version --client -o json");
    expect(JSON.parse(kubectl.stdout).clientVersion.gitVersion).toBe(testbed.kubernetesVersion);
    expect((await sh(project, "kind-cluster --version")).stdout).toMatch(/^kind-cluster \d+\.\d+\.\d+$/);
  });

  it("reaches the Docker host as the non-root user and as root", async () => {
    const asDev = await sh(project, "id -u; docker version --format '{{.Server.Version}}'");
    expect(asDev.stderr).toBe("");
    expect(asDev.stdout.split("\n")).toEqual(["1234", expect.stringMatching(/^\d+\.\d+/)]);
    const owner = await sh(project, "stat -c %u /var/run/kind-cluster/docker-host.sock");
    expect(owner.stdout.trim()).not.toBe("1234");
    const asRoot = await sh(project, "docker version --format '{{.Server.Version}}'", { root: up.containerId });
    expect(asRoot.stdout.trim()).toMatch(/^\d+\.\d+/);
  });

  it("streams `docker exec` output to its end through the socket proxy (kind relies on it)", async () => {
    const name = `exec-stream-${process.pid}`;
    const script = `docker run -d --name ${name} ${testbed.baseImage} sleep 60 >/dev/null && docker exec ${name} sh -c 'sleep 2; echo finished'; docker rm -f ${name} >/dev/null`;
    const out = await sh(project, script);
    expect(out.stdout.trim()).toBe("finished");
  });

  it("doctor says plainly that no cluster exists yet, naming the fix", async () => {
    const doctor = await sh(project, "kind-cluster doctor");
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(/✓ docker: engine/);
    expect(doctor.stdout).toContain("no kind cluster named kind exists yet");
    expect(doctor.stdout).toContain("fix: run `kind-cluster up` to create it");
  });

  it("records the options for the hooks outside the Feature's temporary folder", async () => {
    const options = await sh(project, "cat /usr/local/share/kind-cluster/options.env");
    expect(options.stdout).toContain("clusterName=kind");
    expect(options.stdout).toContain("createCluster=false");
    expect(options.stdout).toContain("remoteUser=dev");
  });
});

/**
 * Builds a project whose downloads come from a copy of the test bed's mirror, changed by `alter`,
 * served over plain http on the default bridge; returns the build's result and the mirror's URL.
 */
async function buildFromMirror(alter: (mirror: string) => Promise<void>, options: Record<string, string | boolean> = {}) {
  const mirror = await mkdtemp(join(tmpdir(), "bad-mirror-"));
  await cp(testbed.mirrorDir ?? join(testbed.kind, "..", "..", "mirror"), mirror, { recursive: true });
  await alter(mirror);
  const image = await ensureBusyboxImage();
  const server = await execa("docker", ["run", "-d", "--rm", "-v", `${mirror}:/srv:ro`, image, "httpd", "-f", "-p", "8080", "-h", "/srv"]);
  const id = server.stdout.trim();
  cleanup.push(id);
  const url = `http://${(await execa("docker", ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", id])).stdout.trim()}:8080`;
  const project = await makeProject({
    image: testbed.baseImage,
    options: { ...testbed.featureOptions, createCluster: false, downloadMirror: url, ...options },
  });
  const result = await devcontainerUp(project);
  cleanup.push(result.containerId);
  // The classic builder leaves the container of the step that failed behind (exited): not ours to keep.
  const leftovers = await execa("docker", ["ps", "-aq", "--filter", "status=exited", "--filter", `since=${id}`]);
  cleanup.push(...leftovers.stdout.split("\n").filter(Boolean));
  return { result, url };
}

describe("a corrupt or substituted download", () => {
  it("fails the build with a clear checksum message", async () => {
    // A mirror that serves a tampered kind binary beside the genuine checksum.
    const kindVersion = String(testbed.featureOptions.kindVersion);
    const { result, url } = await buildFromMirror(async (mirror) => {
      const kindFile = join(mirror, "kind", kindVersion, "kind-linux-amd64");
      await writeFile(kindFile, Buffer.concat([await readFile(kindFile), Buffer.from("tampered")]));
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain(`checksum mismatch for kind ${kindVersion} from ${url}/kind/`);
    expect(result.output).toContain("nothing was installed");
  });

  it("refuses a binary the mirror serves as a pinned version (kind v0.30.0), even with a matching .sha256: the pin wins", async () => {
    // The test bed's own kind build, published as the pinned version with its own (correct) digest.
    const { result, url } = await buildFromMirror(
      (mirror) => cp(join(mirror, "kind", String(testbed.featureOptions.kindVersion)), join(mirror, "kind", "v0.30.0"), { recursive: true }),
      { kindVersion: "v0.30.0" },
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain(
      `checksum mismatch for kind v0.30.0 from ${url}/kind/v0.30.0/kind-linux-amd64: expected 517ab7fc89ddeed5fa65abf71530d90648d9638ef0c4cde22c2c11f8097b8889`,
    );
  });
});

describe("order with other Features, and the editor", () => {
  it("installs after the official common-utils, docker-outside-of-docker and node Features, whatever order the project lists them in", async () => {
    const official = ["common-utils", "docker-outside-of-docker", "node"].map((id) => `ghcr.io/devcontainers/features/${id}:1`);
    // Ours first in devcontainer.json: installsAfter must still put it last.
    const dir = await devProject({ options: { createCluster: false }, config: { features: undefined } });
    const config = JSON.parse(await readFile(join(dir, ".devcontainer/devcontainer.json"), "utf8"));
    config.features = {
      "./kind-cluster": { ...testbed.featureOptions, createCluster: false },
      ...Object.fromEntries(official.reverse().map((id) => [id, {}])),
    };
    await writeFile(join(dir, ".devcontainer/devcontainer.json"), JSON.stringify(config, null, 2));
    const result = await devcontainerUp(dir);
    cleanup.push(result.containerId);
    expect(result.exitCode, result.output.slice(-3000)).toBe(0);
    const order = await sh(
      dir,
      'for f in /usr/local/share/install-order/*; do echo "$(cat $f) $(basename $f)"; done; echo "$(stat -c %.9Y /usr/local/bin/kind-cluster | tr -d .) kind-cluster"',
    );
    const ranked = order.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .sort((a, b) => (BigInt(a[0]!) < BigInt(b[0]!) ? -1 : 1))
      .map((p) => p[1]);
    expect(ranked).toHaveLength(4);
    expect(ranked[3]).toBe("kind-cluster");
  });

  it("recommends the Kubernetes extension to the editor", async () => {
    const read = await devcontainerCli(["read-configuration", "--workspace-folder", project, "--include-merged-configuration"]);
    const merged = JSON.parse(read.stdout).mergedConfiguration as { customizations?: { vscode?: Array<{ extensions?: string[] }> } };
    expect(merged.customizations?.vscode?.flatMap((c) => c.extensions ?? [])).toContain("ms-kubernetes-tools.vscode-kubernetes-tools");
  });
});
