import { setTimeout as sleep } from "node:timers/promises";
import { applyObject } from "../apiserver.js";
import { ZoneError } from "../errors.js";
import { fluxCliVersion, fluxInstall } from "../flux.js";
import { GIT_PATH, GIT_PORT, GIT_REPOSITORY_PATH, gitRepository, installedFluxVersion, kustomization, KUSTOMIZATION_PATH, observeGitOps, releaseStaleLeases, requestReconcile } from "../gitops.js";
import { contextName } from "../kubeconfig/index.js";
import { selfAddressOn } from "../route/index.js";
import { ensureService } from "../serve/daemon.js";
import { readHead } from "../serve/head.js";
import { apiEndpoint, need, type Stage } from "./context.js";

/**
 * The GitOps loop (gitops: flux): Flux's controllers at the CLI's version, a GitRepository that follows
 * the workspace's checked-out branch through this dev container's read-only Git server, a Kustomization
 * that applies gitopsPath with pruning, and the service that serves and watches the repository.
 */
export const gitopsStage: Stage = {
  name: "gitops",
  enabled: (settings) => settings.gitops === "flux",
  async run(ctx, status) {
    const { settings } = ctx;
    const endpoint = apiEndpoint(ctx);
    const cluster = need(ctx, "cluster");
    const head = await readHead(ctx.workspace).catch((error: Error) => {
      throw new ZoneError("dev container", `the workspace folder ${ctx.workspace} is not a Git repository that can be read (${error.message.split("\n")[0]})`, "gitops applies what is committed in the workspace's repository: `git init`, commit your manifests under gitopsPath, then `kind-cluster up`");
    });

    const cli = await fluxCliVersion();
    const installed = await installedFluxVersion(endpoint);
    if (installed !== cli) await fluxInstall(ctx.kubeconfig, contextName(settings.clusterName), Math.max(settings.waitSeconds, 120) * 1000);
    const flux = installed === cli ? `flux ${cli}` : installed ? `flux ${installed} -> ${cli}` : `installed flux ${cli}`;

    const host = await selfAddressOn(cluster.network);
    const current = await observeGitOps(endpoint);
    // A detached HEAD keeps the branch the cluster already follows.
    const branch = head.branch ?? current.branch ?? "main";
    await applyObject(endpoint, GIT_REPOSITORY_PATH, gitRepository(`http://${host}:${GIT_PORT}${GIT_PATH}`, branch));
    await applyObject(endpoint, KUSTOMIZATION_PATH, kustomization(settings.gitopsPath));
    // Nodes just started: the controllers' leases are held by processes that died with them.
    if (cluster.action === "started") {
      const released = await releaseStaleLeases(endpoint);
      if (released.length) status.detail(`released the leader leases of stopped controllers: ${released.join(", ")}`);
    }
    const service = await ensureService("gitops", { repo: ctx.workspace, host, port: GIT_PORT, kubeconfig: ctx.kubeconfig, clusterName: settings.clusterName });
    const requested = await requestReconcile(endpoint);

    const applied = await waitForRevision(endpoint, head.commit, requested, settings.waitSeconds * 1000);
    status.note(`${flux}, ${branch}@${head.commit.slice(0, 7)} ${applied.ok ? "applied" : "not applied yet"}`);
    status.detail(`the cluster follows http://${host}:${GIT_PORT}${GIT_PATH} (read-only, this container's address on the cluster's network; Git server ${service.action}); a commit is applied within seconds`);
    if (!applied.ok) status.warn(`${settings.gitopsPath} at ${head.commit.slice(0, 7)}: ${applied.why}; \`kind-cluster status\` shows the GitOps hop`);
  },
};

/**
 * Waits until the source-controller has acted on our request (so the loop is live, not only installed)
 * and the Kustomization applied `commit`, or failed on it.
 */
async function waitForRevision(endpoint: Parameters<typeof observeGitOps>[0], commit: string, requested: string, timeoutMs: number): Promise<{ ok: boolean; why?: string }> {
  const deadline = Date.now() + timeoutMs;
  let why = "Flux has not reported on it yet";
  for (;;) {
    const view = await observeGitOps(endpoint);
    const ks = view.kustomization;
    const live = view.source?.handled !== undefined && view.source.handled >= requested;
    if (!live) why = "the source-controller has not acted on the request yet (starting, or waiting for its leader lease)";
    else if (ks?.applied === commit && ks.ready) return { ok: true };
    if (ks && ks.attempted === commit && !ks.ready) return { ok: false, why: ks.message ?? ks.reason ?? "not Ready" };
    if (view.source && !view.source.ready) why = `the source is not Ready: ${view.source.message ?? view.source.reason}`;
    else if (ks && !ks.ready) why = ks.message ?? ks.reason ?? why;
    if (Date.now() >= deadline) return { ok: false, why };
    await sleep(1000);
  }
}
