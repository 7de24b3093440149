import { chown } from "node:fs/promises";
import { execa } from "execa";
import { devcontainerUp, makeProject, type UpResult } from "./devcontainer.js";
import { devUserDockerfile, readTestbed } from "./testbed.js";

/**
 * The project most end-to-end tests use: the Feature installed offline from the test bed's mirror,
 * and a non-root remote user `dev` (uid 1234) who owns nothing of the Docker socket, as on a real
 * laptop or in CI.
 */
export interface DevProjectSpec {
  /** Feature options on top of the test bed's (versions, node image, mirror). */
  options?: Record<string, string | boolean>;
  /** Extra devcontainer.json properties (runArgs, postCreateCommand...). */
  config?: Record<string, unknown>;
  /** Extra Dockerfile lines after the user is created. */
  dockerfile?: string;
  /** Extra files relative to the project root. */
  files?: Record<string, string>;
}

export async function devProject(spec: DevProjectSpec = {}): Promise<string> {
  const testbed = readTestbed();
  return makeProject({
    image: testbed.baseImage,
    options: { ...testbed.featureOptions, ...spec.options },
    config: { image: undefined, build: { dockerfile: "Dockerfile" }, remoteUser: "dev", ...spec.config },
    files: { ".devcontainer/Dockerfile": devUserDockerfile(testbed.baseImage, spec.dockerfile), ...spec.files },
  });
}

/** devProject, then `devcontainer up` on it. */
export async function upDevProject(spec: DevProjectSpec = {}, ...upArgs: string[]): Promise<{ dir: string; up: UpResult }> {
  const dir = await devProject(spec);
  return { dir, up: await devcontainerUp(dir, ...upArgs) };
}

/** The workspace as the developer's own checkout: a Git repository with one commit, owned by them (uid 1234). */
export async function commitWorkspace(dir: string): Promise<void> {
  const init = `cd '${dir}' && git init -q -b main && git add -A && git -c user.name=dev -c user.email=dev@example.test commit -q -m 'first'`;
  const result = await execa("bash", ["-c", init], { reject: false, all: true });
  if (result.exitCode !== 0) throw new Error(`git init in ${dir}: ${result.all}`);
  await execa("chown", ["-R", "1234:1234", dir]);
  await chown(dir, 1234, 1234);
}
