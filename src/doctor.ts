import { listNodes, type Endpoint } from "./apiserver.js";
import { checkNodeRuns, clusterNames, completion, observeCluster, type ClusterView } from "./cluster.js";
import { dockerInfo, execInContainer } from "./docker.js";
import { fluxCliVersion } from "./flux.js";
import { GIT_PATH, installedFluxVersion, observeGitOps } from "./gitops.js";
import { nodeHostsFile, observeRegistry, pullFromNode, REGISTRY_NAME } from "./registry.js";
import { readServiceConfig, readState } from "./serve/daemon.js";
import type { GitOpsServiceConfig } from "./serve/gitops.js";
import { readHead } from "./serve/head.js";
import { isZoneError } from "./errors.js";
import { kindKubeconfig, kindVersion } from "./kind.js";
import { contextName, credentialsFromKind, readKubeconfig } from "./kubeconfig/index.js";
import type { Settings } from "./options.js";
import { run } from "./proc.js";
import type { Check } from "./report.js";
import { diagnoseRoutes, exposureWarning, routeFacts } from "./route/index.js";

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

  let info;
  try {
    info = await dockerInfo();
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
  try {
    await Promise.all(cluster.nodes.map(checkNodeRuns));
    const { everReady } = await completion(cluster.controlPlane);
    add({ zone: Z3, name: "runtime", state: "ok", detail: `commands run in every node${everReady ? "" : "; the cluster has never been Ready for kind-cluster yet"}` });
  } catch (error) {
    add({ zone: Z3, name: "runtime", state: "fail", ...message(error) });
    return checks;
  }
  const api = cluster.api;
  add({
    zone: Z3,
    name: "api port",
    state: api?.hostPort === settings.apiServerPort ? "ok" : "fail",
    detail: api ? (exposureWarning(api.hostIp, api.hostPort) ?? `published on ${api.hostIp}:${api.hostPort} of the Docker host (loopback only)`) : "not published",
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
  const { routes, working } = await diagnoseRoutes(settings, cluster, await routeFacts(settings, cluster, info), credentials);
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
  const endpoint = { server: working.server, tlsServerName: working.tlsServerName, credentials };
  try {
    const ready = await listNodes(endpoint, 5_000);
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
  if (settings.localRegistry) checks.push(...(await registryHops(settings, cluster)));
  if (settings.gitops === "flux") checks.push(...(await gitopsHops(endpoint, cluster)));
  return checks;
}

const REGISTRY = "local registry";

/** Each hop of a pull: the container, its host port, the cluster's network, each node's containerd, a pull, and the relay here. */
async function registryHops(settings: Settings, cluster: ClusterView): Promise<Check[]> {
  const checks: Check[] = [];
  const fixUp = "run `kind-cluster up`, which repairs it";
  let view;
  try {
    view = await observeRegistry(cluster.network);
  } catch (error) {
    return [{ zone: REGISTRY, name: "container", state: "fail", ...message(error) }];
  }
  const port = settings.registryPort;
  checks.push({ zone: REGISTRY, name: "container", state: view.running ? "ok" : "fail", detail: view.exists ? `${REGISTRY_NAME} ${view.running ? "running" : "stopped"}` : `${REGISTRY_NAME} does not exist`, fix: fixUp });
  if (!view.running) return checks;
  const published = view.published === `127.0.0.1:${port}`;
  checks.push({ zone: REGISTRY, name: "host port", state: published ? "ok" : "fail", detail: `published on ${view.published ?? "nothing"}${published ? " (loopback only)" : `, not 127.0.0.1:${port}`}`, fix: `set registryPort to the published port, or \`kind-cluster down --remove-registry\` then \`kind-cluster up\`` });
  checks.push({ zone: REGISTRY, name: "network", state: view.onNetwork ? "ok" : "fail", detail: `${view.onNetwork ? "on" : "not on"} the cluster's network ${cluster.network ?? "?"}`, fix: fixUp });
  const files = await Promise.all(cluster.nodes.map((n) => nodeHostsFile(n, port)));
  checks.push({ zone: REGISTRY, name: "nodes", state: files.every((f) => f.ok) ? "ok" : "fail", detail: files.map((f) => f.detail).join("; "), fix: fixUp });
  if (view.onNetwork) {
    const pull = await pullFromNode(cluster.nodes[cluster.nodes.length - 1]!);
    checks.push({ zone: REGISTRY, name: "pull", state: pull.ok ? "ok" : "fail", detail: pull.detail, fix: fixUp });
  }
  const relay = await readState("registry-relay");
  const answers = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.status === 200, () => false);
  checks.push({ zone: REGISTRY, name: "relay", state: answers ? "ok" : "fail", detail: answers ? `localhost:${port} in this container reaches the registry (${relay?.summary ?? "relay"})` : `localhost:${port} in this container does not answer${relay ? "" : " (no relay runs)"}`, fix: fixUp });
  return checks;
}

const GITOPS = "gitops";

/** The loop's hops: the controllers, the Git server on the cluster's network, the source, the Kustomization. */
async function gitopsHops(endpoint: Endpoint, cluster: ClusterView): Promise<Check[]> {
  const checks: Check[] = [];
  const fixUp = "run `kind-cluster up`";
  const [cli, installed] = await Promise.all([fluxCliVersion().catch(() => undefined), installedFluxVersion(endpoint)]);
  checks.push({ zone: GITOPS, name: "flux", state: installed && installed === cli ? "ok" : "fail", detail: installed ? `controllers ${installed}, CLI ${cli ?? "missing"}` : "Flux is not installed in the cluster", fix: fixUp });
  const service = await readState("gitops");
  const config = await readServiceConfig<GitOpsServiceConfig>("gitops");
  const url = config ? `http://${config.host}:${config.port}${GIT_PATH}/info/refs?service=git-upload-pack` : undefined;
  const fromNode = url && cluster.controlPlane ? await execInContainer(cluster.controlPlane.id, ["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", url], 15_000) : undefined;
  const served = service !== undefined && fromNode?.stdout === "200";
  checks.push({ zone: GITOPS, name: "git server", state: served ? "ok" : "fail", detail: service ? `${service.summary}; from the cluster's network: ${fromNode?.stdout === "200" ? "answers" : `no answer (${fromNode?.stderr.trim() || fromNode?.stdout})`}` : "the GitOps service does not run in this container", fix: fixUp });
  const view = await observeGitOps(endpoint);
  const head = config ? await readHead(config.repo).catch(() => undefined) : undefined;
  checks.push({ zone: GITOPS, name: "source", state: view.source?.ready ? "ok" : "fail", detail: view.source ? `${view.url} ${view.branch}@${view.source.revision?.slice(0, 7) ?? "?"}${view.source.ready ? "" : `: ${view.source.message}`}` : "no GitRepository", fix: fixUp });
  const ks = view.kustomization;
  const current = ks?.ready && head !== undefined && ks.applied === head.commit;
  checks.push({
    zone: GITOPS,
    name: "applied",
    state: current ? "ok" : "fail",
    detail: ks ? `${ks.applied?.slice(0, 7) ?? "nothing"} applied, workspace HEAD ${head?.commit.slice(0, 7) ?? "?"}${ks.ready ? "" : `; not Ready: ${ks.message}`}` : "no Kustomization",
    fix: ks && !ks.ready ? "fix the file the message names and commit; the last good state keeps running meanwhile" : "commit, or wait a few seconds; `kind-cluster up` re-arms the loop",
  });
  return checks;
}
