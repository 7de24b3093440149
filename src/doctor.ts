import { connect } from "node:net";
import type { KubeApi } from "./apiserver.js";
import { describeUser } from "./cluster/users.js";
import { checkNodeRuns, clusterNames, type ClusterView } from "./cluster/view.js";
import type { Engines } from "./engines.js";
import { isZoneError, messageOf } from "./errors.js";
import { problemText } from "./gitops/problems.js";
import { contextName, credentialsFromKind, type Credentials } from "./kubeconfig/index.js";
import { observeAll, type FullObservation } from "./observe.js";
import type { Settings } from "./options.js";
import { run } from "./proc.js";
import { nodeHostsFile, pullFromNode, REGISTRY_NAME } from "./registry.js";
import type { Check } from "./report.js";
import { diagnoseRoutes, exposureWarning } from "./route/index.js";
import { GIT_PATH } from "./serve/git-source.js";
import { forwardUrl } from "./ports/table.js";
import { decryptionOf, serviceLine, serviceStatusOf } from "./status.js";

/**
 * `kind-cluster doctor`: every hop checked in zone order, each failure with its fix. It judges the
 * observation that `status` shows, and adds its own active probes (a command in every node, every
 * route with kind's credentials, a pull from a node, the Git server from the cluster's network).
 * Changes nothing.
 */

const Z1 = "zone 1: dev container";
const Z2 = "zone 2: docker host";
const Z3 = "zone 3: kind cluster";
const ROUTE = "route: zone 1 -> zone 3";

function failure(error: unknown): { detail: string; fix?: string } {
  return isZoneError(error) ? { detail: error.message, fix: error.fix } : { detail: messageOf(error) };
}

async function toolVersions(engines: Engines): Promise<Check[]> {
  const kind = await engines.kind.version();
  const kubectl = await run("kubectl", ["version", "--client", "-o", "json"], { timeoutMs: 10_000 });
  const kubectlVersion =
    kubectl.exitCode === 0 ? (JSON.parse(kubectl.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion : undefined;
  const fix = "rebuild the dev container with the kind-cluster Feature";
  return [
    { zone: Z1, name: "kind", state: kind ? "ok" : "fail", detail: kind ?? "not installed", fix },
    { zone: Z1, name: "kubectl", state: kubectlVersion ? "ok" : "fail", detail: kubectlVersion ?? "not installed", fix },
  ];
}

export async function doctor(engines: Engines, settings: Settings, kubeconfig: string): Promise<Check[]> {
  const checks: Check[] = await toolVersions(engines);
  const add = (check: Check) => checks.push(check);
  const name = contextName(settings.clusterName);
  const o = await observeAll(engines, settings, kubeconfig);

  const { entry, currentContext, error } = o.kubeconfig;
  if (error)
    add({
      zone: Z1,
      name: "kubeconfig",
      state: "fail",
      detail: error,
      fix: "fix or move the file named above; kind-cluster never overwrites a malformed kubeconfig",
    });
  else
    add({
      zone: Z1,
      name: "kubeconfig",
      state: entry ? "ok" : "fail",
      detail: entry
        ? `${kubeconfig}: ${name} -> ${entry.server}${entry.tlsServerName ? ` (tls-server-name ${entry.tlsServerName})` : ""}, current context ${currentContext ?? "none"}`
        : `${kubeconfig} has no entry ${name}`,
      fix: "run `kind-cluster up`",
    });

  const info = o.docker.info;
  if (!info) {
    add({ zone: Z2, name: "docker", state: "fail", ...failure(o.docker.error) });
    return checks;
  }
  add({ zone: Z2, name: "docker", state: "ok", detail: `engine ${info.serverVersion} (${info.operatingSystem}), cgroup v${info.cgroupVersion || "?"}` });

  const cluster = o.cluster!;
  if (cluster.state === "absent") {
    const others = await clusterNames(engines.container);
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
    await Promise.all(cluster.nodes.map((n) => checkNodeRuns(engines.container.node(n))));
    add({
      zone: Z3,
      name: "runtime",
      state: "ok",
      detail: `commands run in every node${o.completion?.everReady ? "" : "; the cluster has never been Ready for kind-cluster yet"}`,
    });
  } catch (e) {
    add({ zone: Z3, name: "runtime", state: "fail", ...failure(e) });
    return checks;
  }
  const api = cluster.api;
  add({
    zone: Z3,
    name: "api port",
    state: api && (settings.apiServerPort === "auto" || api.hostPort === settings.apiServerPort) ? "ok" : "fail",
    detail: api
      ? (exposureWarning(api.hostIp, api.hostPort) ?? `published on ${api.hostIp}:${api.hostPort} of the Docker host (loopback only)`)
      : "not published",
    fix: `set apiServerPort to ${api?.hostPort ?? "the published port"}, or recreate with \`kind-cluster down && kind-cluster up\``,
  });
  if (!api) return checks;

  // The route as kubectl takes it: the kubeconfig's entry (the observation's verdict, the one `status` shows).
  const route = o.route!;
  add({
    zone: ROUTE,
    name: "entry",
    state: route.reachable ? "ok" : "fail",
    detail: `${entry?.server ?? "no entry"}: ${route.detail}`,
    fix: "run `kind-cluster up`, which probes the routes and rewrites the entry",
  });

  // Then every route, probed with kind's own credentials; one that fails counts as a failure only when
  // no route allowed by the route option works (with auto, a Linux engine's missing host.docker.internal is expected).
  let credentials: Credentials;
  try {
    credentials = credentialsFromKind(await engines.kind.kubeconfig(settings.clusterName), name);
  } catch (e) {
    add({ zone: Z3, name: "credentials", state: "fail", ...failure(e) });
    return checks;
  }
  const { routes, working } = await diagnoseRoutes(engines, settings, cluster, route.facts, credentials);
  for (const r of routes) {
    const failed = r.outcome !== undefined && !r.outcome.ok;
    add({
      zone: ROUTE,
      name: r.candidate.kind,
      state: r.outcome?.ok ? "ok" : failed && !working && r.allowed ? "fail" : "skip",
      detail: `${failed && working ? "not used: " : ""}${r.detail}`,
      fix:
        r.candidate.kind === "host.docker.internal"
          ? 'add "runArgs": ["--add-host=host.docker.internal:host-gateway"] to devcontainer.json, or use another route'
          : "run `kind-cluster up`",
    });
  }
  if (!working) return checks;
  const kube = engines.api({ server: working.server, tlsServerName: working.tlsServerName, credentials });
  try {
    const ready = await kube.listNodes();
    const notReady = ready.filter((n) => !n.ready);
    add({
      zone: Z3,
      name: "ready",
      state: notReady.length === 0 && ready.length > 0 ? "ok" : "fail",
      detail: ready.map((n) => `${n.name} ${n.ready ? "Ready" : `NotReady (${n.reason})`}`).join(", "),
      fix: "wait, or look at `docker exec <node> journalctl -u kubelet`",
    });
  } catch (e) {
    add({ zone: Z3, name: "ready", state: "fail", ...failure(e) });
  }
  checks.push(...(await serviceChecks(engines, o)));
  if (o.registry) checks.push(...(await registryHops(engines, settings, cluster, o)));
  if (o.gitops) checks.push(...(await gitopsHops(engines, settings, kube, cluster, o)));
  if (o.ports) checks.push(...(await portsHops(o)));
  return checks;
}

const SERVICES = "zone 1: services";

/** Each of this container's service instances for the cluster: running, or why not, with its last log lines. */
async function serviceChecks(engines: Engines, o: FullObservation): Promise<Check[]> {
  const checks: Check[] = [];
  for (const instance of o.services) {
    const tail = instance.state ? undefined : await engines.services.logTail(instance.key, 5);
    checks.push({
      zone: SERVICES,
      name: instance.key.instance === "default" ? instance.key.kind : `${instance.key.kind} ${instance.key.instance}`,
      state: instance.state ? "ok" : "fail",
      detail: `${serviceLine(serviceStatusOf(instance))}${tail ? `; its last lines:\n${tail.replace(/^/gm, "        | ")}` : ""}`,
      fix: "its supervisor restarts it, backing off while it keeps failing; fix what its log names, then `kind-cluster up` starts it at once",
    });
  }
  return checks;
}

const REGISTRY = "local registry";

/** Each hop of a pull: the container, its host port, the cluster's network, each node's containerd, a pull, and the relay here. */
async function registryHops(engines: Engines, settings: Settings, cluster: ClusterView, o: FullObservation): Promise<Check[]> {
  const fixUp = "run `kind-cluster up`, which repairs it";
  const { view, relay, error } = o.registry!;
  if (!view) return [{ zone: REGISTRY, name: "container", state: "fail", detail: error ?? "not observed" }];
  const checks: Check[] = [];
  const port = settings.registryPort;
  checks.push({
    zone: REGISTRY,
    name: "container",
    state: view.running ? "ok" : "fail",
    detail: view.exists ? `${REGISTRY_NAME} ${view.running ? "running" : "stopped"}` : `${REGISTRY_NAME} does not exist`,
    fix: fixUp,
  });
  if (!view.running) return checks;
  const published = view.published === `127.0.0.1:${port}`;
  checks.push({
    zone: REGISTRY,
    name: "host port",
    state: published ? "ok" : "fail",
    detail: `published on ${view.published ?? "nothing"}${published ? " (loopback only)" : `, not 127.0.0.1:${port}`}`,
    fix: "set registryPort to the published port, or `kind-cluster down --remove-registry` then `kind-cluster up`",
  });
  checks.push({
    zone: REGISTRY,
    name: "network",
    state: view.onNetwork ? "ok" : "fail",
    detail: `${view.onNetwork ? "on" : "not on"} the cluster's network ${cluster.network ?? "?"}`,
    fix: fixUp,
  });
  const nodes = cluster.nodes.map((n) => engines.container.node(n));
  const files = await Promise.all(nodes.map((n) => nodeHostsFile(n, port)));
  checks.push({ zone: REGISTRY, name: "nodes", state: files.every((f) => f.ok) ? "ok" : "fail", detail: files.map((f) => f.detail).join("; "), fix: fixUp });
  if (view.onNetwork) {
    const pull = await pullFromNode(nodes[nodes.length - 1]!);
    checks.push({ zone: REGISTRY, name: "pull", state: pull.ok ? "ok" : "fail", detail: pull.detail, fix: fixUp });
  }
  // A timer that holds the process: AbortSignal.timeout's does not, and a relay that accepted but cannot
  // reach the registry (detached) leaves nothing else to wait on, so doctor ended with no word and 0.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 3_000);
  const answers = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: abort.signal })
    .then(
      (r) => r.status === 200,
      () => false,
    )
    .finally(() => clearTimeout(timer));
  const summary = relay?.state?.summary;
  checks.push({
    zone: REGISTRY,
    name: "relay",
    state: answers ? "ok" : "fail",
    detail: answers
      ? `localhost:${port} in this container reaches the registry (${summary ?? "relay"})`
      : `localhost:${port} in this container does not answer${summary ? "" : " (no relay runs)"}`,
    fix: fixUp,
  });
  return checks;
}

const GITOPS = "gitops";

/** The loop's hops: the controllers, the Git server on the cluster's network, the source, what was applied. */
async function gitopsHops(engines: Engines, settings: Settings, api: KubeApi, cluster: ClusterView, o: FullObservation): Promise<Check[]> {
  const checks: Check[] = [];
  const fixUp = "run `kind-cluster up`";
  const owner = o.gitops?.owner;
  if (owner && !owner.ours)
    return [
      {
        zone: GITOPS,
        name: "owner",
        state: "skip",
        detail: `the loop belongs to ${describeUser(owner)}, which serves it; this container only uses the cluster`,
        fix: "set clusterName for a cluster and loop of this project's own",
      },
    ];
  const engine = engines.gitops(settings.gitops);
  const { cli, installed, ownedBy, components } = await engine.versions(api);
  // A repository that installs Flux itself owns the version: the CLI's may differ.
  const installedBy = ownedBy ? `, installed by the repository (${ownedBy}), which owns their version` : "";
  checks.push({
    zone: GITOPS,
    name: engine.name,
    state: installed && (installed === cli || ownedBy) ? "ok" : "fail",
    detail: installed
      ? `controllers ${installed}${installedBy}, CLI ${cli ?? "missing"}; running ${components?.join(", ") || "none"}`
      : `${engine.name} is not installed in the cluster`,
    fix: fixUp,
  });
  const { source, head, problems } = o.gitops!;
  // The observation reads the loop through the kubeconfig's entry; when that does not answer, doctor asks with kind's credentials.
  const view = o.gitops!.view ?? (await engine.observe(api).catch(() => undefined));
  const config = source?.config;
  const url = config ? `http://${config.host}:${config.port}${GIT_PATH}/info/refs?service=git-upload-pack` : undefined;
  const fromNode =
    url && cluster.controlPlane
      ? await engines.container
          .node(cluster.controlPlane)
          .exec(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", url], { timeoutMs: 15_000 })
      : undefined;
  const running = source?.state;
  const served = running !== undefined && fromNode?.stdout === "200";
  checks.push({
    zone: GITOPS,
    name: "git server",
    state: served ? "ok" : "fail",
    detail: running
      ? `${running.summary}; from the cluster's network: ${fromNode?.stdout === "200" ? "answers" : `no answer (${fromNode?.stderr.trim() || fromNode?.stdout})`}`
      : "the Git source service does not run in this container",
    fix: fixUp,
  });
  checks.push({
    zone: GITOPS,
    name: "source",
    state: view?.source?.ready ? "ok" : "fail",
    detail: view?.source
      ? `${view.url} ${view.branch}@${view.source.revision?.slice(0, 7) ?? "?"}${view.source.ready ? "" : `: ${view.source.message}`}`
      : "no GitRepository",
    fix: fixUp,
  });
  const sync = view?.sync;
  const current = sync?.ready && head !== undefined && sync.applied === head;
  checks.push({
    zone: GITOPS,
    name: "applied",
    state: current ? "ok" : "fail",
    detail: sync
      ? `${sync.applied?.slice(0, 7) ?? "nothing"} applied, workspace HEAD ${head?.slice(0, 7) ?? "?"}${sync.ready ? "" : `; not Ready: ${sync.message}`}`
      : "no Kustomization",
    fix:
      sync && !sync.ready
        ? "fix the file the message names and commit; the last good state keeps running meanwhile"
        : "commit, or wait a few seconds; `kind-cluster up` re-arms the loop",
  });
  // Every nested unit: each problem with its file and Flux's own message.
  for (const problem of problems)
    checks.push({
      zone: GITOPS,
      name: "unit",
      state: "fail",
      detail: problemText(problem),
      fix: problem.fix ?? "fix the file named above and commit; the last good state keeps running meanwhile",
    });
  const units = view?.units ?? [];
  if (units.length > 1 && problems.length === 0)
    checks.push({ zone: GITOPS, name: "units", state: "ok", detail: `${units.filter((u) => u.ready).length}/${units.length} Kustomizations Ready` });
  const decryption = view?.decryption;
  if (decryption && (decryption.key || decryption.users.length || o.gitops!.ageKey))
    checks.push({
      zone: GITOPS,
      name: "decryption",
      state: decryption.key || decryption.users.length === 0 ? "ok" : "fail",
      detail: decryptionOf({ view, ageKey: o.gitops!.ageKey }) ?? "",
      fix: "put your age key in $SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt, then `kind-cluster up`",
    });
  return checks;
}

const PORTS = "ports: zone 3 -> zone 1 localhost";

/** Whether a TCP connection to host:port is accepted within `ms`. */
function accepts(host: string, port: number, ms = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: ms });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

/** The ports service's view of the API, each forward's node port from here (what its relay reaches), and each problem with its fix. */
async function portsHops(o: FullObservation): Promise<Check[]> {
  const { service, table } = o.ports!;
  const fixUp = "run `kind-cluster up`";
  if (!service) return [{ zone: PORTS, name: "service", state: "fail", detail: "no ports service is configured in this container", fix: fixUp }];
  // One that does not run is named among the services, with its last log lines.
  if (!service.state) return [];
  const checks: Check[] = [];
  if (!table) return [{ zone: PORTS, name: "table", state: "fail", detail: "the ports service has written no table yet", fix: fixUp }];
  checks.push({
    zone: PORTS,
    name: "watch",
    state: table.api.connected ? "ok" : "fail",
    detail: table.api.connected ? "follows the Services, EndpointSlices and Nodes of the API" : `cannot follow the API: ${table.api.error}`,
    fix: `read its log: ${service.log}`,
  });
  for (const f of table.forwards) {
    const node = f.nodes[0];
    const reached = node !== undefined && f.nodePort !== undefined && f.endpoints > 0 && (await accepts(node, f.nodePort));
    checks.push({
      zone: PORTS,
      name: `${f.service} ${f.port}`,
      state: reached ? "ok" : "fail",
      detail: `${forwardUrl(f)}${f.note ? ` (${f.note})` : ""}: ${reached ? `node port ${f.nodePort} answers on ${node}` : `node port ${f.nodePort ?? "none yet"} does not answer${node ? ` on ${node}` : " (no node carries it)"}`}`,
      fix: `look at the Service's pods: \`kubectl describe service -n ${f.service.replace("/", " ")}\``,
    });
  }
  for (const p of table.problems) checks.push({ zone: PORTS, name: `${p.service}${p.port ? ` ${p.port}` : ""}`, state: "fail", detail: p.message, fix: p.fix });
  return checks;
}
