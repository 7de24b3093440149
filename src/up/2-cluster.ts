import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { observeCluster, type ClusterView } from "../cluster.js";
import { portHolders, startContainers } from "../docker.js";
import { ZoneError } from "../errors.js";
import { apiServerReadyInNode, ClusterExistsError, createCluster } from "../kind.js";
import { renderKindConfig } from "../kind-config.js";
import { defaultGateway } from "../route/self.js";
import { chooseApiServerAddress } from "../route/index.js";
import { need, type Stage, type UpContext } from "./context.js";

/** Zone 3 exists and runs: created when absent, adopted when running, started when stopped. */
export const clusterStage: Stage = {
  name: "cluster",
  async run(ctx, status) {
    const { settings } = ctx;
    let view = await observeCluster(settings.clusterName);
    let action: "created" | "adopted" | "started" = "adopted";
    let kindKubeconfig: string | undefined;
    if (view.state === "absent") {
      kindKubeconfig = await create(ctx);
      // undefined: another `up` (another dev container) created it first; adopt its cluster.
      action = kindKubeconfig === undefined ? "adopted" : "created";
      view = await observeCluster(settings.clusterName);
    }
    checkAdoptable(ctx, view);
    if (view.state !== "running") {
      // The control plane first: workers join it when they come back.
      const stopped = view.nodes.filter((n) => !n.running).sort((a, b) => Number(b.role === "control-plane") - Number(a.role === "control-plane"));
      await startContainers(stopped.map((n) => n.id));
      await apiServerReadyInNode(view.controlPlane!.id, settings.waitSeconds * 1000);
      action = "started";
      view = await observeCluster(settings.clusterName);
    }
    const workers = view.nodes.length - 1;
    status.note(`${action} ${settings.clusterName}${workers > 0 ? ` (+${workers} worker${workers > 1 ? "s" : ""})` : ""}, API on ${view.api?.hostIp || "*"}:${view.api?.hostPort}`);
    ctx.cluster = { ...view, action, kindKubeconfig };
  },
};

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

/** Creates the cluster; returns kind's kubeconfig, or undefined when another `up` created it first. */
async function create(ctx: UpContext): Promise<string | undefined> {
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
  });
  rendered.warnings.forEach((w) => ctx.logger.warn(w));
  try {
    const { kubeconfig } = await createCluster({
      name: settings.clusterName,
      configYaml: rendered.yaml,
      image: settings.nodeImage || undefined,
      timeoutMs: Math.max(settings.waitSeconds, 300) * 1000,
    });
    return kubeconfig;
  } catch (error) {
    if (error instanceof ClusterExistsError) return undefined;
    throw error;
  }
}
