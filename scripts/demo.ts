// The main job: bring up the example GitOps project's dev container with our Feature (a live cluster,
// the local registry, Flux following the workspace), then, inside it, build and push an image, commit a
// manifest that uses it, and watch the workload appear. Leaves the dev container and the cluster running.
import { cp, readFile } from "node:fs/promises";
import { execa } from "execa";
import { devcontainerUp, makeProject, sh } from "../test/support/devcontainer.js";
import { setup as serveOfficialFeatures, teardown as stopOfficialFeatures } from "../test/support/official-features.js";
import { readTestbed } from "../test/support/testbed.js";

const HELLO = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
        - name: hello
          image: localhost:5001/hello:1
          command: ["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
`;

async function inside(title: string, script: string): Promise<string> {
  console.log(`[demo] inside the dev container: ${title}`);
  const out = await sh(dir, script);
  const text = `${out.stdout}${out.stderr ? `\n${out.stderr}` : ""}`.trim();
  if (text) console.log(text);
  if (out.exitCode !== 0) throw new Error(`${title} failed (exit ${out.exitCode})`);
  return out.stdout;
}

let dir = "";

async function main(): Promise<void> {
  const testbed = readTestbed();
  // The official Features our Feature installs after are looked up on ghcr.io: served locally, offline.
  await serveOfficialFeatures();
  // devcontainer.json is JSON with comments; the example has whole-line comments only.
  const text = (await readFile("examples/gitops/.devcontainer/devcontainer.json", "utf8")).replace(/^\s*\/\/.*$/gm, "");
  const example = JSON.parse(text) as { image: string; features: Record<string, Record<string, string>>; remoteEnv: Record<string, string> };
  dir = await makeProject({
    image: example.image,
    options: { ...testbed.featureOptions, ...example.features["./kind-cluster"] },
    config: { remoteEnv: example.remoteEnv },
  });
  // Everything but the dev container's own folder: the bootstrap layout, the kind config, the example's age key.
  await cp("examples/gitops", dir, { recursive: true, filter: (source) => !source.includes("/.devcontainer") });
  // The project is a Git repository with one commit, as a developer's checkout is.
  await execa("bash", [
    "-c",
    `cd '${dir}' && git init -q -b main && git add -A && git -c user.name=demo -c user.email=demo@example.test commit -q -m 'the project'`,
  ]);

  console.log(`[demo] devcontainer up --workspace-folder ${dir}`);
  const up = await devcontainerUp(dir).finally(stopOfficialFeatures);
  // The devcontainer CLI prefixes a timestamp to the first line of each chunk of hook output.
  const lines = up.output.split("\n").map((l) => l.replace(/^\[[0-9TZ:.-]+\] /, ""));
  console.log(lines.filter((l) => /kind-cluster|^ [✓✗!] |^ {3}\S|^NAME|control-plane/.test(l)).join("\n"));
  if (up.exitCode !== 0) throw new Error(`devcontainer up failed (exit ${up.exitCode}); full output above`);
  console.log(`[demo] dev container ${up.containerId?.slice(0, 12)} up in ${up.seconds.toFixed(1)}s`);

  await inside("kubectl get nodes", "kubectl get nodes -o wide");
  await inside(
    "what the first commit deployed, through two levels of Kustomizations",
    "kubectl get kustomizations -A; kubectl -n demo get configmap welcome -o jsonpath='{.data.message}{\"\\n\"}'",
  );
  await inside(
    "the Secret committed encrypted, decrypted in the cluster",
    "kubectl -n demo get secret welcome-secret -o jsonpath='{.data.token}' | base64 -d; echo",
  );
  await inside(
    "build an image and push it to the local registry",
    `set -e; mkdir -p /tmp/hello && cd /tmp/hello && printf 'hello from the local registry\\n' > index.html && printf 'FROM ${example.image}\\nCOPY index.html /www/index.html\\n' > Dockerfile && DOCKER_BUILDKIT=0 docker build -q -t localhost:5001/hello:1 . && docker push -q localhost:5001/hello:1`,
  );
  const started = Date.now();
  await inside(
    "commit a Deployment that uses it (no push: the commit is enough)",
    `git config --global user.name demo; git config --global user.email demo@example.test; printf '%s' '${HELLO}' > clusters/local/hello.yaml && git add clusters/local/hello.yaml && git commit -q -m 'hello' && git log --oneline -2`,
  );
  await inside(
    "wait for the workload",
    "until [ \"$(kubectl get deployment hello -o jsonpath='{.status.availableReplicas}' 2>/dev/null)\" = 1 ]; do sleep 0.5; done; kubectl get deployment hello",
  );
  console.log(`[demo] commit -> Deployment available in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  await inside("it serves what was pushed", "kubectl exec deploy/hello -- busybox wget -qO- http://127.0.0.1:8080/");
  await inside(
    "a LoadBalancer Service: an external address, and its port on this container's localhost (what VS Code forwards to your browser)",
    "kubectl expose deployment hello --type=LoadBalancer --port=8080 >/dev/null && until curl -sf http://localhost:8080/; do sleep 0.2; done && kubectl get service hello",
  );
  await inside("kind-cluster status", "kind-cluster status");
  console.log(`[demo] open a shell: npx devcontainer exec --workspace-folder ${dir} bash`);
  console.log(`[demo] clean up:     docker rm -f ${up.containerId?.slice(0, 12)} && ${testbed.kind} delete cluster --name gitops`);
}

main().catch((error: unknown) => {
  console.error(`[demo] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
