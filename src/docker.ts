import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { ZoneError } from "./errors.js";
import { run, type RunResult } from "./proc.js";

/** Zone 2: the only module that speaks to the Docker daemon (through the docker CLI). */

export const KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster";
export const KIND_ROLE_LABEL = "io.x-k8s.kind.role";
const DEFAULT_SOCKET = "/var/run/docker.sock";

export interface DockerInfo {
  serverVersion: string;
  operatingSystem: string;
  cgroupVersion: string;
  /** Docker Desktop forwards host.docker.internal to the host's loopback; a Linux engine does not. */
  dockerDesktop: boolean;
}

async function docker(args: readonly string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return run("docker", args, { timeoutMs, env });
}

function socketPath(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.DOCKER_HOST;
  if (!host) return DEFAULT_SOCKET;
  return host.startsWith("unix://") ? host.slice("unix://".length) : undefined;
}

/** Turns a failed `docker` call into the zone-2 error a user can act on. */
export function classifyDockerFailure(
  result: Pick<RunResult, "stderr" | "exitCode">,
  facts: { socket?: string; socketExists: boolean; user: string },
): ZoneError {
  const text = result.stderr.trim();
  const tooOld = /client version ([\d.]+) is too old\. Minimum supported API version is ([\d.]+)/i.exec(text);
  if (tooOld)
    return new ZoneError(
      "docker host",
      `the Docker engine refuses the dev container's Docker CLI: the CLI speaks API ${tooOld[1]}, the engine accepts API ${tooOld[2]} and newer`,
      "keep the Feature's installDockerCli option on and rebuild the container (it installs a current static Docker CLI, which also talks to older engines), or upgrade the Docker CLI in your image",
      text,
    );
  if (result.exitCode === 127)
    return new ZoneError("dev container", "the docker CLI is not installed in the dev container", "enable the Feature's installDockerCli option (the default) and rebuild the container");
  if (/permission denied/i.test(text))
    return new ZoneError(
      "docker host",
      `the Docker socket ${facts.socket ?? ""} is not accessible to user ${facts.user}`,
      "rebuild the dev container so the Feature's entrypoint can grant access, or run `sudo chgrp $(id -g) /var/run/docker.sock`",
      text,
    );
  if (facts.socket && !facts.socketExists)
    return new ZoneError(
      "docker host",
      `no Docker socket at ${facts.socket}: the Docker host's daemon is not reachable from the dev container`,
      "keep the Feature's socket mount (do not override mounts), or set DOCKER_HOST to a reachable daemon; Docker must run on the host",
      text,
    );
  return new ZoneError(
    "docker host",
    "the Docker daemon does not answer",
    "start Docker on the host (Docker Desktop, or `sudo systemctl start docker`), then run `kind-cluster up`",
    text,
  );
}

function failure(result: RunResult, env: NodeJS.ProcessEnv = process.env): ZoneError {
  const socket = socketPath(env);
  return classifyDockerFailure(result, { socket, socketExists: socket ? existsSync(socket) : true, user: env.USER ?? String(process.getuid?.()) });
}

export async function dockerInfo(env: NodeJS.ProcessEnv = process.env): Promise<DockerInfo> {
  const result = await docker(["info", "--format", "{{json .}}"], 15_000, env);
  const info = result.exitCode === 0 ? (JSON.parse(result.stdout) as Record<string, unknown>) : undefined;
  if (!info || typeof info.ServerVersion !== "string" || info.ServerVersion === "") {
    throw failure(result.exitCode === 0 ? { ...result, stderr: String(info?.ServerErrors ?? result.stderr) } : result, env);
  }
  const operatingSystem = String(info.OperatingSystem ?? "");
  return {
    serverVersion: info.ServerVersion,
    operatingSystem,
    cgroupVersion: String(info.CgroupVersion ?? ""),
    dockerDesktop: /docker desktop/i.test(operatingSystem),
  };
}

/** The daemon (or the socket proxy set up at container start) may lag behind the hooks: wait, within a bound. */
export async function waitForDocker(timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<DockerInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await dockerInfo(env);
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await sleep(500);
    }
  }
}

export interface PortBinding {
  hostIp: string;
  hostPort: number;
}

/** What `docker inspect` tells of a container, the parts this CLI reads. */
export interface ContainerDetails {
  id: string;
  name: string;
  image: string;
  running: boolean;
  /** Docker's state word: created, running, paused, restarting, exited, dead. */
  status: string;
  labels: Record<string, string>;
  /** Configured bindings by container port, e.g. "6443/tcp" (kept while the container is stopped). */
  bindings: Record<string, PortBinding[]>;
  /** Networks the container is attached to, with its address on each (empty while stopped). */
  networks: Record<string, { ip: string }>;
}

interface RawInspect {
  Id: string;
  Name: string;
  State?: { Status?: string; Running?: boolean };
  Config?: { Labels?: Record<string, string> | null; Image?: string };
  HostConfig?: { PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null };
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> | null };
}

/** Reads `docker inspect` output. Pure. */
export function parseInspect(json: string): ContainerDetails[] {
  return (JSON.parse(json) as RawInspect[]).map((c) => {
    const bindings: Record<string, PortBinding[]> = {};
    for (const [port, list] of Object.entries(c.HostConfig?.PortBindings ?? {})) {
      bindings[port] = (list ?? []).map((b) => ({ hostIp: b.HostIp ?? "", hostPort: Number(b.HostPort) }));
    }
    const networks: Record<string, { ip: string }> = {};
    for (const [name, n] of Object.entries(c.NetworkSettings?.Networks ?? {})) networks[name] = { ip: n.IPAddress ?? "" };
    return {
      id: c.Id,
      name: c.Name.replace(/^\//, ""),
      image: c.Config?.Image ?? "",
      running: c.State?.Running === true,
      status: c.State?.Status ?? "",
      labels: c.Config?.Labels ?? {},
      bindings,
      networks,
    };
  });
}

/** Inspects containers by id or name; ones that do not exist are left out. */
export async function inspectContainers(refs: readonly string[]): Promise<ContainerDetails[]> {
  if (refs.length === 0) return [];
  const result = await docker(["container", "inspect", ...refs]);
  // Exit 1 with a partial list when some do not exist; "[]" when none do.
  if (result.exitCode !== 0 && !/no such (object|container)/i.test(result.stderr)) throw failure(result);
  return parseInspect(result.stdout.trim() || "[]");
}

/** Containers, stopped ones too, that carry a label (`key` or `key=value`). */
export async function containersWithLabel(label: string): Promise<ContainerDetails[]> {
  const result = await docker(["ps", "-a", "--no-trunc", "--quiet", "--filter", `label=${label}`]);
  if (result.exitCode !== 0) throw failure(result);
  return inspectContainers(result.stdout.split("\n").filter(Boolean));
}

export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: string;
}

/** Parses the Ports column of `docker ps`, e.g. "127.0.0.1:6443->6443/tcp, :::80->80/tcp". */
export function parsePublishedPorts(column: string): PublishedPort[] {
  const ports: PublishedPort[] = [];
  for (const part of column.split(",").map((p) => p.trim())) {
    const m = /^(.*):(\d+)(?:-(\d+))?->(\d+)(?:-\d+)?\/(\w+)$/.exec(part);
    if (!m) continue;
    const [, hostIp = "", first = "0", last, containerPort = "0", protocol = "tcp"] = m;
    for (let port = Number(first); port <= Number(last ?? first); port++) {
      ports.push({ hostIp: hostIp.replace(/^\[|\]$/g, ""), hostPort: port, containerPort: Number(containerPort) + port - Number(first), protocol });
    }
  }
  return ports;
}

const ALL = new Set(["", "0.0.0.0", "::"]);

/** Two bindings of one port clash when the addresses are equal or either is every interface. */
export function bindingsClash(a: string, b: string): boolean {
  return a === b || ALL.has(a) || ALL.has(b);
}

export interface PortHolder {
  id: string;
  name: string;
  hostIp: string;
}

/** Running containers publishing `port` (TCP) on an address that clashes with `hostIp`. */
export async function portHolders(port: number, hostIp: string): Promise<PortHolder[]> {
  const result = await docker(["ps", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.Ports}}"]);
  if (result.exitCode !== 0) throw failure(result);
  const holders: PortHolder[] = [];
  for (const line of result.stdout.split("\n").filter(Boolean)) {
    const [id = "", name = "", column = ""] = line.split("\t");
    for (const p of parsePublishedPorts(column)) {
      if (p.protocol === "tcp" && p.hostPort === port && bindingsClash(p.hostIp, hostIp)) holders.push({ id, name, hostIp: p.hostIp });
    }
  }
  return holders;
}

export async function startContainers(ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const result = await docker(["start", ...ids], 120_000);
  if (result.exitCode !== 0)
    throw new ZoneError("docker host", `could not start the cluster's node containers`, "look at `docker logs <node>`; if they cannot start, `kind-cluster down` then `kind-cluster up` recreates the cluster", result.stderr);
}

/** Joins a container to a network; already being on it is fine. */
export async function connectNetwork(network: string, container: string): Promise<void> {
  const result = await docker(["network", "connect", network, container]);
  if (result.exitCode !== 0 && !/already exists|already attached/i.test(result.stderr))
    throw new ZoneError("docker host", `could not connect container ${container.slice(0, 12)} to the Docker network ${network}`, "check `docker network ls`; or choose route host.docker.internal", result.stderr);
}

/** Finds a container's ID from the cgroup or mount tables it sees (pure). */
export function containerIdFrom(texts: readonly string[]): string | undefined {
  for (const text of texts) {
    const m = /\/(?:docker\/containers|docker|containers)\/([0-9a-f]{64})/.exec(text);
    if (m) return m[1];
  }
  return undefined;
}

export interface ContainerSpec {
  name: string;
  image: string;
  labels: Record<string, string>;
  command?: readonly string[];
  /** Host ports to publish: hostIp:hostPort -> containerPort/tcp. */
  publish?: ReadonlyArray<PortBinding & { containerPort: number }>;
  /** Named volumes: volume -> path in the container. */
  volumes?: ReadonlyArray<{ volume: string; target: string }>;
  restart?: string;
  /** The network it starts on (Docker's default bridge when absent). */
  network?: string;
}

/** Creates (does not start) a container; Docker's unique names make this an atomic claim. */
export async function createContainer(spec: ContainerSpec): Promise<{ id?: string; conflict: boolean }> {
  const args = ["container", "create", "--name", spec.name];
  for (const [k, v] of Object.entries(spec.labels)) args.push("--label", `${k}=${v}`);
  for (const p of spec.publish ?? []) args.push("--publish", `${p.hostIp}:${p.hostPort}:${p.containerPort}/tcp`);
  for (const v of spec.volumes ?? []) args.push("--volume", `${v.volume}:${v.target}`);
  if (spec.restart) args.push("--restart", spec.restart);
  if (spec.network) args.push("--network", spec.network);
  const result = await docker([...args, spec.image, ...(spec.command ?? [])], 120_000);
  if (result.exitCode === 0) return { id: result.stdout.trim().split("\n").pop(), conflict: false };
  if (/already in use|conflict/i.test(result.stderr)) return { conflict: true };
  if (/no such image|not found|pull access denied|manifest unknown/i.test(result.stderr))
    throw new ZoneError("docker host", `the image ${spec.image} for ${spec.name} is not on the Docker host and could not be pulled`, "pull or build it on the host (`docker images`), or choose another image in the Feature's options", result.stderr);
  throw new ZoneError("docker host", `could not create the container ${spec.name}`, "check `docker ps -a` and the Docker daemon's log", result.stderr);
}

/** Starts one container; returns Docker's complaint instead of throwing, so the caller can explain it. */
export async function tryStart(id: string): Promise<string | undefined> {
  const result = await docker(["start", id], 60_000);
  return result.exitCode === 0 ? undefined : result.stderr.trim();
}

/** Removes a container by id; one already gone is fine. */
export async function removeContainer(id: string): Promise<void> {
  const result = await docker(["rm", "-f", id]);
  if (result.exitCode !== 0 && !/no such container/i.test(result.stderr)) throw failure(result);
}

export async function removeVolume(name: string): Promise<void> {
  const result = await docker(["volume", "rm", name]);
  if (result.exitCode !== 0 && !/no such volume/i.test(result.stderr)) throw failure(result);
}

/** Some image present on the Docker host (for containers that only hold a name), or undefined. */
export async function anyLocalImage(): Promise<string | undefined> {
  const result = await docker(["images", "--quiet", "--no-trunc"]);
  return result.exitCode === 0 ? result.stdout.split("\n").find(Boolean) : undefined;
}

let selfId: Promise<string | undefined> | undefined;

/**
 * This process's container on the Docker host, or undefined when it does not run in one. Asked by
 * several stages of one `up` (lock, route, registry, GitOps); a process never changes container, so
 * it is found once (a failed lookup is not kept).
 */
export function selfContainerId(): Promise<string | undefined> {
  selfId ??= findSelfContainer().catch((error: unknown) => {
    selfId = undefined;
    throw error;
  });
  return selfId;
}

async function findSelfContainer(): Promise<string | undefined> {
  const tables = await Promise.all(["/proc/self/mountinfo", "/proc/self/cgroup"].map((p) => readFile(p, "utf8").catch(() => "")));
  const fromTables = containerIdFrom(tables);
  if (fromTables) return fromTables;
  // Docker names a container's host after its short ID unless told otherwise.
  const [self] = await inspectContainers([hostname()]);
  return self?.id;
}

/** Whether a path exists in a container, running or stopped (read from its filesystem, not by exec). */
export async function pathExists(container: string, path: string): Promise<boolean> {
  const result = await docker(["container", "cp", `${container}:${path}`, "-"], 15_000);
  if (result.exitCode === 0) return true;
  if (/could not find the file|no such file/i.test(result.stderr)) return false;
  throw failure(result);
}

export async function unpauseContainers(ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const result = await docker(["unpause", ...ids]);
  if (result.exitCode !== 0) throw failure(result);
}

/** Runs a program in a container (no shell); `input` is given on its standard input. */
export async function execInContainer(container: string, args: readonly string[], timeoutMs: number, input?: string): Promise<RunResult> {
  if (input === undefined) return docker(["exec", container, ...args], timeoutMs);
  return run("docker", ["exec", "--interactive", container, ...args], { timeoutMs, input });
}
