import { ZoneError } from "./errors.js";
import { run } from "./proc.js";

/** Zone 3's GitOps controllers: the only module that runs the flux CLI (installed in zone 1 by the Feature). */

/** Source and kustomize controllers are all the loop needs (no Helm or notification controllers). */
export const FLUX_COMPONENTS = ["source-controller", "kustomize-controller"];

function fluxMissing(): ZoneError {
  return new ZoneError("dev container", "the flux CLI is not installed in the dev container", "rebuild the dev container with the kind-cluster Feature (it installs flux)");
}

/** The flux CLI's own version, e.g. "v2.9.5"; it decides the controllers' versions. */
export async function fluxCliVersion(): Promise<string> {
  const result = await run("flux", ["version", "--client", "--output", "json"], { timeoutMs: 15_000 });
  if (result.exitCode === 127) throw fluxMissing();
  const version = result.exitCode === 0 ? (JSON.parse(result.stdout) as { flux?: string }).flux : undefined;
  if (!version) throw new ZoneError("dev container", "the flux CLI did not report its version", "run `flux version --client` to see why", result.stderr);
  return version.startsWith("v") ? version : `v${version}`;
}

/**
 * Installs or upgrades the controllers to the CLI's version (`flux install` is idempotent and applies
 * in place), from the manifests embedded in the CLI: no network access to GitHub is needed.
 */
export async function fluxInstall(kubeconfig: string, context: string, timeoutMs: number): Promise<void> {
  const args = ["install", "--context", context, "--components", FLUX_COMPONENTS.join(","), "--timeout", `${Math.round(timeoutMs / 1000)}s`];
  const result = await run("flux", args, { timeoutMs: timeoutMs + 30_000, env: { ...process.env, KUBECONFIG: kubeconfig } });
  if (result.exitCode === 127) throw fluxMissing();
  if (result.exitCode !== 0)
    throw new ZoneError(
      "kind cluster",
      "flux could not install its controllers in the cluster",
      "look at `kubectl -n flux-system get pods` and `kubectl -n flux-system describe pods`; images come from ghcr.io/fluxcd unless the node already has them",
      `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-15).join("\n"),
    );
}
