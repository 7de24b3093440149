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
