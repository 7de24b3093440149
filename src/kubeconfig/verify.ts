import { isDeepStrictEqual } from "node:util";
import { visit } from "yaml";
import { ZoneError } from "../errors.js";
import { itemNode, parseKubeconfig, SECTION_NAMES, SECTIONS, type Kubeconfig, type Model, type Section } from "./document.js";
import type { Edit } from "./splice.js";

/**
 * The check before every write: read the new text the way kubectl does and compare it with the old
 * one plus exactly our edits. Splicing keeps other bytes, but bytes are not meaning: an anchor inside
 * our item may be aliased by someone else's. If anything else would read differently, nothing is written.
 */
export function checkRewrite(before: Kubeconfig, after: string, edits: readonly Edit[]): void {
  let actual: Model;
  try {
    actual = parseKubeconfig(after, before.path).model;
  } catch (error) {
    const held = edits.flatMap((e) => (e.op === "current-context" ? [] : anchorsIn(before, e.section, e.op === "set" ? e.item.name : e.name)));
    const why = held.length > 0 ? `: ${held.join("; ")}, which other entries alias` : "";
    throw refused(before.path, `would break other entries${why}`, error instanceof ZoneError ? error.detail : String(error));
  }
  const difference = firstDifference(expected(before, edits), actual);
  if (difference) throw refused(before.path, `would change ${difference}`);
}

/** Anchors defined inside an item we replace or delete: the usual reason another entry would break. */
function anchorsIn(kc: Kubeconfig, section: Section, name: string): string[] {
  const node = itemNode(kc, section, name);
  const anchors: string[] = [];
  if (node) visit(node, { Node: (_, n) => void (n.anchor && anchors.push(`&${n.anchor}`)) });
  return anchors.length > 0 ? [`our ${SECTIONS[section]} ${JSON.stringify(name)} holds ${anchors.join(", ")}`] : [];
}

function expected(before: Kubeconfig, edits: readonly Edit[]): Model {
  const model: Model = {
    sections: {
      clusters: new Map(before.model.sections.clusters),
      users: new Map(before.model.sections.users),
      contexts: new Map(before.model.sections.contexts),
    },
    currentContext: before.model.currentContext,
    // An empty file gets a header: see appendDocument.
    rest: before.top ? before.model.rest : { apiVersion: "v1", kind: "Config" },
  };
  for (const edit of edits) {
    if (edit.op === "set") model.sections[edit.section].set(edit.item.name, edit.item);
    if (edit.op === "delete") model.sections[edit.section].delete(edit.name);
    if (edit.op === "current-context") model.currentContext = edit.value;
  }
  return model;
}

/** Names the first entry (and field) that differs, without printing values (they may be secrets). */
function firstDifference(want: Model, got: Model): string | undefined {
  for (const section of SECTION_NAMES) {
    const names = new Set([...want.sections[section].keys(), ...got.sections[section].keys()]);
    for (const name of names) {
      const field = fieldDifference(want.sections[section].get(name), got.sections[section].get(name));
      if (field !== undefined) return `the ${SECTIONS[section]} ${JSON.stringify(name)}${field ? ` (${field})` : ""}`;
    }
  }
  if (want.currentContext !== got.currentContext) return "current-context";
  const field = fieldDifference(want.rest, got.rest);
  return field === undefined ? undefined : `the top-level ${field || "keys"}`;
}

/** undefined when equal; else the dotted path of the first differing field ("" for the value itself). */
function fieldDifference(a: unknown, b: unknown, path = ""): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
  if (!isObject(a) || !isObject(b)) return path;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const inner = fieldDifference(a[key], b[key], path ? `${path}.${key}` : key);
    if (inner !== undefined) return inner;
  }
  return path;
}

function refused(path: string, what: string, detail?: string): ZoneError {
  return new ZoneError({
    zone: "dev container",
    message: `writing our entries to the kubeconfig ${path} ${what}; nothing was written`,
    fix:
      `${path} shares YAML anchors, aliases or merge keys between our entries and others: write the other entries' values out in full ` +
      `(or delete our entries with \`kubectl config delete-cluster\`, \`delete-user\` and \`delete-context\`), then run \`kind-cluster up\` again`,
    detail,
  });
}
