import { constants } from "node:fs";
import { lstat, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ZoneError } from "../errors.js";
import { logText } from "./log-text.js";

/**
 * The container's runtime folder for our services: their configurations, states and logs, and the
 * `up` lock. Ours alone: created 0700, and refused when it is a link, belongs to someone else or lets
 * others in, since a second local user who could write there could redirect our writes through links,
 * forge a state file, or swap a configuration between its write and its read. Files in it are opened
 * without following links. Never the workspace.
 */

const uid = () => process.getuid?.() ?? 0;

/**
 * `$XDG_RUNTIME_DIR/kind-cluster` when that folder is set (it is per-user by definition), else a
 * per-user folder in the system's temporary folder: `/tmp/kind-cluster-<uid>`.
 */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "kind-cluster") : join(tmpdir(), `kind-cluster-${uid()}`);
}

/** Why a folder is not ours to trust, or undefined. Pure. */
export function untrusted(facts: { isDirectory: boolean; isSymbolicLink: boolean; uid: number; mode: number }, me: number): string | undefined {
  if (facts.isSymbolicLink) return "it is a symbolic link";
  if (!facts.isDirectory) return "it is not a folder";
  if (facts.uid !== me) return `it belongs to uid ${facts.uid}, not to uid ${me}`;
  if (facts.mode & 0o077) return `its mode ${(facts.mode & 0o777).toString(8)} lets other users in (0700 expected)`;
  return undefined;
}

/** Creates the folder (0700) and its missing parents; an existing one must pass `untrusted`. */
export async function privateDir(dir: string): Promise<string> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  const st = await lstat(dir);
  const why = untrusted({ isDirectory: st.isDirectory(), isSymbolicLink: st.isSymbolicLink(), uid: st.uid, mode: st.mode }, uid());
  if (why)
    throw new ZoneError({
      zone: "dev container",
      message: `the runtime folder ${dir} cannot be trusted: ${why}; nothing was written there`,
      fix: `another user may have made it to intercept kind-cluster's files: look at \`ls -ld ${dir}\`, remove it (\`sudo rm -rf ${dir}\`), then run \`kind-cluster up\``,
    });
  return dir;
}

const WRITE_NO_FOLLOW = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/** Writes a file in a private folder: a temporary file opened without following links, then renamed over. */
export async function writePrivate(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, WRITE_NO_FOLLOW, 0o600);
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** Reads a file of a private folder without following a link; undefined when it is absent or unreadable. */
export async function readPrivate(path: string): Promise<string | undefined> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return undefined;
  try {
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

/** The longest log line kept; the rest is cut, said so. */
const MAX_LINE = 2_000;

/** A log's size limit: past it, the file is renamed to <log>.1 (the previous .1 is dropped) and begun anew. */
export const LOG_LIMIT_BYTES = 1024 * 1024;

export interface Log {
  /** Writes one event as one timestamped, escaped line. */
  write(event: string): void;
  close(): Promise<void>;
}

/** A log file of bounded size: at most LOG_LIMIT_BYTES in the file and as much again in <log>.1. */
export async function rotatingLog(path: string, limit = LOG_LIMIT_BYTES): Promise<Log> {
  let handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
  let size = (await handle.stat()).size;
  let queue = Promise.resolve();
  const append = async (line: string) => {
    const bytes = Buffer.from(line);
    if (size > 0 && size + bytes.length > limit) {
      await handle.close();
      await rename(path, `${path}.1`);
      handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
      size = 0;
    }
    await handle.write(bytes);
    size += bytes.length;
  };
  return {
    write(event) {
      // One event, one line, whoever wrote it: no character of it can start a line of its own.
      const line = `${new Date().toISOString()} ${logText(event, MAX_LINE, false)}\n`;
      queue = queue.then(() => append(line)).catch(() => undefined);
    },
    async close() {
      await queue;
      await handle.close();
    },
  };
}

/** The last lines of a log (and of its rotated part when the log itself is short). */
export async function logTail(path: string, lines = 8): Promise<string> {
  const [current, previous] = await Promise.all([readPrivate(path), readPrivate(`${path}.1`)]);
  const all = `${previous ?? ""}${current ?? ""}`.trim().split("\n");
  return all.slice(-lines).join("\n");
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * What changes when a file is rewritten in place or replaced by a rename (inode, size, times to the
 * nanosecond); "-" when it does not exist. Watches compare it instead of reading the file.
 */
export async function fileStamp(file: string): Promise<string> {
  const s = await stat(file, { bigint: true }).catch(() => undefined);
  return s ? `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}` : "-";
}
