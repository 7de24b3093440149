import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportEntry, kubeconfigPath, removeEntry, type WriteResult } from "../../src/kubeconfig/index.js";
import { kubectlView } from "../support/kubeconfig-scripts.js";

/**
 * KUBECONFIG with several files: we must write where kubectl writes. Each case is run twice on copies
 * of the same files, once through our front door and once with `kubectl config set-*`, `use-context`,
 * `delete-*` and `unset current-context`; then every file must read the same in kubectl.
 */
let dir = "";
let many = "";
const credentials = { certificateAuthorityData: "Q0E=", clientCertificateData: "Q0VSVA==", clientKeyData: "S0VZ" };
const entry = { name: "kind-x", server: "https://host.docker.internal:6443", tlsServerName: "localhost", credentials };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kubeconfig-kubectl-"));
  many = await readFile("test/fixtures/kubeconfig-many.yaml", "utf8");
  // kubectl embeds certificate files: the same bytes as our base64 credentials.
  for (const [file, b64] of [
    ["ca", credentials.certificateAuthorityData],
    ["cert", credentials.clientCertificateData],
    ["key", credentials.clientKeyData],
  ] as const) {
    await writeFile(join(dir, file), Buffer.from(b64, "base64"));
  }
});

afterAll(async () => rm(dir, { recursive: true, force: true }));

type Files = Record<string, string | undefined>; // file name -> content (undefined: absent)

async function lay(root: string, files: Files): Promise<string> {
  await mkdir(root, { recursive: true });
  for (const [name, text] of Object.entries(files)) if (text !== undefined) await writeFile(join(root, name), text, { mode: 0o600 });
  return Object.keys(files)
    .map((name) => join(root, name))
    .join(":");
}

async function kubectl(list: string, ...args: string[]): Promise<void> {
  await execa("kubectl", ["config", ...args], { env: { KUBECONFIG: list } });
}

const kubectlExport = async (list: string) => {
  await kubectl(
    list,
    "set-cluster",
    "kind-x",
    `--server=${entry.server}`,
    "--tls-server-name=localhost",
    `--certificate-authority=${join(dir, "ca")}`,
    "--embed-certs=true",
  );
  await kubectl(list, "set-credentials", "kind-x", `--client-certificate=${join(dir, "cert")}`, `--client-key=${join(dir, "key")}`, "--embed-certs=true");
  await kubectl(list, "set-context", "kind-x", "--cluster=kind-x", "--user=kind-x");
  await kubectl(list, "use-context", "kind-x");
};

const kubectlRemove = async (list: string) => {
  const current = (await kubectlView(list))?.["current-context"];
  for (const what of ["delete-cluster", "delete-user", "delete-context"])
    await execa("kubectl", ["config", what, "kind-x"], { env: { KUBECONFIG: list }, reject: false });
  if (current === "kind-x") await kubectl(list, "unset", "current-context");
};

/** Each file as kubectl reads it alone, or "absent". */
async function perFile(root: string, files: Files): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(files)) {
    const path = join(root, name);
    const exists = await readFile(path).then(
      () => true,
      () => false,
    );
    out[name] = exists ? await kubectlView(path) : "absent";
  }
  return out;
}

async function compare(name: string, files: Files, ours: (list: string) => Promise<WriteResult>, theirs: (list: string) => Promise<void>): Promise<void> {
  const ourList = await lay(join(dir, name, "ours"), files);
  const theirList = await lay(join(dir, name, "kubectl"), files);
  const result = await ours(kubeconfigPath({ KUBECONFIG: ourList }));
  await theirs(theirList);
  expect(await perFile(join(dir, name, "ours"), files)).toEqual(await perFile(join(dir, name, "kubectl"), files));
  expect(await kubectlView(ourList)).toEqual(await kubectlView(theirList));
  // The same files were written: the ones kubectl changed.
  const changed: string[] = [];
  for (const [file, text] of Object.entries(files))
    if ((await readFile(join(dir, name, "kubectl", file), "utf8").catch(() => undefined)) !== text) changed.push(file);
  expect(result.files.map((f) => basename(f)).sort()).toEqual(changed.sort());
}

const yaml = (...lines: string[]) => `${lines.join("\n")}\n`;
const exportIt = (list: string) => exportEntry(list, entry);
const removeIt = (list: string) => removeEntry(list, "x");

describe("KUBECONFIG with several files, against kubectl", () => {
  it("writes a new entry to the first file that exists", async () => {
    await compare("first-existing", { a: undefined, b: many, c: undefined }, exportIt, kubectlExport);
  });

  it("writes a new entry to the last file when none exists", async () => {
    await compare("none-exists", { a: undefined, b: undefined, c: undefined }, exportIt, kubectlExport);
  });

  it("changes entries in the files they came from; new ones and current-context go to the default file", async () => {
    const a = yaml("clusters:", "- name: x", "  cluster: {server: https://x}", "current-context: x");
    // Only fields we set: kubectl's set-* keeps other fields of an entry, while we own ours whole.
    const b = yaml("clusters:", "- name: kind-x", "  cluster: {server: https://old:1}", "users:", "- name: kind-x", "  user: {client-key-data: T0xE}");
    await compare("origins", { a, b }, exportIt, kubectlExport);
  });

  it("follows the origin of each of the three entries across three files", async () => {
    const b = yaml("contexts:", "- name: kind-x", "  context: {cluster: kind-x, user: kind-x}", "current-context: other");
    const c = yaml("clusters:", "- name: kind-x", "  cluster: {server: https://stale:1}");
    await compare("three", { a: undefined, b, c }, exportIt, kubectlExport);
  });

  it("changes only the first of two files naming the same entry (the one kubectl uses)", async () => {
    const a = yaml("clusters:", "- name: kind-x", "  cluster: {server: https://first:1}");
    const b = yaml("clusters:", "- name: kind-x", "  cluster: {server: https://second:1}", "current-context: kind-x");
    await compare("shadowed", { a, b }, exportIt, kubectlExport);
  });

  it("removes each entry from its file and clears current-context where it is set", async () => {
    const a = yaml("current-context: kind-x", "contexts:", "- name: kind-x", "  context: {cluster: kind-x, user: kind-x}");
    const b = yaml(
      "clusters:",
      "- name: kind-x",
      "  cluster: {server: https://x:1}",
      "users:",
      "- name: kind-x",
      "  user: {token: t}",
      "- name: keep",
      "  user: {token: k}",
      "current-context: other",
    );
    await compare("remove", { a, b }, removeIt, kubectlRemove);
  });

  it("removes only the entry kubectl sees when two files name it", async () => {
    const a = yaml("clusters:", "- name: kind-x", "  cluster: {server: https://first:1}");
    const b = yaml("clusters:", "- name: kind-x", "  cluster: {server: https://second:1}", "current-context: other");
    await compare("remove-shadowed", { a, b }, removeIt, kubectlRemove);
  });
});
