import { type FSWatcher, watch } from "node:fs";
import { readFile, realpath } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { run, type RunResult } from "../proc.js";
import { fileStamp } from "./runtime.js";

/**
 * The workspace's checked-out state (HEAD), and a watcher that notices when it moves: a commit, an
 * amend, a reset, a checkout, a merge. It polls a few small files instead of spawning git on every
 * tick. fs.watch only hastens a look: it misses changes made through a bind mount from another kernel
 * (Docker Desktop's file sharing) and has nothing to give where inotify's limits are exhausted.
 */

export interface Head {
  commit: string;
  /** The short branch name; undefined when HEAD is detached. */
  branch?: string;
}

/**
 * `safe.directory` for every folder from `dir` up to the root: the places git's discovery may stop at
 * from `dir`. A workspace owned by another uid (a bind mount from the host) is then readable, and no
 * other repository is. Pure.
 */
export function safeForDiscovery(dir: string): string[] {
  const dirs = [dir];
  while (dirname(dirs[dirs.length - 1]!) !== dirs[dirs.length - 1]) dirs.push(dirname(dirs[dirs.length - 1]!));
  return dirs.flatMap((d) => ["-c", `safe.directory=${d}`]);
}

/** git compares safe.directory with the real path: a workspace reached through a link is resolved first. */
const safeFrom = async (repo: string) => safeForDiscovery(await realpath(repo).catch(() => resolve(repo)));

// Read-only git: no optional locks (nothing that would refresh the index as a side effect).
const GIT_ENV = { GIT_OPTIONAL_LOCKS: "0" };

/** Read-only git in the workspace, as the HEAD watch runs it (its safe.directory scope, no optional locks). */
export async function workspaceGit(repo: string, args: readonly string[]): Promise<RunResult> {
  return run("git", [...(await safeFrom(repo)), "-C", repo, ...args], { env: GIT_ENV });
}

// ---------------------------------------------------------------------------------------------------
// Pure helpers

/** Parses `git rev-parse HEAD --symbolic-full-name HEAD`: the commit, then `refs/heads/<b>` or `HEAD`. */
export function parseHead(stdout: string): Head {
  const [commit = "", ref = ""] = stdout
    .trim()
    .split("\n")
    .map((line) => line.trim());
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) throw new Error(`unexpected output of git rev-parse: ${JSON.stringify(stdout)}`);
  return ref.startsWith("refs/heads/") ? { commit, branch: ref.slice("refs/heads/".length) } : { commit };
}

/** The ref HEAD points at ("refs/heads/main"), or undefined when HEAD holds a commit (detached). */
export function symbolicRef(headFile: string): string | undefined {
  const match = /^ref:\s*(\S+)\s*$/.exec(headFile.trim());
  return match?.[1];
}

export function sameHead(a: Head | undefined, b: Head | undefined): boolean {
  return a?.commit === b?.commit && a?.branch === b?.branch;
}

// ---------------------------------------------------------------------------------------------------

export async function readHead(repo: string): Promise<Head> {
  const result = await run("git", [...(await safeFrom(repo)), "-C", repo, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], { env: GIT_ENV });
  if (result.exitCode !== 0) throw new Error(`cannot read HEAD of ${repo}: ${result.stderr.trim()}`);
  return parseHead(result.stdout);
}

interface GitDirs {
  /** This work tree's own directory: HEAD lives here (.git, or .git/worktrees/<name> for a linked worktree). */
  gitDir: string;
  /** Shared by all work trees: branches, packed-refs. */
  commonDir: string;
}

async function gitDirs(repo: string): Promise<GitDirs> {
  // Relative answers are relative to `-C`'s folder (older gits have no --path-format=absolute).
  const result = await run("git", [...(await safeFrom(repo)), "-C", repo, "rev-parse", "--git-dir", "--git-common-dir"], { env: GIT_ENV });
  const [gitDir, commonDir] = result.stdout.trim().split("\n");
  if (result.exitCode !== 0 || !gitDir || !commonDir) throw new Error(`not a Git repository: ${repo}: ${result.stderr.trim()}`);
  return { gitDir: resolve(repo, gitDir), commonDir: resolve(repo, commonDir) };
}

async function contentOf(file: string): Promise<string> {
  return readFile(file, "utf8").catch(() => "-");
}

/**
 * A cheap fingerprint of everything that decides HEAD's commit, read without git. HEAD and the loose
 * branch ref are a few bytes each: their content is read rather than stat'ed, because on a filesystem
 * with coarse timestamps a ref rewritten within the same second can keep size, mtime and even the inode
 * number (git writes `<ref>.lock` and renames it, and the freed inode is reused). packed-refs can be
 * large, so its stat stands for it; reftable's table list likewise, for repositories in that format.
 */
async function fingerprint(dirs: GitDirs): Promise<string> {
  const head = await contentOf(join(dirs.gitDir, "HEAD"));
  const ref = symbolicRef(head);
  // Branches are shared (common dir); only a few ref namespaces are per work tree (gitrepository-layout(5)).
  const refFile = ref ? join(/^refs\/(bisect|worktree|rewritten)\//.test(ref) ? dirs.gitDir : dirs.commonDir, ref) : undefined;
  const parts = await Promise.all([
    refFile ? contentOf(refFile) : "",
    fileStamp(join(dirs.commonDir, "packed-refs")),
    fileStamp(join(dirs.commonDir, "reftable", "tables.list")),
  ]);
  return [head, ...parts].join("\0");
}

export interface WatchHeadOptions {
  /** How often the files are polled; default 100 ms. */
  intervalMs?: number;
  /** Whether inotify may hasten a look (default true); false leaves the poll alone, as where inotify sees nothing. */
  inotify?: boolean;
}

export interface HeadWatcher {
  stop(): void;
  /** Resolves to the head the watcher started from (undefined when it could not be read, e.g. no commit yet). */
  ready: Promise<Head | undefined>;
}

/**
 * Calls `onChange` once whenever HEAD's commit or branch differs from the last one seen; the state at
 * the start is not reported (read it from `ready`). git runs only when the fingerprint changed.
 */
export function watchHead(repo: string, onChange: (head: Head) => void, options: WatchHeadOptions = {}): HeadWatcher {
  // A few stat calls a tick: cheap enough to look often, and a commit's wait starts here.
  const intervalMs = options.intervalMs ?? 100;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let dirs: GitDirs | undefined;
  let lastPrint = "";
  let lastHead: Head | undefined;
  let started = false; // the first check sets the baseline, which is not a change
  let soon = false; // a file changed while a look was under way: look again at once
  const watchers: FSWatcher[] = [];

  // The fingerprint is taken before git reads HEAD: a change racing with the read shows at the next tick.
  async function check(): Promise<void> {
    dirs ??= await gitDirs(repo);
    const print = await fingerprint(dirs);
    if (print === lastPrint) return;
    lastPrint = print;
    const head = await readHead(repo).catch(() => undefined);
    if (!head || sameHead(head, lastHead)) return;
    lastHead = head;
    if (started && !stopped) {
      try {
        onChange(head);
      } catch (error) {
        process.emitWarning(`watchHead: onChange threw: ${(error as Error).message}`);
      }
    }
  }

  const tick = () => {
    timer = undefined;
    soon = false;
    void check()
      .catch(() => undefined) // the repository may be briefly unreadable (a rebuild, a re-clone): try again
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, soon ? 0 : intervalMs);
      });
  };

  /** A file in the git directory or among the branches changed: the next look is now. */
  const hasten = () => {
    if (timer) {
      clearTimeout(timer);
      tick();
    } else soon = true;
  };

  /** Where git renames HEAD and the branches into place; a branch in a folder (a/b) is left to the poll. */
  const watchDirs = (found: GitDirs) => {
    for (const dir of new Set([found.gitDir, found.commonDir, join(found.commonDir, "refs", "heads")])) {
      try {
        watchers.push(watch(dir, { persistent: false }, hasten).on("error", () => undefined));
      } catch {
        // No inotify here (or none left): the poll alone.
      }
    }
  };

  const ready = check()
    .catch(() => undefined)
    .then(() => {
      started = true;
      if (dirs && !stopped && options.inotify !== false) watchDirs(dirs);
      if (!stopped) timer = setTimeout(tick, intervalMs);
      return lastHead;
    });

  return {
    ready,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
