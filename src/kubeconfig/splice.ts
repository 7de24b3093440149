import { isScalar, isSeq, type Node, type YAMLMap, type YAMLSeq } from "yaml";
import { ZoneError } from "../errors.js";
import { itemIndex, pairOf, type Item, type Kubeconfig, type Section } from "./document.js";

/**
 * Edits a kubeconfig by splicing its text: only the bytes of our own items (or the place where a new
 * one goes) change; every other byte, comment and anchor stays where it was. A yaml round trip cannot
 * promise that: it re-renders every scalar (an empty `|-` with a comment, `010`). Pure: text in, text out.
 */

export type Edit =
  /** Replace the item of that name, or append it. */
  { op: "set"; section: Section; item: Item } | { op: "delete"; section: Section; name: string } | { op: "current-context"; value: string };

/** Replace [start, end) of the original text; an insertion has start === end. */
interface Patch {
  start: number;
  end: number;
  text: string;
  /** A new top-level key: after any item appended to the list that ends at the same place. */
  newKey?: boolean;
}

/** The file being edited, with the line break it uses (a CRLF file stays CRLF). */
interface Source {
  kc: Kubeconfig;
  top: YAMLMap;
  text: string;
  eol: string;
}

export function applyEdits(kc: Kubeconfig, edits: readonly Edit[]): string {
  const eol = kc.text.includes("\r\n") ? "\r\n" : "\n";
  if (!kc.top) return appendDocument(kc.text, edits, eol);
  const src: Source = { kc, top: kc.top, text: kc.text, eol };
  const patches = edits.flatMap((edit) => {
    if (edit.op === "current-context") return setKey(src, "current-context", edit.value);
    if (edit.op === "delete") return deleteItem(src, edit.section, edit.name);
    return setItem(src, edit.section, edit.item);
  });
  return applyPatches(kc.text, patches);
}

function applyPatches(text: string, patches: Patch[]): string {
  // At one place, items appended to the list ending there come before new keys (else they would join
  // the new key's list); otherwise the stable sort keeps the order the edits were given.
  const sorted = [...patches].sort((a, b) => a.start - b.start || Number(a.newKey ?? false) - Number(b.newKey ?? false));
  let out = "";
  let at = 0;
  for (const p of sorted) {
    if (p.start < at) throw new Error(`overlapping kubeconfig edits at offset ${p.start}`);
    out += text.slice(at, p.start) + p.text;
    at = p.end;
  }
  return out + text.slice(at);
}

// ---- rendering our own items (maps of strings) ----

/**
 * A scalar for a block context: plain only when no YAML 1.1 reader (go-yaml v2 included) could take it
 * for anything but this string; otherwise JSON's double quotes, which YAML reads the same way.
 */
function scalar(value: string): string {
  const plain = /^[A-Za-z][A-Za-z0-9._/+=:@-]*$/.test(value) && !/^(y|n|yes|no|on|off|true|false|null)$/i.test(value) && !value.endsWith(":");
  return plain ? value : JSON.stringify(value);
}

/** A map as block lines; the lines after the first are indented to `col`, where the first key sits. */
function blockMap(value: Record<string, unknown>, col: number, eol: string): string {
  const lines: string[] = [];
  const walk = (map: Record<string, unknown>, indent: string) => {
    for (const [key, v] of Object.entries(map)) {
      if (typeof v === "string") lines.push(`${indent}${scalar(key)}: ${scalar(v)}`);
      else {
        lines.push(`${indent}${scalar(key)}:`);
        walk(v as Record<string, unknown>, `${indent}  `);
      }
    }
  };
  walk(value, "");
  return lines.map((line, i) => (i === 0 ? line : " ".repeat(col) + line)).join(eol);
}

/** JSON for a flow context: one line, or indented to `col` when the collection spans lines. */
function flowValue(value: unknown, multiline: boolean, col: number, eol: string): string {
  if (!multiline) return JSON.stringify(value);
  return JSON.stringify(value, null, 2)
    .split("\n")
    .join(eol + " ".repeat(col));
}

// ---- positions ----

function lineStart(text: string, pos: number): number {
  return text.lastIndexOf("\n", pos - 1) + 1;
}

/** The start of the line after `pos` (past a trailing comment), or the end of the text. */
function lineEnd(text: string, pos: number): number {
  if (pos > 0 && text[pos - 1] === "\n") return pos;
  const nl = text.indexOf("\n", pos);
  return nl < 0 ? text.length : nl + 1;
}

/** Columns count from the start of the line; a byte-order mark before the first line takes none. */
function column(text: string, pos: number): number {
  const start = lineStart(text, pos);
  return pos - start - (text[start] === "\uFEFF" ? 1 : 0);
}
const range = (node: unknown) => (node as Node | null)?.range ?? undefined;
const isFlow = (node: YAMLMap | YAMLSeq) => node.srcToken?.type === "flow-collection";
const isNull = (node: unknown) => node === null || (isScalar(node) && node.value === null);
const spaces = (n: number) => " ".repeat(n);

/** An insertion of whole lines at the start of a line (`at` from lineEnd), adding a missing final line break. */
function onNewLine(src: Source, at: number, body: string): Patch {
  const lead = at > 0 && src.text[at - 1] !== "\n" ? src.eol : "";
  return { start: at, end: at, text: lead + body + src.eol };
}

/**
 * New lines that belong after the node ending at `end`. Where that is the end of a text without a final
 * line break, they go before `fallback` (a line start) instead: adding the break would change a block
 * scalar ending there (`|` reads "x" at the very end of a file, "x\n" before a line break).
 */
function linesAfter(src: Source, end: number, fallback: number, body: string): Patch {
  const at = lineEnd(src.text, end);
  if (at === src.text.length && !src.text.endsWith("\n")) return { start: fallback, end: fallback, text: body + src.eol };
  return onNewLine(src, at, body);
}

function cannotEdit(path: string, what: string): ZoneError {
  return new ZoneError({
    zone: "dev container",
    message: `cannot edit the kubeconfig ${path}: ${what}; it was left untouched`,
    fix: `write that part of ${path} as a plain YAML list or value (no alias or merge key), then run \`kind-cluster up\` again`,
  });
}

/** The list of a section as the text holds it, if there is one to edit. */
function listOf(src: Source, section: Section): YAMLSeq | undefined {
  const pair = pairOf(src.top, section);
  if (!pair || isNull(pair.value)) return undefined;
  if (!isSeq(pair.value)) throw cannotEdit(src.kc.path, `${section} is not written as a list (an alias or merge key?)`);
  return pair.value;
}

/**
 * Each item's span: from its `- ` (block) or its anchor, tag or value (flow) to the end of its value.
 * Replacing or removing the whole span takes the item's own anchor with it.
 */
function itemSpans(src: Source, seq: YAMLSeq): { start: number; end: number }[] {
  const cst = seq.srcToken;
  const starts =
    cst?.type === "block-seq"
      ? cst.items.map((it) => it.start.find((t) => t.type === "seq-item-ind")?.offset)
      : cst?.type === "flow-collection"
        ? cst.items.filter((it) => it.value).map((it) => it.start.find((t) => t.type === "anchor" || t.type === "tag")?.offset ?? it.value?.offset)
        : [];
  if (starts.length !== seq.items.length) throw cannotEdit(src.kc.path, "a list could not be located in its text");
  return seq.items.map((item, i) => {
    const start = starts[i];
    const end = range(item)?.[1];
    if (start === undefined || end === undefined) throw cannotEdit(src.kc.path, "a list item could not be located in its text");
    return { start, end };
  });
}

// ---- the edits ----

function setItem(src: Source, section: Section, item: Item): Patch[] {
  const seq = listOf(src, section);
  if (!seq) return newList(src, section, item);
  const spans = itemSpans(src, seq);
  const index = itemIndex(src.kc, section, item.name);
  return isFlow(seq) ? setFlowItem(src, seq, spans, index, item) : setBlockItem(src, spans, index, item);
}

function setBlockItem(src: Source, spans: { start: number; end: number }[], index: number, item: Item): Patch[] {
  const { text, eol } = src;
  const span = spans[index];
  if (span) {
    const end = lineEnd(text, span.end);
    const tail = text.slice(span.start, end).endsWith("\n") ? eol : "";
    return [{ start: span.start, end, text: `- ${blockMap(item, column(text, span.start) + 2, eol)}${tail}` }];
  }
  const last = spans[spans.length - 1]!;
  const dash = column(text, last.start);
  return [linesAfter(src, last.end, lineStart(text, last.start), `${spaces(dash)}- ${blockMap(item, dash + 2, eol)}`)];
}

function setFlowItem(src: Source, seq: YAMLSeq, spans: { start: number; end: number }[], index: number, item: Item): Patch[] {
  const { text, eol } = src;
  const [open, close] = range(seq)!;
  const multiline = text.slice(open, close).includes("\n");
  const span = spans[index];
  if (span) return [{ start: span.start, end: span.end, text: flowValue(item, multiline, column(text, span.start), eol) }];
  const last = spans[spans.length - 1];
  if (!last) return [{ start: open + 1, end: open + 1, text: flowValue(item, false, 0, eol) }];
  const col = column(text, last.start);
  return [{ start: last.end, end: last.end, text: `,${multiline ? eol + spaces(col) : " "}${flowValue(item, multiline, col, eol)}` }];
}

function deleteItem(src: Source, section: Section, name: string): Patch[] {
  const seq = listOf(src, section);
  const index = itemIndex(src.kc, section, name);
  if (!seq || index < 0) return [];
  const spans = itemSpans(src, seq);
  const span = spans[index]!;
  // Block: the item's whole lines. A list left without items reads as null, an empty list to kubectl.
  if (!isFlow(seq)) return [{ start: lineStart(src.text, span.start), end: lineEnd(src.text, span.end), text: "" }];
  // Flow: one comma goes with the item, the one after it when a next item exists, else the one before.
  const next = spans[index + 1];
  const prev = spans[index - 1];
  if (next) return [{ start: span.start, end: next.start, text: "" }];
  if (prev) return [{ start: prev.end, end: span.end, text: "" }];
  return [{ start: span.start, end: span.end, text: "" }];
}

/** A list key that is missing or null (`clusters:`, `"clusters": null`) becomes a one-item list. */
function newList(src: Source, section: Section, item: Item): Patch[] {
  const pair = pairOf(src.top, section);
  const valueRange = range(pair?.value);
  if (isFlow(src.top)) {
    const list = `[${flowValue(item, false, 0, src.eol)}]`;
    return valueRange ? [{ start: valueRange[0], end: valueRange[1], text: list }] : [newFlowKey(src, section, list)];
  }
  const col = keyColumn(src);
  const lines = `${spaces(col)}- ${blockMap(item, col + 2, src.eol)}`;
  if (!valueRange) return [newBlockKey(src, `${spaces(col)}${section}:${src.eol}${lines}`)];
  // `clusters: null # note` keeps its key and comment; the list goes on the lines below.
  const [start, end] = valueRange;
  return [{ start, end, text: "" }, onNewLine(src, lineEnd(src.text, end), lines)];
}

/** Sets a top-level string (current-context), in place or as a new key. */
function setKey(src: Source, key: string, value: string): Patch[] {
  const flow = isFlow(src.top);
  const rendered = flow ? JSON.stringify(value) : scalar(value);
  const valueRange = range(pairOf(src.top, key)?.value);
  if (!valueRange) return [flow ? newFlowKey(src, key, rendered) : newBlockKey(src, `${spaces(keyColumn(src))}${key}: ${rendered}`)];
  const [start, end] = valueRange;
  // An empty value sits right after its colon; a block scalar's range ends with its line break.
  const lead = src.text[start - 1] === ":" ? " " : "";
  const tail = src.text.slice(start, end).endsWith("\n") ? src.eol : "";
  return [{ start, end, text: lead + rendered + tail }];
}

const keyColumn = (src: Source) => column(src.text, range(src.top.items[0]?.key ?? src.top)?.[0] ?? 0);

function lastValueEnd(top: YAMLMap): number | undefined {
  const last = top.items[top.items.length - 1];
  return last ? range(last.value ?? last.key)?.[1] : undefined;
}

function newBlockKey(src: Source, lines: string): Patch {
  const lastKey = range(src.top.items[src.top.items.length - 1]?.key)?.[0] ?? 0;
  return { ...linesAfter(src, lastValueEnd(src.top) ?? src.text.length, lineStart(src.text, lastKey), lines), newKey: true };
}

function newFlowKey(src: Source, key: string, value: string): Patch {
  const [open, close] = range(src.top)!;
  const end = lastValueEnd(src.top);
  const pair = `${JSON.stringify(key)}: ${value}`;
  if (end === undefined) return { start: open + 1, end: open + 1, text: pair, newKey: true };
  const multiline = src.text.slice(open, close).includes("\n");
  return { start: end, end, text: `,${multiline ? src.eol + spaces(keyColumn(src)) : " "}${pair}`, newKey: true };
}

/** An empty (or comments-only) file: a complete kubeconfig after whatever comments it held. */
function appendDocument(text: string, edits: readonly Edit[], eol: string): string {
  const lines = ["apiVersion: v1", "kind: Config"];
  for (const edit of edits) {
    if (edit.op === "set") lines.push(`${edit.section}:`, `- ${blockMap(edit.item, 2, eol)}`);
    if (edit.op === "current-context") lines.push(`current-context: ${scalar(edit.value)}`);
  }
  const lead = text !== "" && !text.endsWith("\n") ? eol : "";
  return text + lead + lines.join(eol) + eol;
}
