import type { KubeApi } from "../apiserver.js";
import type { Identity } from "../route/self.js";

/**
 * The GitOps engine in the cluster (zone 3) that applies what the workspace repository holds: Flux
 * today (gitops/flux/). `up`, `status`, `doctor` and the Git source service see only this interface;
 * the Git server and the HEAD watch (serve/) know nothing of the engine.
 */
export interface GitOpsEngine {
  readonly name: string;
  /** Installs or upgrades the controllers when needed; returns the phrase for `up`'s status line. */
  install(input: InstallInput): Promise<string>;
  /** Makes the cluster follow `url` at `branch` and apply `path` from it. */
  follow(api: KubeApi, source: SourceSpec): Promise<void>;
  /** Asks the engine to fetch now (and, with a branch, to follow that branch from now on); returns the request's stamp. */
  requestSync(api: KubeApi, branch?: string): Promise<string>;
  /** What the engine reports: the branch it follows, the revision it fetched, what it applied. */
  observe(api: KubeApi): Promise<GitOpsView>;
  /** After the nodes were started again: releases what the stopped controllers still held; returns what. */
  afterNodesStarted(api: KubeApi): Promise<string[]>;
  /** The engine's own checks for `doctor`: the controllers' version against the CLI's. */
  versions(api: KubeApi): Promise<{ installed?: string; cli?: string }>;
  /** The dev container that owns the loop, as the cluster records it; undefined when none does. */
  owner(api: KubeApi): Promise<LoopOwner | undefined>;
  /**
   * Records `owner` as the loop's owner, atomically: only while the record is still `previous` (none, or
   * the owner read before), so of two dev containers claiming at once exactly one wins. Returns the
   * owner recorded afterwards (another one when this claim lost).
   */
  claim(api: KubeApi, owner: Identity, previous: LoopOwner | undefined): Promise<LoopOwner>;
}

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
  /** The install's own progress lines, as they come. */
  onProgress?: (line: string) => void;
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

export interface GitOpsView {
  /** The branch and URL the cluster follows. */
  branch?: string;
  url?: string;
  /** `handled`: the last sync request the engine acted on (it is live and leading). */
  source?: Condition & { revision?: string; handled?: string };
  sync?: Condition & { applied?: string; attempted?: string };
}
