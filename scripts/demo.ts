// The main job: bring up the example GitOps project's dev container with our Feature, then ask
// kubectl inside it for the nodes. Leaves the dev container and the cluster running.
import { cp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { devcontainerUp, makeProject, sh } from "../test/support/devcontainer.js";
import { readTestbed } from "../test/support/testbed.js";

async function main(): Promise<void> {
  const testbed = readTestbed();
  // devcontainer.json is JSON with comments; the example has whole-line comments only.
  const text = (await readFile("examples/gitops/.devcontainer/devcontainer.json", "utf8")).replace(/^\s*\/\/.*$/gm, "");
  const example = JSON.parse(text) as {
    image: string;
    features: Record<string, Record<string, string>>;
  };
  const dir = await makeProject({
    image: example.image,
    options: { ...testbed.featureOptions, ...example.features["./kind-cluster"] },
  });
  await cp("examples/gitops/local", join(dir, "local"), { recursive: true });

  console.log(`[demo] devcontainer up --workspace-folder ${dir}`);
  const up = await devcontainerUp(dir);
  console.log(up.output.split("\n").filter((l) => /kind-cluster|^ [✓✗!] |^NAME|control-plane/.test(l)).join("\n"));
  if (up.exitCode !== 0) throw new Error(`devcontainer up failed (exit ${up.exitCode}); full output above`);
  console.log(`[demo] dev container ${up.containerId?.slice(0, 12)} up in ${up.seconds.toFixed(1)}s`);

  console.log("[demo] inside the dev container: kubectl get nodes");
  const nodes = await sh(dir, "kubectl get nodes -o wide");
  console.log(nodes.stdout || nodes.stderr);
  if (nodes.exitCode !== 0 || !/\sReady\s/.test(nodes.stdout)) throw new Error("kubectl get nodes did not show a Ready node");
  console.log(`[demo] open a shell: npx devcontainer exec --workspace-folder ${dir} bash`);
  console.log(`[demo] clean up:     docker rm -f ${up.containerId?.slice(0, 12)} && kind-cluster down (or: ${testbed.kind} delete cluster --name gitops)`);
}

main().catch((error: unknown) => {
  console.error(`[demo] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
