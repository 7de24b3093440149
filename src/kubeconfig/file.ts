import { randomBytes } from "node:crypto";
import { chown, lstat, mkdir, open, readFile, readlink, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

/**
 * Zone 1's kubeconfig on disk. The caller holds the file's lock. A write:
 * - follows a symlink (dotfiles) and writes its final target, so the link stays a link;
 * - keeps the file's owner and mode (a hook running as root must not hand the user a root:root file);
 *   a new file is 0600, and when root creates it (or ~/.kube) in someone else's directory, it is theirs;
 * - replaces the file atomically (temporary file, fsync, rename) when it can, and otherwise writes it
 *   in place: a file bind-mounted on its own cannot be renamed over (EBUSY), nor can a file whose owner
 *   we could not give the replacement, nor one in a directory we may not write.
 */

const code = (error: unknown) => (error as NodeJS.ErrnoException).code;
const isRoot = () => process.getuid?.() === 0;

export async function readBytes(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if (code(error) === "ENOENT") return undefined;
    throw error;
  }
}

/** The final target of a chain of symlinks, even when it does not exist yet (a dangling dotfile link). */
async function resolveTarget(path: string): Promise<string> {
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    const st = await lstat(current).catch((error) => (code(error) === "ENOENT" ? undefined : Promise.reject(error)));
    if (!st?.isSymbolicLink()) return current;
    current = resolve(dirname(current), await readlink(current));
  }
  throw Object.assign(new Error(`too many levels of symbolic links: ${path}`), { code: "ELOOP" });
}

/** Creates a directory and its missing parents (0700); as root, each belongs to its parent's owner. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await stat(dir);
    return;
  } catch (error) {
    if (code(error) !== "ENOENT") throw error;
  }
  await ensureDir(dirname(dir));
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if (code(error) === "EEXIST") return;
    throw error;
  }
  if (isRoot()) {
    const parent = await stat(dirname(dir));
    await chown(dir, parent.uid, parent.gid);
  }
}

interface Meta {
  mode: number;
  uid: number;
  gid: number;
}

/** The owner and mode the written file must have: the existing file's, or 0600 and its directory's owner. */
async function metaFor(target: string): Promise<{ meta: Meta; exists: boolean }> {
  try {
    const st = await stat(target);
    return { meta: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid }, exists: true };
  } catch (error) {
    if (code(error) !== "ENOENT") throw error;
  }
  const dir = await stat(dirname(target));
  const owner = isRoot() ? { uid: dir.uid, gid: dir.gid } : { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  return { meta: { mode: 0o600, ...owner }, exists: false };
}

/** Writes the file (see above); returns the mode it kept, so the caller can say when others may read it. */
export async function writeKubeconfigFile(path: string, text: string): Promise<number> {
  const target = await resolveTarget(path);
  await ensureDir(dirname(target));
  const bytes = Buffer.from(text, "utf8");
  const { meta, exists } = await metaFor(target);
  if (!(await replaceAtomically(target, bytes, meta, exists))) await writeInPlace(target, bytes);
  return meta.mode;
}

/** Errors after which writing in place can still succeed. */
const IN_PLACE = new Set(["EBUSY", "EXDEV", "EACCES", "EPERM", "EROFS"]);

/**
 * Temporary file beside the target with the target's owner and mode, fsync, rename, fsync the directory.
 * Readers see the old file or the new one. Returns false when this way is closed (see IN_PLACE) and
 * an existing file could still be written in place.
 */
async function replaceAtomically(target: string, bytes: Buffer, meta: Meta, exists: boolean): Promise<boolean> {
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, "wx", 0o600);
    await writeAll(handle, bytes);
    const st = await handle.stat();
    if (st.uid !== meta.uid || st.gid !== meta.gid) await handle.chown(meta.uid, meta.gid);
    await handle.chmod(meta.mode); // after chown, which may clear set-id bits
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true });
    if (exists && IN_PLACE.has(code(error) ?? "")) return false;
    throw error;
  }
  await syncDir(dir);
  return true;
}

/**
 * Writes the file where it is (open, write from offset 0, truncate, fsync), as kubectl always does.
 * What "never partial" means here: a write that fails (ENOSPC, EIO...) puts the original bytes back
 * before the error is reported, and every writer that takes the lock (kind-cluster, kubectl) waits for
 * us. What it cannot mean: a reader that takes no lock may see the file mid-write, and a crash or
 * power loss during these few system calls can leave a mix. Use it only where rename cannot work.
 */
async function writeInPlace(target: string, bytes: Buffer): Promise<void> {
  const handle = await open(target, "r+");
  try {
    const original = await handle.readFile();
    try {
      await writeAll(handle, bytes);
      await handle.truncate(bytes.length);
      await handle.sync();
    } catch (error) {
      await writeAll(handle, original)
        .then(() => handle.truncate(original.length))
        .then(() => handle.sync())
        .catch(() => undefined);
      throw error;
    }
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, done);
    done += bytesWritten;
  }
}

/** Makes the rename itself durable; not every filesystem lets a directory be opened for that. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}
