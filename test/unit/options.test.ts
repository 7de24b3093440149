import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import feature from "../../features/src/kind-cluster/devcontainer-feature.json" with { type: "json" };
import { ZoneError } from "../../src/errors.js";
import {
  clusterLayer,
  declaredClusters,
  DEFAULT_SETTINGS,
  envLayer,
  envName,
  fileLayer,
  flagLayer,
  flagName,
  OPTION_NAMES,
  parseOptionsFile,
  renderOptionsFile,
  resolveSettings,
} from "../../src/options.js";

describe("options, defined once", () => {
  it("has one rule for each option of devcontainer-feature.json, and every default passes it", () => {
    expect([...OPTION_NAMES].sort()).toEqual(Object.keys(feature.options).sort());
    for (const name of OPTION_NAMES) expect(String(DEFAULT_SETTINGS[name])).toBe(String(feature.options[name].default));
  });

  it("derives variables and flags from the names", () => {
    expect(["clusterName", "apiServerPort", "kindConfig", "createCluster", "strict"].map((n) => envName(n as never))).toEqual([
      "KIND_CLUSTER_NAME",
      "KIND_CLUSTER_API_SERVER_PORT",
      "KIND_CLUSTER_KIND_CONFIG",
      "KIND_CLUSTER_CREATE_CLUSTER",
      "KIND_CLUSTER_STRICT",
    ]);
    expect(flagName("apiServerPort")).toBe("--api-server-port");
  });

  it("round-trips the options file install.sh writes, ignoring comments and unknown names", () => {
    const settings = resolveSettings([
      { origin: () => "test", values: { clusterName: "gitops", apiServerPort: "7443", kindConfig: "local/kubernetes/kind.yaml" } },
    ]);
    const text = renderOptionsFile(settings, { remoteUser: "dev" });
    expect(parseOptionsFile(text)).toMatchObject({ clusterName: "gitops", apiServerPort: "7443", kindConfig: "local/kubernetes/kind.yaml", remoteUser: "dev" });
    expect(text).not.toContain("kindVersion="); // build-time options stay with install.sh
    expect(resolveSettings([fileLayer("/f", text)])).toEqual({
      ...DEFAULT_SETTINGS,
      clusterName: "gitops",
      apiServerPort: 7443,
      kindConfig: "local/kubernetes/kind.yaml",
    });
  });

  it("lets the environment, then flags, override the file", () => {
    const settings = resolveSettings([
      fileLayer("/f", "clusterName=a\nroute=auto\nstrict=false\n"),
      envLayer({ KIND_CLUSTER_NAME: "b", KIND_CLUSTER_STRICT: "true", KIND_CLUSTER_ROUTE: "" }),
      flagLayer({ clusterName: "c" }),
    ]);
    expect(settings).toMatchObject({ clusterName: "c", strict: true, route: "auto" });
  });

  it.each([
    ["clusterName", "My_Cluster", /lower-case/],
    ["apiServerPort", "70000", /port from 1 to 65535/],
    ["route", "localhost", /auto, host.docker.internal, kind-network/],
    ["waitSeconds", "-1", /whole number/],
    ["createCluster", "yes", /true or false/],
    ["apiServerAddress", "0.0.0.0", /every interface/],
  ])("rejects %s=%s, naming where it came from and how to fix it", (key, value, pattern) => {
    const attempt = () => resolveSettings([fileLayer("/usr/local/share/kind-cluster/options.env", `${key}=${value}\n`)]);
    expect(attempt).toThrowError(pattern);
    expect(attempt).toThrowError(/from \/usr\/local\/share\/kind-cluster\/options\.env/);
  });
});

describe("versions said once", () => {
  const install = readFileSync("features/src/kind-cluster/install.sh", "utf8");
  const pins = Object.fromEntries([...install.matchAll(/^\s+\[(\w+)\]="([^"]+)"$/gm)].map((m) => [m[1]!, m[2]!]));

  it("each tool's version option proposes the version install.sh pins for latest", () => {
    expect(Object.keys(pins).sort()).toEqual(["docker", "flux", "helm", "kind", "kubectl"]);
    for (const [tool, version] of Object.entries(pins)) {
      const option = (feature.options as Record<string, { proposals?: string[] }>)[`${tool}Version`];
      expect(option?.proposals, `${tool}Version`).toEqual(["latest", version]);
    }
  });

  it("the bundle targets the oldest Node.js that install.sh accepts for the hooks", () => {
    const floor = /^MIN_NODE_MAJOR=(\d+)$/m.exec(install)?.[1];
    const target = /target: "node(\d+)"/.exec(readFileSync("scripts/build.mjs", "utf8"))?.[1];
    expect(floor).toBeDefined();
    expect(target).toBe(floor);
  });
});

describe("several clusters and a chosen port", () => {
  const settings = (values: Record<string, string>) =>
    resolveSettings([
      fileLayer(
        "/options.env",
        Object.entries(values)
          .map(([k, v]) => `${k}=${v}\n`)
          .join(""),
      ),
    ]);

  it("apiServerPort is auto by default, or a pinned port", () => {
    expect(DEFAULT_SETTINGS.apiServerPort).toBe("auto");
    expect(settings({ apiServerPort: "6443" }).apiServerPort).toBe(6443);
    expect(() => settings({ apiServerPort: "Auto" })).toThrowError(/"auto" .* or a port from 1 to 65535/);
  });

  it("extraClusters declares more clusters, each with its own folder or gitopsPath", () => {
    expect(declaredClusters(settings({ extraClusters: "staging:clusters/staging,prod:clusters/prod/,qa" }))).toEqual([
      { name: "kind" },
      { name: "staging", gitopsPath: "clusters/staging" },
      { name: "prod", gitopsPath: "clusters/prod" },
      { name: "qa" },
    ]);
    expect(declaredClusters(DEFAULT_SETTINGS)).toEqual([{ name: "kind" }]);
  });

  it.each([["Staging:clusters/s"], ["a:../x"], ["a,a"], ["a:b:c"], ["a,"], [","], ["a:/etc"], ["a b"]])(
    "extraClusters=%j is refused, naming the option and what it accepts",
    (value) => {
      expect(() => settings({ extraClusters: value })).toThrowError(
        /option extraClusters=.* is not valid: empty, or name:gitopsPath pairs separated by commas/,
      );
    },
  );

  it("an extra cluster that repeats clusterName is refused", () => {
    expect(() => declaredClusters(settings({ clusterName: "dev", extraClusters: "staging,dev" }))).toThrowError(
      /option extraClusters="staging,dev" \(from the settings\) is not valid: it names dev, which is clusterName/,
    );
  });

  it("another cluster of the container takes its own name, port (auto) and folder; flags still win", () => {
    const base = settings({ clusterName: "dev", apiServerPort: "6443", gitopsPath: "clusters/dev", extraClusters: "staging:clusters/staging,qa" });
    const layered = (name: string, flags: Record<string, string> = {}) => {
      const own = clusterLayer(base, name);
      return resolveSettings([fileLayer("/f", `clusterName=dev\napiServerPort=6443\ngitopsPath=clusters/dev\n`), ...(own ? [own] : []), flagLayer(flags)]);
    };
    expect(clusterLayer(base, "dev")).toBeUndefined();
    expect(layered("staging")).toMatchObject({ clusterName: "staging", apiServerPort: "auto", gitopsPath: "clusters/staging" });
    expect(layered("qa")).toMatchObject({ clusterName: "qa", apiServerPort: "auto", gitopsPath: "clusters/dev" });
    expect(layered("scratch", { gitopsPath: "clusters/x", apiServerPort: "7000" })).toMatchObject({
      clusterName: "scratch",
      apiServerPort: 7000,
      gitopsPath: "clusters/x",
    });
  });
});

describe("downloadMirror: https, or plain http to a loopback or private address with allowInsecureMirror", () => {
  const FROM = "the Feature's options in devcontainer.json";
  const mirror = (downloadMirror: string, allowInsecureMirror?: string) =>
    resolveSettings([{ origin: () => FROM, values: { downloadMirror, ...(allowInsecureMirror === undefined ? {} : { allowInsecureMirror }) } }]);

  it.each(["https://mirror.example.com", "https://mirror.example.com:8443/tools/", "https://203.0.113.7/"])("accepts %s without any opt-in", (url) => {
    expect(mirror(url).downloadMirror).toBe(url);
  });

  it.each(["http://127.0.0.1:8080", "http://10.0.0.1:8080"])("refuses %s without allowInsecureMirror, naming both options and the fix", (url) => {
    const attempt = () => mirror(url);
    expect(attempt).toThrowError(`option downloadMirror=${JSON.stringify(url)} (from ${FROM}) is not valid`);
    expect(attempt).toThrowError(/plain http/);
    expect(refusal(attempt).fix).toMatch(/https:\/\/ mirror.*allowInsecureMirror/);
  });

  it.each([
    "http://mirror.example.com",
    "http://203.0.113.7:8080",
    "http://8.8.8.8/",
    "http://172.32.0.1",
    "http://192.169.0.1",
    "http://[2001:db8::1]/",
    "http://[fe80::1]/",
    "http://127.0.0.1@mirror.example.com/",
    "http://0x7f.1/",
    "http://127.0.0.1./",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost.example.com/",
  ])("refuses %s even with allowInsecureMirror: a public address, or one not written plainly", (url) => {
    const attempt = () => mirror(url, "true");
    expect(attempt).toThrowError(`option downloadMirror=${JSON.stringify(url)} (from ${FROM}) is not valid`);
    expect(attempt).toThrowError(/loopback or private address/);
  });

  it.each([
    "http://127.0.0.1:8080",
    "http://127.10.0.1/",
    "http://10.1.2.3:8080/mirror",
    "http://172.16.0.1",
    "http://172.17.0.2:8080",
    "http://172.31.255.254",
    "http://192.168.1.10",
    "http://localhost:8080",
    "http://[::1]:8080",
    "http://[fd00::1]/",
    "http://[fc12:3456::1]:8080",
  ])("accepts %s with allowInsecureMirror", (url) => {
    expect(mirror(url, "true")).toMatchObject({ downloadMirror: url, allowInsecureMirror: true });
  });
});

function refusal(attempt: () => unknown): ZoneError {
  try {
    attempt();
  } catch (error) {
    if (error instanceof ZoneError) return error;
    throw error;
  }
  throw new Error("not refused");
}
