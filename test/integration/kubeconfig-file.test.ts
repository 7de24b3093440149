import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { exportEntry, readKubeconfig } from "../../src/kubeconfig/index.js";
import { ZoneError } from "../../src/errors.js";
import { bundleScripts, kubectlView } from "../support/kubeconfig-scripts.js";

/** The kubeconfig file for real: racing processes, links, mounts, owners and modes, odd contents. */
let dir = "";
let writer = "";
let many = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kubeconfig-it-"));
  ({ writer } = await bundleScripts(dir));
  many = await readFile("test/fixtures/kubeconfig-many.yaml", "utf8");
});

afterAll(async () => rm(dir, { recursive: true, force: true }));

const credentials = { certificateAuthorityData: "Q0E=", clientCertificateData: "Q0VSVA==", clientKeyData: "S0VZ" };
const entry = (name: string) => ({ name, server: `https://${name}:6443`, credentials });
const names = (text: string) => (parse(text).clusters as { name: string }[]).map((c) => c.name);

async function fresh(name: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  return d;
}

describe("kubeconfig file", () => {
  it("loses no entry when two processes rewrite it at once (lock), and keeps its mode", async () => {
    const path = join(await fresh("raced"), "config");
    await writeFile(path, many, { mode: 0o644 });
    await Promise.all([execa("node", [writer, path, "a", "30"]), execa("node", [writer, path, "b", "30"])]);

    const config = parse(await readFile(path, "utf8"));
    const clusters = names(await readFile(path, "utf8"));
    for (const p of ["a", "b"]) for (let i = 0; i < 30; i++) expect(clusters).toContain(`${p}-${i}`);
    expect(clusters).toEqual(expect.arrayContaining(["prod-eu", "kind-kind", "staging"]));
    expect(config.users).toHaveLength(3 + 60);
    expect((await stat(path)).mode & 0o777).toBe(0o644); // the user's choice; never widened, not ours to narrow
    expect(await readdir(join(dir, "raced"))).toEqual(["config"]); // no lock or temp file left behind
  });

  it("leaves a malformed kubeconfig byte-for-byte untouched and says which file", async () => {
    const path = join(await fresh("malformed"), "config");
    const broken = "apiVersion: v1\nclusters:\n  - name: a\n    cluster: {server: https://a\n";
    await writeFile(path, broken, { mode: 0o640 });
    const attempt = exportEntry(path, entry("kind-x"));
    await expect(attempt).rejects.toBeInstanceOf(ZoneError);
    await expect(attempt).rejects.toThrow(path);
    expect(await readFile(path, "utf8")).toBe(broken);
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect(await readdir(join(dir, "malformed"))).toEqual(["config"]);
  });

  it("writes a symlinked kubeconfig's target and keeps the link (dotfiles), even a dangling one", async () => {
    const home = await fresh("linked/home/.kube");
    const dotfiles = await fresh("linked/dotfiles");
    await writeFile(join(dotfiles, "kubeconfig"), many, { mode: 0o600 });
    await symlink("../../dotfiles/kubeconfig", join(home, "config"));
    const result = await exportEntry(join(home, "config"), entry("kind-x"));

    expect(result).toEqual({ changed: true, files: [join(home, "config")], readableByOthers: [] });
    expect((await lstat(join(home, "config"))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(home, "config"))).toBe("../../dotfiles/kubeconfig");
    expect(names(await readFile(join(dotfiles, "kubeconfig"), "utf8"))).toContain("kind-x");
    expect((await readdir(dotfiles)).sort()).toEqual(["kubeconfig"]);

    await symlink(join(dotfiles, "not-yet"), join(home, "dangling"));
    await exportEntry(join(home, "dangling"), entry("kind-y"));
    expect((await lstat(join(home, "dangling"))).isSymbolicLink()).toBe(true);
    expect(names(await readFile(join(dotfiles, "not-yet"), "utf8"))).toEqual(["kind-y"]);
  });

  it("writes a kubeconfig bind-mounted as a single file in place (rename gives EBUSY there)", async () => {
    const d = await fresh("bind");
    await mkdir(join(d, "home/.kube"), { recursive: true });
    await writeFile(join(d, "host-config"), many, { mode: 0o600 });
    await writeFile(join(d, "home/.kube/config"), "");
    const script = `mount --bind host-config home/.kube/config && node ${writer} home/.kube/config w 3`;
    await execa("unshare", ["--mount", "sh", "-c", script], { cwd: d });

    const after = await readFile(join(d, "host-config"), "utf8");
    expect(names(after)).toEqual(["prod-eu", "kind-kind", "staging", "w-0", "w-1", "w-2"]);
    expect(await readdir(join(d, "home/.kube"))).toEqual(["config"]); // no temp file left beside the mount
  });

  it("never leaves a partial file when an in-place write fails: the original bytes come back", async () => {
    const d = await fresh("bind-full");
    await mkdir(join(d, "home/.kube"), { recursive: true });
    await mkdir(join(d, "small"));
    await writeFile(join(d, "home/.kube/config"), "");
    // Just under one 4 KiB page, on a tmpfs with no page left: the rewrite runs out of space halfway.
    const original = `${many}#${"-".repeat(4000 - many.length - 2)}\n`;
    await writeFile(join(d, "original"), original);
    const script = [
      "mount -t tmpfs -o size=64k tmpfs small",
      "cp original small/config",
      "dd if=/dev/zero of=small/fill bs=4096 2>/dev/null; true",
      "mount --bind small/config home/.kube/config",
      `node ${writer} home/.kube/config w 1; echo "exit=$?"`,
      "cmp small/config original && echo same",
    ].join(" && ");
    const result = await execa("unshare", ["--mount", "sh", "-c", script], { cwd: d, reject: false });
    expect(result.stderr).toMatch(/ENOSPC/);
    expect(result.stdout).toContain("exit=1");
    expect(result.stdout).toContain("same");
  });

  it("keeps the owner and mode of a file a root hook rewrites (uid 1000, 0640)", async () => {
    const path = join(await fresh("owned"), "config");
    await writeFile(path, many);
    await chown(path, 1000, 1000);
    await chmod(path, 0o640);
    const result = await exportEntry(path, entry("kind-x"));
    expect(result.readableByOthers).toEqual([{ path, mode: "640" }]); // kept, and said aloud by the stage
    const st = await stat(path);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }).toEqual({ uid: 1000, gid: 1000, mode: 0o640 });
    expect(names(await readFile(path, "utf8"))).toContain("kind-x");
  });

  it("gives a new kubeconfig (and a new ~/.kube) to the owner of the home directory, mode 0600", async () => {
    const home = await fresh("new-home");
    await chown(home, 1000, 1000);
    const result = await exportEntry(join(home, ".kube/config"), entry("kind-x"));
    expect(result.readableByOthers).toEqual([]);
    const kube = await stat(join(home, ".kube"));
    const file = await stat(join(home, ".kube/config"));
    expect({ uid: kube.uid, gid: kube.gid, mode: kube.mode & 0o777 }).toEqual({ uid: 1000, gid: 1000, mode: 0o700 });
    expect({ uid: file.uid, gid: file.gid, mode: file.mode & 0o777 }).toEqual({ uid: 1000, gid: 1000, mode: 0o600 });
    expect(await readdir(join(home, ".kube"))).toEqual(["config"]);
  });

  it("reads an empty or comments-only kubeconfig as empty, writes into it and keeps the comments", async () => {
    const d = await fresh("comments");
    for (const [file, text] of [
      ["only-comments", "# managed by hand\n# nothing here yet\n"],
      ["empty", ""],
    ] as const) {
      const path = join(d, file);
      await writeFile(path, text, { mode: 0o600 });
      expect(await readKubeconfig(path, "x")).toEqual({ path, entry: undefined, currentContext: undefined });
      await exportEntry(path, entry("kind-x"));
      const after = await readFile(path, "utf8");
      expect(after.startsWith(text)).toBe(true);
      const view = await kubectlView(path);
      expect(view?.["current-context"]).toBe("kind-x");
      expect(view?.clusters.map((c: { name: string }) => c.name)).toEqual(["kind-x"]);
    }
  });
});
