import { entryFromItems, entryItems, parseKubeconfig, sameItem, SECTION_NAMES, type ClusterEntry, type Kubeconfig, type Section } from "./document.js";
import { applyEdits, type Edit } from "./splice.js";
import { checkRewrite } from "./verify.js";

/**
 * Which file of a KUBECONFIG list gets which change, by client-go's rules (tools/clientcmd: loader.go
 * Load, config.go ModifyConfig, GetDefaultFilename, writeCurrentContext), so that we write where
 * `kubectl config set-*` would. Pure: file texts in, new file texts out, every one checked.
 *
 * - Reading merges the files in order: the first file naming a cluster, user or context wins, and the
 *   first non-empty current-context wins.
 * - A changed item is written to the file it came from; a new one to the default file: the only file
 *   of the list, else the first that exists, else the last.
 * - A non-empty current-context goes to the default file; clearing it clears the first file setting it.
 * - A deleted item is deleted from the file it came from.
 */

export interface SourceFile {
  path: string;
  /** undefined when the file does not exist. */
  text?: string;
}

export interface Rewrite {
  path: string;
  text: string;
}

interface Loaded {
  path: string;
  exists: boolean;
  kc: Kubeconfig;
}

function load(files: readonly SourceFile[]): Loaded[] {
  return files.map((f) => ({ path: f.path, exists: f.text !== undefined, kc: parseKubeconfig(f.text ?? "", f.path) }));
}

function defaultFile(loaded: Loaded[]): number {
  if (loaded.length === 1) return 0;
  const existing = loaded.findIndex((f) => f.exists);
  return existing >= 0 ? existing : loaded.length - 1;
}

const originOf = (loaded: Loaded[], section: Section, name: string) => loaded.findIndex((f) => f.kc.model.sections[section].has(name));
const currentContextFile = (loaded: Loaded[]) => loaded.findIndex((f) => f.kc.model.currentContext !== "");

/** What kubectl sees for our entry across the list: the entry, if complete, and the current context. */
export function mergedView(files: readonly SourceFile[], name: string): { entry?: ClusterEntry; currentContext?: string } {
  const loaded = load(files);
  const item = (section: Section) => loaded[originOf(loaded, section, name)]?.kc.model.sections[section].get(name);
  const current = loaded[currentContextFile(loaded)]?.kc.model.currentContext;
  return { entry: entryFromItems(name, item("clusters"), item("users")), currentContext: current || undefined };
}

/** Our cluster, user and context written (where each belongs) and made current (unless asked not to, while another is). */
export function planExport(files: readonly SourceFile[], entry: ClusterEntry, makeCurrent = true): Rewrite[] {
  const loaded = load(files);
  const edits = loaded.map((): Edit[] => []);
  const items = entryItems(entry);
  for (const section of SECTION_NAMES) {
    const origin = originOf(loaded, section, entry.name);
    if (origin >= 0 && sameItem(loaded[origin]!.kc.model.sections[section].get(entry.name), items[section])) continue;
    edits[origin >= 0 ? origin : defaultFile(loaded)]!.push({ op: "set", section, item: items[section] });
  }
  const current = loaded[currentContextFile(loaded)]?.kc.model.currentContext;
  if (current !== entry.name && (makeCurrent || !current)) edits[defaultFile(loaded)]!.push({ op: "current-context", value: entry.name });
  return rewrites(loaded, edits);
}

/** Our three entries deleted from the files that hold them; current-context cleared if it was ours. */
export function planRemove(files: readonly SourceFile[], name: string): Rewrite[] {
  const loaded = load(files);
  const edits = loaded.map((): Edit[] => []);
  for (const section of SECTION_NAMES) {
    const origin = originOf(loaded, section, name);
    if (origin >= 0) edits[origin]!.push({ op: "delete", section, name });
  }
  const setter = currentContextFile(loaded);
  if (setter >= 0 && loaded[setter]!.kc.model.currentContext === name) edits[setter]!.push({ op: "current-context", value: "" });
  return rewrites(loaded, edits);
}

/** Every new text is checked before any is returned: one refused file means no file is written. */
function rewrites(loaded: Loaded[], edits: Edit[][]): Rewrite[] {
  const out: Rewrite[] = [];
  loaded.forEach((file, i) => {
    const fileEdits = edits[i]!;
    if (fileEdits.length === 0) return;
    const text = applyEdits(file.kc, fileEdits);
    checkRewrite(file.kc, text, fileEdits);
    if (text !== file.kc.text) out.push({ path: file.path, text });
  });
  return out;
}
