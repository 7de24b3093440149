/**
 * Seeded, reproducible kubeconfigs that kubectl reads but a YAML round trip would not keep: comments
 * everywhere, block scalars (with header comments, all chompings, empty), quoted and odd strings, YAML
 * 1.1 numbers and booleans, anchors, aliases and merge keys, flow and block collections, extensions,
 * JSON files, CRLF, a BOM, document markers. Each holds our entry `kind-prop` in some of its lists.
 */

export const OURS = "kind-prop";

export interface Generated {
  text: string;
  /** Another entry aliases an anchor inside our entry: replacing ours must be refused. */
  oursAliased: boolean;
  style: "block" | "json";
}

// ---- a seeded random source (mulberry32) ----

class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---- a small YAML tree that remembers how each part is written ----

type StrStyle = "plain" | "single" | "double" | "literal" | "folded";
type G =
  | { t: "str"; value: string; style: StrStyle; chomp?: "" | "-" | "+"; header?: string; anchor?: string; comment?: string }
  | { t: "lit"; text: string; json: unknown; anchor?: string; comment?: string } // a YAML 1.1 number, boolean or null as written
  | { t: "alias"; name: string; json: unknown }
  | { t: "map"; pairs: Pair[]; flow: boolean; anchor?: string; merge?: string }
  | { t: "seq"; items: G[]; flow: boolean; anchor?: string };
interface Pair {
  key: G;
  value: G;
  before?: string; // a comment line above the pair
}

const COMMENTS = ["# comment", "# rotated by hand", "#no space", "# key: value", "# - not an item", "#", "# ünïcode ✓", "# 'quote' \"dq\""];
const ODD_STRINGS = [
  "yes",
  "No",
  "on",
  "OFF",
  "y",
  "n",
  "true",
  "null",
  "~",
  "010",
  "0x1F",
  "0o17",
  "1e3",
  "1_000",
  ".5",
  "-7",
  "2001-12-14",
  "12:30:45",
  "# not a comment",
  "a: b",
  "a #b",
  " leading",
  "trailing ",
  "",
  "tab\there",
  "line1\nline2",
  "quote'single",
  'quote"double',
  "back\\slash",
  "ñandú 名前 😀",
  "[brackets]",
  "{braces}",
  "- dash",
  "? q",
  "@at",
  "`tick",
  "%pct",
  "*star",
  "&amp",
  "!bang",
  "|pipe",
  ">gt",
  ",comma",
  "=",
  "<<",
];
const WORDS = ["alpha", "beta", "gamma", "prod", "eu-west", "team.a", "svc/api", "x_y", "Z9"];
/** Numbers, booleans and nulls with how kubectl (go-yaml v2, then JSON) reads them; only used inside extensions. */
const LITERALS: [string, unknown][] = [
  ["010", 8],
  ["0x1F", 31],
  ["1_000", 1000],
  ["-7", -7],
  ["+12", 12],
  [".5", 0.5],
  ["1.0", 1],
  ["6.02e+23", 6.02e23],
  ["yes", true],
  ["no", false],
  ["on", true],
  ["Off", false],
  ["y", true],
  ["True", true],
  ["~", null],
  ["null", null],
];
const BOOLEANS = ["true", "false", "yes", "no", "on", "off", "True", "FALSE", "y", "n"];
/** Extension keys whose YAML 1.1 readings are all different (`yes` is the key "true"). */
const EXTENSION_KEYS: G[] = [
  { t: "str", value: "alpha", style: "plain" },
  { t: "str", value: "beta", style: "double" },
  { t: "str", value: "key with spaces", style: "single" },
  { t: "lit", text: "yes", json: true },
  { t: "lit", text: "010", json: 8 },
  { t: "lit", text: "0x1F", json: 31 },
  { t: "str", value: "ünï", style: "plain" },
];

const SAFE_PLAIN = /^[A-Za-z][A-Za-z0-9._/-]*$/;
const YAML11_WORDS = /^(y|n|yes|no|on|off|true|false|null)$/i;
const plainOk = (s: string) => SAFE_PLAIN.test(s) && !YAML11_WORDS.test(s);

class Builder {
  private anchors = 0;
  /** Anchors defined so far, by what they hold: an alias may only stand where that kind of value fits. */
  readonly defined: Record<"string" | "base64" | "cluster" | "user" | "context" | "ext", string[]> = {
    string: [],
    base64: [],
    cluster: [],
    user: [],
    context: [],
    ext: [],
  };
  constructor(readonly r: Random) {}

  anchor(kind: keyof Builder["defined"], p = 0.12): string | undefined {
    if (!this.r.chance(p)) return undefined;
    const name = `${kind.slice(0, 2)}${++this.anchors}`;
    this.defined[kind].push(name);
    return name;
  }

  alias(kind: keyof Builder["defined"], p = 0.15): G | undefined {
    const names = this.defined[kind];
    return names.length > 0 && this.r.chance(p) ? { t: "alias", name: this.r.pick(names), json: undefined } : undefined;
  }

  comment(p = 0.2): string | undefined {
    return this.r.chance(p) ? this.r.pick(COMMENTS) : undefined;
  }

  /** A string in a style that keeps it a string for every YAML 1.1 reader. */
  str(value: string, anchorKind?: "string" | "base64"): G {
    const r = this.r;
    const lines = value.split("\n");
    const blockable = value !== "" && lines.every((l) => l !== "" && !/^\s/.test(l) && !/\s$/.test(l));
    const styles: StrStyle[] = ["double"];
    if (plainOk(value)) styles.push("plain", "plain", "plain");
    if (!value.includes("\n")) styles.push("single");
    if (blockable) styles.push("literal", "folded");
    const style = r.pick(styles);
    const node: G = { t: "str", value, style, anchor: anchorKind && this.anchor(anchorKind), comment: this.comment(0.1) };
    if (style === "literal" || style === "folded") Object.assign(node, { chomp: r.pick(["", "-", "+"] as const), header: this.comment(0.4) });
    // Folded text is read back with its line breaks as spaces: keep it to one line.
    if (style === "folded" && value.includes("\n")) node.style = "literal";
    return node;
  }

  oddString(): string {
    const r = this.r;
    return r.chance(0.5) ? r.pick(ODD_STRINGS) : `${r.pick(WORDS)}${r.chance(0.3) ? `-${r.int(100)}` : ""}`;
  }

  base64(): G {
    const r = this.r;
    const bytes = Buffer.from(Array.from({ length: 3 + r.int(60) }, () => r.int(256)));
    const text = bytes.toString("base64");
    const aliased = this.alias("base64", 0.1);
    if (aliased) return aliased;
    // Go's base64 skips line breaks: a wrapped literal block is a valid value too.
    if (text.length > 40 && r.chance(0.2))
      return { t: "str", value: text.replace(/(.{32})/g, "$1\n").replace(/\n$/, ""), style: "literal", chomp: r.pick(["", "-"] as const) };
    return { ...(this.str(text, "base64") as G & { t: "str" }), style: plainOk(text) && r.chance(0.5) ? "plain" : "double" };
  }

  bool(): G {
    return { t: "lit", text: this.r.pick(BOOLEANS), json: undefined, comment: this.comment(0.1) };
  }

  map(pairs: [G | string, G | undefined][], flowP = 0.1, anchor?: string): G {
    const r = this.r;
    const list: Pair[] = pairs
      .filter((p): p is [G | string, G] => p[1] !== undefined)
      .map(([key, value]) => ({ key: typeof key === "string" ? this.key(key) : key, value, before: this.comment(0.12) }));
    return { t: "map", pairs: list, flow: r.chance(flowP), anchor };
  }

  key(name: string): G {
    return { t: "str", value: name, style: this.r.chance(0.1) ? "double" : "plain" };
  }

  /** Any extension value: nested maps and lists of odd scalars. */
  extensionValue(depth = 0): G {
    const r = this.r;
    const aliased = this.alias("ext", 0.1);
    if (aliased) return aliased;
    const kind = depth > 1 ? r.int(2) : r.int(4);
    if (kind === 0) {
      const [text, json] = r.pick(LITERALS);
      return { t: "lit", text, json, comment: this.comment(0.1) };
    }
    if (kind === 1) return this.str(this.oddString(), "string");
    if (kind === 2)
      return { t: "seq", items: Array.from({ length: r.int(3) }, () => this.extensionValue(depth + 1)), flow: r.chance(0.4), anchor: this.anchor("ext", 0.1) };
    return this.extensionMap(depth + 1);
  }

  extensionMap(depth = 0): G {
    const r = this.r;
    const keys = [...EXTENSION_KEYS].sort(() => r.next() - 0.5).slice(0, 1 + r.int(3));
    return this.map(
      keys.map((k) => [k, this.extensionValue(depth)]),
      0.3,
      this.anchor("ext", 0.1),
    );
  }

  extensions(): G | undefined {
    const r = this.r;
    if (!r.chance(0.3)) return undefined;
    const names = [...WORDS].sort(() => r.next() - 0.5).slice(0, 1 + r.int(2));
    return {
      t: "seq",
      items: names.map((n) =>
        this.map([
          ["name", this.str(n)],
          ["extension", this.extensionMap()],
        ]),
      ),
      flow: r.chance(0.15),
    };
  }
}

// ---- the entries ----

function clusterBody(b: Builder): G {
  const r = b.r;
  const aliased = b.alias("cluster", 0.1);
  if (aliased) return aliased;
  const body = b.map(
    [
      [
        "server",
        b.alias("string") ?? b.str(r.chance(0.7) ? `https://${r.pick(WORDS).replace(/[/_]/g, "-")}.example:${1000 + r.int(9000)}` : b.oddString(), "string"),
      ],
      ["certificate-authority-data", r.chance(0.7) ? b.base64() : undefined],
      ["insecure-skip-tls-verify", r.chance(0.25) ? b.bool() : undefined],
      ["tls-server-name", r.chance(0.2) ? b.str(b.oddString(), "string") : undefined],
      ["proxy-url", r.chance(0.1) ? b.str("http://proxy.example:3128") : undefined],
      ["disable-compression", r.chance(0.1) ? b.bool() : undefined],
      ["extensions", b.extensions()],
      ["x-unknown-field", r.chance(0.1) ? b.str(b.oddString()) : undefined],
    ],
    0.15,
    b.anchor("cluster"),
  );
  const base = b.defined.cluster.filter((a) => a !== (body as { anchor?: string }).anchor);
  if (body.t === "map" && !body.flow && base.length > 0 && r.chance(0.1)) body.merge = r.pick(base);
  return body;
}

function userBody(b: Builder): G {
  const r = b.r;
  const aliased = b.alias("user", 0.1);
  if (aliased) return aliased;
  const kind = r.int(5);
  const token = (): G => {
    if (r.chance(0.3)) return { t: "str", value: "", style: "literal", chomp: "-", header: "# rotated by hand" };
    return b.str(r.chance(0.5) ? `${r.pick(WORDS)}-token\nsecond line` : b.oddString(), "string");
  };
  const pairs: [string, G | undefined][] =
    kind === 0
      ? [["token", token()]]
      : kind === 1
        ? [
            ["client-certificate-data", b.base64()],
            ["client-key-data", b.base64()],
          ]
        : kind === 2
          ? [
              ["username", b.str(b.oddString())],
              ["password", b.str(b.oddString(), "string")],
            ]
          : kind === 3
            ? [
                [
                  "exec",
                  b.map([
                    ["apiVersion", b.str("client.authentication.k8s.io/v1beta1")],
                    ["command", b.str(r.pick(["kubelogin", "aws", "gke-gcloud-auth-plugin"]))],
                    ["args", { t: "seq", items: Array.from({ length: r.int(4) }, () => b.str(b.oddString())), flow: r.chance(0.5) }],
                    [
                      "env",
                      r.chance(0.3)
                        ? {
                            t: "seq",
                            items: [
                              b.map([
                                ["name", b.str("AWS_PROFILE")],
                                ["value", b.str(b.oddString())],
                              ]),
                            ],
                            flow: false,
                          }
                        : undefined,
                    ],
                    ["interactiveMode", r.chance(0.3) ? b.str(r.pick(["Never", "IfAvailable", "Always"])) : undefined],
                    ["provideClusterInfo", r.chance(0.2) ? b.bool() : undefined],
                  ]),
                ],
              ]
            : [
                [
                  "auth-provider",
                  b.map([
                    ["name", b.str("oidc")],
                    [
                      "config",
                      b.map([
                        ["client-id", b.str(b.oddString())],
                        ["idp-issuer-url", b.str("https://idp.example")],
                      ]),
                    ],
                  ]),
                ],
              ];
  return b.map([...pairs, ["extensions", b.extensions()]], 0.15, b.anchor("user"));
}

function contextBody(b: Builder, names: { clusters: string[]; users: string[] }): G {
  const r = b.r;
  const aliased = b.alias("context", 0.1);
  if (aliased) return aliased;
  const body = b.map(
    [
      ["cluster", b.alias("string", 0.05) ?? b.str(r.chance(0.8) && names.clusters.length ? r.pick(names.clusters) : b.oddString())],
      ["user", b.str(r.chance(0.8) && names.users.length ? r.pick(names.users) : b.oddString())],
      ["namespace", r.chance(0.4) ? b.str(b.oddString(), "string") : undefined],
      ["extensions", b.extensions()],
    ],
    0.2,
    b.anchor("context"),
  );
  const base = b.defined.context.filter((a) => a !== (body as { anchor?: string }).anchor);
  if (body.t === "map" && !body.flow && base.length > 0 && r.chance(0.15)) body.merge = r.pick(base);
  return body;
}

/** Our own entry, written as a person might have: any style, comments, an anchor nobody uses. */
function ourItem(b: Builder, section: "clusters" | "users" | "contexts", anchorForAlias?: string): G {
  const r = b.r;
  // Any style that reads back as exactly our name: a block scalar only with `-` (no final line break).
  const name = { ...(b.str(OURS) as G & { t: "str" }), chomp: "-" as const };
  const unused = r.chance(0.2) ? `unused${b.r.int(1000)}` : undefined;
  const body =
    section === "clusters"
      ? b.map(
          [
            ["server", b.str("https://127.0.0.1:40123")],
            ["certificate-authority-data", { t: "str", value: "T0xELUNB", style: "plain", anchor: unused }],
            ["insecure-skip-tls-verify", r.chance(0.3) ? b.bool() : undefined],
          ],
          0.3,
          anchorForAlias,
        )
      : section === "users"
        ? b.map(
            [
              ["client-certificate-data", b.str("T0xELUNFUlQ=")],
              ["client-key-data", b.str("T0xELUtFWQ==")],
            ],
            0.3,
          )
        : b.map(
            [
              ["cluster", b.str(OURS)],
              ["user", b.str(OURS)],
            ],
            0.3,
          );
  return b.map(
    r.chance(0.5)
      ? [
          ["name", name],
          [section.slice(0, -1), body],
        ]
      : [
          [section.slice(0, -1), body],
          ["name", name],
        ],
    0.15,
  );
}

function names(b: Builder, count: number, taken: Set<string>): string[] {
  const out: string[] = [];
  while (out.length < count) {
    const n = b.r.chance(0.6) ? `${b.r.pick(WORDS)}${b.r.int(50)}` : b.oddString();
    if (n === OURS || taken.has(n)) continue;
    taken.add(n);
    out.push(n);
  }
  return out;
}

function section(b: Builder, kind: "clusters" | "users" | "contexts", others: string[], withOurs: boolean, body: () => G, oursAliased: boolean): G {
  const r = b.r;
  const items: G[] = others.map((n) =>
    b.map(
      r.chance(0.5)
        ? [
            ["name", b.str(n)],
            [kind.slice(0, -1), body()],
          ]
        : [
            [kind.slice(0, -1), body()],
            ["name", b.str(n)],
          ],
      0.1,
    ),
  );
  if (withOurs) {
    const at = oursAliased ? 0 : r.int(items.length + 1);
    items.splice(at, 0, ourItem(b, kind, oursAliased ? "oursbody" : undefined));
    if (oursAliased)
      items.push(
        b.map([
          ["name", b.str("aliases-ours")],
          [kind.slice(0, -1), { t: "alias", name: "oursbody", json: undefined }],
        ]),
      );
  }
  return { t: "seq", items, flow: r.chance(0.12) };
}

function config(b: Builder, oursAliased: boolean): G {
  const r = b.r;
  const taken = new Set<string>();
  const clusterNames = names(b, r.int(4), taken);
  const userNames = names(b, r.int(4), taken);
  const contextNames = names(b, r.int(4), taken);
  const current = r.pick([...contextNames, OURS, "", undefined]);
  const word = (value: string): G => ({ t: "str", value, style: r.pick(["plain", "double", "single"] as const) });
  const parts: [string, () => G | undefined][] = [
    ["apiVersion", () => (r.chance(0.9) ? word("v1") : undefined)],
    ["kind", () => (r.chance(0.9) ? word("Config") : undefined)],
    [
      "preferences",
      () =>
        r.chance(0.4)
          ? b.map(
              [
                ["colors", r.chance(0.7) ? b.bool() : undefined],
                ["extensions", b.extensions()],
              ],
              0.2,
            )
          : undefined,
    ],
    // A list may be missing: then our entry adds its key after whatever ends the file.
    [
      "clusters",
      () => (oursAliased || r.chance(0.85) ? section(b, "clusters", clusterNames, oursAliased || r.chance(0.8), () => clusterBody(b), oursAliased) : undefined),
    ],
    ["users", () => (r.chance(0.85) ? section(b, "users", userNames, r.chance(0.8), () => userBody(b), false) : undefined)],
    [
      "contexts",
      () =>
        r.chance(0.85)
          ? section(b, "contexts", contextNames, r.chance(0.8), () => contextBody(b, { clusters: clusterNames, users: userNames }), false)
          : undefined,
    ],
    ["current-context", () => (current === undefined ? undefined : b.str(current))],
    ["extensions", () => b.extensions()],
    ["x-notes", () => (r.chance(0.1) ? b.str(b.oddString()) : undefined)],
  ];
  // kubectl writes keys sorted; people write them in any order. Built in document order, so that
  // every alias follows its anchor.
  if (r.chance(0.3)) parts.reverse();
  return b.map(
    parts.map(([key, build]) => [key, build()]),
    0,
  );
}

// ---- writing the tree ----

function strText(node: G & { t: "str" }, flow: boolean): string {
  const style = flow && (node.style === "literal" || node.style === "folded") ? "double" : node.style;
  if (style === "plain" && (!plainOk(node.value) || (flow && /[,[\]{}]/.test(node.value)))) return JSON.stringify(node.value);
  if (style === "plain") return node.value;
  if (style === "single") return `'${node.value.replace(/'/g, "''")}'`;
  return JSON.stringify(node.value);
}

const props = (node: G) => ("anchor" in node && node.anchor ? `&${node.anchor} ` : "");

function flowText(node: G): string {
  switch (node.t) {
    case "alias":
      return `*${node.name}`;
    case "lit":
      return `${props(node)}${node.text}`;
    case "str":
      return `${props(node)}${strText(node, true)}`;
    case "seq":
      return `${props(node)}[${node.items.map(flowText).join(", ")}]`;
    case "map": {
      const pairs = node.pairs.map((p) => `${flowText(p.key)}: ${flowText(p.value)}`);
      if (node.merge) pairs.unshift(`<<: *${node.merge}`);
      return `${props(node)}{${pairs.join(", ")}}`;
    }
  }
}

/** What follows `key:` on its line, and the lines below it, for a value at this indentation. */
function blockValue(node: G, indent: number): { inline: string; lines: string[] } {
  const comment = "comment" in node && node.comment ? ` ${node.comment}` : "";
  if (node.t === "alias") return { inline: ` *${node.name}`, lines: [] };
  if (node.t === "lit") return { inline: ` ${props(node)}${node.text}${comment}`, lines: [] };
  if (node.t === "str") {
    if (node.style !== "literal" && node.style !== "folded") return { inline: ` ${props(node)}${strText(node, false)}${comment}`, lines: [] };
    const header = `${node.style === "literal" ? "|" : ">"}${node.chomp ?? ""}${node.header ? ` ${node.header}` : ""}`;
    const content = node.value === "" ? [] : node.value.split("\n").map((l) => `${" ".repeat(indent + 2)}${l}`);
    return { inline: ` ${props(node)}${header}`, lines: content };
  }
  const empty = node.t === "map" ? node.pairs.length === 0 && !node.merge : node.items.length === 0;
  if (node.flow || empty) return { inline: ` ${flowText(node)}`, lines: [] };
  const anchor = node.anchor ? ` &${node.anchor}` : "";
  return { inline: anchor, lines: node.t === "map" ? blockMap(node, indent + 2) : blockSeq(node, indent) };
}

function blockMap(node: G & { t: "map" }, indent: number): string[] {
  const pad = " ".repeat(indent);
  const lines: string[] = [];
  if (node.merge) lines.push(`${pad}<<: *${node.merge}`);
  for (const pair of node.pairs) {
    if (pair.before) lines.push(`${pad}${pair.before}`);
    const { inline, lines: below } = blockValue(pair.value, indent);
    lines.push(`${pad}${flowText(pair.key)}:${inline}`, ...below);
  }
  return lines;
}

/** A block list at the key's indentation (kubectl's style) with each item's first line after `- `. */
function blockSeq(node: G & { t: "seq" }, indent: number): string[] {
  const pad = " ".repeat(indent);
  const lines: string[] = [];
  for (const item of node.items) {
    if (item.t === "map" && !item.flow && item.pairs.length > 0 && !item.anchor) {
      const inner = blockMap(item, indent + 2);
      lines.push(`${pad}- ${inner[0]!.trimStart()}`, ...inner.slice(1));
    } else {
      const { inline, lines: below } = blockValue(item, indent);
      lines.push(`${pad}-${inline}`, ...below);
    }
  }
  return lines;
}

// ---- JSON files (kubectl -o json, or written by tools) ----

function toJson(node: G): unknown {
  switch (node.t) {
    case "str":
      return node.value;
    case "lit":
      return node.json ?? (/^(true|yes|on|y)$/i.test(node.text) ? true : /^(false|no|off|n)$/i.test(node.text) ? false : null);
    case "seq":
      return node.items.map(toJson);
    case "map":
      return Object.fromEntries(node.pairs.map((p) => [String(toJson(p.key)), toJson(p.value)]));
    case "alias":
      return null; // JSON files are generated without aliases (see generate)
  }
}

export function generate(seed: number): Generated {
  const r = new Random(seed);
  const style = r.chance(0.12) ? "json" : "block";
  const oursAliased = style === "block" && r.chance(0.05);
  const b = new Builder(r);
  if (style === "json") {
    // No anchors or aliases in JSON: freeze them out before building.
    b.anchor = () => undefined;
    b.alias = () => undefined;
  }
  const tree = config(b, oursAliased) as G & { t: "map" };
  if (style === "json") return { text: JSON.stringify(toJson(tree), null, r.pick([0, 2, 4])), oursAliased: false, style };

  let text = blockMap(tree, 0).join("\n");
  if (r.chance(0.2)) text = `${r.pick(COMMENTS)}\n${text}`;
  if (r.chance(0.1)) text = `${r.chance(0.3) ? "%YAML 1.1\n" : ""}---\n${text}`;
  if (r.chance(0.15)) text += `\n${r.pick(COMMENTS)}`;
  if (r.chance(0.9)) text += "\n";
  if (r.chance(0.05)) text = text.replace(/\n/g, "\r\n");
  if (r.chance(0.03)) text = `\uFEFF${text}`;
  return { text, oursAliased, style };
}
