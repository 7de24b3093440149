import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * The developer's SOPS age key in zone 1, found where sops itself looks on Linux: the variable
 * SOPS_AGE_KEY (the identities themselves), the file SOPS_AGE_KEY_FILE names, and
 * $XDG_CONFIG_HOME/sops/age/keys.txt (~/.config/sops/age/keys.txt); sops reads every one of them.
 * The key is only ever handed to the GitOps engine, which stores it in the cluster through the API:
 * never on a command line, in a log, or in the workspace.
 */

export interface AgeKey {
  /** The identities, one per line: the secret itself. */
  secret: string;
  /** How many identities. */
  count: number;
  /** Where they came from (the variable's name or the files), for messages. */
  sources: string[];
}

/** The files sops reads age identities from, in its order. Pure. */
export function ageKeyFiles(env: NodeJS.ProcessEnv, home: string): string[] {
  const files: string[] = [];
  if (env.SOPS_AGE_KEY_FILE) files.push(env.SOPS_AGE_KEY_FILE);
  files.push(join(env.XDG_CONFIG_HOME || join(home, ".config"), "sops", "age", "keys.txt"));
  return files;
}

/** The age identities in a keys file's text: its AGE-SECRET-KEY-1… lines (age-keygen adds comments). Pure. */
export function ageIdentities(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(line));
}

/** Every identity sops would use here, or undefined when there is none. */
export async function readAgeKey(env: NodeJS.ProcessEnv = process.env, home = homedir()): Promise<AgeKey | undefined> {
  const found: Array<[string, string[]]> = [];
  if (env.SOPS_AGE_KEY) found.push(["SOPS_AGE_KEY", ageIdentities(env.SOPS_AGE_KEY)]);
  for (const file of ageKeyFiles(env, home)) {
    const text = await readFile(file, "utf8").catch(() => undefined);
    if (text !== undefined) found.push([file, ageIdentities(text)]);
  }
  const identities = [...new Set(found.flatMap(([, ids]) => ids))];
  if (identities.length === 0) return undefined;
  return { secret: `${identities.join("\n")}\n`, count: identities.length, sources: found.filter(([, ids]) => ids.length).map(([where]) => where) };
}
