import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { checkNodeRuns, completion, cutOff, observeCluster, type ClusterView } from "../cluster.js";
import { portHolders, startContainers, unpauseContainers } from "../docker.js";
import { ZoneError } from "../errors.js";
import { withHostLock } from "../host-lock.js";
import { apiServerReadyInNode, createCluster, deleteCluster } from "../kind.js";
import { renderKindConfig } from "../kind-config.js";
import { defaultGateway } from "../route/self.js";
import { chooseApiServerAddress, exposureWarning } from "../route/index.js";
import type { StageHandle } from "../log.js";
import { need, type ClusterAction, type Stage, type UpContext } from "./context.js";

/**
 * Zone 3 exists and runs: created when absent, adopted when running, started when stopped. Creation
 * holds a lock across every dev container of the Docker host: kind's failed create deletes every node
 * of the cluster's name, the winner's included, so only one may try.
 */
export const clusterStage: Stage = {
  name: "cluster",
  async run(ctx, status) {
    const { settings } = ctx;
    let view = await observeCluster(settings.clusterName);
    let action: ClusterAction = "adopted";
    let kindKubeconfig: string | undefined;
    // Read once from the control plane's files; starting the nodes does not change it.
    let done = view.state === "absent" ? undefined : await completion(view.controlPlane ?? view.nodes[0]!);
    if (!done || cutOff(done)) {
      const lock = {
        key: settings.clusterName,
        purpose: `the creation of cluster ${settings.clusterName}`,
        leaseMs: createTimeoutMs(ctx) + 60_000,
        timeoutMs: createTimeoutMs(ctx) + 120_000,
        onWait: (holder: string) => ctx.logger.info(`waiting for ${holder}, which is creating cluster ${settings.clusterName}`),
        onReclaim: (why: string) => ctx.logger.info(`removed a stale lock (${why})`),
      };
      ({ view, action, kindKubeconfig } = await withHostLock(lock, () => createUnlessPresent(ctx, status)));
      done = undefined; // created, re-created or adopted from another dev container: not what was read above
    }
    checkAdoptable(ctx, view);
    if (view.state !== "running") {
      await startNodes(ctx, view);
      if (action === "adopted") action = "started";
      view = await observeCluster(settings.clusterName);
    }
    const exposed = exposureWarning(view.api!.hostIp, view.api!.hostPort);
    if (exposed) status.warn(exposed);
    const workers = view.nodes.length - 1;
    status.note(`${action} ${settings.clusterName}${workers > 0 ? ` (+${workers} worker${workers > 1 ? "s" : ""})` : ""}, API on ${view.api?.hostIp || "*"}:${view.api?.hostPort}`);
    const everReady = kindKubeconfig ? false : (done ?? (await completion(view.controlPlane!))).everReady;
    ctx.cluster = { ...view, action, kindKubeconfig, everReady };
  },
};

function createTimeoutMs(ctx: UpContext): number {
  return Math.max(ctx.settings.waitSeconds, 300) * 1000;
}

/** Under the host lock: look again (another dev container may have just created it), then create. */
async function createUnlessPresent(ctx: UpContext, status: StageHandle): Promise<{ view: ClusterView; action: ClusterAction; kindKubeconfig?: string }> {
  const name = ctx.settings.clusterName;
  let view = await observeCluster(name);
  let action: ClusterAction = "created";
  if (view.state !== "absent") {
    if (!cutOff(await completion(view.controlPlane ?? view.nodes[0]!))) return { view, action: "adopted" };
    status.warn(`cluster ${name} was never completed: its creation was cut off before kubeadm ran, so it holds nothing; deleting and re-creating it`);
    await deleteCluster(name);
    action = "re-created";
  }
  const kindKubeconfig = await create(ctx, status);
  view = await observeCluster(name);
  return { view, action, kindKubeconfig };
}

/** Paused nodes are unpaused, stopped ones started (the control plane first: workers join it), then the API awaited. */
async function startNodes(ctx: UpContext, view: ClusterView): Promise<void> {
  const idle = view.nodes.filter((n) => !n.running).sort((a, b) => Number(b.role === "control-plane") - Number(a.role === "control-plane"));
  await unpauseContainers(idle.filter((n) => n.status === "paused").map((n) => n.id));
  await startContainers(idle.filter((n) => n.status !== "paused").map((n) => n.id));
  await checkNodeRuns(view.controlPlane!);
  await apiServerReadyInNode(view.controlPlane!.id, ctx.settings.waitSeconds * 1000);
}

/** A cluster we may adopt: a kind control plane publishing the API on the pinned port. */
function checkAdoptable(ctx: UpContext, view: ClusterView): void {
  const { settings } = ctx;
  if (!view.controlPlane)
    throw new ZoneError("kind cluster", `cluster ${settings.clusterName} has node containers but no control plane`, `delete the remains with \`kind delete cluster --name ${settings.clusterName}\`, then run \`kind-cluster up\``);
  if (!view.api)
    throw new ZoneError("kind cluster", `the control plane ${view.controlPlane.name} does not publish the API port`, "this cluster was not created by kind; delete it or choose another clusterName");
  if (view.api.hostPort !== settings.apiServerPort)
    throw new ZoneError(
      "kind cluster",
      `cluster ${settings.clusterName} already exists with its API published on host port ${view.api.hostPort}, not apiServerPort ${settings.apiServerPort}; nothing was changed`,
      `set the Feature's apiServerPort option to ${view.api.hostPort}, or recreate the cluster: \`kind-cluster down && kind-cluster up\``,
    );
}

async function readUserConfig(kindConfig: string, workspace: string): Promise<{ text: string; path: string } | undefined> {
  if (!kindConfig) return undefined;
  const path = isAbsolute(kindConfig) ? kindConfig : join(workspace, kindConfig);
  try {
    return { text: await readFile(path, "utf8"), path };
  } catch (error) {
    throw new ZoneError("dev container", `the kind config ${path} (option kindConfig) cannot be read: ${(error as Error).message}`, "fix the path in the Feature's kindConfig option; relative paths start at the workspace folder");
  }
}

/** Creates the cluster; returns kind's kubeconfig. */
async function create(ctx: UpContext, status: StageHandle): Promise<string> {
  const { settings } = ctx;
  const docker = need(ctx, "docker");
  const address = chooseApiServerAddress({ setting: settings.apiServerAddress, route: settings.route, dockerDesktop: docker.dockerDesktop, gatewayIp: await defaultGateway() });
  const holders = await portHolders(settings.apiServerPort, address);
  if (holders.length > 0) {
    const names = holders.map((h) => `${h.name} (${h.id.slice(0, 12)}, on ${h.hostIp || "every interface"})`).join(", ");
    throw new ZoneError(
      "docker host",
      `port ${settings.apiServerPort} on ${address} is already published by container ${names}; nothing was created or deleted`,
      `stop that container (\`docker stop ${holders[0]?.name}\`) or set the Feature's apiServerPort option to a free port`,
    );
  }
  const rendered = renderKindConfig({
    clusterName: settings.clusterName,
    apiServerPort: settings.apiServerPort,
    apiServerAddress: address,
    userConfig: await readUserConfig(settings.kindConfig, ctx.workspace),
    cgroupV1: docker.cgroupVersion === "1",
    registryHosts: settings.localRegistry,
  });
  rendered.warnings.forEach((w) => status.warn(w));
  const { kubeconfig } = await createCluster({ name: settings.clusterName, configYaml: rendered.yaml, image: settings.nodeImage || undefined, timeoutMs: createTimeoutMs(ctx) });
  return kubeconfig;
}
