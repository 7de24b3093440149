import { chmod, cp, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";

/** Drives the real devcontainer CLI against throwaway projects that use our Feature from a local folder. */

const CLI = resolve("node_modules/.bin/devcontainer");
/** The CA of the e2e tier's ghcr.io stand-in (test/support/official-features.ts), trusted by the CLI. */
const CLI_ENV = { DOCKER_BUILDKIT: "0", NODE_EXTRA_CA_CERTS: resolve(".testbed/official-features/ca.crt") };
const FEATURE = resolve("features/src/kind-cluster");

export interface ProjectSpec {
  image: string;
  options: Record<string, string | boolean>;
  /** Extra devcontainer.json properties (runArgs, remoteUser, build, mounts...). */
  config?: Record<string, unknown>;
  /** Extra files relative to the project root (a Dockerfile, a kind config, a kubeconfig...). */
  files?: Record<string, string>;
  /** How devcontainer.json names the Feature; by default a copy in .devcontainer/ ("./kind-cluster"). */
  featureRef?: string;
}

/** Any other devcontainer CLI command (features publish, features test...), with the same environment. */
export async function devcontainerCli(args: readonly string[]): Promise<{ exitCode: number; stdout: string; all: string }> {
  const result = await execa(CLI, args, { reject: false, all: true, env: CLI_ENV });
  return { exitCode: result.exitCode ?? 1, stdout: result.stdout, all: result.all ?? "" };
}

/** Every throwaway project's folder starts so; the CLI names its images after the folder: vsc-kc-project-*. */
const PROJECT_PREFIX = "kc-project-";

/** A project folder whose .devcontainer holds a copy of our Feature, as a user would vendor it. */
export async function makeProject(spec: ProjectSpec): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), PROJECT_PREFIX));
  await chmod(dir, 0o755); // like a checkout: readable by the container's non-root user
  await mkdir(join(dir, ".devcontainer"), { recursive: true });
  const ref = spec.featureRef ?? "./kind-cluster";
  if (ref === "./kind-cluster") await cp(FEATURE, join(dir, ".devcontainer", "kind-cluster"), { recursive: true });
  const config = { name: "kind-cluster test", image: spec.image, features: { [ref]: spec.options }, ...spec.config };
  await writeFile(join(dir, ".devcontainer", "devcontainer.json"), `${JSON.stringify(config, null, 2)}\n`);
  await writeFiles(dir, spec.files ?? {});
  return dir;
}

/** Files relative to a folder, with their parent folders. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

export interface UpResult {
  exitCode: number;
  outcome?: string;
  containerId?: string;
  remoteUser?: string;
  output: string;
  seconds: number;
}

export async function devcontainerUp(dir: string, ...args: string[]): Promise<UpResult> {
  const start = performance.now();
  const result = await execa(CLI, ["up", "--workspace-folder", dir, "--log-format", "text", ...args], { reject: false, all: true, env: CLI_ENV });
  const seconds = (performance.now() - start) / 1000;
  const last = result.stdout.trim().split("\n").pop() ?? "";
  let parsed: { outcome?: string; containerId?: string; remoteUser?: string } = {};
  try {
    parsed = JSON.parse(last);
  } catch {
    // No JSON outcome line: the CLI failed before it could print one.
  }
  return { exitCode: result.exitCode ?? 1, ...parsed, output: result.all ?? "", seconds };
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command as the project's remote user, the way a terminal in the dev container would. */
export async function devcontainerExec(dir: string, command: string[]): Promise<ExecResult> {
  const result = await execa(CLI, ["exec", "--workspace-folder", dir, ...command], { reject: false, env: CLI_ENV });
  return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** `sh -c` inside the dev container, as the remote user or, with `root`, through `docker exec`. */
export async function sh(dir: string, script: string, options: { root?: string } = {}): Promise<ExecResult> {
  if (!options.root) return devcontainerExec(dir, ["sh", "-c", script]);
  const result = await execa("docker", ["exec", "-u", "root", options.root, "sh", "-c", script], { reject: false });
  return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}

export async function removeContainer(id: string | undefined): Promise<void> {
  if (id) await execa("docker", ["rm", "-f", id], { reject: false });
}

/** Every image on the host, as repository:tag. */
export async function imageRefs(): Promise<string[]> {
  return (await execa("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout.split("\n").filter(Boolean);
}

/** Removes these images; one a container still uses, even a stopped one, is refused by Docker and stays. Returns how many went. */
export async function removeImages(refs: readonly string[]): Promise<number> {
  let removed = 0;
  for (const ref of refs) if ((await execa("docker", ["rmi", ref], { reject: false })).exitCode === 0) removed++;
  return removed;
}

/** Removes the images the devcontainer CLI built for throwaway projects (several GB per end-to-end run otherwise), only those. */
export async function removeProjectImages(): Promise<number> {
  return removeImages((await imageRefs()).filter((ref) => ref.startsWith(`vsc-${PROJECT_PREFIX}`)));
}
