import { parseAllDocuments } from "yaml";
import { workspaceGit } from "../serve/head.js";
import type { ObjectRef } from "./engine.js";

/**
 * Which files of the committed tree (HEAD, what the cluster applies) declare an object, so that a
 * problem names the file to fix. Read-only git, as the Git server and the HEAD watch use it.
 */

export const refKey = (ref: ObjectRef) => `${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;

/** Whether one YAML document declares the object: its kind and name, and its namespace when it says one (an overlay may set it). Pure. */
export function declares(doc: unknown, ref: ObjectRef): boolean {
  const d = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  if (!d || d.kind !== ref.kind || d.metadata?.name !== ref.name) return false;
  return d.metadata.namespace === undefined || ref.namespace === undefined || d.metadata.namespace === ref.namespace;
}

/** The files (paths from the repository's top) at HEAD that declare each object, by refKey. */
export async function locateObjects(repo: string, refs: readonly ObjectRef[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const names = [...new Set(refs.map((r) => r.name))];
  if (names.length === 0) return found;
  // Candidates first (a name: line with one of the names), then each parsed.
  const pattern = `^\\s*name:\\s*["']?(${names.map((n) => n.replace(/[.]/g, "\\.")).join("|")})["']?\\s*$`;
  const grep = await workspaceGit(repo, ["grep", "-l", "--full-name", "-E", "-e", pattern, "HEAD", "--", "*.yaml", "*.yml"]);
  const files = grep.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^HEAD:/, ""));
  for (const file of files) {
    const shown = await workspaceGit(repo, ["show", `HEAD:${file}`]);
    if (shown.exitCode !== 0) continue;
    const docs = parseAllDocuments(shown.stdout).flatMap((d) => {
      try {
        return [d.toJS({ maxAliasCount: 100 }) as unknown];
      } catch {
        return []; // a broken document declares nothing
      }
    });
    for (const ref of refs) {
      if (!docs.some((doc) => declares(doc, ref))) continue;
      const key = refKey(ref);
      found.set(key, [...(found.get(key) ?? []), file]);
    }
  }
  return found;
}

/** The bare file names (no folder) that a build error quotes: `from 'broken.yaml'`, `in File: broken.yaml`. Pure. */
function quotedNames(message: string): string[] {
  return [...new Set([...message.matchAll(/(?:'|File: )([^'\s/]+\.ya?ml)\b/g)].map((m) => m[1]!))];
}

/**
 * kustomize quotes a file by its name alone, relative to the kustomization that lists it: the error
 * gains the paths from the repository's top that it can only mean (a name found in more than three
 * places is left as it is). Pure.
 */
export function withPaths(message: string, files: readonly string[]): string {
  const found = quotedNames(message).flatMap((name) => {
    const paths = files.filter((f) => f === name || f.endsWith(`/${name}`));
    return paths.length <= 3 ? paths : [];
  });
  return found.length ? `${message} (${found.join(", ")})` : message;
}

/** Every file of the working tree, committed or not (ignored ones left out), from the repository's top. */
export async function workingTreeFiles(repo: string): Promise<string[]> {
  const listed = await workspaceGit(repo, ["ls-files", "--cached", "--others", "--exclude-standard", "--full-name"]);
  return listed.exitCode === 0 ? listed.stdout.split("\n").filter(Boolean) : [];
}
