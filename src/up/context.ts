import type { Endpoint, NodeSummary } from "../apiserver.js";
import type { ClusterView } from "../cluster.js";
import type { DockerInfo } from "../docker.js";
import type { Credentials } from "../kubeconfig/index.js";
import type { Logger, StageHandle } from "../log.js";
import type { Settings } from "../options.js";
import type { Connection, RouteFacts } from "../route/index.js";

/** What the cluster stage did. */
export type ClusterAction = "created" | "adopted" | "started" | "re-created";

/** What every stage of `up` reads, and what earlier stages learned for later ones (nothing is read twice). */
export interface UpContext {
  readonly settings: Settings;
  /** The workspace folder (the hooks' working directory): relative kindConfig paths start here. */
  readonly workspace: string;
  /** The kubeconfig file we write, chosen by kubectl's rule. */
  readonly kubeconfig: string;
  readonly logger: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** How long to wait for Docker to answer (hooks may start before the socket proxy does). */
  readonly dockerWaitMs: number;

  /** docker: the engine's facts. */
  docker?: DockerInfo;
  /** cluster: the cluster as it stands once created, adopted or started. */
  cluster?: ClusterView & { action: ClusterAction; kindKubeconfig?: string; everReady: boolean };
  /** route: what the candidates were derived from, the chosen route, and the credentials it was proven with. */
  facts?: RouteFacts;
  connection?: Connection;
  credentials?: Credentials;
  /** route: true when the kubeconfig's entry already works as it is (nothing to write). */
  entryCurrent?: boolean;
  /** kubeconfig: whether the file was rewritten. */
  kubeconfigChanged?: boolean;
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

/** The API server as the chosen route reaches it, with the credentials that route was proven with. */
export function apiEndpoint(ctx: UpContext): Endpoint {
  const { candidate } = need(ctx, "connection");
  return { server: candidate.server, tlsServerName: candidate.tlsServerName, credentials: need(ctx, "credentials") };
}
