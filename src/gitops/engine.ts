import type { KubeApi } from "../apiserver.js";
import type { Identity } from "../route/self.js";

/**
 * The GitOps engine in the cluster (zone 3) that applies what the workspace repository holds: Flux
 * today (gitops/flux/). `up`, `status`, `doctor` and the Git source service see only this interface;
 * the Git server and the HEAD watch (serve/) know nothing of the engine.
 */
export interface GitOpsEngine {
  readonly name: string;
  /** The collections whose changes move a commit along (its source, its units): the Git source wakes on them. */
  readonly watched: readonly string[];
  /**
   * Installs or upgrades the controllers when needed (not when the repository installs them itself:
   * then it owns their version); returns the phrase for `up`'s status line.
   */
  install(input: InstallInput): Promise<string>;
  /**
   * Makes the cluster follow `url` at `branch` and apply `path` from it, under the names the
   * repository's own objects refer to; returns what it did beyond that (objects of an earlier release
   * handed over), for `up` to say.
   */
  follow(api: KubeApi, source: SourceSpec): Promise<string[]>;
  /** Asks the engine to fetch now (and, with a branch, to follow that branch from now on); returns the request's stamp. */
  requestSync(api: KubeApi, branch?: string): Promise<string>;
  /**
   * Once the source holds `commit`: asks each unit that applies from the workspace and has not tried
   * `commit` yet, and is free to (its dependencies applied it), to apply it now; returns the units
   * still behind. A commit thus reaches every nested level within seconds. `nudgeIdle`, once the commit
   * has been fetched for a while: also the units that sit idle at an older commit (the engine did not
   * pass the new one on to them). With `held`, it plans from what the watches hold, and asks the API
   * again only before it asks a unit.
   */
  catchUp(api: KubeApi, commit: string, nudgeIdle?: boolean, held?: Held): Promise<string[]>;
  /** Keeps the SOPS age key (zone 1's, never logged) where the engine decrypts with it; returns what changed. */
  storeDecryptionKey(api: KubeApi, key: string): Promise<"created" | "updated" | "unchanged">;
  /**
   * What the engine reports: the branch it follows, the revision it fetched, what it applied, each unit
   * and its problems. With `held`, the watched collections are read from it instead of the API.
   */
  observe(api: KubeApi, held?: Held): Promise<GitOpsView>;
  /** After the nodes were started again: releases what the stopped controllers still held; returns what. */
  afterNodesStarted(api: KubeApi): Promise<string[]>;
  /** The engine's own checks for `doctor`: the controllers' version against the CLI's, and who installed them. */
  versions(api: KubeApi): Promise<Versions>;
  /** What the working tree (uncommitted edits included) would change in the cluster, unit by unit. */
  preview(input: PreviewInput): Promise<Preview>;
  /** The dev container that owns the loop, as the cluster records it; undefined when none does. */
  owner(api: KubeApi): Promise<LoopOwner | undefined>;
  /**
   * Records `owner` as the loop's owner, atomically: only while the record is still `previous` (none, or
   * the owner read before), so of two dev containers claiming at once exactly one wins. Returns the
   * owner recorded afterwards (another one when this claim lost).
   */
  claim(api: KubeApi, owner: Identity, previous: LoopOwner | undefined): Promise<LoopOwner>;
}

/**
 * The items of a watched collection (one of `watched`) as a watch holds them, or undefined when it
 * holds none (not listed yet, or disconnected). Reading it costs the cluster nothing; it can lag the
 * API by the time an event takes to arrive.
 */
export type Held = (path: string) => readonly unknown[] | undefined;

/** Who owns a cluster's GitOps loop: one dev container; `since` when it claimed it. */
export interface LoopOwner extends Identity {
  since: string;
  /** The record's version, for a claim that replaces it (opaque). */
  revision?: string;
}

interface InstallInput {
  api: KubeApi;
  kubeconfig: string;
  context: string;
  timeoutMs: number;
  /** The engine's components to run (Flux: its controllers, the fluxComponents option). */
  components: readonly string[];
  /** The install's own progress lines, as they come. */
  onProgress?: (line: string) => void;
}

export interface Versions {
  installed?: string;
  cli?: string;
  /** The unit that installed the controllers from the repository (it owns their version); absent when `up` did. */
  ownedBy?: string;
  /** The components running. */
  components?: string[];
}

interface PreviewInput {
  api: KubeApi;
  kubeconfig: string;
  context: string;
  /** The work tree's top folder, and the folder of it that the cluster applies. */
  repo: string;
  path: string;
  timeoutMs: number;
}

export interface Preview {
  /** True when applying the working tree would change something. */
  changed: boolean;
  /** The engine's own account of each change. */
  text: string;
  /** What could not be compared, one line each, naming the file where the engine does. */
  errors: string[];
}

interface SourceSpec {
  url: string;
  branch: string;
  /** The folder of the repository to apply. */
  path: string;
}

export interface Condition {
  ready: boolean;
  reason?: string;
  message?: string;
}

/** An object of the cluster, as Kubernetes names it. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name: string;
}

/** One thing the engine applies (Flux: a Kustomization), the root one included. */
export interface GitOpsUnit extends Condition {
  /** Kind/namespace/name. */
  id: string;
  /** The commits it last applied and last tried. */
  applied?: string;
  attempted?: string;
  /** It applies from the workspace (a commit reaches it), not from another source. */
  followsWorkspace: boolean;
  /** Neither Ready nor failed yet: working on it. */
  progressing: boolean;
}

/** Something the user must fix, with the engine's own message. */
export interface GitOpsProblem {
  /** The object, Kind/namespace/name. */
  subject: string;
  message: string;
  fix?: string;
  /** Objects worth naming the files of (the subject first, then those the message names). */
  refs: ObjectRef[];
}

export interface GitOpsView {
  /** The branch and URL the cluster follows. */
  branch?: string;
  url?: string;
  /** `handled`: the last sync request the engine acted on (it is live and leading). */
  source?: Condition & { revision?: string; handled?: string };
  /** The root unit; `progressing`: working on a revision, neither Ready nor failed yet. */
  sync?: Condition & { applied?: string; attempted?: string; progressing: boolean };
  /** Every unit, the root one first. */
  units: GitOpsUnit[];
  problems: GitOpsProblem[];
  /** Whether the cluster holds a decryption key (SOPS), and which units decrypt with it. */
  decryption: { key: boolean; users: string[] };
}
