import { chmod, copyFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devcontainerUp, removeContainer, sh, type UpResult } from "../support/devcontainer.js";
import { devProject } from "../support/project.js";

/**
 * Current Docker engines refuse old clients: a real daemon started with DOCKER_MIN_API_VERSION=1.44
 * (as Docker Engine 29 defaults to) answers Debian bookworm's docker.io client (API 1.41) with "client
 * version 1.41 is too old". The Feature installs a current static CLI, also over an old one in the
 * image; when the image keeps its old CLI, up and doctor say so in zone 2.
 */
const DAEMON = resolve("scripts/testbed/dockerd-min-api.sh");
const OLD_CLI = "/usr/bin/docker"; // Debian bookworm's docker.io client, API 1.41
let socketDir = "";
let socket = "";
const containers: Array<string | undefined> = [];

beforeAll(async () => {
  socketDir = await mkdtemp(join(tmpdir(), "kc-min-api-"));
  await chmod(socketDir, 0o755); // like /var/run: the socket's own group and mode decide who may use it
  // The socket belongs to the dev containers' user (gid 1234), as Docker Desktop's socket belongs to yours.
  const started = await execa("bash", [DAEMON, "start", socketDir], { env: { DOCKERD_MIN_API_GROUP: "1234" } });
  socket = started.stdout.trim().split("\n").pop()!;
  const refused = await execa(OLD_CLI, ["version"], { env: { DOCKER_HOST: `unix://${socket}` }, reject: false });
  expect(refused.stderr).toContain("client version 1.41 is too old. Minimum supported API version is 1.44");
});

afterAll(async () => {
  for (const id of containers) await removeContainer(id);
  await execa("bash", [DAEMON, "stop"], { reject: false });
});

/**
 * A dev container whose image already has the old Docker CLI in /usr/bin, with the daemon's socket mounted.
 * Built without the layer cache: the install step's message is only printed when that step runs, and an
 * earlier run of the same Feature on this host would otherwise have cached it.
 */
async function projectWithOldCli(options: Record<string, string | boolean>): Promise<{ dir: string; up: UpResult }> {
  const dir = await devProject({
    options: { createCluster: false, ...options },
    dockerfile: "COPY docker /usr/bin/docker\n",
    config: { mounts: [`type=bind,source=${socketDir},target=/run/min-api`] },
  });
  await copyFile(OLD_CLI, join(dir, ".devcontainer", "docker"));
  const up = await devcontainerUp(dir, "--build-no-cache");
  containers.push(up.containerId);
  return { dir, up };
}

describe("a dev container image that already has an old Docker CLI", () => {
  let dir = "";
  let up: UpResult;
  beforeAll(async () => {
    ({ dir, up } = await projectWithOldCli({}));
  });

  it("gets a current static CLI first in PATH; the image's own CLI stays where it was", async () => {
    expect(up.exitCode, up.output.slice(-3000)).toBe(0);
    expect(up.output).toMatch(
      /the image's Docker CLI \(\/usr\/bin\/docker\) speaks API 1\.41, which Docker Engine 29\+ refuses; installing Docker CLI \S+ in \/usr\/local\/bin/,
    );
    const which = await sh(dir, "command -v docker; /usr/bin/docker version --format '{{.Client.APIVersion}}' 2>/dev/null || true");
    expect(which.stdout.split("\n")).toEqual(["/usr/local/bin/docker", "1.41"]);
  });

  it("talks to an engine that refuses API < 1.44, as the non-root user", async () => {
    const out = await sh(dir, "DOCKER_HOST=unix:///run/min-api/docker.sock docker version --format '{{.Server.APIVersion}} {{.Server.MinAPIVersion}}'");
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.trim()).toMatch(/^1\.\d+ 1\.44$/);
  });
});

describe("an old Docker CLI kept (installDockerCli false) against an engine that refuses it", () => {
  let dir = "";
  beforeAll(async () => {
    const { dir: project, up } = await projectWithOldCli({ installDockerCli: false });
    expect(up.exitCode, up.output.slice(-3000)).toBe(0);
    dir = project;
  });

  it("up says so in zone 2: the client's API version, the engine's minimum, the fix", async () => {
    const out = await sh(dir, "DOCKER_HOST=unix:///run/min-api/docker.sock kind-cluster up --name minapi --port 6477");
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain(
      "[docker host (zone 2)] the Docker engine refuses the dev container's Docker CLI: the CLI speaks API 1.41, the engine accepts API 1.44 and newer",
    );
    expect(out.stderr).toContain("fix: keep the Feature's installDockerCli option on and rebuild the container");
    expect(out.stderr).not.toContain("does not answer");
  });

  it("doctor says the same on its docker line", async () => {
    const out = await sh(dir, "DOCKER_HOST=unix:///run/min-api/docker.sock kind-cluster doctor");
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toMatch(
      /✗ docker: the Docker engine refuses the dev container's Docker CLI: the CLI speaks API 1\.41, the engine accepts API 1\.44 and newer/,
    );
    expect(out.stdout).toMatch(/fix: keep the Feature's installDockerCli option on/);
  });
});
