import { existsSync } from "node:fs";
import { dirname } from "node:path/posix";
import { setTimeout as sleep } from "node:timers/promises";
import { ZoneError } from "../errors.js";
import { run, type RunResult } from "../proc.js";
import type { ContainerDetails, ContainerEngine, ContainerSpec, EngineInfo, NodeHandle, PortHolder, PortUse } from "./engine.js";

/** Zone 2 over the docker CLI: the only code that runs it. Pure parsers first, then the engine. */

const DEFAULT_SOCKET = "/var/run/docker.sock";

function socketPath(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.DOCKER_HOST;
  if (!host) return DEFAULT_SOCKET;
  return host.startsWith("unix://") ? host.slice("unix://".length) : undefined;
}

/** Turns a failed `docker` call into the zone-2 error a user can act on. Pure. */
export function classifyDockerFailure(
  result: Pick<RunResult, "stderr" | "exitCode">,
  facts: { socket?: string; socketExists: boolean; user: string },
): ZoneError {
  const detail = result.stderr.trim();
  const tooOld = /client version ([\d.]+) is too old\. Minimum supported API version is ([\d.]+)/i.exec(detail);
  if (tooOld)
    return new ZoneError({
      zone: "docker host",
      message: `the Docker engine refuses the dev container's Docker CLI: the CLI speaks API ${tooOld[1]}, the engine accepts API ${tooOld[2]} and newer`,
      fix: "keep the Feature's installDockerCli option on and rebuild the container (it installs a current static Docker CLI, which also talks to older engines), or upgrade the Docker CLI in your image",
      detail,
    });
  if (result.exitCode === 127)
    return new ZoneError({
      zone: "dev container",
      message: "the docker CLI is not installed in the dev container",
      fix: "enable the Feature's installDockerCli option (the default) and rebuild the container",
    });
  if (/permission denied/i.test(detail))
    return new ZoneError({
      zone: "docker host",
      message: `the Docker socket ${facts.socket ?? ""} is not accessible to user ${facts.user}`,
      fix: "rebuild the dev container so the Feature's entrypoint can grant access, or run `sudo chgrp $(id -g) /var/run/docker.sock`",
      detail,
    });
  if (facts.socket && !facts.socketExists)
    return new ZoneError({
      zone: "docker host",
      message: `no Docker socket at ${facts.socket}: the Docker host's daemon is not reachable from the dev container`,
      fix: "keep the Feature's socket mount (do not override mounts), or set DOCKER_HOST to a reachable daemon; Docker must run on the host",
      detail,
    });
  return new ZoneError({
    zone: "docker host",
    message: "the Docker daemon does not answer",
    fix: "start Docker on the host (Docker Desktop, or `sudo systemctl start docker`), then run `kind-cluster up`",
    detail,
  });
}

interface RawInspect {
  Id: string;
  Name: string;
  State?: { Status?: string; Running?: boolean };
  Config?: { Labels?: Record<string, string> | null; Image?: string };
  HostConfig?: { PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null };
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> | null };
  Mounts?: Array<{ Source?: string; Destination?: string }> | null;
}

/** Reads `docker inspect` output. Pure. */
export function parseInspect(json: string): ContainerDetails[] {
  return (JSON.parse(json) as RawInspect[]).map((c) => {
    const bindings: ContainerDetails["bindings"] = {};
    for (const [port, list] of Object.entries(c.HostConfig?.PortBindings ?? {})) {
      bindings[port] = (list ?? []).map((b) => ({ hostIp: b.HostIp ?? "", hostPort: Number(b.HostPort) }));
    }
    const networks: ContainerDetails["networks"] = {};
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
      mounts: Object.fromEntries((c.Mounts ?? []).map((m) => [m.Destination ?? "", m.Source ?? ""])),
    };
  });
}

export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: string;
}

/** Parses the Ports column of `docker ps`, e.g. "127.0.0.1:6443->6443/tcp, :::80->80/tcp". Pure. */
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

/** Two bindings of one port clash when the addresses are equal or either is every interface. Pure. */
export function bindingsClash(a: string, b: string): boolean {
  return a === b || ALL.has(a) || ALL.has(b);
}

/** The docker CLI as a ContainerEngine. `env` is the environment the CLI runs with (DOCKER_HOST...). */
export function dockerEngine(env: NodeJS.ProcessEnv = process.env): ContainerEngine {
  const docker = (args: readonly string[], timeoutMs = 30_000): Promise<RunResult> => run("docker", args, { timeoutMs, env });

  const failure = (result: RunResult): ZoneError => {
    const socket = socketPath(env);
    return classifyDockerFailure(result, { socket, socketExists: socket ? existsSync(socket) : true, user: env.USER ?? String(process.getuid?.()) });
  };
  /** Runs a docker command that must succeed. */
  const must = async (args: readonly string[], timeoutMs?: number): Promise<RunResult> => {
    const result = await docker(args, timeoutMs);
    if (result.exitCode !== 0) throw failure(result);
    return result;
  };

  const info = async (): Promise<EngineInfo> => {
    const result = await docker(["info", "--format", "{{json .}}"], 15_000);
    const parsed = result.exitCode === 0 ? (JSON.parse(result.stdout) as Record<string, unknown>) : undefined;
    if (!parsed || typeof parsed.ServerVersion !== "string" || parsed.ServerVersion === "") {
      throw failure(result.exitCode === 0 ? { ...result, stderr: String(parsed?.ServerErrors ?? result.stderr) } : result);
    }
    const operatingSystem = String(parsed.OperatingSystem ?? "");
    return {
      serverVersion: parsed.ServerVersion,
      operatingSystem,
      cgroupVersion: String(parsed.CgroupVersion ?? ""),
      dockerDesktop: /docker desktop/i.test(operatingSystem),
    };
  };

  const inspect = async (refs: readonly string[]): Promise<ContainerDetails[]> => {
    if (refs.length === 0) return [];
    const result = await docker(["container", "inspect", ...refs]);
    // Exit 1 with a partial list when some do not exist; "[]" when none do.
    if (result.exitCode !== 0 && !/no such (object|container)/i.test(result.stderr)) throw failure(result);
    return parseInspect(result.stdout.trim() || "[]");
  };

  const exec = (container: string, args: readonly string[], options: { timeoutMs: number; input?: string }): Promise<RunResult> => {
    if (options.input === undefined) return docker(["exec", container, ...args], options.timeoutMs);
    return run("docker", ["exec", "--interactive", container, ...args], { timeoutMs: options.timeoutMs, input: options.input, env });
  };

  const node = (container: { id: string; name: string }): NodeHandle => ({
    id: container.id,
    name: container.name,
    exec: (args, options) => exec(container.id, args, options),
    async readFile(path) {
      const result = await exec(container.id, ["cat", path], { timeoutMs: 15_000 });
      return result.exitCode === 0 ? result.stdout : undefined;
    },
    async writeFile(path, text) {
      const mkdir = await exec(container.id, ["mkdir", "-p", dirname(path)], { timeoutMs: 15_000 });
      const write = mkdir.exitCode === 0 ? await exec(container.id, ["tee", path], { timeoutMs: 15_000, input: text }) : mkdir;
      if (write.exitCode !== 0)
        throw new ZoneError({
          zone: "kind cluster",
          message: `could not write ${path} in node ${container.name}`,
          fix: `check the node: \`docker exec ${container.name} ls ${dirname(path)}\``,
          detail: write.stderr,
        });
    },
    async exists(path) {
      const result = await docker(["container", "cp", `${container.id}:${path}`, "-"], 15_000);
      if (result.exitCode === 0) return true;
      if (/could not find the file|no such file/i.test(result.stderr)) return false;
      throw failure(result);
    },
  });

  return {
    info,
    async waitReady(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          return await info();
        } catch (error) {
          if (Date.now() >= deadline) throw error;
          await sleep(500);
        }
      }
    },
    inspect,
    async withLabel(label) {
      const result = await must(["ps", "-a", "--no-trunc", "--quiet", "--filter", `label=${label}`]);
      return inspect(result.stdout.split("\n").filter(Boolean));
    },
    async portHolders(port, hostIp) {
      const result = await must(["ps", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.Ports}}"]);
      const holders: PortHolder[] = [];
      for (const line of result.stdout.split("\n").filter(Boolean)) {
        const [id = "", name = "", column = ""] = line.split("\t");
        for (const p of parsePublishedPorts(column)) {
          if (p.protocol === "tcp" && p.hostPort === port && bindingsClash(p.hostIp, hostIp)) holders.push({ id, name, hostIp: p.hostIp });
        }
      }
      return holders;
    },
    async publishedPorts() {
      // Running containers: the ports they hold now (random ones included); stopped ones: what they will ask for.
      const ps = await must(["ps", "-a", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.State}}\t{{.Ports}}"]);
      const uses: PortUse[] = [];
      const stopped: string[] = [];
      for (const line of ps.stdout.split("\n").filter(Boolean)) {
        const [id = "", name = "", state = "", column = ""] = line.split("\t");
        if (state !== "running") stopped.push(id);
        for (const p of parsePublishedPorts(column)) if (p.protocol === "tcp") uses.push({ id, name, hostIp: p.hostIp, hostPort: p.hostPort, running: true });
      }
      for (const c of await inspect(stopped))
        for (const [port, list] of Object.entries(c.bindings))
          for (const b of list)
            if (port.endsWith("/tcp") && b.hostPort > 0) uses.push({ id: c.id, name: c.name, hostIp: b.hostIp, hostPort: b.hostPort, running: false });
      return uses;
    },
    async create(spec: ContainerSpec) {
      const args = ["container", "create", "--name", spec.name];
      for (const b of spec.binds ?? []) args.push("--volume", `${b.source}:${b.target}`);
      if (spec.entrypoint) args.push("--entrypoint", spec.entrypoint);
      if (spec.user) args.push("--user", spec.user);
      for (const [k, v] of Object.entries(spec.env ?? {})) args.push("--env", `${k}=${v}`);
      if (spec.autoRemove) args.push("--rm");
      for (const [k, v] of Object.entries(spec.labels)) args.push("--label", `${k}=${v}`);
      for (const p of spec.publish ?? []) args.push("--publish", `${p.hostIp}:${p.hostPort}:${p.containerPort}/tcp`);
      for (const v of spec.volumes ?? []) args.push("--volume", `${v.volume}:${v.target}`);
      if (spec.restart) args.push("--restart", spec.restart);
      if (spec.network) args.push("--network", spec.network);
      const result = await docker([...args, spec.image, ...(spec.command ?? [])], 120_000);
      if (result.exitCode === 0) return { id: result.stdout.trim().split("\n").pop(), conflict: false };
      if (/already in use|conflict/i.test(result.stderr)) return { conflict: true };
      if (/no such image|not found|pull access denied|manifest unknown/i.test(result.stderr))
        throw new ZoneError({
          zone: "docker host",
          message: `the image ${spec.image} for ${spec.name} is not on the Docker host and could not be pulled`,
          fix: "pull or build it on the host (`docker images`), or choose another image in the Feature's options",
          detail: result.stderr,
        });
      throw new ZoneError({
        zone: "docker host",
        message: `could not create the container ${spec.name}`,
        fix: "check `docker ps -a` and the Docker daemon's log",
        detail: result.stderr,
      });
    },
    async start(ids) {
      if (ids.length === 0) return;
      const result = await docker(["start", ...ids], 120_000);
      if (result.exitCode !== 0)
        throw new ZoneError({
          zone: "docker host",
          message: "could not start the cluster's node containers",
          fix: "look at `docker logs <node>`; if they cannot start, `kind-cluster down` then `kind-cluster up` recreates the cluster",
          detail: result.stderr,
        });
    },
    async tryStart(id) {
      const result = await docker(["start", id], 60_000);
      return result.exitCode === 0 ? undefined : result.stderr.trim();
    },
    async waitStopped(id) {
      // `docker wait` blocks until the container stops, however it stops; a missing one is already stopped.
      const result = await run("docker", ["wait", id], { env });
      if (result.exitCode !== 0 && !/no such container/i.test(result.stderr)) throw failure(result);
    },
    async stop(ids, graceSeconds) {
      if (ids.length > 0) await must(["stop", "--time", String(graceSeconds), ...ids], (graceSeconds + 60) * 1000);
    },
    async unpause(ids) {
      if (ids.length > 0) await must(["unpause", ...ids]);
    },
    async remove(id) {
      const result = await docker(["rm", "-f", id]);
      if (result.exitCode !== 0 && !/no such container/i.test(result.stderr)) throw failure(result);
    },
    async removeVolume(name) {
      const result = await docker(["volume", "rm", name]);
      if (result.exitCode !== 0 && !/no such volume/i.test(result.stderr)) throw failure(result);
    },
    async connect(network, container) {
      const result = await docker(["network", "connect", network, container]);
      if (result.exitCode !== 0 && !/already exists|already attached/i.test(result.stderr))
        throw new ZoneError({
          zone: "docker host",
          message: `could not connect container ${container.slice(0, 12)} to the Docker network ${network}`,
          fix: "check `docker network ls`; or choose route host.docker.internal",
          detail: result.stderr,
        });
    },
    async anyImage() {
      const result = await docker(["images", "--quiet", "--no-trunc"]);
      return result.exitCode === 0 ? result.stdout.split("\n").find(Boolean) : undefined;
    },
    node,
  };
}
