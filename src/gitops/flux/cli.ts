import { ZoneError } from "../../errors.js";
import { run } from "../../proc.js";

/** The flux CLI (installed in zone 1 by the Feature): the only code that runs it. */

/** Source and kustomize controllers are all the loop needs (no Helm or notification controllers). */
const COMPONENTS = ["source-controller", "kustomize-controller"];

function fluxMissing(): ZoneError {
  return new ZoneError({
    zone: "dev container",
    message: "the flux CLI is not installed in the dev container",
    fix: "rebuild the dev container with the kind-cluster Feature (it installs flux)",
  });
}

/** The flux CLI's own version, e.g. "v2.9.5"; it decides the controllers' versions. */
export async function fluxCliVersion(): Promise<string> {
  const result = await run("flux", ["version", "--client", "--output", "json"], { timeoutMs: 15_000 });
  if (result.exitCode === 127) throw fluxMissing();
  const version = result.exitCode === 0 ? (JSON.parse(result.stdout) as { flux?: string }).flux : undefined;
  if (!version)
    throw new ZoneError({
      zone: "dev container",
      message: "the flux CLI did not report its version",
      fix: "run `flux version --client` to see why",
      detail: result.stderr,
    });
  return version.startsWith("v") ? version : `v${version}`;
}

/**
 * Installs or upgrades the controllers to the CLI's version (`flux install` is idempotent and applies
 * in place), from the manifests embedded in the CLI: no network access to GitHub is needed.
 */
export async function fluxInstall(input: { kubeconfig: string; context: string; timeoutMs: number; onProgress?: (line: string) => void }): Promise<void> {
  const args = ["install", "--context", input.context, "--components", COMPONENTS.join(","), "--timeout", `${Math.round(input.timeoutMs / 1000)}s`];
  const onProgress = input.onProgress;
  const result = await run("flux", args, {
    timeoutMs: input.timeoutMs + 30_000,
    env: { ...process.env, KUBECONFIG: input.kubeconfig },
    // flux writes its steps ("► installing components", "✔ install finished") to stderr.
    onStderrLine: onProgress ? (line) => line.trim() && onProgress(line.trim()) : undefined,
  });
  if (result.exitCode === 127) throw fluxMissing();
  if (result.exitCode !== 0)
    throw new ZoneError({
      zone: "kind cluster",
      message: "flux could not install its controllers in the cluster",
      fix: "look at `kubectl -n flux-system get pods` and `kubectl -n flux-system describe pods`; images come from ghcr.io/fluxcd unless the node already has them",
      detail: `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-15).join("\n"),
    });
}
