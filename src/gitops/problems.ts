import type { GitOpsProblem } from "./engine.js";
import { locateObjects, refKey } from "./locate.js";

/** A problem of the loop with the files of the committed tree that declare the objects it names. */
export interface LocatedProblem extends GitOpsProblem {
  files: string[];
}

/** Each problem with its files (the subject's first); none found, none named. */
export async function locateProblems(repo: string | undefined, problems: readonly GitOpsProblem[]): Promise<LocatedProblem[]> {
  const found =
    repo && problems.length
      ? await locateObjects(
          repo,
          problems.flatMap((p) => p.refs),
        ).catch(() => new Map<string, string[]>())
      : new Map();
  return problems.map((p) => ({ ...p, files: [...new Set(p.refs.flatMap((r) => found.get(refKey(r)) ?? []))] }));
}

/** "Kustomization/flux-system/apps (clusters/local/apps.yaml): <Flux's message>". Pure. */
export function problemText(p: Pick<LocatedProblem, "subject" | "files" | "message">): string {
  return `${p.subject}${p.files.length ? ` (${p.files.join(", ")})` : ""}: ${p.message}`;
}
