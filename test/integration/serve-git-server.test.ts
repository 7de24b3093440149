import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { FLUSH_PKT, pktLine, startGitServer, type GitServer } from "../../src/serve/git-server.js";
import { GIT_ENV, git, gitResult } from "../support/git.js";
import { gitProcessesIn, waitForNoGitIn, type GitProcess } from "../support/git-wire.js";

/**
 * The read-only smart HTTP server against real git clients: git's own (asking for v0 or v2; answered in v0), raw
 * requests for the corners, and go-git (what Flux's source-controller uses) when Go is installed.
 */

/** Every file, folder and link under `root`, with its content hash, mode and owner. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string) {
    for (const entry of await readdir(dir)) {
      const path = join(dir, entry);
      const s = await lstat(path);
      const key = path.slice(root.length);
      const meta = `${s.mode.toString(8)} ${s.uid}:${s.gid}`;
      if (s.isDirectory()) {
        out[key] = `dir ${meta}`;
        await walk(path);
      } else if (s.isSymbolicLink()) out[key] = `link ${meta} ${await readlink(path)}`;
      else
        out[key] = `file ${meta} ${createHash("sha256")
          .update(await readFile(path))
          .digest("hex")}`;
    }
  }
  await walk(root);
  return out;
}

let tmp: string;
let repo: string;
let server: GitServer;
const logs: string[] = [];
let mainSha: string;
let featureSha: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "serve-git-"));
  repo = join(tmp, "workspace");
  await mkdir(join(repo, "src"), { recursive: true });
  await git(repo, ["init", "-q", "-b", "main"]);
  await writeFile(join(repo, "README.md"), "committed v1\n");
  await writeFile(join(repo, "src", "a.txt"), "a\n");
  await git(repo, ["add", "-A"]);
  await git(repo, ["commit", "-q", "-m", "first"]);
  await writeFile(join(repo, "b.txt"), "b\n");
  await git(repo, ["add", "-A"]);
  await git(repo, ["commit", "-q", "-m", "second"]);
  await git(repo, ["checkout", "-q", "-b", "feature"]);
  await writeFile(join(repo, "feature.txt"), "feature\n");
  await git(repo, ["add", "-A"]);
  await git(repo, ["commit", "-q", "-m", "feature"]);
  featureSha = await git(repo, ["rev-parse", "HEAD"]);
  await git(repo, ["checkout", "-q", "main"]);
  mainSha = await git(repo, ["rev-parse", "HEAD"]);
  // What the developer has not committed must never leave the container.
  await writeFile(join(repo, "README.md"), "uncommitted edit\n");
  await writeFile(join(repo, "untracked.txt"), "untracked\n");
  // A folder inside the work tree is enough to find the repository.
  server = await startGitServer({ repo: join(repo, "src"), host: "127.0.0.1", port: 0, log: (line) => logs.push(line) });
});

afterAll(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function expectCommittedClone(dir: string) {
  expect(await git(dir, ["rev-parse", "HEAD"])).toBe(mainSha);
  expect(await git(dir, ["symbolic-ref", "--short", "HEAD"])).toBe("main");
  expect(await git(dir, ["rev-parse", "origin/feature"])).toBe(featureSha);
  expect(await readFile(join(dir, "README.md"), "utf8")).toBe("committed v1\n");
  expect(await readFile(join(dir, "src", "a.txt"), "utf8")).toBe("a\n");
  await expect(lstat(join(dir, "untracked.txt"))).rejects.toThrow(/ENOENT/);
  await expect(lstat(join(dir, "feature.txt"))).rejects.toThrow(/ENOENT/);
}

describe("startGitServer", () => {
  it("listens exactly on the given host and reports the real port", async () => {
    expect(server.host).toBe("127.0.0.1");
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/workspace.git`);
    // 127.0.0.2 is loopback too, but not the address we listen on.
    const other = await fetch(`http://127.0.0.2:${server.port}/workspace.git/info/refs?service=git-upload-pack`).catch((e: Error) => e);
    expect(other).toBeInstanceOf(Error);
  });

  it("advertises refs for v0 with the service header, the content type and no-cache headers", async () => {
    const response = await fetch(`${server.url}/info/refs?service=git-upload-pack`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-git-upload-pack-advertisement");
    expect(response.headers.get("cache-control")).toContain("no-cache");
    expect(response.headers.get("pragma")).toBe("no-cache");
    const body = await response.text();
    expect(body.startsWith("001e# service=git-upload-pack\n0000")).toBe(true);
    expect(body).toContain(`${mainSha} HEAD\0`);
    expect(body).toContain(`${featureSha} refs/heads/feature\n`);
    expect(body).toContain("symref=HEAD:refs/heads/main");
    expect(body.endsWith("0000")).toBe(true);
  });

  it("answers in protocol v0 even when Git-Protocol asks for v2 (v2 would serve unadvertised objects)", async () => {
    const response = await fetch(`${server.url}/info/refs?service=git-upload-pack`, { headers: { "Git-Protocol": "version=2" } });
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body.startsWith(Buffer.concat([pktLine("# service=git-upload-pack\n"), FLUSH_PKT]).toString())).toBe(true);
    expect(body).not.toContain("version 2");
  });

  it("clones with protocol v0: both branches, committed content only", async () => {
    const dir = join(tmp, "clone-v0");
    const result = await gitResult(tmp, ["-c", "protocol.version=0", "clone", server.url, dir], { GIT_TRACE_PACKET: "1" });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toContain("version 2");
    await expectCommittedClone(dir);
  });

  it("clones with git's default protocol setting (v2 asked, v0 answered): both branches, committed content only", async () => {
    const dir = join(tmp, "clone-v2");
    const result = await gitResult(tmp, ["clone", server.url, dir], { GIT_TRACE_PACKET: "1" });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toContain("git< version 2");
    await expectCommittedClone(dir);
  });

  it("fetches new commits and branches with v0 and v2", async () => {
    await writeFile(join(repo, "c.txt"), "c\n");
    await git(repo, ["add", "c.txt"]);
    await git(repo, ["commit", "-q", "-m", "third"]);
    await git(repo, ["branch", "later"]);
    const newMain = await git(repo, ["rev-parse", "HEAD"]);
    for (const [dir, protocol] of [
      ["clone-v0", "0"],
      ["clone-v2", "2"],
    ] as const) {
      const cwd = join(tmp, dir);
      await git(cwd, ["-c", `protocol.version=${protocol}`, "fetch", "origin"]);
      expect(await git(cwd, ["rev-parse", "origin/main"])).toBe(newMain);
      expect(await git(cwd, ["rev-parse", "origin/later"])).toBe(newMain);
      await git(cwd, ["merge", "-q", "--ff-only", "origin/main"]);
      expect(await readFile(join(cwd, "c.txt"), "utf8")).toBe("c\n");
      expect(await readFile(join(cwd, "README.md"), "utf8")).toBe("committed v1\n");
    }
    mainSha = newMain;
  });

  it("advertises branches, tags and HEAD only: refs/stash and other private refs stay hidden", async () => {
    // A stash-like commit holding uncommitted work, made without touching the work tree.
    const secret = await execa("git", ["hash-object", "-w", "--stdin"], { cwd: repo, input: "uncommitted secret\n", env: GIT_ENV }).then((r) => r.stdout);
    const tree = await execa("git", ["mktree"], { cwd: repo, input: `100644 blob ${secret}\tsecret.txt\n`, env: GIT_ENV }).then((r) => r.stdout);
    const stash = await git(repo, ["commit-tree", tree, "-p", mainSha, "-m", "WIP"]);
    await git(repo, ["update-ref", "refs/stash", stash]);
    await git(repo, ["update-ref", "refs/notes/commits", stash]);
    await git(repo, ["update-ref", "refs/remotes/upstream/main", stash]);
    await git(repo, ["tag", "-a", "-m", "release", "v1", mainSha]);
    const tag = await git(repo, ["rev-parse", "v1"]);
    const dir = join(tmp, "clone-v0");
    for (const protocol of ["0", "2"]) {
      const refs = await git(dir, ["-c", `protocol.version=${protocol}`, "ls-remote", "origin"]);
      expect(refs.split("\n").map((line) => line.split("\t")[1])).toEqual([
        "HEAD",
        "refs/heads/feature",
        "refs/heads/later",
        "refs/heads/main",
        "refs/tags/v1",
        "refs/tags/v1^{}",
      ]);
      expect(refs).toContain(`${tag}\trefs/tags/v1`);
      expect(refs).not.toContain(stash);
      const byName = await gitResult(dir, ["-c", `protocol.version=${protocol}`, "fetch", "origin", "refs/stash"]);
      expect(byName.exitCode).not.toBe(0);
      expect(byName.stderr).toMatch(/couldn't find remote ref/);
    }
    // v0 refuses any object it did not advertise, even one whose id the client knows...
    const v0 = await gitResult(dir, ["-c", "protocol.version=0", "fetch", "origin", stash]);
    expect(v0.exitCode).not.toBe(0);
    expect(v0.stderr).toMatch(/not our ref|unadvertised object/);
    const blob = await gitResult(dir, ["-c", "protocol.version=0", "fetch", "origin", secret]);
    expect(blob.exitCode).not.toBe(0);
    // ...and so does a client asking for v2, which upload-pack v2 would have served by id: the server
    // never passes Git-Protocol on.
    const v2 = await gitResult(dir, ["-c", "protocol.version=2", "fetch", "origin", stash]);
    expect(v2.exitCode).not.toBe(0);
    const v2blob = await gitResult(dir, ["-c", "protocol.version=2", "fetch", "origin", secret]);
    expect(v2blob.exitCode).not.toBe(0);
  });

  it("streams large negotiations, gzip-compressed or chunked, from clones with thousands of local commits", async () => {
    // git compresses a request body when it fits its http.postBuffer, and streams it chunked (not
    // compressed) when it does not: both arrive here, for both protocols. (git 2.39's v2 client hits
    // a BUG() when http.postBuffer is not above 65520, whatever the server: hence 70000.)
    for (const [protocol, postBuffer, expected] of [
      ["0", "1048576", /Content-Encoding: gzip/i],
      ["0", "70000", /Transfer-Encoding: chunked/i],
      ["2", "1048576", /Content-Encoding: gzip/i],
      ["2", "70000", /Transfer-Encoding: chunked/i],
    ] as const) {
      const dir = join(tmp, `clone-many-v${protocol}-${postBuffer}`);
      await git(tmp, ["clone", "-q", server.url, dir]);
      // 3000 commits the server does not have, on top of its main.
      const stream = Array.from({ length: 3000 }, (_, i) =>
        [
          `commit refs/heads/local`,
          `committer T <t@example.invalid> ${1700000000 + i} +0000`,
          `data 2`,
          `c${i % 10}`,
          ...(i === 0 ? [`from ${mainSha}`] : []),
          `M 644 inline n.txt`,
          `data ${String(i).length + 1}`,
          `${i}`,
          ``,
        ].join("\n"),
      ).join("\n");
      await execa("git", ["fast-import", "--quiet"], { cwd: dir, input: stream, env: GIT_ENV });
      await git(dir, ["checkout", "-q", "local"]);
      // With no other ref in common, the client walks its 3000 commits down to the server's history,
      // re-sending every "have" at each stateless round: the later requests are large.
      const others = (await git(dir, ["for-each-ref", "--format=%(refname)"])).split("\n").filter((ref) => ref !== "refs/heads/local");
      await execa("git", ["update-ref", "--no-deref", "--stdin"], { cwd: dir, input: others.map((ref) => `delete ${ref}\n`).join(""), env: GIT_ENV });
      await writeFile(join(repo, "many.txt"), `${protocol} ${postBuffer}\n`);
      await git(repo, ["add", "many.txt"]);
      await git(repo, ["commit", "-q", "-m", `many ${protocol} ${postBuffer}`]);
      mainSha = await git(repo, ["rev-parse", "HEAD"]);
      const fetched = await gitResult(dir, ["-c", `protocol.version=${protocol}`, "-c", `http.postBuffer=${postBuffer}`, "fetch", "origin"], {
        GIT_TRACE_CURL: "1",
        GIT_TRACE_CURL_NO_DATA: "1",
      });
      expect(fetched.exitCode, fetched.stderr.slice(-2000)).toBe(0);
      expect(await git(dir, ["rev-parse", "origin/main"])).toBe(mainSha);
      const sent = fetched.stderr.split("\n").filter((line) => line.includes("=> Send header:"));
      console.log(
        `v${protocol}, http.postBuffer=${postBuffer}: ${sent.filter((l) => l.includes("POST ")).length} POST rounds, ${sent.filter((l) => /Content-Encoding: gzip/i.test(l)).length} gzip-compressed, ${sent.filter((l) => /Transfer-Encoding: chunked/i.test(l)).length} chunked`,
      );
      expect(sent.join("\n"), `v${protocol} ${postBuffer}`).toMatch(expected);
    }
  });

  it("takes a gzip-compressed request body like a plain one", async () => {
    const body = Buffer.concat([pktLine(`want ${mainSha} side-band-64k ofs-delta\n`), FLUSH_PKT, pktLine("done\n")]);
    const post = (data: Buffer, headers: Record<string, string> = {}) =>
      fetch(`${server.url}/git-upload-pack`, {
        method: "POST",
        body: new Uint8Array(data),
        headers: { "content-type": "application/x-git-upload-pack-request", ...headers },
      });
    for (const response of [await post(body), await post(gzipSync(body), { "content-encoding": "gzip" })]) {
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/x-git-upload-pack-result");
      const answer = Buffer.from(await response.arrayBuffer());
      expect(answer.subarray(0, 8).toString()).toBe("0008NAK\n");
      expect(answer.includes(Buffer.from("PACK"))).toBe(true);
    }
  });

  it("answers a body that is not a git request with 400, and logs it once", async () => {
    const before = logs.length;
    const response = await fetch(`${server.url}/git-upload-pack`, { method: "POST", body: "this is not pkt-line" });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/not a git upload-pack request/);
    const badGzip = await fetch(`${server.url}/git-upload-pack`, { method: "POST", body: "not gzip at all", headers: { "content-encoding": "gzip" } });
    expect(badGzip.status).toBe(400);
    await badGzip.text();
    const lines = logs.slice(before);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/400: not a git upload-pack request/);
    expect(lines[1]).toMatch(/400: request body: gzip: incorrect header check/);
  });

  it("shallow-clones and deepens with git's client (depth 1, v0 and v2 asked)", async () => {
    for (const protocol of ["0", "2"]) {
      const dir = join(tmp, `clone-shallow-v${protocol}`);
      const cloned = await gitResult(tmp, ["-c", `protocol.version=${protocol}`, "clone", "--depth", "1", "--branch", "feature", server.url, dir]);
      expect(cloned.exitCode, cloned.stderr).toBe(0);
      expect(await git(dir, ["rev-parse", "HEAD"])).toBe(featureSha);
      expect(await git(dir, ["rev-list", "--count", "HEAD"])).toBe("1");
      expect(await readFile(join(dir, "feature.txt"), "utf8")).toBe("feature\n");
      const deepened = await gitResult(dir, ["-c", `protocol.version=${protocol}`, "fetch", "--deepen", "1", "origin", "feature"]);
      expect(deepened.exitCode, deepened.stderr).toBe(0);
      expect(await git(dir, ["rev-list", "--count", "HEAD"])).toBe("2");
    }
  });

  it("refuses a push with 403 and leaves the repository and work tree byte for byte unchanged", async () => {
    const before = await snapshot(repo);
    expect(Object.keys(before)).toContain("/.git/HEAD");
    const dir = join(tmp, "clone-push");
    await git(tmp, ["clone", "-q", server.url, dir]);
    await writeFile(join(dir, "pushed.txt"), "x\n");
    await git(dir, ["add", "-A"]);
    await git(dir, ["commit", "-q", "-m", "try to push"]);
    for (const protocol of ["0", "2"]) {
      const push = await gitResult(dir, ["-c", `protocol.version=${protocol}`, "push", "origin", "HEAD:refs/heads/pushed", "HEAD:refs/heads/main"]);
      expect(push.exitCode).not.toBe(0);
      expect(push.stderr).toContain("403");
    }
    const raw = await fetch(`${server.url}/git-receive-pack`, { method: "POST", body: "0000" });
    expect(raw.status).toBe(403);
    expect(await raw.text()).toMatch(/read-only/);
    const advert = await fetch(`${server.url}/info/refs?service=git-receive-pack`);
    expect(advert.status).toBe(403);
    await advert.text();
    await git(dir, ["ls-remote", "origin"]);
    expect(await snapshot(repo)).toEqual(before);
    expect(logs.filter((line) => line.includes("refused")).length).toBeGreaterThanOrEqual(4);
  });

  it("answers 404 for everything else (dumb HTTP, other paths)", async () => {
    for (const path of [
      "/workspace.git/HEAD",
      "/workspace.git/info/refs",
      "/workspace.git/objects/info/packs",
      "/",
      "/other.git/info/refs?service=git-upload-pack",
    ]) {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
      expect(response.status, path).toBe(404);
      await response.text();
    }
  });

  it("serves a repository owned by another uid, as that uid or (when it cannot reach it) as root, changing nothing in it", async (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip();
    // `tmp` is root's 0700 folder: uid 1234 cannot reach a repository in it; `open` lets it.
    const open = await mkdtemp(join(tmpdir(), "serve-git-open-"));
    await chmod(open, 0o755);
    onTestFinished(() => rm(open, { recursive: true, force: true }));
    for (const [foreign, expected] of [
      [join(tmp, "foreign"), /cannot read it.*serving as uid 0/],
      [join(open, "foreign"), undefined],
    ] as const) {
      await execa("cp", ["-a", repo, foreign]);
      await execa("chown", ["-R", "1234:1234", foreign]);
      // The control: git itself refuses this repository without safe.directory.
      const refused = await gitResult(foreign, ["rev-parse", "HEAD"]);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/dubious ownership/);
      const before = await snapshot(foreign);
      const lines: string[] = [];
      const foreignServer = await startGitServer({ repo: foreign, host: "127.0.0.1", port: 0, log: (line) => lines.push(line) });
      try {
        const dir = join(tmp, "clone-foreign");
        for (const protocol of ["0", "2"]) {
          await rm(dir, { recursive: true, force: true });
          await git(tmp, ["-c", `protocol.version=${protocol}`, "clone", "-q", foreignServer.url, dir]);
          expect(await git(dir, ["rev-parse", "HEAD"])).toBe(mainSha);
        }
      } finally {
        await foreignServer.close();
      }
      if (expected) expect(lines.join("\n")).toMatch(expected);
      else expect(lines).toEqual([]);
      expect(await snapshot(foreign)).toEqual(before);
    }
  });

  it("answers 100 concurrent ls-remote calls (queued for its 4 git processes)", async () => {
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => gitResult(tmp, ["-c", `protocol.version=${i % 2 ? 2 : 0}`, "ls-remote", server.url])),
    );
    const ms = performance.now() - started;
    console.log(`100 concurrent ls-remote (v0 and v2 alternating): ${ms.toFixed(0)} ms`);
    for (const result of results) {
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toContain(`${mainSha}\trefs/heads/main`);
      expect(result.stdout).toContain(`${featureSha}\trefs/heads/feature`);
    }
  });
});

describe("a 48 MB repository", () => {
  let big: string;
  let sha: string;
  let gitDir: string;
  let bigServer: GitServer;

  beforeAll(async () => {
    big = await mkdtemp(join(tmpdir(), "serve-git-big-"));
    await git(big, ["init", "-q", "-b", "main"]);
    // Random bytes do not compress: pack-objects has 48 MB to stream and blocks on a full pipe.
    await writeFile(join(big, "blob.bin"), randomBytes(48 * 1024 * 1024));
    await git(big, ["add", "-A"]);
    await git(big, ["commit", "-q", "-m", "big"]);
    sha = await git(big, ["rev-parse", "HEAD"]);
    gitDir = await realpath(join(big, ".git"));
    bigServer = await startGitServer({ repo: big, host: "127.0.0.1", port: 0 });
  });

  afterAll(async () => {
    await bigServer?.close();
    await rm(big, { recursive: true, force: true });
  });

  it("clones through the server (throughput)", async () => {
    const dir = join(big, "..", `${big.split("/").pop()}-clone`);
    try {
      const started = performance.now();
      await git(tmpdir(), ["clone", "-q", "--no-checkout", bigServer.url, dir]);
      const ms = performance.now() - started;
      console.log(`clone of a 48 MB (incompressible) repository through the server: ${ms.toFixed(0)} ms = ${((48 / ms) * 1000).toFixed(0)} MB/s`);
      expect(await git(dir, ["rev-parse", "HEAD"])).toBe(sha);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a client that goes away mid-fetch leaves no git child behind", async () => {
    const body = Buffer.concat([pktLine(`want ${sha} side-band-64k ofs-delta\n`), FLUSH_PKT, pktLine("done\n")]);
    const during = await new Promise<GitProcess[]>((resolve, reject) => {
      const req = request(
        `${bigServer.url}/git-upload-pack`,
        { method: "POST", headers: { "content-type": "application/x-git-upload-pack-request" } },
        (res) => {
          res.once("data", async () => {
            res.pause();
            // Let the pipes fill, then look, then hang up.
            await new Promise((r) => setTimeout(r, 200));
            const processes = await gitProcessesIn(gitDir);
            req.destroy();
            resolve(processes);
          });
        },
      );
      req.on("error", (error) => {
        if (!req.destroyed) reject(error);
      });
      req.end(body);
    });
    // Both still there 200 ms after the client stopped reading: the answer is streamed, not buffered.
    expect(during.map((p) => p.command).join("\n")).toMatch(/upload-pack/);
    expect(during.map((p) => p.command).join("\n")).toMatch(/pack-objects/);
    expect(await waitForNoGitIn(gitDir, 5000)).toEqual([]);
  });
});

/** go-git is what Flux's source-controller clones with: prove it works against this server. */
const GO_PROGRAM = `package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	url, full, shallow := os.Args[1], os.Args[2], os.Args[3]
	out := map[string]string{}

	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := remote.List(&git.ListOptions{})
	must(err)
	for _, ref := range refs {
		out["ls:"+ref.Name().String()] = ref.Hash().String()
	}

	repo, err := git.PlainClone(full, false, &git.CloneOptions{URL: url})
	must(err)
	head, err := repo.Head()
	must(err)
	out["full:head"] = head.Hash().String()
	out["full:branch"] = head.Name().String()

	// Like source-controller: one branch, depth 1.
	repo, err = git.PlainClone(shallow, false, &git.CloneOptions{URL: url, ReferenceName: plumbing.NewBranchReferenceName("feature"), SingleBranch: true, Depth: 1})
	must(err)
	head, err = repo.Head()
	must(err)
	out["shallow:head"] = head.Hash().String()

	must(json.NewEncoder(os.Stdout).Encode(out))
}
`;

describe("go-git (Flux's source-controller client)", () => {
  it("lists, clones, and shallow-clones a branch", { timeout: 600_000 }, async (ctx) => {
    const go = await execa("go", ["version"], { reject: false });
    if (go.exitCode !== 0) {
      console.log("go-git check skipped: `go` is not installed");
      return ctx.skip();
    }
    const dir = await mkdtemp(join(tmpdir(), "serve-gogit-"));
    try {
      await writeFile(join(dir, "main.go"), GO_PROGRAM);
      await writeFile(join(dir, "go.mod"), "module gogitprobe\n\ngo 1.21\n\nrequire github.com/go-git/go-git/v5 v5.19.1\n");
      const goEnv = { GOFLAGS: "-mod=mod", CGO_ENABLED: "0" };
      const tidy = await execa("go", ["mod", "tidy"], { cwd: dir, env: goEnv, reject: false });
      if (tidy.exitCode !== 0) {
        console.log(`go-git check skipped: the module could not be resolved:\n${tidy.stderr}`);
        return ctx.skip();
      }
      const build = await execa("go", ["build", "-o", "probe", "."], { cwd: dir, env: goEnv, reject: false });
      expect(build.exitCode, build.stderr).toBe(0);
      const probe = await execa(join(dir, "probe"), [server.url, join(dir, "full"), join(dir, "shallow")], { reject: false });
      expect(probe.exitCode, probe.stderr).toBe(0);
      const out = JSON.parse(probe.stdout) as Record<string, string>;
      console.log(`go-git ${go.stdout.trim()}: ${JSON.stringify(out)}`);
      expect(out["ls:refs/heads/main"]).toBe(mainSha);
      expect(out["ls:refs/heads/feature"]).toBe(featureSha);
      expect(out["full:head"]).toBe(mainSha);
      expect(out["full:branch"]).toBe("refs/heads/main");
      expect(out["shallow:head"]).toBe(featureSha);
      expect(await readFile(join(dir, "full", "README.md"), "utf8")).toBe("committed v1\n");
      expect(await readFile(join(dir, "shallow", "feature.txt"), "utf8")).toBe("feature\n");
      await expect(lstat(join(dir, "full", "untracked.txt"))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
