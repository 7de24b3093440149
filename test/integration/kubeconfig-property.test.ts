import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportEntry } from "../../src/kubeconfig/index.js";
import { ZoneError } from "../../src/errors.js";
import { generate, OURS } from "../support/kubeconfig-generator.js";
import { kubectlView } from "../support/kubeconfig-scripts.js";

/**
 * The property: whatever a kubeconfig holds, exporting our entry (a new one, or a change to the
 * existing one) leaves every other entry exactly as kubectl reads it. Seeded generated files, each
 * checked entry by entry through the real kubectl (`kubectl config view --raw -o json`) before and after.
 * KUBECONFIG_PROPERTY_CASES and KUBECONFIG_PROPERTY_SEED change the run; a failure names its seed.
 */
const CASES = Number(process.env.KUBECONFIG_PROPERTY_CASES ?? 1000);
const SEED = Number(process.env.KUBECONFIG_PROPERTY_SEED ?? 20261125);
const PARALLEL = 6;

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kubeconfig-property-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const credentials = { certificateAuthorityData: "TkVXLUNB", clientCertificateData: "TkVXLUNFUlQ=", clientKeyData: "TkVXLUtFWQ==" };
const NEW = { name: "kind-new", server: "https://host.docker.internal:6443", tlsServerName: "localhost", credentials };
const CHANGED = { name: OURS, server: "https://172.17.0.1:6443", credentials };

type View = Record<string, any>;
const SECTIONS = [
  ["clusters", "cluster"],
  ["users", "user"],
  ["contexts", "context"],
] as const;

/** Every difference between two kubectl views, other than our entry and current-context. */
function othersDiffer(before: View, after: View, ours: string): string[] {
  const problems: string[] = [];
  for (const [section] of SECTIONS) {
    const b = new Map<string, unknown>((before[section] ?? []).map((i: View) => [i.name, i]));
    const a = new Map<string, unknown>((after[section] ?? []).map((i: View) => [i.name, i]));
    for (const name of new Set([...b.keys(), ...a.keys()])) {
      if (name === ours) continue;
      if (JSON.stringify(b.get(name)) !== JSON.stringify(a.get(name)))
        problems.push(`${section}/${name}: ${JSON.stringify(b.get(name))} -> ${JSON.stringify(a.get(name))}`);
    }
  }
  for (const key of ["preferences", "extensions", "apiVersion", "kind"]) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) problems.push(`${key}: ${JSON.stringify(before[key])} -> ${JSON.stringify(after[key])}`);
  }
  return problems;
}

/** Our entry as kubectl reads it after the export. */
function oursWrong(after: View, entry: typeof NEW | typeof CHANGED): string[] {
  const find = (section: string) => (after[section] ?? []).find((i: View) => i.name === entry.name);
  const want = {
    cluster: {
      server: entry.server,
      ...("tlsServerName" in entry ? { "tls-server-name": entry.tlsServerName } : {}),
      "certificate-authority-data": entry.credentials.certificateAuthorityData,
    },
    user: { "client-certificate-data": entry.credentials.clientCertificateData, "client-key-data": entry.credentials.clientKeyData },
    context: { cluster: entry.name, user: entry.name },
  };
  const problems: string[] = [];
  for (const [section, body] of SECTIONS) {
    const got = find(section)?.[body];
    if (JSON.stringify(sortKeys(got)) !== JSON.stringify(sortKeys(want[body]))) problems.push(`our ${body}: ${JSON.stringify(got)}`);
  }
  if (after["current-context"] !== entry.name) problems.push(`current-context: ${after["current-context"]}`);
  return problems;
}

const sortKeys = (v: unknown) => (v && typeof v === "object" ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v);

interface Outcome {
  seed: number;
  invalid?: string;
  refused?: boolean;
  problems: string[];
}

async function runCase(seed: number): Promise<Outcome> {
  const generated = generate(seed);
  const root = join(dir, String(seed));
  await mkdir(root);
  const original = join(root, "original");
  await writeFile(original, generated.text, { mode: 0o600 });
  let before: View;
  try {
    before = (await kubectlView(original))!;
  } catch (error) {
    return { seed, invalid: (error as Error).message.split("\n")[0], problems: [] };
  }
  const problems: string[] = [];
  let refused = false;
  for (const [label, entry] of [
    ["new", NEW],
    ["changed", CHANGED],
  ] as const) {
    const path = join(root, label);
    await writeFile(path, generated.text, { mode: 0o600 });
    try {
      await exportEntry(path, entry);
    } catch (error) {
      const expected = label === "changed" && generated.oursAliased && error instanceof ZoneError && /would break other entries/.test(error.message);
      if (expected && (await readFile(path, "utf8")) === generated.text) refused = true;
      else problems.push(`${label}: ${(error as Error).message}`);
      continue;
    }
    if (label === "changed" && generated.oursAliased) problems.push("changed: wrote although another entry aliases ours");
    const after = (await kubectlView(path))!;
    problems.push(...othersDiffer(before, after, entry.name).map((p) => `${label}: ${p}`));
    problems.push(...oursWrong(after, entry).map((p) => `${label}: ${p}`));
  }
  await rm(root, { recursive: true, force: true });
  return { seed, refused, problems };
}

describe("kubeconfig property", () => {
  it(`keeps every other entry exactly as kubectl reads it, over ${CASES} generated kubeconfigs`, async () => {
    const started = Date.now();
    const seeds = Array.from({ length: CASES }, (_, i) => SEED + i);
    const outcomes: Outcome[] = [];
    const workers = Array.from({ length: PARALLEL }, async () => {
      for (let seed = seeds.shift(); seed !== undefined; seed = seeds.shift()) outcomes.push(await runCase(seed));
    });
    await Promise.all(workers);

    const invalid = outcomes.filter((o) => o.invalid);
    const failed = outcomes.filter((o) => o.problems.length > 0);
    const refused = outcomes.filter((o) => o.refused).length;
    const json = outcomes.filter((o) => !o.invalid && generate(o.seed).style === "json").length;
    console.log(
      `kubeconfig property: ${outcomes.length} cases (seeds ${SEED}..${SEED + CASES - 1}, ${json} JSON), ` +
        `${outcomes.length - invalid.length} read by kubectl, ${failed.length} failed, ${refused} refused as expected ` +
        `(anchor in our entry aliased elsewhere), ${invalid.length} rejected by kubectl before any export; ${Math.round((Date.now() - started) / 1000)} s`,
    );
    // Failures by kind: another entry read differently, ours wrong, an error, a write that should have been refused.
    const kinds = new Map<string, number>();
    for (const o of failed) {
      const found = new Set(
        o.problems.map((p) =>
          /^\w+: (clusters|users|contexts)\/|^\w+: (preferences|extensions|apiVersion|kind):/.test(p)
            ? "another entry changed"
            : /^\w+: (our |current-context)/.test(p)
              ? "our entry wrong"
              : /wrote although/.test(p)
                ? "wrote although refused was due"
                : "threw",
        ),
      );
      for (const kind of found) kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    if (kinds.size > 0) console.log(`failed cases by kind: ${[...kinds].map(([k, n]) => `${k}: ${n}`).join(", ")}`);
    for (const o of failed.slice(0, 5)) console.log(`seed ${o.seed}:\n  ${o.problems.slice(0, 4).join("\n  ")}`);
    for (const o of invalid.slice(0, 3)) console.log(`seed ${o.seed} not a kubeconfig kubectl reads: ${o.invalid}`);
    expect(outcomes).toHaveLength(CASES);
    expect(invalid.map((o) => o.seed)).toEqual([]);
    expect(failed.map((o) => o.seed)).toEqual([]);
  }, 600_000);
});
