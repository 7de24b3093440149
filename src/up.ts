import { tmpdir } from "node:os";
import { join } from "node:path";
import { listNodes, type NodeSummary } from "./apiserver.js";
import { ensureCluster, type ClusterState } from "./cluster.js";
import { connect, routeFacts, type Connection } from "./connect.js";
import { defaultGateway } from "./devcontainer.js";
import { waitForDocker } from "./docker.js";
import { ZoneError } from "./errors.js";
import { kindKubeconfig } from "./kind.js";
import { credentialsFromKind, findClusterEntry, upsertClusterEntry, type Credentials } from "./kubeconfig.js";
import { readText, updateKubeconfig } from "./kubeconfig-file.js";
import { withLock } from "./lock.js";
import type { Logger } from "./log.js";
import { probeRoute } from "./probe.js";
import { routeCandidates } from "./route.js";
import { contextName, type Settings } from "./settings.js";

/** `kind-cluster up`: the converge, as an ordered list of idempotent stages (docker, cluster, route, kubeconfig, ready). */

export interface UpInput {
  settings: Settings;
  workspace: string;
  kubeconfig: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  dockerWaitMs?: number;
}

export interface UpResult {
  cluster: ClusterState;
  connection: Connection;
  nodes: NodeSummary[];
  kubeconfigChanged: boolean;
}

/** The fast path of every container start: our kubeconfig entry still works as it is. */
async function currentEntryWorks(input: UpInput, state: ClusterState, gatewayIp: string | undefined): Promise<Connection | undefined> {
  const text = await readText(input.kubeconfig);
  const entry = findClusterEntry(text, contextName(input.settings.clusterName), input.kubeconfig);
  if (!entry) return undefined;
  const candidate = routeCandidates(input.settings.route, routeFacts(input.settings, state, gatewayIp)).find(
    (c) => c.server === entry.server && c.tlsServerName === entry.tlsServerName,
  );
  if (!candidate) return undefined;
  const outcome = await probeRoute(candidate, entry.credentials, 3_000);
  if (!outcome.ok) return undefined;
  return { candidate, explanation: [`${candidate.kind}: the kubeconfig's entry still answers (${candidate.server})`], nodes: outcome.nodes ?? [] };
}

async function waitReady(settings: Settings, connection: Connection, credentials: Credentials): Promise<NodeSummary[]> {
  const endpoint = { server: connection.candidate.server, tlsServerName: connection.candidate.tlsServerName, credentials };
  const deadline = Date.now() + settings.waitSeconds * 1000;
  let nodes = connection.nodes;
  for (;;) {
    if (nodes.length > 0 && nodes.every((n) => n.ready)) return nodes;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    nodes = await listNodes(endpoint, 5_000).catch(() => nodes);
  }
  const waiting = nodes.filter((n) => !n.ready);
  const names = waiting.map((n) => `${n.name} (${n.reason})`).join(", ") || "no node registered";
  throw new ZoneError(
    "kind cluster",
    `not every node of ${settings.clusterName} is Ready after ${settings.waitSeconds}s: ${names}`,
    `look at \`kubectl describe node ${waiting[0]?.name ?? ""}\` and \`docker exec ${waiting[0]?.name ?? "<node>"} journalctl -u kubelet\`; raise waitSeconds on slow machines`,
  );
}

export async function up(input: UpInput): Promise<UpResult> {
  const { settings, logger } = input;
  const name = contextName(settings.clusterName);

  const docker = await logger.stage("docker", async (s) => {
    const info = await waitForDocker(input.dockerWaitMs ?? 60_000, input.env);
    s.note(`engine ${info.serverVersion}${info.dockerDesktop ? " (Docker Desktop)" : ""}, cgroup v${info.cgroupVersion || "?"}`);
    return info;
  });
  const gatewayIp = await defaultGateway();

  // One `up` at a time in this container; another container racing us is handled by adopting.
  return withLock(join(tmpdir(), `kind-cluster-${settings.clusterName}.up.lock`), { timeoutMs: 15 * 60_000, purpose: `cluster ${settings.clusterName}` }, async () => {
    const cluster = await logger.stage("cluster", async (s) => {
      const state = await ensureCluster(settings, { workspace: input.workspace, docker, gatewayIp, logger });
      const workers = state.nodes.length - 1;
      s.note(`${state.action} ${settings.clusterName}${workers > 0 ? ` (+${workers} worker${workers > 1 ? "s" : ""})` : ""}, API on ${state.api.hostIp || "*"}:${state.api.hostPort}`);
      return state;
    });

    let credentials: Credentials | undefined;
    const connection = await logger.stage("route", async (s) => {
      const fast = cluster.kindKubeconfig ? undefined : await currentEntryWorks(input, cluster, gatewayIp);
      if (fast) {
        s.note(`${fast.candidate.kind} (unchanged)`);
        return fast;
      }
      credentials = credentialsFromKind(cluster.kindKubeconfig ?? (await kindKubeconfig(settings.clusterName)), name);
      const found = await connect(settings, cluster, credentials, { gatewayIp, patienceMs: 15_000 });
      s.note(`${found.candidate.kind} -> ${found.candidate.server}`);
      return found;
    });
    if (connection.explanation.length > 1) connection.explanation.forEach((line) => logger.info(line));

    const kubeconfigChanged = await logger.stage("kubeconfig", async (s) => {
      if (!credentials) {
        s.note(`${input.kubeconfig} (unchanged)`);
        return false;
      }
      const entry = { name, server: connection.candidate.server, tlsServerName: connection.candidate.tlsServerName, credentials };
      const changed = await updateKubeconfig(input.kubeconfig, (text) => upsertClusterEntry(text, entry, input.kubeconfig));
      s.note(`${changed ? "wrote" : "kept"} context ${name} in ${input.kubeconfig}`);
      return changed;
    });

    const nodes = await logger.stage("ready", async (s) => {
      const creds = credentials ?? findClusterEntry(await readText(input.kubeconfig), name, input.kubeconfig)?.credentials;
      if (!creds) throw new ZoneError("dev container", `the kubeconfig ${input.kubeconfig} lost the entry ${name} while up ran`, "run `kind-cluster up` again");
      const ready = await waitReady(settings, connection, creds);
      s.note(`${ready.length}/${ready.length} node${ready.length > 1 ? "s" : ""} Ready`);
      return ready;
    });
    return { cluster, connection, nodes, kubeconfigChanged };
  });
}
