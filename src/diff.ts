import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Engines } from "./engines.js";
import { ZoneError } from "./errors.js";
import { withPaths, workingTreeFiles } from "./gitops/locate.js";
import { readKubeconfig } from "./kubeconfig/index.js";
import { contextName } from "./kubeconfig/names.js";
import type { Logger } from "./log.js";
import { timeouts, type Settings } from "./options.js";
import { workspaceGit } from "./serve/head.js";

/**
 * `kind-cluster diff`: what the working tree, uncommitted edits included, would change in the cluster,
 * unit by unit (Flux: every Kustomization, nested ones included), before anything is committed. Exit
 * 0: nothing would change; 1: something would; 2: something could not be compared (each error shown).
 */
export async function diff(engines: Engines, settings: Settings, kubeconfig: string, workspace: string, logger: Logger): Promise<number> {
  if (settings.gitops === "none")
    throw new ZoneError({
      zone: "dev container",
      message: "gitops is none: the cluster follows no folder of this repository, so there is nothing to compare",
      fix: "set the Feature's gitops option to flux (and gitopsPath to your cluster's folder), then `kind-cluster up`",
    });
  const top = await workspaceGit(workspace, ["rev-parse", "--show-toplevel"]);
  if (top.exitCode !== 0)
    throw new ZoneError({
      zone: "dev container",
      message: `${workspace} is not in a Git repository: the cluster applies a folder of the workspace's repository`,
      fix: "run `kind-cluster diff` in the workspace",
      detail: top.stderr,
    });
  const repo = top.stdout.trim();
  const folder = join(repo, settings.gitopsPath);
  if (
    !(await stat(folder).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    throw new ZoneError({
      zone: "dev container",
      message: `the repository ${repo} has no folder ${settings.gitopsPath} (the gitopsPath option): the cluster applies nothing from it`,
      fix: "create that folder with your cluster's manifests, or set gitopsPath to the folder that holds them (e.g. clusters/local)",
    });
  const { entry } = await readKubeconfig(kubeconfig, settings.clusterName);
  if (!entry)
    throw new ZoneError({ zone: "dev container", message: `${kubeconfig} has no entry for cluster ${settings.clusterName}`, fix: "run `kind-cluster up`" });
  const preview = await engines.gitops(settings.gitops).preview({
    api: engines.api(entry),
    kubeconfig,
    context: contextName(settings.clusterName),
    repo,
    path: settings.gitopsPath,
    timeoutMs: timeouts(settings).gitopsInstallMs,
  });
  if (preview.text.trim()) process.stdout.write(`${preview.text.trimEnd()}\n`);
  const files = preview.errors.length ? await workingTreeFiles(repo) : [];
  for (const error of preview.errors) logger.warn(withPaths(error, files));
  if (preview.errors.length) {
    logger.warn(`${preview.errors.length} ${preview.errors.length === 1 ? "error" : "errors"}: what they name was not compared`);
    return 2;
  }
  logger.info(preview.changed ? `the working tree would change the cluster (above)` : "nothing would change: the cluster holds what the working tree says");
  return preview.changed ? 1 : 0;
}
