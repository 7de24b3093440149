import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { exportEntry } from "../../src/kubeconfig/index.js";
import { ZoneError } from "../../src/errors.js";

/** The kubeconfig file for real: separate processes racing, modes, atomic replacement, malformed input. */
let dir = "";
let writer = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kubeconfig-it-"));
  writer = join(dir, "writer.cjs");
  await build({ entryPoints: ["test/support/kubeconfig-writer.ts"], bundle: true, platform: "node", format: "cjs", outfile: writer, logLevel: "silent" });
});

afterAll(async () => rm(dir, { recursive: true, force: true }));

const credentials = { certificateAuthorityData: "Q0E=", clientCertificateData: "Q0VSVA==", clientKeyData: "S0VZ" };

describe("kubeconfig file", () => {
  it("loses no entry when two processes rewrite it at once (lock), and ends mode 0600", async () => {
    const path = join(dir, "raced", "config");
    const many = await readFile("test/fixtures/kubeconfig-many.yaml", "utf8");
    await execa("mkdir", ["-p", join(dir, "raced")]);
    await writeFile(path, many, { mode: 0o644 });
    await Promise.all([execa("node", [writer, path, "a", "30"]), execa("node", [writer, path, "b", "30"])]);

    const config = parse(await readFile(path, "utf8"));
    const names = config.clusters.map((c: { name: string }) => c.name);
    for (const p of ["a", "b"]) for (let i = 0; i < 30; i++) expect(names).toContain(`${p}-${i}`);
    expect(names).toEqual(expect.arrayContaining(["prod-eu", "kind-kind", "staging"]));
    expect(config.users).toHaveLength(3 + 60);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, "raced"))).toEqual(["config"]); // no lock or temp file left behind
  });

  it("takes over a lock left by a process that died", async () => {
    const path = join(dir, "stale");
    await writeFile(`${path}.lock`, "999999"); // no such pid
    const entry = { name: "kind-x", server: "https://x:6443", credentials };
    await exportEntry(path, entry);
    expect(parse(await readFile(path, "utf8"))["current-context"]).toBe("kind-x");
  });

  it("leaves a malformed kubeconfig byte-for-byte untouched and says which file", async () => {
    const path = join(dir, "malformed");
    const broken = "apiVersion: v1\nclusters:\n  - name: a\n    cluster: {server: https://a\n";
    await writeFile(path, broken, { mode: 0o640 });
    const entry = { name: "kind-x", server: "https://x:6443", credentials };
    const attempt = exportEntry(path, entry);
    await expect(attempt).rejects.toBeInstanceOf(ZoneError);
    await expect(attempt).rejects.toThrow(path);
    expect(await readFile(path, "utf8")).toBe(broken);
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect((await readdir(dir)).filter((f) => f.startsWith("malformed"))).toEqual(["malformed"]);
  });
});
