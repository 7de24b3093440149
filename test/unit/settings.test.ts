import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS, envLayer, parseOptionsFile, resolveSettings } from "../../src/settings.js";

describe("settings", () => {
  it("reads install.sh's options file, ignoring comments and unknown names", () => {
    const values = parseOptionsFile("# written by install.sh\nclusterName=gitops\napiServerPort=7443\nkindConfig=local/kubernetes/kind.yaml\nremoteUser=dev\n\n");
    expect(values).toEqual({ clusterName: "gitops", apiServerPort: "7443", kindConfig: "local/kubernetes/kind.yaml", remoteUser: "dev" });
    expect(resolveSettings([{ source: "f", values }])).toEqual({ ...DEFAULT_SETTINGS, clusterName: "gitops", apiServerPort: 7443, kindConfig: "local/kubernetes/kind.yaml" });
  });

  it("lets the environment, then flags, override the file", () => {
    const settings = resolveSettings([
      { source: "file", values: { clusterName: "a", route: "auto", strict: "false" } },
      envLayer({ KIND_CLUSTER_NAME: "b", KIND_CLUSTER_STRICT: "true", KIND_CLUSTER_ROUTE: "" }),
      { source: "command line", values: { clusterName: "c" } },
    ]);
    expect(settings).toMatchObject({ clusterName: "c", strict: true, route: "auto" });
  });

  it.each([
    ["clusterName", "My_Cluster", /lower-case/],
    ["apiServerPort", "70000", /port from 1 to 65535/],
    ["apiServerPort", "64k", /port/],
    ["route", "localhost", /auto, host.docker.internal, kind-network/],
    ["waitSeconds", "-1", /whole number/],
    ["createCluster", "yes", /true or false/],
    ["apiServerAddress", "0.0.0.999", /IPv4/],
  ])("rejects %s=%s, naming where it came from and how to fix it", (key, value, pattern) => {
    const attempt = () => resolveSettings([{ source: "/usr/local/share/kind-cluster/options.env", values: { [key]: value } }]);
    expect(attempt).toThrowError(pattern);
    expect(attempt).toThrowError(/options\.env/);
  });
});
