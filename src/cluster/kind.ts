import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ZoneError } from "../errors.js";
import { run } from "../proc.js";

/** Zone 3's creator: the kind CLI behind an interface, so `up`'s decisions can be tested with a fake. */
export interface KindTool {
  /** Creates the cluster; kind writes its kubeconfig to a scratch file we return, never to the user's. */
  create(input: CreateInput): Promise<{ kubeconfig: string }>;
  /** kind's kubeconfig for the cluster (admin credentials, read from the control-plane node). */
  kubeconfig(name: string): Promise<string>;
  delete(name: string): Promise<void>;
  version(): Promise<string | undefined>;
}

export interface CreateInput {
  name: string;
  configYaml: string;
  image?: string;
  timeoutMs: number;
  /** kind's own progress lines ("Preparing nodes", "Starting control-plane"...), as they come. */
  onProgress?: (line: string) => void;
}

/**
 * kind could not publish a host port: a process outside Docker holds it (a container holding it would
 * have been seen before). kind has deleted the cluster's nodes by then. `port` is the one Docker named.
 */
export class PortTakenError extends ZoneError {
  constructor(
    readonly port: number | undefined,
    detail: string,
  ) {
    super({
      zone: "docker host",
      message: `${port ? `port ${port}` : "a port"} is taken on the Docker host by a process outside Docker; kind could not publish it`,
      fix: "free the port on the host, or choose another apiServerPort",
      detail,
    });
    this.name = "PortTakenError";
  }
}

/** The host port in Docker's complaint ("Bind for 127.0.0.1:6443 failed", "listen tcp4 127.0.0.1:6443: bind", "host port for 127.0.0.1:6443:..."). Pure. */
export function takenPortOf(detail: string): number | undefined {
  const m = /(?:Bind for|listen tcp[46]?|host port for) \S*?:(\d+)(?=[\s:/]|$)/.exec(detail);
  return m ? Number(m[1]) : undefined;
}

function kindMissing(): ZoneError {
  return new ZoneError({
    zone: "dev container",
    message: "the kind CLI is not installed in the dev container",
    fix: "rebuild the dev container with the kind-cluster Feature (it installs kind)",
  });
}

/**
 * kind's progress line without its decoration (mark, emoji, trailing "..."), so that a step's start
 * (" • Preparing nodes 📦  ...") and its end (" ✓ Preparing nodes 📦") read the same; undefined for
 * blank lines. Pure.
 */
export function progressLine(line: string): string | undefined {
  const text = line
    .replace(/\p{Extended_Pictographic}|\uFE0F/gu, "")
    .replace(/^\s*[✓✗•]\s*/u, "")
    .replace(/\s*\.\.\.\s*$/, "")
    .replace(/\s+/g, " ")
    .trim();
  return text === "" ? undefined : text;
}

export const kindCli: KindTool = {
  async create(input) {
    const dir = await mkdtemp(join(tmpdir(), "kind-cluster-"));
    try {
      const config = join(dir, "kind.yaml");
      const kubeconfig = join(dir, "kubeconfig");
      await writeFile(config, input.configYaml, { mode: 0o600 });
      const args = ["create", "cluster", "--name", input.name, "--config", config, "--kubeconfig", kubeconfig];
      if (input.image) args.push("--image", input.image);
      const onProgress = input.onProgress;
      const seen = new Set<string>();
      const result = await run("kind", args, {
        timeoutMs: input.timeoutMs,
        // kind repeats a step's line when it completes: show each step once.
        onStderrLine: onProgress
          ? (line) => {
              const text = progressLine(line);
              if (text && !seen.has(text)) {
                seen.add(text);
                onProgress(text);
              }
            }
          : undefined,
      });
      if (result.exitCode === 127) throw kindMissing();
      const detail = `${result.stderr}\n${result.stdout}`;
      if (result.exitCode !== 0) {
        if (/node\(s\) already exist/i.test(detail))
          throw new ZoneError({
            zone: "kind cluster",
            message: `cluster ${input.name} appeared while up ran (created by something that does not take kind-cluster's lock)`,
            fix: "run `kind-cluster up` again to adopt it",
            detail,
          });
        if (/port is already allocated|address already in use/i.test(detail)) throw new PortTakenError(takenPortOf(detail), detail);
        if (/pull|not found|no such image/i.test(detail) && input.image)
          throw new ZoneError({
            zone: "docker host",
            message: `the node image ${input.image} is not available to the Docker host`,
            fix: "load or build the image on the host (`docker images`), or unset nodeImage",
            detail,
          });
        throw new ZoneError({
          zone: "kind cluster",
          message: `kind could not create cluster ${input.name}`,
          fix: "read kind's output below; `kind-cluster doctor` checks each zone",
          detail,
        });
      }
      return { kubeconfig: await readFile(kubeconfig, "utf8") };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },

  async kubeconfig(name) {
    const result = await run("kind", ["get", "kubeconfig", "--name", name], { timeoutMs: 60_000 });
    if (result.exitCode === 127) throw kindMissing();
    if (result.exitCode !== 0)
      throw new ZoneError({
        zone: "kind cluster",
        message: `kind could not read the kubeconfig of cluster ${name}`,
        fix: "the control-plane node may still be starting; run `kind-cluster up` again",
        detail: result.stderr,
      });
    return result.stdout;
  },

  async delete(name) {
    const result = await run("kind", ["delete", "cluster", "--name", name], { timeoutMs: 180_000 });
    if (result.exitCode === 127) throw kindMissing();
    if (result.exitCode !== 0)
      throw new ZoneError({
        zone: "kind cluster",
        message: `kind could not delete cluster ${name}`,
        fix: "remove the node containers with `docker rm -f`",
        detail: result.stderr,
      });
  },

  async version() {
    const result = await run("kind", ["version"], { timeoutMs: 10_000 });
    return result.exitCode === 0 ? result.stdout.trim() : undefined;
  },
};
