import { listNodes } from "./apiserver.js";
import { defaultGateway, selfContainerId } from "./devcontainer.js";
import { clusterNodes, containerFacts, dockerInfo, kindClusterNames } from "./docker.js";
import { isZoneError } from "./errors.js";
import { kindKubeconfig, kindVersion } from "./kind.js";
import { credentialsFromKind, currentContext, findClusterEntry } from "./kubeconfig.js";
import { readText } from "./kubeconfig-file.js";
import { run } from "./proc.js";
import { probeRoute } from "./probe.js";
import { explainFailure, routeCandidates, type ProbeOutcome, type RouteCandidate } from "./route.js";
import type { Check } from "./report.js";
import { contextName, controlPlaneName, type Settings } from "./settings.js";

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

  let kubeText = "";
  try {
    kubeText = await readText(kubeconfig);
    const entry = findClusterEntry(kubeText, name, kubeconfig);
    const current = currentContext(kubeText, kubeconfig);
    add({
      zone: Z1,
      name: "kubeconfig",
      state: entry ? "ok" : "fail",
      detail: entry ? `${kubeconfig}: ${name} -> ${entry.server}${entry.tlsServerName ? ` (tls-server-name ${entry.tlsServerName})` : ""}, current context ${current ?? "none"}` : `${kubeconfig} has no entry ${name}`,
      fix: "run `kind-cluster up`",
    });
  } catch (error) {
    add({ zone: Z1, name: "kubeconfig", state: "fail", ...message(error) });
  }

  let info;
  try {
    info = await dockerInfo();
    add({ zone: Z2, name: "docker", state: "ok", detail: `engine ${info.serverVersion} (${info.operatingSystem}), cgroup v${info.cgroupVersion || "?"}` });
  } catch (error) {
    add({ zone: Z2, name: "docker", state: "fail", ...message(error) });
    return checks;
  }

  const nodes = await clusterNodes(settings.clusterName);
  if (nodes.length === 0) {
    const others = await kindClusterNames();
    add({
      zone: Z3,
      name: "cluster",
      state: "fail",
      detail: `no kind cluster named ${settings.clusterName} exists yet${others.length ? ` (clusters on this host: ${others.join(", ")})` : ""}`,
      fix: "run `kind-cluster up` to create it",
    });
    return checks;
  }
  const stopped = nodes.filter((n) => !n.running);
  add({
    zone: Z3,
    name: "nodes",
    state: stopped.length ? "fail" : "ok",
    detail: nodes.map((n) => `${n.name} ${n.running ? "running" : "stopped"}`).join(", "),
    fix: "run `kind-cluster up` to start the stopped nodes",
  });
  const cp = nodes.find((n) => n.role === "control-plane") ?? nodes.find((n) => n.name === controlPlaneName(settings.clusterName));
  if (!cp || stopped.length) return checks;
  const facts = await containerFacts(cp.id);
  const api = facts.bindings["6443/tcp"]?.[0];
  const portOk = api?.hostPort === settings.apiServerPort;
  add({
    zone: Z3,
    name: "api port",
    state: portOk ? "ok" : "fail",
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
  const gatewayIp = await defaultGateway();
  const routeFacts = { clusterName: settings.clusterName, publishedPort: api.hostPort, publishedHostIp: api.hostIp, gatewayIp };
  const self = await selfContainerId();
  // Every route is probed and shown; one that fails counts as a failure only when no route allowed by
  // the route option works (with auto, a Linux engine's missing host.docker.internal is expected).
  const allowed = new Set(routeCandidates(settings.route, routeFacts).map((c) => c.kind));
  const results: Array<{ candidate: RouteCandidate; outcome?: ProbeOutcome; why?: string }> = [];
  const network = facts.networks[0] ?? "kind";
  for (const candidate of routeCandidates("auto", routeFacts)) {
    const joined = candidate.kind !== "kind-network" || (self !== undefined && (await containerFacts(self)).networks.includes(network));
    if (!joined) results.push({ candidate, why: `this container is not on the network ${network} (\`kind-cluster up\` joins it when this route is needed)` });
    else results.push({ candidate, outcome: await probeRoute(candidate, credentials, 3_000) });
  }
  const working = results.find((r) => r.outcome?.ok && allowed.has(r.candidate.kind))?.candidate;
  for (const { candidate, outcome, why } of results) {
    const failed = outcome !== undefined && !outcome.ok;
    add({
      zone: ROUTE,
      name: candidate.kind,
      state: outcome?.ok ? "ok" : failed && !working && allowed.has(candidate.kind) ? "fail" : "skip",
      detail: outcome?.ok ? `${candidate.server}: TLS verified, API answered in ${Math.round(outcome.ms)}ms` : failed ? `${working ? "not used: " : ""}${explainFailure(candidate, outcome, routeFacts)}` : (why ?? ""),
      fix: candidate.kind === "host.docker.internal" ? 'add "runArgs": ["--add-host=host.docker.internal:host-gateway"] to devcontainer.json, or use another route' : "run `kind-cluster up`",
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
