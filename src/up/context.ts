import type { KubeApi, NodeSummary } from "../apiserver.js";
import type { ClusterView } from "../cluster/view.js";
import type { EngineInfo } from "../engine/engine.js";
import type { Engines } from "../engines.js";
import type { Credentials } from "../kubeconfig/index.js";
import type { Logger, StageHandle } from "../log.js";
import type { Observation } from "../observe.js";
import type { Settings } from "../options.js";
import type { Connection } from "../route/index.js";

/** What the cluster stage did. */
export type ClusterAction = "created" | "adopted" | "started" | "re-created";

/**
 * What every stage of `up` reads: the engines it drives (as kind's actions get their provider), the
 * settings, and what earlier stages learned for later ones. Each learned field is written by one stage
 * and read by a later one; nothing is read twice.
 */
export interface UpContext extends Engines {
  readonly settings: Settings;
  /** The workspace folder (the hooks' working directory): relative kindConfig paths start here. */
  readonly workspace: string;
  /** The kubeconfig file we write, chosen by kubectl's rule. */
  readonly kubeconfig: string;
  readonly logger: Logger;
  /** How long to wait for Docker to answer (hooks may start before the socket proxy does). */
  readonly dockerWaitMs: number;
  /** Whether the kubeconfig's current context becomes this cluster's (not for extraClusters: clusterName's stays). */
  readonly makeCurrent?: boolean;

  /** docker: the engine's facts. */
  docker?: EngineInfo;
  /** docker: the system as `up` found it (the observation `status` shows). */
  observed?: Observation;
  /** cluster: the cluster as it stands once created, adopted or started. */
  cluster?: ClusterView & { action: ClusterAction; everReady: boolean };
  /** cluster (kind's, when it created the cluster) or route: the credentials the route was proven with. */
  credentials?: Credentials;
  /** route: the chosen route. */
  connection?: Connection;
  /** route: true when the kubeconfig's entry already works as it is (nothing to write). */
  entryCurrent?: boolean;
  /** ready: every node, Ready. */
  nodes?: NodeSummary[];
}

/** One named step of `up`, idempotent, printed as a status line with its time (like kind's create actions). */
export interface Stage {
  name: string;
  /** Whether the settings ask for this stage at all (absent: always). */
  enabled?: (settings: Settings) => boolean;
  run(ctx: UpContext, status: StageHandle): Promise<void>;
}

/** A value an earlier stage must have learned; its absence is a bug in the stage order. */
export function need<K extends keyof UpContext>(ctx: UpContext, key: K): NonNullable<UpContext[K]> {
  const value = ctx[key];
  if (value === undefined || value === null) throw new Error(`stage order: ${String(key)} is not known yet`);
  return value as NonNullable<UpContext[K]>;
}

/** The API server through the chosen route, with the credentials that route was proven with. */
export function clusterApi(ctx: UpContext): KubeApi {
  const { candidate } = need(ctx, "connection");
  return ctx.api({ server: candidate.server, tlsServerName: candidate.tlsServerName, credentials: need(ctx, "credentials") });
}

/** Whether the cluster stage made the cluster in this run (so nothing of an earlier run can be reused). */
export function createdNow(action: ClusterAction): boolean {
  return action === "created" || action === "re-created";
}
