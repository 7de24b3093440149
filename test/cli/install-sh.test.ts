import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

/**
 * install.sh's choices, checked by sourcing it (nothing is downloaded or installed). Options reach it
 * as the devcontainer CLI passes them (upper-case variables) and are read through validate_options;
 * hostile values are covered by hostile-options.test.ts.
 */
const INSTALL = "features/src/kind-cluster/install.sh";

async function bash(script: string, env: Record<string, string> = {}) {
  return execa("bash", ["-c", `source ${INSTALL}; validate_options; ${script}`], {
    env: { PATH: process.env.PATH ?? "", ...env },
    extendEnv: false,
    reject: false,
  });
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A download mirror over plain http on 127.0.0.1, serving `files` (URL path -> body); every other path is a 404. */
async function withMirror<T>(files: Record<string, string> | ((path: string) => string | undefined), use: (url: string) => Promise<T>): Promise<T> {
  const server = createServer((req, res) => {
    const body = typeof files === "function" ? files(req.url ?? "") : files[req.url ?? ""];
    res.statusCode = body === undefined ? 404 : 200;
    res.end(body ?? "");
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.close();
  }
}

describe("install.sh", () => {
  it("pins the default kind and kubectl to their published checksums, per architecture", async () => {
    const out = await bash(`for ARCH in amd64 arm64; do resolve_versions
      for t in kind:$KIND_VERSION kubectl:$KUBECTL_VERSION; do
        echo "$ARCH \${t%%:*} \${t#*:} $(download_url \${t%%:*} \${t#*:}) $(expected_sha256 \${t%%:*} \${t#*:} x)"; done; done`);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.split("\n")).toEqual([
      "amd64 kind v0.30.0 https://github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-linux-amd64 517ab7fc89ddeed5fa65abf71530d90648d9638ef0c4cde22c2c11f8097b8889",
      "amd64 kubectl v1.34.1 https://dl.k8s.io/release/v1.34.1/bin/linux/amd64/kubectl 7721f265e18709862655affba5343e85e1980639395d5754473dafaadcaa69e3",
      "arm64 kind v0.30.0 https://github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-linux-arm64 7ea2de9d2d190022ed4a8a4e3ac0636c8a455e460b9a13ccf19f15d07f4f00eb",
      "arm64 kubectl v1.34.1 https://dl.k8s.io/release/v1.34.1/bin/linux/arm64/kubectl 420e6110e3ba7ee5a3927b5af868d18df17aae36b720529ffa4e9e945aa95450",
    ]);
  });

  it("pins a current static Docker CLI, flux and helm to their checksums, per architecture (Debian's docker.io speaks API 1.41)", async () => {
    const out = await bash(`for ARCH in amd64 arm64; do resolve_versions
      for t in docker flux helm; do v=$(version_of $t); echo "$ARCH $t $v $(download_url $t $v) $(expected_sha256 $t $v x)"; done; done`);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.split("\n")).toEqual([
      "amd64 docker 29.7.2 https://download.docker.com/linux/static/stable/x86_64/docker-29.7.2.tgz 803d433f226db4776e1768fd319fc6c6e4935a456acf84fcc0080818b854bc8f",
      "amd64 flux v2.9.5 https://github.com/fluxcd/flux2/releases/download/v2.9.5/flux_2.9.5_linux_amd64.tar.gz b853df82adfd7736f580692f9f734473d571606307139f8fd20c2a80dd1ff473",
      "amd64 helm v3.22.0 https://get.helm.sh/helm-v3.22.0-linux-amd64.tar.gz 1e4ab49e429626cf6c6958d914248b78c9730803c2751b87627e171dc800e7bb",
      "arm64 docker 29.7.2 https://download.docker.com/linux/static/stable/aarch64/docker-29.7.2.tgz 43d143448adf2c2787704e7d7704fd6d62d367a54c5edaef0a3f75509cb0938d",
      "arm64 flux v2.9.5 https://github.com/fluxcd/flux2/releases/download/v2.9.5/flux_2.9.5_linux_arm64.tar.gz f3e159af616ec0b9bd0a405c2185cf09d06b74652c1de3c7f377e8166826651a",
      "arm64 helm v3.22.0 https://get.helm.sh/helm-v3.22.0-linux-arm64.tar.gz f14e804dfee240f55525b667488fe9adca349e63e00c9af634c0beb1421ac310",
    ]);
  });

  it("refuses an unpinned Docker CLI version without a mirror (Docker publishes no checksums), saying what to do", async () => {
    const out = await bash("ARCH=amd64; resolve_versions; expected_sha256 docker $DOCKER_VERSION x", { DOCKERVERSION: "29.1.0" });
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toMatch(/Docker publishes no checksums .* only the pinned Docker CLI 29.7.2 .* downloadMirror/);
  });

  it("replaces an image's Docker CLI only when it is older than API 1.44", async () => {
    const out = await bash("for v in 1.41 1.43 1.44 1.50; do api_older $v 1.44 && echo $v-old || echo $v-current; done");
    expect(out.stdout.split("\n")).toEqual(["1.41-old", "1.43-old", "1.44-current", "1.50-current"]);
  });

  it("maps every tool into the mirror's layout when downloadMirror is set", async () => {
    const out = await bash(
      "ARCH=arm64; resolve_versions; for t in kind:v0.31.0 kubectl:v1.35.0 docker:28.2.2 flux:v2.9.5 helm:v4.3.0; do download_url ${t%%:*} ${t#*:}; done",
      {
        DOWNLOADMIRROR: "https://mirror.test:8080/",
      },
    );
    expect(out.stdout.split("\n")).toEqual([
      "https://mirror.test:8080/kind/v0.31.0/kind-linux-arm64",
      "https://mirror.test:8080/kubectl/v1.35.0/kubectl-linux-arm64",
      "https://mirror.test:8080/docker/28.2.2/docker-linux-arm64.tgz",
      "https://mirror.test:8080/flux/v2.9.5/flux-linux-arm64.tar.gz",
      "https://mirror.test:8080/helm/v4.3.0/helm-linux-arm64.tar.gz",
    ]);
  });

  it("accepts versions with or without the v, and takes the user's own versions", async () => {
    const out = await bash('resolve_versions; echo "$KIND_VERSION $KUBECTL_VERSION"', { KINDVERSION: "0.29.0", KUBECTLVERSION: "1.33.4" });
    expect(out.stdout).toBe("v0.29.0 v1.33.4");
  });

  it("takes every default from devcontainer-feature.json, through the CLI's option table", async () => {
    const out = await bash('for k in "${!OPT[@]}"; do echo "$k=${OPT[$k]}"; done | sort');
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.split("\n")).toContain("clusterName=kind");
    expect(out.stdout.split("\n")).toContain("apiServerPort=auto");
    expect(out.stdout.split("\n")).toContain("installDockerCli=true");
  });
});

describe("install.sh with a download mirror", () => {
  const INSECURE_LOCAL = (url: string) => ({ DOWNLOADMIRROR: url, ALLOWINSECUREMIRROR: "true" });

  it("refuses a pinned version that matches only the mirror's .sha256: the pin wins", async () => {
    const forged = "#!/bin/sh\necho not the kind v0.30.0 release\n";
    const dest = join(mkdtempSync(join(tmpdir(), "install-sh-")), "kind");
    const out = await withMirror(
      { "/kind/v0.30.0/kind-linux-amd64": forged, "/kind/v0.30.0/kind-linux-amd64.sha256": `${sha256(forged)}  kind-linux-amd64\n` },
      (url) => bash(`ARCH=amd64; resolve_versions; fetch_verified kind v0.30.0 ${dest}`, INSECURE_LOCAL(url)),
    );
    expect(out.exitCode, out.stdout).toBe(1);
    expect(out.stderr).toMatch(
      /checksum mismatch for kind v0\.30\.0 from http:\/\/127\.0\.0\.1:\d+\/kind\/v0\.30\.0\/kind-linux-amd64: expected 517ab7fc89ddeed5fa65abf71530d90648d9638ef0c4cde22c2c11f8097b8889, got /,
    );
    expect(existsSync(dest)).toBe(false);
  });

  it("expects every pinned version's own hash, whatever the mirror's .sha256 says", async () => {
    // Every .sha256 the mirror could be asked for names a forged digest.
    const forged = (path: string) => (path.endsWith(".sha256") ? `${"0".repeat(64)}  forged\n` : undefined);
    const out = await withMirror(forged, (url) =>
      bash(
        `resolve_versions; for key in "\${!PINNED_SHA256[@]}"; do
           tool=\${key%%-*}; ARCH=\${key##*-}; version=\${key#"$tool-"}; version=\${version%"-$ARCH"}
           echo "$key $(expected_sha256 "$tool" "$version" "$(download_url "$tool" "$version")")"
         done | sort`,
        INSECURE_LOCAL(url),
      ),
    );
    expect(out.exitCode, out.stderr).toBe(0);
    const pins = [...readFileSync(INSTALL, "utf8").matchAll(/^\s+\[([a-z]+-v?[0-9.]+-(?:amd64|arm64))\]="([0-9a-f]{64})"$/gm)]
      .map((m) => `${m[1]} ${m[2]}`)
      .sort();
    expect(pins).toHaveLength(10);
    expect(out.stdout.split("\n")).toEqual(pins);
  });

  it("checks a version it does not pin against the mirror's .sha256", async () => {
    const binary = "#!/bin/sh\necho kind v0.31.0\n";
    const dir = mkdtempSync(join(tmpdir(), "install-sh-"));
    const files = { "/kind/v0.31.0/kind-linux-amd64": binary, "/kind/v0.31.0/kind-linux-amd64.sha256": `${sha256(binary)}  kind-linux-amd64\n` };
    const good = await withMirror(files, (url) => bash(`ARCH=amd64; resolve_versions; fetch_verified kind v0.31.0 ${dir}/good`, INSECURE_LOCAL(url)));
    expect(good.exitCode, good.stderr).toBe(0);
    expect(readFileSync(join(dir, "good"), "utf8")).toBe(binary);
    const tampered = { ...files, "/kind/v0.31.0/kind-linux-amd64": `${binary}tampered` };
    const bad = await withMirror(tampered, (url) => bash(`ARCH=amd64; resolve_versions; fetch_verified kind v0.31.0 ${dir}/bad`, INSECURE_LOCAL(url)));
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain(`expected ${sha256(binary)}, got ${sha256(`${binary}tampered`)}`);
  });

  it("downloads over plain http only from a mirror the user allowed it for", async () => {
    const files = { "/file": "served" };
    const allowed = await withMirror(files, (url) => bash(`resolve_versions; curl_get ${url}/file`, INSECURE_LOCAL(url)));
    expect(allowed.stdout, allowed.stderr).toBe("served");
    const https = await withMirror(files, (url) => bash(`resolve_versions; curl_get ${url}/file`, { DOWNLOADMIRROR: "https://mirror.test" }));
    expect(https.exitCode).not.toBe(0);
    expect(https.stdout).toBe("");
    const upstream = await withMirror(files, (url) => bash(`resolve_versions; curl_get ${url}/file`));
    expect(upstream.exitCode).not.toBe(0);
    expect(upstream.stdout).toBe("");
  });
});
