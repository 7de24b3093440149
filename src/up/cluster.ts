import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { PortTakenError } from "../cluster/kind.js";
import { renderKindConfig } from "../cluster/kind-config.js";
import { autoPorts, describeHolders, FIRST_API_PORT, holdersOf, LAST_API_PORT } from "../cluster/ports.js";
import { describeUser, registerUser } from "../cluster/users.js";
import { apiServerReadyInNode, checkNodeRuns, completion, cutOff, observeCluster, type ClusterView } from "../cluster/view.js";
import { tryHostLock, withHostLock, type LockTaker } from "../engine/host-lock.js";
import { ZoneError } from "../errors.js";
import { contextName, credentialsFromKind } from "../kubeconfig/index.js";
import type { StageHandle } from "../log.js";
import { timeouts } from "../options.js";
import { chooseApiServerAddress, exposureWarning } from "../route/index.js";
import { createdNow, need, type ClusterAction, type Stage, type UpContext } from "./context.js";

/**
 * Zone 3 exists and runs: created when absent, adopted when running, started when stopped. Creation
 * holds a lock across every dev container of the Docker host: kind's failed create deletes every node
 * of the cluster's name, the winner's included, so only one may try. The API port it asks for is held
 * by a lock of its own meanwhile (see create), so two clusters created at once never ask for one port.
 * This dev container is recorded as one of the cluster's users (cluster/users.ts).
 */
export const clusterStage: Stage = {
  name: "cluster",
  async run(ctx, status) {
    const { settings } = ctx;
    const observed = need(ctx, "observed");
    let view = observed.cluster!;
    let action: ClusterAction = "adopted";
    // Read once, by the observation, from the control plane's files; starting the nodes does not change it.
    let done = observed.completion;
    if (!done || cutOff(done)) {
      const { createMs } = timeouts(settings);
      const lock = {
        key: settings.clusterName,
        purpose: `the creation of cluster ${settings.clusterName}`,
        leaseMs: createMs + 60_000,
        timeoutMs: createMs + 120_000,
        onWait: (holder: string) => ctx.logger.info(`waiting for ${holder}, which is creating cluster ${settings.clusterName}`),
        onReclaim: (why: string) => ctx.logger.info(`removed a stale lock (${why})`),
      };
      ({ view, action } = await withHostLock(ctx.container, await lockTaker(ctx), lock, () => createUnlessPresent(ctx, status)));
      done = undefined; // created, re-created or adopted from another dev container: not what was read above
    }
    checkAdoptable(ctx, view);
    if (view.state !== "running") {
      await startNodes(ctx, view);
      if (action === "adopted") action = "started";
      view = await observeCluster(ctx.container, settings.clusterName);
    }
    const exposed = exposureWarning(view.api!.hostIp, view.api!.hostPort);
    if (exposed) status.warn(exposed);
    const workers = view.nodes.length - 1;
    status.note(
      `${action} ${settings.clusterName}${workers > 0 ? ` (+${workers} worker${workers > 1 ? "s" : ""})` : ""}, API on ${view.api?.hostIp || "*"}:${view.api?.hostPort}`,
    );
    const controlPlane = ctx.container.node(view.controlPlane!);
    const [finished, others] = await Promise.all([
      createdNow(action) ? undefined : (done ?? completion(controlPlane)),
      ctx.self().then(async (self) => {
        const me = await self.identity();
        // Best effort: a record that cannot be written changes nothing of the cluster (the route stage checks the node).
        return me ? registerUser(ctx.container, controlPlane, me).catch(() => []) : [];
      }),
    ]);
    if (others.length)
      status.detail(
        `cluster ${settings.clusterName} is shared with ${others.map(describeUser).join(", ")}: kubectl and the registry reach the same cluster from there; set clusterName in this project's devcontainer.json for a cluster of its own`,
      );
    ctx.cluster = { ...view, action, everReady: finished?.everReady ?? false };
  },
};

async function lockTaker(ctx: UpContext): Promise<LockTaker> {
  const self = await ctx.self();
  return { container: await self.id(), image: await self.image() };
}

/** Under the host lock: look again (another dev container may have just created it), then create. */
async function createUnlessPresent(ctx: UpContext, status: StageHandle): Promise<{ view: ClusterView; action: ClusterAction }> {
  const name = ctx.settings.clusterName;
  let view = await observeCluster(ctx.container, name);
  let action: ClusterAction = "created";
  if (view.state !== "absent") {
    if (!cutOff(await completion(ctx.container.node(view.controlPlane ?? view.nodes[0]!)))) return { view, action: "adopted" };
    status.warn(`cluster ${name} was never completed: its creation was cut off before kubeadm ran, so it holds nothing; deleting and re-creating it`);
    await ctx.kind.delete(name);
    action = "re-created";
  }
  // kind's credentials for the new cluster, so the route stage need not ask kind again.
  ctx.credentials = credentialsFromKind(await create(ctx, status), contextName(name));
  view = await observeCluster(ctx.container, name);
  return { view, action };
}

/** Paused nodes are unpaused, stopped ones started (the control plane first: workers join it), then the API awaited. */
async function startNodes(ctx: UpContext, view: ClusterView): Promise<void> {
  const idle = view.nodes.filter((n) => !n.running).sort((a, b) => Number(b.role === "control-plane") - Number(a.role === "control-plane"));
  await ctx.container.unpause(idle.filter((n) => n.status === "paused").map((n) => n.id));
  await ctx.container.start(idle.filter((n) => n.status !== "paused").map((n) => n.id));
  const controlPlane = ctx.container.node(view.controlPlane!);
  await checkNodeRuns(controlPlane);
  await apiServerReadyInNode(controlPlane, timeouts(ctx.settings).readyMs);
}

/** A cluster we may adopt: a kind control plane publishing the API on the pinned port. */
function checkAdoptable(ctx: UpContext, view: ClusterView): void {
  const { settings } = ctx;
  if (!view.controlPlane)
    throw new ZoneError({
      zone: "kind cluster",
      message: `cluster ${settings.clusterName} has node containers but no control plane`,
      fix: `delete the remains with \`kind delete cluster --name ${settings.clusterName}\`, then run \`kind-cluster up\``,
    });
  if (!view.api)
    throw new ZoneError({
      zone: "kind cluster",
      message: `the control plane ${view.controlPlane.name} does not publish the API port`,
      fix: "this cluster was not created by kind; delete it or choose another clusterName",
    });
  if (settings.apiServerPort !== "auto" && view.api.hostPort !== settings.apiServerPort)
    throw new ZoneError({
      zone: "kind cluster",
      message: `cluster ${settings.clusterName} already exists with its API published on host port ${view.api.hostPort}, not apiServerPort ${settings.apiServerPort}; nothing was changed`,
      fix: `set the Feature's apiServerPort option to ${view.api.hostPort}, or recreate the cluster: \`kind-cluster down && kind-cluster up\``,
    });
}

async function readUserConfig(kindConfig: string, workspace: string): Promise<{ text: string; path: string } | undefined> {
  if (!kindConfig) return undefined;
  const path = isAbsolute(kindConfig) ? kindConfig : join(workspace, kindConfig);
  try {
    return { text: await readFile(path, "utf8"), path };
  } catch (error) {
    throw new ZoneError({
      zone: "dev container",
      message: `the kind config ${path} (option kindConfig) cannot be read: ${(error as Error).message}`,
      fix: "fix the path in the Feature's kindConfig option; relative paths start at the workspace folder",
    });
  }
}

/**
 * Creates the cluster; returns kind's kubeconfig. The API port is held, while kind creates, by a
 * host-wide lock keyed by the port (kind-cluster-lock-port_<port>): two dev containers creating two
 * clusters at once cannot both take a port that looked free to both. A pinned port waits for its lock
 * and is refused when held; auto skips a port whose lock another holds, and a port that kind finds
 * held by a process outside Docker (kind has deleted its nodes by then), and takes the next.
 */
async function create(ctx: UpContext, status: StageHandle): Promise<string> {
  const { settings } = ctx;
  const docker = need(ctx, "docker");
  const address = chooseApiServerAddress({
    setting: settings.apiServerAddress,
    route: settings.route,
    dockerDesktop: docker.dockerDesktop,
    gatewayIp: (await ctx.self()).gateway,
  });
  const userConfig = await readUserConfig(settings.kindConfig, ctx.workspace);
  const createOn = async (port: number) => {
    const rendered = renderKindConfig({
      clusterName: settings.clusterName,
      apiServerPort: port,
      apiServerAddress: address,
      userConfig,
      cgroupV1: docker.cgroupVersion === "1",
      registryHosts: settings.localRegistry,
    });
    for (const w of rendered.warnings) status.warn(w);
    const { kubeconfig } = await ctx.kind.create({
      name: settings.clusterName,
      configYaml: rendered.yaml,
      image: settings.nodeImage || undefined,
      timeoutMs: timeouts(settings).createMs,
      onProgress: (line) => status.progress(`kind: ${line}`),
    });
    return kubeconfig;
  };
  const taker = await lockTaker(ctx);
  const { createMs } = timeouts(settings);
  const portLock = (port: number) => ({
    key: `port_${port}`,
    purpose: `API port ${port}`,
    leaseMs: createMs + 60_000,
    onReclaim: (why: string) => ctx.logger.info(`removed a stale lock (${why})`),
  });

  const pinned = settings.apiServerPort;
  if (pinned !== "auto") {
    const wait = {
      ...portLock(pinned),
      timeoutMs: createMs + 120_000,
      onWait: (holder: string) => ctx.logger.info(`waiting for ${holder}, which is creating a cluster on port ${pinned}`),
    };
    return withHostLock(ctx.container, taker, wait, async () => {
      const holders = holdersOf(await ctx.container.publishedPorts(), pinned, address);
      if (holders.length > 0) {
        const stopped = holders.every((h) => !h.running);
        throw new ZoneError({
          zone: "docker host",
          message: `port ${pinned} on ${address} is already published by container ${describeHolders(holders)}; nothing was created or deleted`,
          fix: stopped
            ? `that container is stopped but keeps the port for its next start: remove it (\`docker rm ${holders[0]?.name}\`) or set the Feature's apiServerPort option to auto or a free port`
            : `stop that container (\`docker stop ${holders[0]?.name}\`) or set the Feature's apiServerPort option to auto or a free port`,
        });
      }
      return createOn(pinned);
    });
  }

  const skipped: string[] = [];
  for (const { port, holders } of autoPorts(await ctx.container.publishedPorts(), address)) {
    if (holders.length > 0) {
      skipped.push(`${port} is held by ${describeHolders(holders)}`);
      continue;
    }
    const attempt = await tryHostLock(ctx.container, taker, portLock(port), async (): Promise<{ kubeconfig: string } | { skip: string }> => {
      // Under the port's lock: a cluster whose creation ended just before holds it now.
      const now = holdersOf(await ctx.container.publishedPorts(), port, address);
      if (now.length > 0) return { skip: `${port} is held by ${describeHolders(now)}` };
      try {
        return { kubeconfig: await createOn(port) };
      } catch (error) {
        if (error instanceof PortTakenError && error.port === port) return { skip: `${port} is held by a process on the Docker host` };
        throw error;
      }
    });
    const outcome = attempt.ran ? attempt.value : { skip: `${port} is being taken by ${attempt.holder}, which is creating a cluster` };
    if ("kubeconfig" in outcome) {
      if (skipped.length > 0)
        status.detail(`apiServerPort auto chose ${port} (${skipped.join("; ")}); Docker keeps it on the cluster, so every later start finds it`);
      return outcome.kubeconfig;
    }
    skipped.push(outcome.skip);
  }
  throw new ZoneError({
    zone: "docker host",
    message: `apiServerPort auto found no free port from ${FIRST_API_PORT} to ${LAST_API_PORT} on ${address}; nothing was created`,
    fix: "set the Feature's apiServerPort option to a free port, or remove clusters you no longer use (`kind get clusters`, `kind-cluster down --name NAME`)",
    detail: skipped.join("\n"),
  });
}
