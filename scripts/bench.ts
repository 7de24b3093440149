// `npm run bench`: how much our hooks add to kind's own work, measured side by side on the test bed.
// Every figure is the median of several runs, timed inside the dev container (zone 1) where the hooks
// run. Prints a Markdown table; `--write` also stores it in bench/RESULTS.md.
import { writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { execa } from "execa";
import { devcontainerUp, removeContainer, sh } from "../test/support/devcontainer.js";
import { devProject, upDevProject } from "../test/support/project.js";
import { deleteClusters, nodeContainers, readTestbed } from "../test/support/testbed.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FAST_RUNS = Number(process.env.BENCH_FAST_RUNS ?? 7);
const testbed = readTestbed();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Runs a shell script in the dev container and returns its wall time in ms, measured inside. */
async function timed(dir: string, script: string): Promise<number> {
  const out = await sh(dir, `s=$(date +%s%N); { ${script}; } >/tmp/bench.log 2>&1 || { cat /tmp/bench.log; exit 1; }; e=$(date +%s%N); echo $(((e - s) / 1000000))`);
  if (out.exitCode !== 0) throw new Error(`benchmark step failed: ${script}\n${out.stdout}\n${out.stderr}`);
  return Number(out.stdout.trim().split("\n").pop());
}

async function sample(runs: number, fn: () => Promise<number>, between?: () => Promise<void>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) {
    values.push(await fn());
    if (between) await between();
  }
  return median(values);
}

interface Row {
  figure: string;
  ours: number;
  baseline: number;
  baselineName: string;
  target: string;
  met: boolean;
  unit?: string;
}

const fmt = (ms: number, unit = "s") => (unit === "MB" ? `${ms.toFixed(0)} MB` : unit === "ms" ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);

async function main(): Promise<void> {
  const rows: Row[] = [];
  const port = 6500;
  const name = "bench";
  await deleteClusters(testbed, name);
  const { dir, up } = await upDevProject({ options: { createCluster: false } });
  if (up.exitCode !== 0) throw new Error(`devcontainer up failed:\n${up.output.slice(-3000)}`);
  const gateway = (await sh(dir, "ip route | awk '/^default/ {print $3}'")).stdout.trim();
  const ours = `kind-cluster up --name ${name} --port ${port}`;
  const down = () => sh(dir, `kind-cluster down --name ${name}`).then(() => undefined);
  const kindConfig = `printf 'kind: Cluster\\napiVersion: kind.x-k8s.io/v1alpha4\\nnetworking:\\n  apiServerPort: ${port}\\n  apiServerAddress: ${gateway}\\n' >/tmp/kind.yaml`;
  const bare = `${kindConfig} && kind create cluster --name ${name} --image ${testbed.nodeImage} --config /tmp/kind.yaml --wait 3m && kubectl config set-cluster kind-${name} --server=https://${gateway}:${port} --tls-server-name=localhost && kubectl get nodes`;

  console.error("[bench] new cluster: kind-cluster up vs kind create --wait + kubeconfig patch");
  const bareCreate = await sample(RUNS, () => timed(dir, bare), () => deleteClusters(testbed, name));
  const ourCreate = await sample(RUNS, () => timed(dir, `KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} ${ours}`), down);
  rows.push({ figure: "`kind-cluster up` creating a new cluster", ours: ourCreate, baseline: bareCreate, baselineName: "`kind create cluster --wait` + kubeconfig patch", target: "<= 1.03 x", met: ourCreate <= 1.03 * bareCreate });

  await sh(dir, `KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} ${ours}`);
  console.error("[bench] running cluster: kind-cluster up vs kubectl get nodes");
  const ourRunning = await sample(FAST_RUNS, () => timed(dir, ours));
  const getNodes = await sample(FAST_RUNS, () => timed(dir, "kubectl get nodes"));
  rows.push({ figure: "`kind-cluster up`, cluster already running (postStart)", ours: ourRunning, baseline: getNodes, baselineName: "`kubectl get nodes`", target: "<= 1.0 s", met: ourRunning <= 1000 });

  console.error("[bench] rebuild: hook time with the cluster adopted vs re-creating it");
  const project = await devProject({ options: { clusterName: name, apiServerPort: String(port) } });
  const containers: Array<string | undefined> = [];
  const adoption = await sample(RUNS, async () => {
    const result = await devcontainerUp(project, "--remove-existing-container");
    containers.push(result.containerId);
    const m = [...result.output.matchAll(/cluster bench is ready in ([\d.]+)s/g)].map((x) => Number(x[1]) * 1000);
    if (m.length === 0) throw new Error(`no hook timing in devcontainer up output:\n${result.output.slice(-2000)}`);
    return m.reduce((a, b) => a + b, 0); // postCreate + postStart
  });
  const recreate = await sample(RUNS, () => timed(dir, `kind delete cluster --name ${name} && KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} ${ours}`));
  rows.push({ figure: "rebuild with the cluster adopted (postCreate + postStart)", ours: adoption, baseline: recreate, baselineName: "re-creating the cluster", target: "<= 2 s", met: adoption <= 2000 });

  console.error("[bench] restart: stopped cluster back to Ready vs delete + re-create");
  const restart = await sample(RUNS, async () => {
    const nodes = await nodeContainers(name);
    await execa("docker", ["stop", ...nodes.map((n) => n.id)]);
    return timed(dir, ours);
  });
  rows.push({ figure: "stopped cluster back to Ready", ours: restart, baseline: recreate, baselineName: "delete + re-create", target: "<= 0.5 x", met: restart <= 0.5 * recreate });

  console.error("[bench] CLI start-up");
  const cli = await sample(FAST_RUNS * 2, () => timed(dir, "kind-cluster --version"));
  const node = await sample(FAST_RUNS * 2, () => timed(dir, "node -e 0"));
  rows.push({ figure: "CLI start-up (`kind-cluster --version`)", ours: cli, baseline: node, baselineName: "`node -e 0`", target: "<= node + 80 ms", met: cli <= node + 80, unit: "ms" });

  const size = async (image: string) => Number((await execa("docker", ["image", "inspect", "-f", "{{.Size}}", image])).stdout) / 1e6;
  const featureImage = (await execa("docker", ["inspect", "-f", "{{.Config.Image}}", up.containerId!])).stdout.trim();
  const base = await size(testbed.baseImage);
  const added = (await size(featureImage)) - base;
  rows.push({ figure: "image size added by the Feature (non-root user layer included)", ours: added, baseline: base, baselineName: "the Debian base image", target: "(reported)", met: true, unit: "MB" });

  for (const id of [...containers, up.containerId]) await removeContainer(id);
  await deleteClusters(testbed, name);

  const table = [
    "| figure | kind-cluster | compared with | baseline | target | met |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.figure} | ${fmt(r.ours, r.unit)} | ${r.baselineName} | ${fmt(r.baseline, r.unit)} | ${r.target} | ${r.met ? "yes" : "**no**"} |`),
  ].join("\n");
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Docker Engine ${(await execa("docker", ["version", "-f", "{{.Server.Version}}"])).stdout}, kind ${testbed.kindVersion}, Kubernetes ${testbed.kubernetesVersion} (test bed node image)`;
  const report = `# Benchmark\n\n${new Date().toISOString().slice(0, 10)}, ${machine}.\nMedians of ${RUNS} runs (${FAST_RUNS} for the fast figures, ${FAST_RUNS * 2} for start-up), timed inside the dev container.\n\n${table}\n`;
  console.log(report);
  if (process.argv.includes("--write")) await writeFile("bench/RESULTS.md", report);
}

main().catch((error: unknown) => {
  console.error(`[bench] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
