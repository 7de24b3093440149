import type { GitOpsEngine } from "./engine.js";
import { fluxEngine } from "./flux/index.js";

/** The GitOps engines, by the value of the `gitops` option. */
const ENGINES: Record<string, GitOpsEngine> = { flux: fluxEngine };

export function gitopsEngine(name: string): GitOpsEngine {
  const engine = ENGINES[name];
  if (!engine) throw new Error(`no GitOps engine named ${name}`);
  return engine;
}
