import type { Condition, GitOpsProblem, GitOpsUnit, GitOpsView, ObjectRef, Preview } from "../engine.js";
import { controllerFor } from "./components.js";
import { REQUESTED_AT, usesOurKey } from "./objects.js";

/**
 * How Flux's objects read: the loop's state, every Kustomization as a unit, what is wrong with them and
 * how to fix it, and which of them to nudge after a commit. Pure: index.ts does the reading.
 */

interface FluxCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface FluxObject {
  spec?: { ref?: { branch?: string }; url?: string };
  status?: {
    conditions?: FluxCondition[];
    artifact?: { revision?: string };
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
    lastHandledReconcileAt?: string;
  };
}

interface NamespacedRef {
  kind?: string;
  name: string;
  namespace?: string;
}

export interface Kustomization {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  spec?: {
    path?: string;
    sourceRef?: NamespacedRef;
    dependsOn?: NamespacedRef[];
    suspend?: boolean;
    decryption?: { provider?: string; secretRef?: { name?: string } };
  };
  status?: FluxObject["status"];
}

/** Where the root Kustomization and its source live. */
const ROOT = { namespace: "flux-system", name: "flux-system" };

const readyCondition = (object: { status?: FluxObject["status"] } | undefined) => object?.status?.conditions?.find((x) => x.type === "Ready");

function readyOf(object: { status?: FluxObject["status"] } | undefined): Condition | undefined {
  const c = readyCondition(object);
  return c ? { ready: c.status === "True", reason: c.reason, message: c.message } : undefined;
}

/** "main@sha1:0123…" -> "0123…"; Flux writes revisions as <ref>@<algo>:<digest>. Pure. */
export function commitOf(revision: string | undefined): string | undefined {
  return revision?.split(":").pop();
}

const idOf = (ks: Kustomization) => `Kustomization/${ks.metadata.namespace}/${ks.metadata.name}`;
const isRoot = (ks: Kustomization) => ks.metadata.namespace === ROOT.namespace && ks.metadata.name === ROOT.name;

/** Its source is the workspace's: the GitRepository flux-system. */
export function followsWorkspace(ks: Kustomization): boolean {
  const ref = ks.spec?.sourceRef;
  return ref?.kind === "GitRepository" && ref.name === ROOT.name && (ref.namespace ?? ks.metadata.namespace) === ROOT.namespace;
}

function unitOf(ks: Kustomization): GitOpsUnit {
  const c = readyCondition(ks);
  return {
    id: idOf(ks),
    ready: c?.status === "True",
    reason: c?.reason,
    message: c?.message,
    applied: commitOf(ks.status?.lastAppliedRevision),
    attempted: commitOf(ks.status?.lastAttemptedRevision),
    followsWorkspace: followsWorkspace(ks),
    progressing: !ks.spec?.suspend && (c === undefined || c.status === "Unknown"),
  };
}

/** The root first, then the others by name. */
function ordered(list: readonly Kustomization[]): Kustomization[] {
  return [...list].sort((a, b) => Number(isRoot(b)) - Number(isRoot(a)) || idOf(a).localeCompare(idOf(b)));
}

/** The loop's state from the GitRepository, every Kustomization and whether the decryption Secret exists. Pure. */
export function viewOf(source: FluxObject | undefined, list: readonly Kustomization[], decryptionKey: boolean): GitOpsView {
  const root = list.find(isRoot);
  const sourceReady = readyOf(source);
  const rootReady = readyOf(root);
  return {
    branch: source?.spec?.ref?.branch,
    url: source?.spec?.url,
    source:
      source && sourceReady
        ? { ...sourceReady, revision: commitOf(source.status?.artifact?.revision), handled: source.status?.lastHandledReconcileAt }
        : undefined,
    sync:
      root && rootReady
        ? {
            ...rootReady,
            applied: commitOf(root.status?.lastAppliedRevision),
            attempted: commitOf(root.status?.lastAttemptedRevision),
            progressing: readyCondition(root)?.status === "Unknown",
          }
        : undefined,
    units: ordered(list).map(unitOf),
    problems: problemsOf(list, decryptionKey),
    decryption: {
      key: decryptionKey,
      users: ordered(list)
        .filter((ks) => usesOurKey(ks.spec?.decryption))
        .map(idOf),
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Problems

const depKey = (owner: Kustomization, dep: NamespacedRef) => `${dep.namespace ?? owner.metadata.namespace}/${dep.name}`;
const keyOf = (ks: Kustomization) => `${ks.metadata.namespace}/${ks.metadata.name}`;

/** Each dependsOn cycle once, as the Kustomizations around it (kustomize-controller only ever says "not ready"). Pure. */
export function dependencyCycles(list: readonly Kustomization[]): string[][] {
  const byKey = new Map(list.map((ks) => [keyOf(ks), ks]));
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (key: string, path: string[]) => {
    const at = path.indexOf(key);
    if (at >= 0) {
      const cycle = path.slice(at);
      // One rotation of each cycle: the one that starts at its smallest key.
      const start = cycle.indexOf([...cycle].sort()[0]!);
      const canonical = [...cycle.slice(start), ...cycle.slice(0, start)];
      if (!cycles.some((c) => c.join() === canonical.join())) cycles.push(canonical);
      return;
    }
    if (seen.has(key)) return;
    const ks = byKey.get(key);
    for (const dep of ks?.spec?.dependsOn ?? []) visit(depKey(ks!, dep), [...path, key]);
    seen.add(key);
  };
  for (const key of [...byKey.keys()].sort()) visit(key, []);
  return cycles;
}

/** Kind/namespace/name as Flux's messages write them ("HelmRelease/default/podinfo dry-run failed"). */
const OBJECT_IN_MESSAGE = /\b([A-Z][A-Za-z0-9]+)\/([a-z0-9][a-z0-9.-]*)\/([a-z0-9][a-z0-9.-]*)\b/g;
const NO_MATCHES = /no matches for kind "([A-Za-z0-9]+)" in version "([^"]+)"/;
/** kustomize-controller builds in a temporary folder; the repository's own path reads better. */
const BUILD_DIR = /\/tmp\/kustomization-\d+\//g;

/** The objects a message names, Kind/namespace/name. Pure. */
export function refsIn(message: string): ObjectRef[] {
  return [...message.matchAll(OBJECT_IN_MESSAGE)].map(([, kind = "", namespace, name = ""]) => ({ kind, namespace, name }));
}

/**
 * The fix for one failing Kustomization, from Flux's own message: a kind whose controller is not
 * installed, a key that cannot decrypt, a missing source or path. Pure.
 */
export function fixFor(message: string, decryptionKey: boolean): string | undefined {
  const missing = NO_MATCHES.exec(message);
  if (missing) {
    const [, kind = "", apiVersion = ""] = missing;
    const controller = controllerFor(kind, apiVersion);
    if (controller)
      return `${kind} is served by Flux's ${controller}, which is not installed: add ${controller} to the fluxComponents option (the default has helm-controller and notification-controller) and run \`kind-cluster up\`; a repository with its own flux-system/gotk-components.yaml must install it there (\`flux install --export --components-extra ...\`)`;
    return `no controller in the cluster serves ${kind} (${apiVersion}): install its CustomResourceDefinition first (in a Kustomization this one dependsOn)`;
  }
  if (/sops|decrypt|age identit|no identity matched/i.test(message))
    return decryptionKey
      ? "the age key in this dev container does not decrypt this file: put the key whose public key is in .sops.yaml in $SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt, then `kind-cluster up` (it updates flux-system/sops-age)"
      : "the cluster holds no age key: put yours in $SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt in this dev container, then `kind-cluster up` (it stores it in flux-system/sops-age)";
  // The condition says `gitrepositories.source.toolkit.fluxcd.io "x" not found`; the event, `Source '...' not found`.
  if (/source\.toolkit\.fluxcd\.io "[^"]+" not found|^Source '.*' not found/.test(message))
    return "the sourceRef names a source that does not exist: use GitRepository flux-system (the workspace), or commit the source it names";
  if (/kustomization path not found/.test(message))
    return "spec.path names a folder that is not in the committed tree: fix the path (relative to the repository's top) and commit";
  return undefined;
}

/** What `status` and `doctor` show: each failing Kustomization, and each dependsOn cycle. Pure. */
export function problemsOf(list: readonly Kustomization[], decryptionKey: boolean): GitOpsProblem[] {
  const problems: GitOpsProblem[] = [];
  for (const cycle of dependencyCycles(list)) {
    const refs = cycle.map((key) => {
      const [namespace = "", name = ""] = key.split("/");
      return { kind: "Kustomization", namespace, name };
    });
    problems.push({
      subject: `Kustomization/${cycle[0]}`,
      message: `dependsOn cycle: ${[...cycle, cycle[0]].join(" -> ")}; none of them will ever apply`,
      fix: "remove one dependsOn entry of the cycle and commit",
      refs,
    });
  }
  const inCycle = new Set(problems.flatMap((p) => p.refs.map((r) => `${r.namespace}/${r.name}`)));
  for (const ks of ordered(list)) {
    const c = readyCondition(ks);
    if (c?.status !== "False" || inCycle.has(keyOf(ks))) continue;
    const message = (c.message ?? c.reason ?? "not Ready").replace(BUILD_DIR, "");
    const self = { kind: "Kustomization", namespace: ks.metadata.namespace, name: ks.metadata.name };
    problems.push({ subject: idOf(ks), message, fix: fixFor(message, decryptionKey), refs: [self, ...refsIn(message)] });
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// After a commit

/** kustomize-controller retries these only every 30 s (--requeue-dependency) unless asked. */
const waiting = (c: FluxCondition | undefined) =>
  c?.status === "False" && (c.reason === "DependencyNotReady" || (c.reason === "ArtifactFailed" && /retrying in/.test(c.message ?? "")));

/**
 * After the source fetched `commit`: the Kustomizations to ask for a reconcile now (waiting on a
 * dependency that has since applied `commit`, or on the source's artifact, and not asked already), and
 * those still behind (following the workspace, not suspended, and neither done with `commit` nor
 * failed for a reason no retry mends). With `nudgeIdle` (the commit was fetched a while ago), also those
 * idle at an older commit whose dependencies are done. Units at work are never asked: a new request would
 * cancel their health checks. Pure.
 */
export function catchUpPlan(list: readonly Kustomization[], commit: string, nudgeIdle = false): { due: Kustomization[]; behind: string[] } {
  const byKey = new Map(list.map((ks) => [keyOf(ks), ks]));
  const failed = (ks: Kustomization) => readyCondition(ks)?.status === "False" && !waiting(readyCondition(ks));
  // Waiting on a dependency that failed, or on one that waits so (a cycle included): only a new commit mends it.
  const blocked = (ks: Kustomization, path: readonly string[] = []): boolean =>
    waiting(readyCondition(ks)) &&
    (ks.spec?.dependsOn ?? []).some((ref) => {
      const dep = byKey.get(depKey(ks, ref));
      return dep !== undefined && (failed(dep) || path.includes(keyOf(dep)) || blocked(dep, [...path, keyOf(ks)]));
    });
  const settled = (ks: Kustomization) =>
    failed(ks) || blocked(ks) || (commitOf(ks.status?.lastAttemptedRevision) === commit && readyCondition(ks)?.status === "True");
  const satisfied = (dep: Kustomization | undefined) =>
    dep !== undefined && readyCondition(dep)?.status === "True" && (!followsWorkspace(dep) || commitOf(dep.status?.lastAppliedRevision) === commit);
  const following = list.filter((ks) => followsWorkspace(ks) && !ks.spec?.suspend);
  // Idle at an older commit: kustomize-controller enqueues a source's Kustomizations on a new revision in
  // dependency order, and enqueues none of them when a dependsOn cycle makes that order impossible.
  const idle = (ks: Kustomization) => {
    const c = readyCondition(ks);
    return c !== undefined && c.status !== "Unknown" && !waiting(c) && commitOf(ks.status?.lastAttemptedRevision) !== commit;
  };
  const due = following.filter((ks) => {
    if (!waiting(readyCondition(ks)) && !(nudgeIdle && idle(ks))) return false;
    const requested = ks.metadata.annotations?.[REQUESTED_AT];
    if (requested !== undefined && requested !== ks.status?.lastHandledReconcileAt) return false;
    return (ks.spec?.dependsOn ?? []).every((dep) => satisfied(byKey.get(depKey(ks, dep))));
  });
  return { due, behind: ordered(following.filter((ks) => !settled(ks))).map(idOf) };
}

// ---------------------------------------------------------------------------------------------------
// A preview

/**
 * `flux diff kustomization`'s result as a preview: it exits 1 both on changes (after the warning
 * "identified at least one change") and on errors (lines starting with ✗), and the repository's
 * absolute path reads better relative. Pure.
 */
export function previewOf(result: { exitCode: number; stdout: string; stderr: string }, repo: string): Preview {
  const relative = (text: string) => text.replaceAll(`${repo.replace(/\/$/, "")}/`, "");
  const errors = result.stderr
    .split("\n")
    .filter((line) => line.startsWith("✗"))
    .flatMap((line) => splitAggregate(line.replace(/^✗\s*/, "")))
    .map(relative);
  const changed = /identified at least one change/.test(result.stderr) || /^(►|📁) .* (created|drifted|deleted|changed)$/m.test(result.stdout);
  if (result.exitCode !== 0 && !changed && errors.length === 0) errors.push(relative(result.stderr.trim() || `flux diff exited with ${result.exitCode}`));
  return { changed, text: relative(result.stdout), errors };
}

/** Flux joins several errors as "[first, second]": one per line reads better. Pure. */
function splitAggregate(message: string): string[] {
  if (!message.startsWith("[") || !message.endsWith("]")) return [message];
  return message
    .slice(1, -1)
    .split(/, (?=[A-Za-z]+\/|kustomize build|failed|cannot|invalid|decryption|accumulating)/)
    .map((s) => s.trim());
}

/** The workspace's source, as `flux diff --local-sources` names it. */
export const WORKSPACE_SOURCE = "GitRepository/flux-system/flux-system";
/** What flux diff says of a nested Kustomization whose source no local folder stands for. */
export const OTHER_SOURCE = /^cannot get local path for (\S+) of kustomization (\S+)/;

/**
 * The previews of each Kustomization of the workspace, taken one by one, as one; the Kustomizations of
 * other sources are said not to be compared. Pure.
 */
export function combinedPreview(parts: ReadonlyArray<{ id: string; preview: Preview }>, elsewhere: readonly string[]): Preview {
  const notes = elsewhere.map((e) => {
    const [, source, name] = OTHER_SOURCE.exec(e) ?? [];
    return `► Kustomization ${name} applies from ${source}, not from the workspace: not compared\n`;
  });
  const changed = parts.filter((p) => p.preview.changed);
  return {
    changed: changed.length > 0,
    text: [...changed.map((p) => `📁 ${p.id} changed\n${p.preview.text}`), ...notes].join(""),
    errors: parts.flatMap((p) => p.preview.errors.map((e) => `${p.id}: ${e}`)),
  };
}
