import { kubeApi, type Endpoint, type KubeApi } from "./apiserver.js";
import { kindCli, type KindTool } from "./cluster/kind.js";
import { dockerEngine } from "./engine/docker.js";
import type { ContainerEngine } from "./engine/engine.js";
import { gitopsEngine } from "./gitops/index.js";
import type { GitOpsEngine } from "./gitops/engine.js";
import { once } from "./once.js";
import { learnSelf, type Self } from "./route/self.js";
import { createServices, type Services } from "./serve/daemon.js";

/**
 * What a command drives, handed to it as kind hands its provider to every action: the container
 * engine (zone 2), kind (zone 3's creator), the API client, the GitOps engine, this container's
 * services (zone 1), and what this container is (learned once, on first use). Tests hand in fakes.
 */
export interface Engines {
  readonly container: ContainerEngine;
  readonly kind: KindTool;
  readonly api: (endpoint: Endpoint) => KubeApi;
  readonly gitops: (name: string) => GitOpsEngine;
  readonly services: Services;
  /** This dev container as the engine sees it; learned on first use, then kept for the run. */
  self(): Promise<Self>;
}

export function realEngines(env: NodeJS.ProcessEnv = process.env): Engines {
  const container = dockerEngine(env);
  return { container, kind: kindCli, api: kubeApi, gitops: gitopsEngine, services: createServices(), self: once(() => learnSelf(container)) };
}
