import { existsSync } from "node:fs";
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
      await new Promise((resolve) => setTimeout(resolve, 500));
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

export async function execInContainer(container: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return docker(["exec", container, ...args], timeoutMs);
}
