import { listNodes } from "./apiserver.js";
import { clusterNames, observeCluster } from "./cluster.js";
import { dockerInfo } from "./docker.js";
import { isZoneError } from "./errors.js";
import { kindKubeconfig, kindVersion } from "./kind.js";
import { contextName, credentialsFromKind, readKubeconfig } from "./kubeconfig/index.js";
import type { Settings } from "./options.js";
import { run } from "./proc.js";
import type { Check } from "./report.js";
import { diagnoseRoutes, routeFacts } from "./route/index.js";

/** `kind-cluster doctor`: every hop checked in zone order, each failure with its fix. Changes nothing. */

const Z1 = "zone 1: dev container";
const Z2 = "zone 2: docker host";
const Z3 = "zone 3: kind cluster";
const ROUTE = "route: zone 1 -> zone 3";

function message(error: unknown): { detail: string; fix?: string } {
  if (isZoneError(error)) return { detail: error.message, fix: error.fix };
  return { detail: (error as Error).message };
}

export async function doctor(settings: Settings, kubeconfig: string): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (check: Check) => checks.push(check);
  const name = contextName(settings.clusterName);

  const kind = await kindVersion();
  add({ zone: Z1, name: "kind", state: kind ? "ok" : "fail", detail: kind ?? "not installed", fix: "rebuild the dev container with the kind-cluster Feature" });
  const kubectl = await run("kubectl", ["version", "--client", "-o", "json"], { timeoutMs: 10_000 });
  const kubectlVersion = kubectl.exitCode === 0 ? (JSON.parse(kubectl.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion : undefined;
  add({ zone: Z1, name: "kubectl", state: kubectlVersion ? "ok" : "fail", detail: kubectlVersion ?? "not installed", fix: "rebuild the dev container with the kind-cluster Feature" });

  try {
    const { entry, currentContext } = await readKubeconfig(kubeconfig, settings.clusterName);
    add({
      zone: Z1,
      name: "kubeconfig",
      state: entry ? "ok" : "fail",
      detail: entry ? `${kubeconfig}: ${name} -> ${entry.server}${entry.tlsServerName ? ` (tls-server-name ${entry.tlsServerName})` : ""}, current context ${currentContext ?? "none"}` : `${kubeconfig} has no entry ${name}`,
      fix: "run `kind-cluster up`",
    });
  } catch (error) {
    add({ zone: Z1, name: "kubeconfig", state: "fail", ...message(error) });
  }

  try {
    const info = await dockerInfo();
    add({ zone: Z2, name: "docker", state: "ok", detail: `engine ${info.serverVersion} (${info.operatingSystem}), cgroup v${info.cgroupVersion || "?"}` });
  } catch (error) {
    add({ zone: Z2, name: "docker", state: "fail", ...message(error) });
    return checks;
  }

  const cluster = await observeCluster(settings.clusterName);
  if (cluster.state === "absent") {
    const others = await clusterNames();
    add({
      zone: Z3,
      name: "cluster",
      state: "fail",
      detail: `no kind cluster named ${settings.clusterName} exists yet${others.length ? ` (clusters on this host: ${others.join(", ")})` : ""}`,
      fix: "run `kind-cluster up` to create it",
    });
    return checks;
  }
  add({
    zone: Z3,
    name: "nodes",
    state: cluster.state === "running" ? "ok" : "fail",
    detail: cluster.nodes.map((n) => `${n.name} ${n.running ? "running" : "stopped"}`).join(", "),
    fix: "run `kind-cluster up` to start the stopped nodes",
  });
  if (!cluster.controlPlane || cluster.state !== "running") return checks;
  const api = cluster.api;
  add({
    zone: Z3,
    name: "api port",
    state: api?.hostPort === settings.apiServerPort ? "ok" : "fail",
    detail: api ? `published on ${api.hostIp || "every interface"}:${api.hostPort} of the Docker host` : "not published",
    fix: `set apiServerPort to ${api?.hostPort ?? "the published port"}, or recreate with \`kind-cluster down && kind-cluster up\``,
  });
  if (!api) return checks;

  let credentials;
  try {
    credentials = credentialsFromKind(await kindKubeconfig(settings.clusterName), name);
  } catch (error) {
    add({ zone: Z3, name: "credentials", state: "fail", ...message(error) });
    return checks;
  }
  // Every route is probed and shown; one that fails counts as a failure only when no route allowed by
  // the route option works (with auto, a Linux engine's missing host.docker.internal is expected).
  const { routes, working } = await diagnoseRoutes(settings, cluster, await routeFacts(settings, cluster), credentials);
  for (const route of routes) {
    const failed = route.outcome !== undefined && !route.outcome.ok;
    add({
      zone: ROUTE,
      name: route.candidate.kind,
      state: route.outcome?.ok ? "ok" : failed && !working && route.allowed ? "fail" : "skip",
      detail: `${failed && working ? "not used: " : ""}${route.detail}`,
      fix: route.candidate.kind === "host.docker.internal" ? 'add "runArgs": ["--add-host=host.docker.internal:host-gateway"] to devcontainer.json, or use another route' : "run `kind-cluster up`",
    });
  }
  if (!working) return checks;
  try {
    const ready = await listNodes({ server: working.server, tlsServerName: working.tlsServerName, credentials }, 5_000);
    const notReady = ready.filter((n) => !n.ready);
    add({
      zone: Z3,
      name: "ready",
      state: notReady.length === 0 && ready.length > 0 ? "ok" : "fail",
      detail: ready.map((n) => `${n.name} ${n.ready ? "Ready" : `NotReady (${n.reason})`}`).join(", "),
      fix: "wait, or look at `docker exec <node> journalctl -u kubelet`",
    });
  } catch (error) {
    add({ zone: Z3, name: "ready", state: "fail", ...message(error) });
  }
  return checks;
}
