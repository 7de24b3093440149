import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { execa } from "execa";
import { stringify } from "yaml";
import type { Testbed } from "./testbed.js";

/** Traefik as a cluster's ingress and Gateway API controller: namespace, RBAC, classes, Deployment, Service, Gateway. */
export const TRAEFIK_FIXTURES = resolve("test/fixtures/traefik");

/** The image name the fixtures carry in place of a real one. */
const PLACEHOLDER = "traefik";

/**
 * The fixtures rendered with the test bed's Traefik image in place of the placeholder `traefik:testbed`:
 * an overlay in a temporary folder whose `images` entry names it, built by the test bed's kubectl.
 */
export async function traefikManifests(testbed: Testbed): Promise<string> {
  if (!testbed.traefikImage) throw new Error("testbed.json names no traefikImage: run `npm run testbed` again");
  const at = testbed.traefikImage.lastIndexOf(":");
  const image = { name: PLACEHOLDER, newName: testbed.traefikImage.slice(0, at), newTag: testbed.traefikImage.slice(at + 1) };
  const dir = await mkdtemp(join(tmpdir(), "traefik-overlay-"));
  try {
    // kustomize takes no absolute path to a base.
    await writeFile(join(dir, "kustomization.yaml"), stringify({ resources: [relative(dir, TRAEFIK_FIXTURES)], images: [image] }));
    return (await execa(testbed.kubectl, ["kustomize", dir])).stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
