/**
 * Flux's controllers, as the flux CLI names them (`flux install --components`), and the kinds each one
 * serves. No imports: options.ts validates the fluxComponents option with it at start-up. Pure.
 */

/** What `flux install` and `flux bootstrap` install when not told otherwise. */
export const FLUX_DEFAULT_COMPONENTS = ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"] as const;
/** What `flux install --components-extra` accepts (flux v2.7 and later). */
const FLUX_EXTRA_COMPONENTS = ["image-reflector-controller", "image-automation-controller", "source-watcher"] as const;
/** The loop itself: a source to fetch the workspace, a Kustomization to apply it. */
const REQUIRED = ["source-controller", "kustomize-controller"] as const;

/** The option's rule: what is accepted, for its error message. */
export const COMPONENTS_ACCEPTED = `a comma-separated list of Flux controllers from ${[...FLUX_DEFAULT_COMPONENTS, ...FLUX_EXTRA_COMPONENTS].join(", ")}, with ${REQUIRED.join(" and ")}, each once`;

/** "a, b" -> ["a", "b"]; undefined when the list is not acceptable. */
export function parseComponents(text: string): string[] | undefined {
  const names = text.split(",").map((s) => s.trim());
  const known: readonly string[] = [...FLUX_DEFAULT_COMPONENTS, ...FLUX_EXTRA_COMPONENTS];
  if (names.some((n) => !known.includes(n))) return undefined;
  if (new Set(names).size !== names.length) return undefined;
  if (!REQUIRED.every((r) => names.includes(r))) return undefined;
  return names;
}

/** The API group of each kind a controller serves, and the controller. */
const SERVED_BY: Record<string, string> = {
  "helm.toolkit.fluxcd.io": "helm-controller",
  "notification.toolkit.fluxcd.io": "notification-controller",
  "image.toolkit.fluxcd.io": "image-reflector-controller",
};
/** Kinds of image.toolkit.fluxcd.io that the automation controller serves (the others are the reflector's). */
const AUTOMATION_KINDS = new Set(["ImageUpdateAutomation"]);

/**
 * The controller that serves a kind of a Flux API group, when it is one that may be left out (the
 * source and kustomize controllers always run). `no matches for kind "HelmRelease" in version
 * "helm.toolkit.fluxcd.io/v2"` -> helm-controller.
 */
export function controllerFor(kind: string, apiVersion: string): string | undefined {
  const group = apiVersion.split("/")[0] ?? "";
  const controller = SERVED_BY[group];
  if (controller === "image-reflector-controller" && AUTOMATION_KINDS.has(kind)) return "image-automation-controller";
  return controller;
}
