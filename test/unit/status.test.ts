import { describe, expect, it } from "vitest";
import type { FullObservation } from "../../src/observe.js";
import { DEFAULT_SETTINGS } from "../../src/options.js";
import { serviceKey } from "../../src/serve/daemon.js";
import { renderStatus, statusOf } from "../../src/status.js";

const observation: FullObservation = {
  kubeconfig: { path: "/home/dev/.kube/config" },
  docker: { info: { serverVersion: "28.0.0", operatingSystem: "Debian", cgroupVersion: "2", dockerDesktop: false } },
  cluster: {
    name: "demo",
    state: "running",
    nodes: [{ id: "1", name: "demo-control-plane", role: "control-plane", running: true, status: "running" }],
    labels: {},
  },
  services: [
    {
      key: serviceKey("git-source", "demo"),
      config: {},
      configHash: "h",
      state: { pid: 42, started: "1", configHash: "h", ready: true, summary: "http://172.18.0.3:8418/workspace.git (read-only)" },
      supervision: { restarts: 2, failing: false, lastExit: "killed by SIGKILL after 61.0s" },
      log: "/run/kc/demo/git-source.default.log",
    },
    {
      key: serviceKey("registry-relay", "", "5001"),
      config: {},
      configHash: "h",
      supervision: { restarts: 5, failing: true, lastExit: "exited with code 1 after 0.1s" },
      log: "/run/kc/_container/registry-relay.5001.log",
    },
  ],
};

describe("status", () => {
  it("shows each service instance: running with its restarts and their last cause, or NOT running and failing with its log", () => {
    const text = renderStatus(statusOf({ ...DEFAULT_SETTINGS, clusterName: "demo" }, observation));
    expect(text.split("\n").filter((l) => l.startsWith("service"))).toEqual([
      "service               Git source: running (pid 42; restarted 2 times, last it killed by SIGKILL after 61.0s), http://172.18.0.3:8418/workspace.git (read-only)",
      "service               registry relay 5001: NOT running, FAILING (restarted 5 times, last it exited with code 1 after 0.1s); log /run/kc/_container/registry-relay.5001.log",
    ]);
    expect(text).toMatch(/^route\s+-: not reachable, no kubeconfig entry$/m);
  });
});
