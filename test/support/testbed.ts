import { existsSync, readFileSync } from "node:fs";

/** What `npm run testbed` prepared: binaries, images and the Feature options that install offline. */
export interface Testbed {
  kindVersion: string;
  kubernetesVersion: string;
  kind: string;
  kubectl: string;
  nodeImage: string;
  baseImage: string;
  mirrorUrl: string;
  /** The folder the mirror serves (beside the binaries when the test bed does not name it). */
  mirrorDir?: string;
  dockerVersion: string;
  /**
   * The options that install the Feature from the mirror: its URL with allowInsecureMirror (plain http
   * on the Docker bridge), and the versions it serves the test bed's builds under (lib.sh's
   * mirror_version, e.g. v0.30.0-testbed), which install.sh does not pin.
   */
  featureOptions: Record<string, string | boolean> & { fluxComponents: string };
  /** The sops CLI (scripts/testbed/apps.sh); set SOPS_DISABLE_VERSION_CHECK=1, it asks GitHub otherwise. */
  sops: string;
  /** Debian's age-keygen, for the age keys sops encrypts to. */
  ageKeygen: string;
  /** Traefik's image, in the host's Docker (not in the node image: load it into a cluster). */
  traefikImage: string;
  /** The Gateway API CRDs (standard channel) at the version Traefik requires, one YAML stream. */
  gatewayApiCrds: string;
}

export const TESTBED_FILE = process.env.KIND_CLUSTER_TESTBED_FILE ?? ".testbed/testbed.json";

export function readTestbed(): Testbed {
  if (!existsSync(TESTBED_FILE)) throw new Error(`${TESTBED_FILE} is missing: run \`npm run testbed\` first`);
  const testbed = JSON.parse(readFileSync(TESTBED_FILE, "utf8")) as Testbed;
  // The test bed's flux CLI embeds only the controllers it could build: the default list would not install.
  if (!testbed.featureOptions.fluxComponents)
    throw new Error(`${TESTBED_FILE} names no fluxComponents (written before that option): run \`npm run testbed\` again (it reuses everything built)`);
  return testbed;
}

/** Host-side view of a cluster: its node containers, as kind labels them. */
export async function nodeContainers(cluster: string): Promise<Array<{ id: string; name: string; state: string }>> {
  const { execa } = await import("execa");
  const out = await execa("docker", [
    "ps",
    "-a",
    "--no-trunc",
    "--filter",
    `label=io.x-k8s.kind.cluster=${cluster}`,
    "--format",
    "{{.ID}} {{.Names}} {{.State}}",
  ]);
  return out.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [id = "", name = "", state = ""] = l.split(" ");
      return { id, name, state };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Deletes clusters from the host side with the test bed's kind (test clean-up). A flake of the test
 * bed's engine (Debian's Docker 20.10, runc 1.1.5, cgroup v1) can leave a pod's cgroup inside a node
 * FROZEN, and Docker then cannot kill the node ("did not receive an exit event"): thaw, and delete again.
 */
export async function deleteClusters(testbed: Testbed, ...names: string[]): Promise<void> {
  const { execa } = await import("execa");
  for (const name of names) {
    const deleted = await execa(testbed.kind, ["delete", "cluster", "--name", name], { reject: false });
    if (deleted.exitCode !== 0 && (await thawNodes(name)) > 0) await execa(testbed.kind, ["delete", "cluster", "--name", name], { reject: false });
  }
}

/** Thaws every frozen cgroup under a cluster's node containers (cgroup v1 freezer); returns how many. */
async function thawNodes(cluster: string): Promise<number> {
  const { readFile, readdir, writeFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  let thawed = 0;
  const visit = async (dir: string): Promise<void> => {
    const state = await readFile(join(dir, "freezer.state"), "utf8").catch(() => "THAWED");
    if (state.trim() !== "THAWED") {
      await writeFile(join(dir, "freezer.state"), "THAWED");
      thawed++;
    }
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (entry.isDirectory()) await visit(join(dir, entry.name));
  };
  for (const node of await nodeContainers(cluster)) await visit(`/sys/fs/cgroup/freezer/docker/${node.id}`);
  return thawed;
}

/** Removes the local registry and its volume, as the Feature names them (clean state before and after a test). */
export async function removeRegistry(): Promise<void> {
  const { execa } = await import("execa");
  const { REGISTRY_NAME, REGISTRY_VOLUME } = await import("../../src/registry.js");
  await execa("docker", ["rm", "-f", REGISTRY_NAME], { reject: false });
  await execa("docker", ["volume", "rm", REGISTRY_VOLUME], { reject: false });
}

/** The devcontainer project's Dockerfile: the base image plus a non-root user whose uid owns nothing. */
export function devUserDockerfile(base: string, extra = ""): string {
  return `FROM ${base}\nRUN useradd --create-home --uid 1234 --shell /bin/bash dev\n${extra}`;
}
