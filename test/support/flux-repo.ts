/**
 * A team's Flux repository as `flux bootstrap` and fluxcd/flux2-kustomize-helm-example lay it out, for
 * the end-to-end tests and the benchmark: three levels of Flux Kustomizations below clusters/local.
 *
 *   clusters/local/flux-system/   gotk-components.yaml (given), gotk-sync.yaml (the team's remote:
 *                                 unreachable, ssh, a deploy key that does not exist), kustomization.yaml
 *   clusters/local/infrastructure.yaml   level 2: ./infrastructure, wait
 *   clusters/local/apps.yaml             level 2: ./apps/local, dependsOn infrastructure, postBuild
 *   apps/local/web.yaml                  level 3: ./apps/base/web, dependsOn infrastructure, substituteFrom
 *                                        the ConfigMap cluster-settings that infrastructure applies
 *   apps/base/web/                       the workload: a ConfigMap and a Deployment
 */

/** The team's remote in gotk-sync.yaml: a name that never resolves (RFC 2606), over SSH, with a key. */
export const TEAM_REMOTE = "ssh://git@git.team.invalid/platform/fleet.git";
export const WEB_NAMESPACE = "team";

const kustomizationYaml = (resources: string[]) =>
  `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${resources.map((r) => `  - ${r}\n`).join("")}`;

/** A Flux Kustomization of the workspace's source. */
export function fluxKustomization(name: string, spec: string): string {
  return `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ${name}
  namespace: flux-system
spec:
  interval: 1h
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
${spec
  .trim()
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
`;
}

const GOTK_SYNC = `# flux bootstrap's sync for a cloud cluster: the team's remote over SSH with a deploy key.
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ${TEAM_REMOTE}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/local
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`;

/** The workload's ConfigMap: `version` is what a commit deep in apps/base changes; `greeting` is substituted. */
export function webConfig(version: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: ${WEB_NAMESPACE}
data:
  version: "${version}"
  greeting: "\${greeting} from \${cluster_name}"
`;
}

/** The settings infrastructure applies and level 3 substitutes from. */
export function clusterSettings(greeting: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-settings
  namespace: flux-system
data:
  cluster_name: local
  greeting: ${greeting}
`;
}

/** A Deployment of an image every kind node already has (no pull). */
export function pauseDeployment(name: string, namespace: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: ${name}
          image: registry.k8s.io/pause:3.10
`;
}

/**
 * Every file of the repository but gotk-components.yaml, which the caller generates with the test bed's
 * flux (`components`: listed in flux-system/kustomization.yaml; without it the Feature installs Flux).
 */
export function bootstrapRepo(options: { components: boolean }): Record<string, string> {
  return {
    "clusters/local/flux-system/gotk-sync.yaml": GOTK_SYNC,
    "clusters/local/flux-system/kustomization.yaml": kustomizationYaml([...(options.components ? ["gotk-components.yaml"] : []), "gotk-sync.yaml"]),
    "clusters/local/infrastructure.yaml": fluxKustomization("infrastructure", "path: ./infrastructure\nwait: true"),
    "clusters/local/apps.yaml": fluxKustomization(
      "apps",
      "path: ./apps/local\ndependsOn:\n  - name: infrastructure\npostBuild:\n  substitute:\n    tier: local",
    ),
    "infrastructure/kustomization.yaml": kustomizationYaml(["namespace.yaml", "cluster-settings.yaml"]),
    "infrastructure/namespace.yaml": `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${WEB_NAMESPACE}\n`,
    "infrastructure/cluster-settings.yaml": clusterSettings("hello"),
    "apps/local/kustomization.yaml": kustomizationYaml(["web.yaml"]),
    "apps/local/web.yaml": fluxKustomization(
      "web",
      // ${tier} is apps' own postBuild substitution, applied to this object when apps applies it.
      "path: ./apps/base/web\ndependsOn:\n  - name: infrastructure\ncommonMetadata:\n  labels:\n    tier: ${tier}\npostBuild:\n  substituteFrom:\n    - kind: ConfigMap\n      name: cluster-settings",
    ),
    "apps/base/web/kustomization.yaml": kustomizationYaml(["configmap.yaml", "deployment.yaml", "extra.yaml"]),
    "apps/base/web/configmap.yaml": webConfig("1"),
    "apps/base/web/deployment.yaml": pauseDeployment("web", WEB_NAMESPACE),
    "apps/base/web/extra.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: ${WEB_NAMESPACE}\ndata:\n  note: removed by a later commit\n`,
  };
}

/** The command that writes gotk-components.yaml with the dev container's flux, as `flux bootstrap` would. */
export const gotkComponents = (components: string) =>
  `mkdir -p clusters/local/flux-system && flux install --export --components=${components} > clusters/local/flux-system/gotk-components.yaml`;
