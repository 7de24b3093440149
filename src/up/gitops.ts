import { setTimeout as sleep } from "node:timers/promises";
import type { KubeApi } from "../apiserver.js";
import { ZoneError } from "../errors.js";
import { readAgeKey } from "../gitops/age-key.js";
import type { GitOpsEngine, GitOpsView } from "../gitops/engine.js";
import { locateProblems, problemText } from "../gitops/problems.js";
import { contextName } from "../kubeconfig/index.js";
import { timeouts } from "../options.js";
import { selfAddressOn } from "../route/index.js";
import { serviceKey } from "../serve/daemon.js";
import { GIT_PATH, GIT_PORT, gitSourceUrl, type GitSourceConfig } from "../serve/git-source.js";
import { readHead } from "../serve/head.js";
import { clusterApi, need, type Stage } from "./context.js";

/**
 * The GitOps loop (gitops: flux): the engine's controllers at the CLI's version (unless the repository
 * installs them itself), the developer's SOPS age key where the engine decrypts with it, the cluster
 * following the workspace's checked-out branch through this dev container's read-only Git server and
 * applying gitopsPath with pruning, and the Git source service that serves and watches the repository.
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
      components: settings.fluxComponents,
      onProgress: (line) => status.progress(`${engine.name}: ${line}`),
    });

    // Kept current on every start: a key rotated in the dev container reaches the cluster.
    const key = await readAgeKey();
    if (key) {
      const stored = await engine.storeDecryptionKey(api, key.secret);
      status.detail(`SOPS: ${key.count} age ${key.count === 1 ? "identity" : "identities"} from ${key.sources.join(", ")} in flux-system/sops-age (${stored})`);
    }

    const host = await selfAddressOn(ctx, cluster.network);
    const current = await engine.observe(api);
    // A detached HEAD keeps the branch the cluster already follows.
    const branch = head.branch ?? current.branch ?? "main";
    for (const note of await engine.follow(api, { url: gitSourceUrl(host), branch, path: settings.gitopsPath })) status.detail(note);
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
    const units = applied.view?.units ?? [];
    // "(4 Kustomizations)": the units' kind, as the engine names them.
    const count = units.length > 1 ? ` (${units.length} ${units[0]!.id.split("/")[0]}s)` : "";
    status.note(`${installed}, ${branch}@${head.commit.slice(0, 7)} ${applied.ok ? "applied" : "not applied yet"}${count}`);
    status.detail(
      `the cluster follows http://${host}:${GIT_PORT}${GIT_PATH} (read-only, this container's address on the cluster's network; Git server ${service.action}); a commit is applied within seconds`,
    );
    // The loop must not fail silently: every unit that failed, with its file and the fix.
    const problems = await locateProblems(ctx.workspace, applied.view?.problems ?? []);
    if (!applied.ok && !problems.some((p) => p.subject === units[0]?.id))
      status.warn(`${settings.gitopsPath} at ${head.commit.slice(0, 7)}: ${applied.why}; \`kind-cluster status\` shows the GitOps hop`);
    else if (applied.behind.length) status.warn(`still applying ${head.commit.slice(0, 7)}: ${applied.behind.join(", ")}; \`kind-cluster status\` shows them`);
    for (const problem of problems) status.warn(`${problemText(problem)}${problem.fix ? `; fix: ${problem.fix}` : ""}`);
  },
};

/**
 * Waits until the engine has acted on our request (so the loop is live, not only installed) and
 * applied `commit` at its root, or failed on it; then, within the same bound, until every unit that
 * applies from the workspace has done with it (nudged along: see GitOpsEngine.catchUp).
 */
async function waitForRevision(
  engine: GitOpsEngine,
  api: KubeApi,
  commit: string,
  requested: string,
  timeoutMs: number,
): Promise<{ ok: boolean; why?: string; behind: string[]; view?: GitOpsView }> {
  const deadline = Date.now() + timeoutMs;
  let why = `${engine.name} has not reported on it yet`;
  for (;;) {
    const view = await engine.observe(api);
    const sync = view.sync;
    const live = view.source?.handled !== undefined && view.source.handled >= requested;
    if (!live) why = "the source controller has not acted on the request yet (starting, or waiting for its leader lease)";
    else if (sync?.applied === commit && sync.ready) {
      const behind = await engine.catchUp(api, commit);
      if (behind.length === 0 || Date.now() >= deadline) return { ok: true, behind, view: behind.length ? view : await engine.observe(api) };
    }
    if (sync && sync.attempted === commit && !sync.ready && !sync.progressing)
      return { ok: false, why: sync.message ?? sync.reason ?? "not Ready", behind: [], view };
    if (view.source && !view.source.ready) why = `the source is not Ready: ${view.source.message ?? view.source.reason}`;
    else if (sync && !sync.ready) why = sync.message ?? sync.reason ?? why;
    if (Date.now() >= deadline) return { ok: false, why, behind: [], view };
    await sleep(500);
  }
}
