import type { ContainerEngine, NodeHandle } from "../engine/engine.js";
import type { Identity } from "../route/self.js";

/**
 * Which dev containers use a cluster, recorded in its control plane's files beside the ready mark: one
 * file per dev container, written by its first `up`, deleted with the cluster. Read by `up` (to say,
 * once, that a cluster is shared), by `stop` (to say who else uses it) and by the stop watcher (to
 * leave running a cluster that another live dev container uses). Kept in zone 3, so every dev
 * container of the host sees the same record, with no file of ours on the host.
 */
const USERS_DIR = "/kind/kind-cluster-users";

export interface ClusterUser extends Identity {
  /** When it first used the cluster (ISO time). */
  since: string;
}

const userPath = (container: string) => `${USERS_DIR}/${container}.json`;

/** The records, one JSON object a line; a line that is not one is skipped. Pure. */
export function parseUsers(text: string): ClusterUser[] {
  const users: ClusterUser[] = [];
  for (const line of text.split("\n")) {
    try {
      const u = JSON.parse(line) as Partial<ClusterUser>;
      if (typeof u.container === "string" && /^[0-9a-f]{12,64}$/.test(u.container)) users.push(u as ClusterUser);
    } catch {
      // not a record
    }
  }
  return users;
}

/** Whether this container has a record (read from the files: works while the node is stopped). */
export function isUser(controlPlane: NodeHandle, container: string): Promise<boolean> {
  return controlPlane.exists(userPath(container));
}

export async function readUsers(controlPlane: NodeHandle): Promise<ClusterUser[]> {
  // No shell: find prints every record, each file one line.
  const result = await controlPlane.exec(["find", USERS_DIR, "-name", "*.json", "-type", "f", "-exec", "cat", "{}", "+"], { timeoutMs: 15_000 });
  return parseUsers(result.stdout);
}

function writeUser(controlPlane: NodeHandle, user: ClusterUser): Promise<void> {
  return controlPlane.writeFile(userPath(user.container), `${JSON.stringify(user)}\n`);
}

/** The users whose dev container still runs, `except` one (ourselves, or the container that just stopped). */
export async function liveUsers(engine: ContainerEngine, users: readonly ClusterUser[], except?: string): Promise<ClusterUser[]> {
  const others = users.filter((u) => u.container !== except);
  const running = new Set((await engine.inspect(others.map((u) => u.container))).filter((c) => c.running).map((c) => c.id));
  return others.filter((u) => running.has(u.container));
}

/** "project /home/me/shop (container shop_devcontainer-app-1)". Pure. */
export function describeUser(u: Identity): string {
  return `project ${u.project}${u.project === u.name ? "" : ` (container ${u.name})`}`;
}

/**
 * Records this dev container as a user of the cluster, on its first `up` (the record stays), and
 * returns the other live users then: `up` says once that the cluster is shared.
 */
export async function registerUser(engine: ContainerEngine, controlPlane: NodeHandle, me: Identity): Promise<ClusterUser[]> {
  if (await isUser(controlPlane, me.container)) return [];
  const users = await readUsers(controlPlane);
  const others = await liveUsers(engine, users, me.container);
  await writeUser(controlPlane, { ...me, since: new Date().toISOString() });
  return others;
}
