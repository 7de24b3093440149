import { execa } from "execa";
import { describe, expect, it } from "vitest";
import feature from "../../features/src/kind-cluster/devcontainer-feature.json" with { type: "json" };

/**
 * Hostile values for every option, at build time (install.sh, as the devcontainer CLI runs it, with the
 * option in an upper-case variable) and at run time (the hooks' CLI, with a KIND_CLUSTER_* variable).
 * Each must be refused with an error that names the option, what is accepted and where it was set.
 * Black-box: the built CLI and install.sh, so the same table judges any implementation.
 */
const CLI = "features/src/kind-cluster/dist/kind-cluster.mjs";
const INSTALL = "features/src/kind-cluster/install.sh";

const CONTROL = ["a\nb", "a\rb", "a\tb", "a\u001b[31mb", "a\u0000b".replace("\u0000", "\u0001")];
const PORTS = ["0x1F90", "1e3", "+6443", "0", "65536", "-1", " 6443", "6443 ", "", "06443", "6443.0"];
const HOSTILE: Record<string, string[]> = {
  clusterName: ["Bad_Name", "a".repeat(51), "-lead", "trail-", "a b", "$(id)", ...CONTROL],
  apiServerPort: PORTS,
  apiServerAddress: ["0.0.0.0", "::", "256.1.1.1", "1.2.3", "localhost", "127.0.0.1 ", "01.2.3.4", ...CONTROL],
  route: ["bogus", "AUTO", "kind-network ", ...CONTROL],
  kindConfig: [...CONTROL],
  nodeImage: ["a b", "UPPER/image:1", "image:tag;rm -rf /", "image@sha256:xyz", "-image", ...CONTROL],
  waitSeconds: ["2147484", "1e308", "-1", "1.5", "", "0x10", "soon", ...CONTROL],
  createCluster: ["yes", "1", "", ...CONTROL],
  strict: ["yes", "0", ...CONTROL],
  localRegistry: ["on", ...CONTROL],
  registryPort: PORTS,
  registryImage: ["", "Registry:3", "registry:3 --privileged", ...CONTROL],
  gitops: ["argo", "Flux", ...CONTROL],
  gitopsPath: ["/etc", "../outside", "clusters/../..", "a b", "$(id)", "", ...CONTROL],
  loadBalancer: ["on", "", ...CONTROL],
  forwardServices: ["1", "no", ...CONTROL],
  extraClusters: ["Staging:clusters/s", "a:../x", "a,a", "a:b:c", "a,", "a;id", "kind", ...CONTROL],
  stopWithContainer: ["yes", ...CONTROL],
  fluxComponents: ["", "helm-controller", "source-controller,kustomize-controller,$(id)", "source-controller;kustomize-controller", ...CONTROL],
  kindVersion: ["v0.30.0; rm -rf /", "../../etc/passwd", "v0.30", "latest\n", ...CONTROL],
  kubectlVersion: ["1.34.1 && id", "v1.34/../x", ...CONTROL],
  fluxVersion: ["2.9", "v2.9.5;id", ...CONTROL],
  helmVersion: ["v4", "../v4.3.0", ...CONTROL],
  installHelm: ["no", ...CONTROL],
  installDockerCli: ["yes", ...CONTROL],
  dockerVersion: ["28.2.2/../../x", "28.2.2 x", "v", ...CONTROL],
  downloadMirror: [
    "ftp://mirror.test",
    "http://a b/",
    "mirror.test",
    "file:///etc",
    "http://mirror.test/$(id)",
    // Plain http: without allowInsecureMirror, and to a public address (refused even with it).
    "http://127.0.0.1:8080",
    "http://mirror.test:8080",
    "http://127.0.0.1@mirror.test/",
    ...CONTROL,
  ],
  allowInsecureMirror: ["yes", "1", ...CONTROL],
};

const upper = (name: string) => name.toUpperCase();
const envName = (name: string) =>
  `KIND_CLUSTER_${name
    .replace(/[A-Z]/g, (c) => `_${c}`)
    .toUpperCase()
    .replace(/^CLUSTER_/, "")}`;
const RUN_TIME = [
  "clusterName",
  "apiServerPort",
  "apiServerAddress",
  "route",
  "kindConfig",
  "nodeImage",
  "waitSeconds",
  "createCluster",
  "strict",
  "localRegistry",
  "registryPort",
  "registryImage",
  "gitops",
  "gitopsPath",
  "loadBalancer",
  "forwardServices",
  "extraClusters",
  "stopWithContainer",
  "fluxComponents",
];

const cases = Object.entries(HOSTILE).flatMap(([name, values]) => values.map((value) => [name, value] as const));

describe("hostile option values", () => {
  it("covers every option of the Feature", () => {
    expect(Object.keys(HOSTILE).sort()).toEqual(Object.keys(feature.options).sort());
  });

  it.each(cases)("build time refuses %s=%j, naming it and what is accepted", async (name, value) => {
    const out = await execa("bash", ["-c", `source ${INSTALL}; validate_options`], {
      env: { PATH: process.env.PATH ?? "", [upper(name)]: value },
      extendEnv: false,
      reject: false,
    });
    expect(out.exitCode, out.stdout).not.toBe(0);
    expect(out.stderr).toContain(`option ${name}=${JSON.stringify(value)}`);
    expect(out.stderr).toMatch(/not valid: \S/);
    expect(out.stderr).toContain("devcontainer.json");
  });

  // The run-time settings as the hooks resolve them; `kind-cluster options` touches nothing else, so it
  // exits 0 exactly when every value is accepted.
  const runTime = (env: Record<string, string>) =>
    execa("node", [CLI, "options"], {
      env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent", KIND_CLUSTER_OPTIONS_FILE: "/nonexistent", ...env },
      extendEnv: false,
      reject: false,
    });

  it("run time accepts a good value of every option, and says where it came from (the check below can fail)", async () => {
    const out = await runTime({ KIND_CLUSTER_NAME: "good", KIND_CLUSTER_API_SERVER_PORT: "7443" });
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^clusterName=good\s+\(environment variable KIND_CLUSTER_NAME\)$/m);
    expect(out.stdout).toMatch(/^apiServerPort=7443\s+\(environment variable KIND_CLUSTER_API_SERVER_PORT\)$/m);
    expect(out.stdout).toMatch(/^route=auto\s+\(the Feature's defaults\)$/m);
  });

  // At run time an empty variable means "not set" (the option file's value stands), so "" is left out here.
  it.each(cases.filter(([name, value]) => RUN_TIME.includes(name) && value !== ""))(
    "run time refuses %s=%j, naming it, the variable and what is accepted",
    async (name, value) => {
      const out = await runTime({ [envName(name)]: value });
      expect(out.exitCode).toBe(1);
      expect(out.stderr).toContain(`option ${name}=${JSON.stringify(value)} (from environment variable ${envName(name)})`);
      expect(out.stderr).toMatch(/not valid: \S/);
    },
  );
});

describe("a cluster named on the command line", () => {
  it("--name is refused as the option would be, naming the flag", async () => {
    const out = await execa("node", [CLI, "status", "--name", "Bad_Name"], {
      env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent", KIND_CLUSTER_OPTIONS_FILE: "/nonexistent" },
      extendEnv: false,
      reject: false,
    });
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain('option clusterName="Bad_Name" (from command-line flag --cluster-name) is not valid: lower-case letters');
  });
});

describe("no option value reaches a shell", () => {
  it("install.sh and the socket entrypoint never evaluate text, and the CLI never runs a shell", async () => {
    const { readFile, readdir } = await import("node:fs/promises");
    for (const file of ["features/src/kind-cluster/install.sh", "features/src/kind-cluster/docker-socket.sh"]) {
      const code = (await readFile(file, "utf8")).split("\n").filter((l) => !l.trim().startsWith("#"));
      expect(
        code.filter((l) => /\beval\b|\bsh -c\b|\bbash -c\b/.test(l)),
        file,
      ).toEqual([]);
    }
    const sources = (await readdir("src", { recursive: true })).filter((f) => f.endsWith(".ts"));
    for (const file of sources) {
      const code = await readFile(`src/${file}`, "utf8");
      expect(code, file).not.toMatch(/shell:\s*true|execaCommand|child_process/);
    }
  });
});
