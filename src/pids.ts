import { readFile } from "node:fs/promises";

/** Facts about processes of this pid namespace, from /proc: who is alive, and which process a pid is now. */

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
export async function procStat(pid: number | "self"): Promise<{ pid: number; state: string; start: string } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (!text) return undefined;
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pid: Number(text.slice(0, text.indexOf(" "))), state: fields[0] ?? "", start: fields[19] ?? "" };
}

/**
 * The pid's start time (clock ticks since boot), which tells a process from a later one that reuses
 * its pid: null when no such process lives (or only its zombie), undefined when it cannot be told.
 */
export async function processStart(pid: number): Promise<string | null | undefined> {
  const stat = await procStat(pid);
  if (stat) return stat.state === "Z" || stat.state === "X" ? null : stat.start;
  try {
    process.kill(pid, 0);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH" ? null : undefined;
  }
}
