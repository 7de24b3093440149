import { setTimeout as sleep } from "node:timers/promises";
import type { KubeApi } from "../apiserver.js";
import { ZoneError } from "../errors.js";
import type { GitOpsEngine } from "../gitops/engine.js";
import { contextName } from "../kubeconfig/index.js";
import { timeouts } from "../options.js";
import { selfAddressOn } from "../route/index.js";
import { serviceKey } from "../serve/daemon.js";
import { GIT_PATH, GIT_PORT, gitSourceUrl, type GitSourceConfig } from "../serve/git-source.js";
import { readHead } from "../serve/head.js";
import { clusterApi, need, type Stage } from "./context.js";

/**
 * The GitOps loop (gitops: flux): the engine's controllers at the CLI's version, the cluster following
 * the workspace's checked-out branch through this dev container's read-only Git server and applying
 * gitopsPath with pruning, and the Git source service that serves and watches the repository.
 */
export const gitopsStage: Stage = {
  name: "gitops",
  enabled: (settings) => settings.gitops !== "none",
  async run(ctx, status) {
    const { settings } = ctx;
    const api = clusterApi(ctx);
    const cluster = need(ctx, "cluster");
    const engine = ctx.gitops(settings.gitops);
    const head = await readHead(ctx.workspace).catch((error: Error) => {
      throw new ZoneError({
        zone: "dev container",
        message: `the workspace folder ${ctx.workspace} is not a Git repository that can be read (${error.message.split("\n")[0]})`,
        fix: "gitops applies what is committed in the workspace's repository: `git init`, commit your manifests under gitopsPath, then `kind-cluster up`",
      });
    });

    const installed = await engine.install({
      api,
      kubeconfig: ctx.kubeconfig,
      context: contextName(settings.clusterName),
      timeoutMs: timeouts(settings).gitopsInstallMs,
      onProgress: (line) => status.progress(`${engine.name}: ${line}`),
    });

    const host = await selfAddressOn(ctx, cluster.network);
    const current = await engine.observe(api);
    // A detached HEAD keeps the branch the cluster already follows.
    const branch = head.branch ?? current.branch ?? "main";
    await engine.follow(api, { url: gitSourceUrl(host), branch, path: settings.gitopsPath });
    // Nodes just started: the controllers' leases are held by processes that died with them.
    if (cluster.action === "started") {
      const released = await engine.afterNodesStarted(api);
      if (released.length) status.detail(`released the leader leases of stopped controllers: ${released.join(", ")}`);
    }
    const config: GitSourceConfig = {
      repo: ctx.workspace,
      host,
      port: GIT_PORT,
      kubeconfig: ctx.kubeconfig,
      clusterName: settings.clusterName,
      engine: engine.name,
    };
    const service = await ctx.services.ensure(serviceKey("git-source", settings.clusterName), config);
    const requested = await engine.requestSync(api);

    const applied = await waitForRevision(engine, api, head.commit, requested, timeouts(settings).readyMs);
    status.note(`${installed}, ${branch}@${head.commit.slice(0, 7)} ${applied.ok ? "applied" : "not applied yet"}`);
    status.detail(
      `the cluster follows http://${host}:${GIT_PORT}${GIT_PATH} (read-only, this container's address on the cluster's network; Git server ${service.action}); a commit is applied within seconds`,
    );
    if (!applied.ok) status.warn(`${settings.gitopsPath} at ${head.commit.slice(0, 7)}: ${applied.why}; \`kind-cluster status\` shows the GitOps hop`);
  },
};

/**
 * Waits until the engine has acted on our request (so the loop is live, not only installed) and
 * applied `commit`, or failed on it.
 */
async function waitForRevision(
  engine: GitOpsEngine,
  api: KubeApi,
  commit: string,
  requested: string,
  timeoutMs: number,
): Promise<{ ok: boolean; why?: string }> {
  const deadline = Date.now() + timeoutMs;
  let why = `${engine.name} has not reported on it yet`;
  for (;;) {
    const view = await engine.observe(api);
    const sync = view.sync;
    const live = view.source?.handled !== undefined && view.source.handled >= requested;
    if (!live) why = "the source controller has not acted on the request yet (starting, or waiting for its leader lease)";
    else if (sync?.applied === commit && sync.ready) return { ok: true };
    if (sync && sync.attempted === commit && !sync.ready) return { ok: false, why: sync.message ?? sync.reason ?? "not Ready" };
    if (view.source && !view.source.ready) why = `the source is not Ready: ${view.source.message ?? view.source.reason}`;
    else if (sync && !sync.ready) why = sync.message ?? sync.reason ?? why;
    if (Date.now() >= deadline) return { ok: false, why };
    await sleep(1000);
  }
}
