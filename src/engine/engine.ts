import type { RunResult } from "../proc.js";

/**
 * Zone 2, the container engine, as the rest of the CLI sees it (like kind's Provider). One
 * implementation, docker.ts over the docker CLI; Podman or nerdctl would be a second one. Nothing
 * outside engine/ runs the docker CLI, and every command run inside a node goes through a NodeHandle.
 */
export interface ContainerEngine {
  /** The engine's facts; throws a zone error naming the socket, the daemon or the CLI that failed. */
  info(): Promise<EngineInfo>;
  /** info(), asked again every half second until the engine answers or `timeoutMs` runs out. */
  waitReady(timeoutMs: number): Promise<EngineInfo>;
  /** Containers by id or name; ones that do not exist are left out. */
  inspect(refs: readonly string[]): Promise<ContainerDetails[]>;
  /** Containers, stopped ones too, that carry a label (`key` or `key=value`). */
  withLabel(label: string): Promise<ContainerDetails[]>;
  /** Running containers publishing `port` (TCP) on an address that clashes with `hostIp`. */
  portHolders(port: number, hostIp: string): Promise<PortHolder[]>;
  /**
   * Every host port (TCP) a container holds: published by a running one, or kept in a stopped one's
   * configuration for its next start (a stopped cluster's API port stays its own).
   */
  publishedPorts(): Promise<PortUse[]>;
  /** Creates (does not start) a container; the engine's unique names make this an atomic claim. */
  create(spec: ContainerSpec): Promise<{ id?: string; conflict: boolean }>;
  start(ids: readonly string[]): Promise<void>;
  /** Starts one container; returns the engine's complaint instead of throwing, so the caller can explain it. */
  tryStart(id: string): Promise<string | undefined>;
  /** Returns once the container stops (at once when it does not run, or is gone); no time limit. */
  waitStopped(id: string): Promise<void>;
  /** Stops containers, giving each `graceSeconds` before it is killed. */
  stop(ids: readonly string[], graceSeconds: number): Promise<void>;
  unpause(ids: readonly string[]): Promise<void>;
  /** Removes a container by id, running or not; one already gone is fine. */
  remove(id: string): Promise<void>;
  removeVolume(name: string): Promise<void>;
  /** Joins a container to a network; already being on it is fine. */
  connect(network: string, container: string): Promise<void>;
  /** Some image present on the host (for containers that only hold a name), or undefined. */
  anyImage(): Promise<string | undefined>;
  /** A handle on one container for commands and files inside it. */
  node(container: { id: string; name: string }): NodeHandle;
}

/** Commands and files inside one container (a kind node), as kind's nodes.Node gives them. */
export interface NodeHandle {
  readonly id: string;
  readonly name: string;
  /** Runs a program in the container (no shell); `input` is given on its standard input. */
  exec(args: readonly string[], options: { timeoutMs: number; input?: string }): Promise<RunResult>;
  /** A file's text (its final newline dropped, as with every command's output), or undefined when it cannot be read. */
  readFile(path: string): Promise<string | undefined>;
  /** Writes a file (creating its folder); throws a zone error naming the node when it cannot. */
  writeFile(path: string, text: string): Promise<void>;
  /** Whether a path exists, read from the container's filesystem: works while it is stopped or frozen. */
  exists(path: string): Promise<boolean>;
}

export interface EngineInfo {
  serverVersion: string;
  operatingSystem: string;
  cgroupVersion: string;
  /** Docker Desktop forwards host.docker.internal to the host's loopback; a Linux engine does not. */
  dockerDesktop: boolean;
}

export interface PortBinding {
  hostIp: string;
  hostPort: number;
}

/** What inspecting a container tells, the parts this CLI reads. */
export interface ContainerDetails {
  id: string;
  name: string;
  image: string;
  running: boolean;
  /** The engine's state word: created, running, paused, restarting, exited, dead. */
  status: string;
  labels: Record<string, string>;
  /** Configured bindings by container port, e.g. "6443/tcp" (kept while the container is stopped). */
  bindings: Record<string, PortBinding[]>;
  /** Networks the container is attached to, with its address on each (empty while stopped). */
  networks: Record<string, { ip: string }>;
  /** Its mounts: the source on the Docker host of each path in the container. */
  mounts?: Record<string, string>;
}

export interface PortHolder {
  id: string;
  name: string;
  hostIp: string;
}

export interface PortUse extends PortHolder {
  hostPort: number;
  running: boolean;
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
  /** The network it starts on (the engine's default bridge when absent). */
  network?: string;
  /** Paths of the Docker host bound into it: source -> target. */
  binds?: ReadonlyArray<{ source: string; target: string }>;
  /** The program it runs instead of the image's entrypoint, the user it runs as, its environment. */
  entrypoint?: string;
  user?: string;
  env?: Record<string, string>;
  /** The engine removes it once it exits. */
  autoRemove?: boolean;
}
