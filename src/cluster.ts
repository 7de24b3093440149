import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { ZoneError } from "./errors.js";
import { clusterNodes, containerFacts, portHolders, startContainers, type DockerInfo, type NodeContainer, type PortBinding } from "./docker.js";
import { ClusterExistsError, createCluster, apiServerReadyInNode } from "./kind.js";
import { renderKindConfig } from "./kind-config.js";
import type { Logger } from "./log.js";
import { chooseApiServerAddress } from "./route.js";
import { controlPlaneName, type Settings } from "./settings.js";

/** Zone 3 converge: the cluster exists and runs, whether we create it, adopt it or start it. */

export interface ClusterState {
  action: "created" | "adopted" | "started";
  nodes: NodeContainer[];
  controlPlane: NodeContainer;
  /** Where the API is published on the Docker host. */
  api: PortBinding;
  /** The cluster's Docker network (kind's, unless renamed). */
  network: string;
  /** kind's kubeconfig when we just created the cluster (saves reading it again). */
  kindKubeconfig?: string;
}

const API_PORT = "6443/tcp";

async function readUserConfig(settings: Settings, workspace: string): Promise<{ text: string; path: string } | undefined> {
  if (!settings.kindConfig) return undefined;
  const path = isAbsolute(settings.kindConfig) ? settings.kindConfig : join(workspace, settings.kindConfig);
  try {
    return { text: await readFile(path, "utf8"), path };
  } catch (error) {
    throw new ZoneError("dev container", `the kind config ${path} (option kindConfig) cannot be read: ${(error as Error).message}`, "fix the path in the Feature's kindConfig option; relative paths start at the workspace folder");
  }
}

async function create(settings: Settings, input: { workspace: string; docker: DockerInfo; gatewayIp?: string; logger: Logger }): Promise<string | undefined> {
  const address = chooseApiServerAddress({ setting: settings.apiServerAddress, route: settings.route, dockerDesktop: input.docker.dockerDesktop, gatewayIp: input.gatewayIp });
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
    userConfig: await readUserConfig(settings, input.workspace),
    cgroupV1: input.docker.cgroupVersion === "1",
  });
  rendered.warnings.forEach((w) => input.logger.warn(w));
  try {
    const { kubeconfig } = await createCluster({
      name: settings.clusterName,
      configYaml: rendered.yaml,
      image: settings.nodeImage || undefined,
      timeoutMs: Math.max(settings.waitSeconds, 300) * 1000,
    });
    return kubeconfig;
  } catch (error) {
    // Another `up` (another dev container) won the race: adopt its cluster.
    if (error instanceof ClusterExistsError) return undefined;
    throw error;
  }
}

export async function ensureCluster(settings: Settings, input: { workspace: string; docker: DockerInfo; gatewayIp?: string; logger: Logger }): Promise<ClusterState> {
  let nodes = await clusterNodes(settings.clusterName);
  let action: ClusterState["action"] = "adopted";
  let kindKubeconfig: string | undefined;
  if (nodes.length === 0) {
    kindKubeconfig = await create(settings, input);
    action = kindKubeconfig === undefined ? "adopted" : "created";
    nodes = await clusterNodes(settings.clusterName);
  }
  const controlPlane = nodes.find((n) => n.role === "control-plane") ?? nodes.find((n) => n.name === controlPlaneName(settings.clusterName));
  if (!controlPlane)
    throw new ZoneError("kind cluster", `cluster ${settings.clusterName} has node containers but no control plane`, `delete the remains with \`kind delete cluster --name ${settings.clusterName}\`, then run \`kind-cluster up\``);

  const facts = await containerFacts(controlPlane.id);
  const api = facts.bindings[API_PORT]?.[0];
  if (!api)
    throw new ZoneError("kind cluster", `the control plane ${controlPlane.name} does not publish the API port ${API_PORT}`, "this cluster was not created by kind; delete it or choose another clusterName");
  if (api.hostPort !== settings.apiServerPort)
    throw new ZoneError(
      "kind cluster",
      `cluster ${settings.clusterName} already exists with its API published on host port ${api.hostPort}, not apiServerPort ${settings.apiServerPort}; nothing was changed`,
      `set the Feature's apiServerPort option to ${api.hostPort}, or recreate the cluster: \`kind-cluster down && kind-cluster up\``,
    );

  const stopped = nodes.filter((n) => !n.running);
  if (stopped.length > 0) {
    // The control plane first: workers join it when they come back.
    const order = [...stopped].sort((a, b) => Number(b.role === "control-plane") - Number(a.role === "control-plane"));
    await startContainers(order.map((n) => n.id));
    await apiServerReadyInNode(controlPlane.id, settings.waitSeconds * 1000);
    action = "started";
    nodes = await clusterNodes(settings.clusterName);
  }
  const network = facts.networks.find((n) => n !== "bridge") ?? "kind";
  return { action, nodes, controlPlane, api, network, kindKubeconfig };
}
