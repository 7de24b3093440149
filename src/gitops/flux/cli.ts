import { ZoneError } from "../../errors.js";
import { run } from "../../proc.js";

/** The flux CLI (installed in zone 1 by the Feature): the only code that runs it. */

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

interface InstallInput {
  kubeconfig: string;
  context: string;
  timeoutMs: number;
  /** The controllers (the fluxComponents option). */
  components: readonly string[];
  onProgress?: (line: string) => void;
}

/** The arguments of `flux install` for these settings. Pure. */
export function installArgs(input: Pick<InstallInput, "context" | "components" | "timeoutMs">): string[] {
  return ["install", "--context", input.context, "--components", input.components.join(","), "--timeout", `${Math.round(input.timeoutMs / 1000)}s`];
}

/**
 * Installs or upgrades the controllers to the CLI's version (`flux install` is idempotent and applies
 * in place), from the manifests embedded in the CLI: no network access to GitHub is needed.
 */
export async function fluxInstall(input: InstallInput): Promise<void> {
  const onProgress = input.onProgress;
  const result = await run("flux", installArgs(input), {
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
      fix: "look at `kubectl -n flux-system get pods` and `kubectl -n flux-system describe pods`; images come from ghcr.io/fluxcd unless the node already has them; a component the flux CLI does not know is refused (the fluxComponents option)",
      detail: `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-15).join("\n"),
    });
}

interface DiffInput {
  kubeconfig: string;
  context: string;
  /** The Kustomization to start from, and the local folder that stands for its path. */
  namespace: string;
  name: string;
  path: string;
  /** Kind/namespace/name=folder: the sources that local folders stand for, when nested Kustomizations are followed. */
  localSources?: Record<string, string>;
  timeoutMs: number;
}

/** The arguments of `flux diff kustomization` against a local folder, recursive when local sources are given. Pure. */
export function diffArgs(input: Omit<DiffInput, "kubeconfig">): string[] {
  const sources = Object.entries(input.localSources ?? {}).map(([source, dir]) => `${source}=${dir}`);
  return [
    "diff",
    "kustomization",
    input.name,
    "--namespace",
    input.namespace,
    "--context",
    input.context,
    "--path",
    input.path,
    ...(sources.length ? ["--recursive", "--local-sources", sources.join(",")] : []),
    "--progress-bar=false",
    "--timeout",
    `${Math.round(input.timeoutMs / 1000)}s`,
  ];
}

/** `flux diff kustomization`: exit 0 when nothing would change, 1 when something would, more on errors. */
export async function fluxDiff(input: DiffInput): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const result = await run("flux", diffArgs(input), {
    timeoutMs: input.timeoutMs + 30_000,
    env: { ...process.env, KUBECONFIG: input.kubeconfig, NO_COLOR: "1" },
  });
  if (result.exitCode === 127) throw fluxMissing();
  return result;
}
