import { execa } from "execa";
import { describe, expect, it } from "vitest";

/**
 * install.sh's choices, checked by sourcing it (nothing is downloaded or installed). Options reach it
 * as the devcontainer CLI passes them (upper-case variables) and are read through validate_options;
 * hostile values are covered by hostile-options.test.ts.
 */
const INSTALL = "features/src/kind-cluster/install.sh";

async function bash(script: string, env: Record<string, string> = {}) {
  return execa("bash", ["-c", `source ${INSTALL}; validate_options; ${script}`], { env: { PATH: process.env.PATH ?? "", ...env }, extendEnv: false, reject: false });
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

  it("maps every tool into the mirror's layout when downloadMirror is set", async () => {
    const out = await bash("ARCH=arm64; resolve_versions; for t in kind:v0.31.0 kubectl:v1.35.0 docker:28.2.2; do download_url ${t%%:*} ${t#*:}; done", {
      DOWNLOADMIRROR: "http://mirror.test:8080/",
    });
    expect(out.stdout.split("\n")).toEqual([
      "http://mirror.test:8080/kind/v0.31.0/kind-linux-arm64",
      "http://mirror.test:8080/kubectl/v1.35.0/kubectl-linux-arm64",
      "http://mirror.test:8080/docker/28.2.2/docker-linux-arm64.tgz",
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
    expect(out.stdout.split("\n")).toContain("apiServerPort=6443");
    expect(out.stdout.split("\n")).toContain("installDockerCli=true");
  });
});
