import { setTimeout as sleep } from "node:timers/promises";
import type { KubeApi } from "../apiserver.js";
import { describeUser } from "../cluster/users.js";
import type { ContainerEngine } from "../engine/engine.js";
import { ZoneError } from "../errors.js";
import type { GitOpsEngine, GitOpsView, LoopOwner } from "../gitops/engine.js";
import { readAgeKey } from "../gitops/age-key.js";
import { locateProblems, problemText } from "../gitops/problems.js";
import { contextName } from "../kubeconfig/index.js";
import type { StageHandle } from "../log.js";
import { timeouts } from "../options.js";
import { selfAddressOn } from "../route/index.js";
import type { Identity } from "../route/self.js";
import { serviceKey, type ServiceInstance } from "../serve/daemon.js";
import { GIT_PATH, gitPort, gitSourceUrl, type GitSourceConfig } from "../serve/git-source.js";
import { readHead } from "../serve/head.js";
import { clusterApi, need, type Stage, type UpContext } from "./context.js";

/**
 * The GitOps loop (gitops: flux): the engine's controllers at the CLI's version (unless the repository
 * installs them itself), the developer's SOPS age key where the engine decrypts with it, the cluster
 * following the workspace's checked-out branch through this dev container's read-only Git server and
 * applying gitopsPath with pruning, and the Git source service that serves and watches the repository.
 *
 * A cluster's loop belongs to one dev container, recorded in the cluster through the engine: the
 * first to set it up, or the next one after its owner is gone (removed or stopped). While the owner
 * runs, another dev container changes nothing of the loop, and says whose it is.
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

    const host = await selfAddressOn(ctx, cluster.network);
    const gitSource = serviceKey("git-source", settings.clusterName);
    const loop = await takeLoop(ctx, engine, api, status);
    if (!loop) {
      // Ours must not ask the owner's loop to fetch (or switch branches): stop it if it ran from an earlier claim.
      await ctx.services.stop(gitSource);
      return;
    }

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

    const current = await engine.observe(api);
    // A detached HEAD keeps the branch the cluster already follows.
    const branch = head.branch ?? current.branch ?? "main";
    const instances = (await ctx.services.list()).filter((i): i is ServiceInstance<GitSourceConfig> => i.key.kind === "git-source");
    const port = gitPort(
      instances.find((i) => i.key.cluster === settings.clusterName)?.config.port,
      instances.filter((i) => i.key.cluster !== settings.clusterName).map((i) => i.config.port),
    );
    for (const note of await engine.follow(api, { url: gitSourceUrl(host, port), branch, path: settings.gitopsPath })) status.detail(note);
    const config: GitSourceConfig = {
      repo: ctx.workspace,
      host,
      port,
      kubeconfig: ctx.kubeconfig,
      clusterName: settings.clusterName,
      engine: engine.name,
    };
    const service = await ctx.services.ensure(gitSource, config);
    const requested = await engine.requestSync(api);

    // Nodes just started: the controllers' leases are held by processes that died with them.
    const released = new Set<string>();
    const afterStart =
      cluster.action === "started"
        ? async () => {
            for (const lease of await engine.afterNodesStarted(api)) released.add(lease);
          }
        : undefined;
    const applied = await waitForRevision(engine, api, head.commit, requested, timeouts(settings).readyMs, afterStart);
    if (released.size) status.detail(`released the leader leases of stopped controllers: ${[...released].join(", ")}`);
    const units = applied.view?.units ?? [];
    // "(4 Kustomizations)": the units' kind, as the engine names them.
    const count = units.length > 1 ? ` (${units.length} ${units[0]!.id.split("/")[0]}s)` : "";
    status.note(`${installed}, ${branch}@${head.commit.slice(0, 7)} ${applied.ok ? "applied" : "not applied yet"}${count}`);
    status.detail(
      `the cluster follows http://${host}:${port}${GIT_PATH} (read-only, this container's address on the cluster's network; Git server ${service.action}); a commit is applied within seconds`,
    );
    // The loop must not fail silently: every unit that failed, with its file and the fix.
    const problems = await locateProblems(ctx.workspace, applied.view?.problems ?? []);
    if (!applied.ok && !problems.some((p) => p.subject === units[0]?.id))
      status.warn(`${settings.gitopsPath} at ${head.commit.slice(0, 7)}: ${applied.why}; \`kind-cluster status\` shows the GitOps hop`);
    else if (applied.behind.length) status.warn(`still applying ${head.commit.slice(0, 7)}: ${applied.behind.join(", ")}; \`kind-cluster status\` shows them`);
    for (const problem of problems) status.warn(`${problemText(problem)}${problem.fix ? `; fix: ${problem.fix}` : ""}`);
  },
};

/** What this container does about a loop another may own. Pure. */
export function loopDecision(
  current: LoopOwner | undefined,
  me: string,
  ownerState: "running" | "stopped" | "removed" | undefined,
): "claim" | "mine" | "refuse" | "take over" {
  if (!current) return "claim";
  if (current.container === me) return "mine";
  return ownerState === "running" ? "refuse" : "take over";
}

/** A cluster name for a project, from its folder's name, for the advice to set one. Pure. */
export function suggestClusterName(project: string): string {
  const base = project.split("/").filter(Boolean).pop() ?? "";
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "")
    .slice(0, 50);
  return name || "my-project";
}

async function ownerState(engine: ContainerEngine, owner: LoopOwner): Promise<"running" | "stopped" | "removed"> {
  const [container] = await engine.inspect([owner.container]);
  return !container ? "removed" : container.running ? "running" : "stopped";
}

/**
 * Makes the loop this container's, or says whose it is: returns the owner record when the loop is ours
 * (claimed now, taken over, or ours already), undefined when another live dev container owns it.
 */
export async function takeLoop(ctx: UpContext, engine: GitOpsEngine, api: KubeApi, status: StageHandle): Promise<LoopOwner | undefined> {
  const me = (await (await ctx.self()).identity()) as Identity; // known: this container just joined the cluster's network
  const current = await engine.owner(api);
  const state = current && current.container !== me.container ? await ownerState(ctx.container, current) : undefined;
  const decision = loopDecision(current, me.container, state);
  if (decision === "mine") return current;
  const owner = decision === "refuse" ? current! : await engine.claim(api, me, current);
  if (owner.container !== me.container) {
    const name = ctx.settings.clusterName;
    status.note(`the loop belongs to ${describeUser(owner)}; nothing changed`);
    status.warn(
      `the GitOps loop of cluster ${name} belongs to ${describeUser(owner)}, which is running: this dev container changed nothing of it (kubectl and the registry work as before). For a cluster and loop of this project's own, set "clusterName" in the Feature's options in devcontainer.json, e.g. "clusterName": "${suggestClusterName(me.project)}"`,
    );
    return undefined;
  }
  if (decision === "take over")
    status.detail(`took over the GitOps loop of cluster ${ctx.settings.clusterName} from ${describeUser(current!)}, whose container is ${state}`);
  return owner;
}

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
  afterStart?: () => Promise<void>,
): Promise<{ ok: boolean; why?: string; behind: string[]; view?: GitOpsView }> {
  const deadline = Date.now() + timeoutMs;
  let why = `${engine.name} has not reported on it yet`;
  for (;;) {
    // Right after the nodes started, the API server may restart once more (kind moves it to the node's
    // new address): a failed look is a reason to look again, not the end of the stage.
    const view = await engine.observe(api).catch((error: Error) => {
      why = `the API did not answer: ${error.message}`;
      return undefined;
    });
    if (!view) {
      if (Date.now() >= deadline) return { ok: false, why, behind: [] };
      await sleep(500);
      continue;
    }
    const sync = view.sync;
    const live = view.source?.handled !== undefined && view.source.handled >= requested;
    if (!live) {
      why = "the source controller has not acted on the request yet (starting, or waiting for its leader lease)";
      // Looked at again until the loop is live: a lease is stale only once its controller's new process
      // has started (a crash on the first API call after a node start delays that), and waiting for it
      // to expire instead costs about a minute.
      await afterStart?.().catch(() => undefined);
    } else if (sync?.applied === commit && sync.ready) {
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
