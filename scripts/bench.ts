// `npm run bench`: how much our hooks add to kind's own work, measured side by side on the test bed.
// Every figure is the median of several runs, timed inside the dev container (zone 1) where the hooks
// run. Prints a Markdown table and stores it in bench/RESULTS.md (`--no-write`: print only).
import { readFile, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { execa } from "execa";
import { devcontainerUp, imageRefs, removeContainer, removeImages, removeProjectImages, sh, writeFiles } from "../test/support/devcontainer.js";
import { bootstrapRepo, gotkComponents, WEB_NAMESPACE, webConfig } from "../test/support/flux-repo.js";
import { devProject } from "../test/support/project.js";
import { ensureBusyboxImage } from "../test/support/images.js";
import { setup as serveOfficialFeatures, teardown as stopOfficialFeatures } from "../test/support/official-features.js";
import { LOG_LIMIT_BYTES } from "../src/serve/runtime.js";
import { deleteClusters, nodeContainers, readTestbed, removeRegistry } from "../test/support/testbed.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FAST_RUNS = Number(process.env.BENCH_FAST_RUNS ?? 7);
const LOOP_RUNS = Number(process.env.BENCH_LOOP_RUNS ?? 5);
const GITOPS_RUNS = Number(process.env.BENCH_GITOPS_RUNS ?? 10);
const SOAK_COMMITS = Number(process.env.BENCH_SOAK_COMMITS ?? 300);
const testbed = readTestbed();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Runs a shell script in the dev container and returns its wall time in ms, measured inside. */
async function timed(dir: string, script: string): Promise<number> {
  const out = await sh(
    dir,
    `s=$(date +%s%N); { ${script}; } >/tmp/bench.log 2>&1 || { cat /tmp/bench.log; exit 1; }; e=$(date +%s%N); echo $(((e - s) / 1000000))`,
  );
  if (out.exitCode !== 0) throw new Error(`benchmark step failed: ${script}\n${out.stdout}\n${out.stderr}`);
  return Number(out.stdout.trim().split("\n").pop());
}

/** The median of each way's times, in the order of the ways. */
const medians = <const T extends readonly number[][]>(lists: T) => lists.map(median) as { -readonly [K in keyof T]: number };

async function sample(runs: number, fn: () => Promise<number>, between?: () => Promise<void>): Promise<number> {
  const [values] = await inTurns(runs, [{ run: fn, after: between }]);
  return median(values);
}

interface Way {
  run: (turn: number) => Promise<number>;
  after?: () => Promise<void>;
}

/**
 * Several ways of doing one thing, run in turns (A, B, C, A, B, C...) rather than all of A first: the
 * machine drifts over minutes (a new cluster took 20 s to 31 s here), and taking turns spreads that
 * drift over every way instead of charging it to whichever ran last. Returns each way's times.
 */
async function inTurns<const W extends readonly Way[]>(runs: number, ways: W): Promise<{ [K in keyof W]: number[] }> {
  const values: number[][] = ways.map(() => []);
  for (let turn = 1; turn <= runs; turn++) {
    for (const [w, way] of ways.entries()) {
      values[w]!.push(await way.run(turn));
      if (way.after) await way.after();
    }
  }
  return values as { [K in keyof W]: number[] };
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

const fmt = (ms: number, unit = "s") =>
  unit === "MB" || unit === "MB/s" ? `${ms.toFixed(0)} ${unit}` : unit === "ms" ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
/** `--only=ports`, `--only=gitops` or `--only=pause`: only those rows, merged into the stored table (each part's own rows can be run alone). */
const ONLY = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);

async function main(): Promise<void> {
  // The official Features our Feature installs after are looked up on ghcr.io: served locally, offline.
  await serveOfficialFeatures();
  try {
    await measure();
  } finally {
    await stopOfficialFeatures();
  }
}

async function measure(): Promise<void> {
  const rows: Row[] = [];
  const port = 6500;
  const name = "bench";
  await deleteClusters(testbed, name);
  // The tools container's workspace is a Git repository of the developer's (uid 1234): the GitOps figure commits in it.
  const dir = await devProject({ options: { createCluster: false }, files: { [BENCH_FILE]: configMap("start") } });
  await execa("bash", [
    "-c",
    `cd '${dir}' && git init -q -b main && git add -A && git -c user.name=bench -c user.email=bench@example.test commit -q -m start && chown -R 1234:1234 .`,
  ]);
  const up = await devcontainerUp(dir);
  if (up.exitCode !== 0) throw new Error(`devcontainer up failed:\n${up.output.slice(-3000)}`);
  const gateway = (await sh(dir, "ip route | awk '/^default/ {print $3}'")).stdout.trim();
  if (ONLY === "ports") return report([...rows, ...(await portsRows(dir, name))], [up.containerId], name);
  if (ONLY === "gitops") return report([...rows, ...(await gitopsRows(dir, name))], [up.containerId], name);
  const ours = `kind-cluster up --name ${name} --port ${port}`;
  const down = () => sh(dir, `kind-cluster down --name ${name}`).then(() => undefined);
  if (ONLY === "pause") {
    await sh(dir, `KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} ${ours}`);
    const recreate = await sample(RUNS, () => timed(dir, `kind delete cluster --name ${name} && KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} ${ours}`));
    return report(pauseRows(await pauseLoop(dir, name, ours), recreate), [up.containerId], name);
  }
  // By hand, two ways: the seed's recipe (API on the bridge gateway, reachable beyond the host), and the
  // equivalent of our default (API on loopback, the dev container joins the cluster's network).
  const kindConfig = (address: string) =>
    `printf 'kind: Cluster\\napiVersion: kind.x-k8s.io/v1alpha4\\nnetworking:\\n  apiServerPort: ${port}\\n  apiServerAddress: ${address}\\n' >/tmp/kind.yaml`;
  const create = `kind create cluster --name ${name} --image ${testbed.nodeImage} --config /tmp/kind.yaml --wait 3m`;
  const seedRecipe = `${kindConfig(gateway)} && ${create} && kubectl config set-cluster kind-${name} --server=https://${gateway}:${port} --tls-server-name=localhost && kubectl get nodes`;
  const loopbackRecipe = `${kindConfig("127.0.0.1")} && ${create} && { docker network connect kind "$(hostname)" 2>/dev/null || true; } && kind export kubeconfig --internal --name ${name} && kubectl get nodes`;

  console.error("[bench] new cluster: kind-cluster up vs kind create --wait + joining the network + kubeconfig (and the seed's recipe)");
  const deleteBench = () => deleteClusters(testbed, name);
  const creates = await inTurns(RUNS, [
    { run: () => timed(dir, loopbackRecipe), after: deleteBench },
    { run: () => timed(dir, seedRecipe), after: deleteBench },
    { run: () => timed(dir, `KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} ${ours}`), after: down },
  ]);
  console.error(`[bench]   by hand: ${creates[0].join(", ")} ms; the seed's recipe: ${creates[1].join(", ")} ms; kind-cluster up: ${creates[2].join(", ")} ms`);
  const [bareCreate, seedCreate, ourCreate] = medians(creates);
  rows.push({
    figure: "`kind-cluster up` creating a new cluster",
    ours: ourCreate,
    baseline: bareCreate,
    baselineName: "by hand, the same way: `kind create cluster --wait` (API on loopback), `docker network connect`, `kind export kubeconfig --internal`",
    target: "<= 1.03 x",
    met: ourCreate <= 1.03 * bareCreate,
  });
  rows.push({
    figure: "`kind-cluster up` creating a new cluster",
    ours: ourCreate,
    baseline: seedCreate,
    baselineName: "the seed's recipe: API on the bridge gateway + `kubectl config set-cluster`",
    target: "(reported)",
    met: true,
  });

  await sh(dir, `KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} ${ours}`);
  console.error("[bench] running cluster: kind-cluster up vs kubectl get nodes");
  const [ourRunning, getNodes] = medians(await inTurns(FAST_RUNS, [{ run: () => timed(dir, ours) }, { run: () => timed(dir, "kubectl get nodes") }]));
  rows.push({
    figure: "`kind-cluster up`, cluster already running (postStart)",
    ours: ourRunning,
    baseline: getNodes,
    baselineName: "`kubectl get nodes`",
    target: "<= 1.0 s",
    met: ourRunning <= 1000,
  });

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
  rows.push({
    figure: "rebuild with the cluster adopted (postCreate + postStart)",
    ours: adoption,
    baseline: recreate,
    baselineName: "re-creating the cluster",
    target: "<= 2 s",
    met: adoption <= 2000,
  });

  console.error("[bench] restart: stopped cluster back to Ready vs delete + re-create");
  const restart = await sample(RUNS, async () => {
    const nodes = await nodeContainers(name);
    await execa("docker", ["stop", ...nodes.map((n) => n.id)]);
    return timed(dir, ours);
  });
  rows.push({
    figure: "stopped cluster back to Ready",
    ours: restart,
    baseline: recreate,
    baselineName: "delete + re-create",
    target: "<= 0.5 x",
    met: restart <= 0.5 * recreate,
  });

  console.error("[bench] pause: kind-cluster stop, then up back to Ready; the memory a stopped one-node cluster gives back");
  rows.push(...pauseRows(await pauseLoop(dir, name, ours), recreate));

  console.error("[bench] registry inner loop: push to the local registry vs kind load docker-image");
  const loop = await registryLoop(dir, name);
  rows.push({
    figure: "inner loop: edit, build, image into the cluster, rolled out and serving (app on a 240 MB base)",
    ours: loop.ours,
    baseline: loop.peer,
    baselineName: "`kind load docker-image` instead of the push",
    target: "<= 0.5 x",
    met: loop.ours <= 0.5 * loop.peer,
  });

  rows.push(...(await gitopsRows(dir, name)));
  rows.push(...(await portsRows(dir, name)));

  console.error("[bench] CLI start-up");
  const [cli, node] = medians(await inTurns(FAST_RUNS * 2, [{ run: () => timed(dir, "kind-cluster --version") }, { run: () => timed(dir, "node -e 0") }]));
  rows.push({
    figure: "CLI start-up (`kind-cluster --version`)",
    ours: cli,
    baseline: node,
    baselineName: "`node -e 0`",
    target: "<= node + 80 ms",
    met: cli <= node + 80,
    unit: "ms",
  });

  const { added, installed } = await imageBytes(dir, up.containerId!);
  rows.push({
    figure: "image bytes the Feature adds (its layers)",
    ours: added / 1e6,
    baseline: installed / 1e6,
    baselineName: "the files it installs (binaries, CLI, Debian packages)",
    target: "<= 1.1 x",
    met: added <= 1.1 * installed,
    unit: "MB",
  });

  return report(rows, [...containers, up.containerId], name);
}

/** Issue 18's rows: `kind-cluster stop` then `up` back to Ready, and the memory a stopped node gives back. */
function pauseRows(pause: { resume: number; freed: number; nodeMemory: number }, recreate: number): Row[] {
  return [
    {
      figure: "stopped cluster back to Ready via `kind-cluster stop`/`up`",
      ours: pause.resume,
      baseline: recreate,
      baselineName: "delete + re-create",
      target: "<= 0.5 x",
      met: pause.resume <= 0.5 * recreate,
    },
    {
      figure: "memory the host gets back when a one-node cluster is stopped (MemAvailable, after 3 s)",
      ours: pause.freed / 1e6,
      baseline: pause.nodeMemory / 1e6,
      baselineName: "the node container's memory before the stop (`docker stats`)",
      target: "(reported)",
      met: true,
      unit: "MB",
    },
  ];
}

/** The GitOps rows: commit to applied, the soak (issue 19), three nested levels (issue 16). */
async function gitopsRows(dir: string, name: string): Promise<Row[]> {
  const rows: Row[] = [];
  console.error("[bench] GitOps: commit to applied");
  const applied = await gitopsLoop(dir, name);
  rows.push({
    figure: "GitOps: commit to applied (a ConfigMap at the new value in the cluster)",
    ours: applied,
    baseline: 60_000,
    baselineName: "Flux's default 1-minute interval (at most)",
    target: "<= 10 s",
    met: applied <= 10_000,
  });

  console.error(`[bench] soak: ${SOAK_COMMITS} commits, each applied in order; the services' memory and logs`);
  const soak = await soakLoop(dir);
  rows.push({
    figure: `soak: ${SOAK_COMMITS} commits, each applied in order: resident memory the services grew by (at rest, 20 s after the commits as before them: ${fmt(soak.rssBefore, "MB")} before; ${fmt(soak.busiest, "MB")} at most while busy)`,
    ours: soak.rssAfter - soak.rssBefore,
    baseline: 20,
    baselineName: "the target",
    target: "< 20 MB",
    met: soak.rssAfter - soak.rssBefore < 20,
    unit: "MB",
  });
  rows.push({
    figure: `soak: the largest service log after ${SOAK_COMMITS} commits`,
    ours: soak.largestLog / 1e6,
    baseline: LOG_LIMIT_BYTES / 1e6,
    baselineName: "the rotation limit (one previous file kept beside it)",
    target: "<= the limit",
    met: soak.largestLog <= LOG_LIMIT_BYTES,
    unit: "MB",
  });

  console.error("[bench] GitOps: commit to applied through three levels of Kustomizations");
  const nested = await nestedLoop(dir);
  rows.push({
    figure: "GitOps: commit to applied through three levels of nested Kustomizations (a bootstrap-shaped repository; a ConfigMap in apps/base)",
    ours: nested,
    baseline: applied,
    baselineName: "the same commit to a single-level folder (the row above)",
    target: "<= 2 s",
    met: nested <= 2_000,
  });

  return rows;
}

/** Removes what the benchmark made, then prints the table and stores it (unless --no-write). */
async function report(rows: Row[], containers: Array<string | undefined>, name: string): Promise<void> {
  for (const id of containers) await removeContainer(id);
  await deleteClusters(testbed, name);
  await removeRegistry();
  await removeImages((await imageRefs()).filter((ref) => /^(localhost:5001|bench)\/(app|ports-app):/.test(ref)));
  await removeProjectImages();

  const table = [
    "| figure | kind-cluster | compared with | baseline | target | met |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.figure} | ${fmt(r.ours, r.unit)} | ${r.baselineName} | ${fmt(r.baseline, r.unit)} | ${r.target} | ${r.met ? "yes" : "**no**"} |`),
  ].join("\n");
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Docker Engine ${(await execa("docker", ["version", "-f", "{{.Server.Version}}"])).stdout}, kind ${testbed.kindVersion}, Kubernetes ${testbed.kubernetesVersion} (test bed node image)`;
  const text = `# Benchmark\n\n${new Date().toISOString().slice(0, 10)}, ${machine}.\nMedians of ${RUNS} runs (${FAST_RUNS} for the fast figures, ${FAST_RUNS * 2} for start-up, ${LOOP_RUNS} for the inner loop, ${GITOPS_RUNS} commits), timed inside the dev container.\n\n${table}\n`;
  console.log(text);
  if (process.argv.includes("--no-write")) return;
  await writeFile("bench/RESULTS.md", ONLY ? merged(await readFile("bench/RESULTS.md", "utf8"), rows, table) : text);
}

/**
 * `--only=X` re-measures some rows: they replace the stored rows of the same figure (or are added), the
 * others stay as they were measured, and a line under the table says which rows are newer and when.
 */
function merged(stored: string, rows: Row[], table: string): string {
  const key = (figure: string) =>
    figure
      .replace(/\([^)]*\d[^)]*\)/g, "")
      .replace(/\s+/g, " ")
      .trim();
  const fresh = new Map(
    table
      .split("\n")
      .slice(2)
      .map((line, i) => [key(rows[i]!.figure), line]),
  );
  const lines = stored.trimEnd().split("\n");
  const out = lines.map((line) => {
    const figure = /^\| (.+?) \| /.exec(line)?.[1];
    const hit = figure === undefined ? undefined : fresh.get(key(figure));
    if (hit === undefined) return line;
    fresh.delete(key(figure!));
    return hit;
  });
  const lastRow = out.map((line) => line.startsWith("| ")).lastIndexOf(true);
  out.splice(lastRow + 1, 0, ...fresh.values());
  const note = `Re-measured on ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- --only=${ONLY}\`: ${rows.map((r) => key(r.figure)).join("; ")}.`;
  const kept = out.filter((line) => !line.startsWith(`Re-measured on `) || !line.includes(`--only=${ONLY}\``));
  // The note replaced leaves its blank line behind: one blank line between paragraphs, whatever ran before.
  const text = kept
    .join("\n")
    .trimEnd()
    .replace(/\n{3,}/g, "\n\n");
  return `${text}\n\n${note}\n`;
}

/**
 * Pause and resume: `kind-cluster stop`, the host's MemAvailable gained (against the node container's
 * own memory before the stop), then `up` back to Ready, timed. Medians of RUNS.
 */
async function pauseLoop(dir: string, name: string, up: string): Promise<{ resume: number; freed: number; nodeMemory: number }> {
  const freed: number[] = [];
  const nodeMemory: number[] = [];
  const resume = await sample(RUNS, async () => {
    const [node] = await nodeContainers(name);
    nodeMemory.push(await containerMemory(node!.id));
    const before = await memAvailable();
    await sh(dir, `kind-cluster stop --name ${name}`);
    await new Promise((r) => setTimeout(r, 3000)); // the kernel settles the freed pages
    freed.push((await memAvailable()) - before);
    return timed(dir, up);
  });
  const mb = (xs: number[]) => xs.map((b) => (b / 1e6).toFixed(0)).join(", ");
  console.error(`[bench]   stop/up: MemAvailable gained ${mb(freed)} MB; node memory ${mb(nodeMemory)} MB`);
  return { resume, freed: median(freed), nodeMemory: median(nodeMemory) };
}

/** The host's MemAvailable, in bytes (the benchmark runs on the Docker host). */
async function memAvailable(): Promise<number> {
  const kb = /^MemAvailable:\s+(\d+) kB$/m.exec(await readFile("/proc/meminfo", "utf8"))?.[1];
  return Number(kb) * 1024;
}

/** A container's memory use as `docker stats` reports it, in bytes. */
async function containerMemory(id: string): Promise<number> {
  const usage = (await execa("docker", ["stats", "--no-stream", "--format", "{{.MemUsage}}", id])).stdout.split("/")[0]!.trim();
  const m = /^([\d.]+)\s*([KMG]i?B|B)$/.exec(usage);
  const unit = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 }[m?.[2] ?? "B"] ?? 1;
  return Number(m?.[1] ?? 0) * unit;
}

function configMap(value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench\n  namespace: default\ndata:\n  value: "${value}"\n`;
}

/**
 * The developer's inner loop, both ways in one run, alternating: change the app's one file, build,
 * get the image into the cluster, roll out, until the new pod serves the change. The app sits on a
 * Debian base (the test bed's, about 240 MB), as most application images do.
 */
async function registryLoop(dir: string, name: string): Promise<{ ours: number; peer: number }> {
  const setup = await sh(dir, `KIND_CLUSTER_LOCAL_REGISTRY=true kind-cluster up --name ${name} --port 6500`);
  if (setup.exitCode !== 0) throw new Error(`kind-cluster up with the registry failed:\n${setup.stderr}`);
  const dockerfile = `FROM ${testbed.baseImage}\nCOPY index.html /www/index.html\nCMD ["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]\n`;
  await sh(dir, `mkdir -p /tmp/app && printf '${dockerfile}' > /tmp/app/Dockerfile`);
  const build = (tag: string, text: string) => `cd /tmp/app && printf '${text}' > index.html && DOCKER_BUILDKIT=0 docker build -q -t ${tag} . >/dev/null`;
  const serve = (deployment: string, image: string, text: string) =>
    `kubectl set image deployment/${deployment} app=${image} >/dev/null && kubectl rollout status deployment/${deployment} --timeout=180s >/dev/null && until [ "$(kubectl exec deploy/${deployment} -- busybox wget -qO- http://127.0.0.1:8080/ 2>/dev/null)" = "${text}" ]; do sleep 0.2; done`;
  const ours = (n: number) =>
    `${build(`localhost:5001/app:${n}`, `v${n}`)} && docker push -q localhost:5001/app:${n} >/dev/null && ${serve("app", `localhost:5001/app:${n}`, `v${n}`)}`;
  const peer = (n: number) =>
    `${build(`bench/app:${n}`, `v${n}`)} && kind load docker-image bench/app:${n} --name ${name} >/dev/null && ${serve("app-load", `bench/app:${n}`, `v${n}`)}`;
  await timed(
    dir,
    `${build("localhost:5001/app:0", "v0")} && docker push -q localhost:5001/app:0 >/dev/null && kubectl create deployment app --image=localhost:5001/app:0 >/dev/null`,
  );
  await timed(
    dir,
    `${build("bench/app:0", "v0")} && kind load docker-image bench/app:0 --name ${name} >/dev/null && kubectl create deployment app-load --image=bench/app:0 >/dev/null`,
  );
  await sh(dir, "kubectl rollout status deployment/app --timeout=180s; kubectl rollout status deployment/app-load --timeout=180s");
  const [oursMs, peerMs] = await inTurns(LOOP_RUNS, [{ run: (i) => timed(dir, ours(i)) }, { run: (i) => timed(dir, peer(100 + i)) }]);
  console.error(`[bench]   push: ${oursMs.join(", ")} ms; kind load: ${peerMs.join(", ")} ms`);
  return { ours: median(oursMs), peer: median(peerMs) };
}

/** Commit to applied: a ConfigMap's new value committed in the workspace, until the cluster holds it. */
async function gitopsLoop(dir: string, name: string): Promise<number> {
  const setup = await sh(dir, `KIND_CLUSTER_LOCAL_REGISTRY=true KIND_CLUSTER_GITOPS=flux kind-cluster up --name ${name} --port 6500`);
  if (setup.exitCode !== 0) throw new Error(`kind-cluster up with gitops failed:\n${setup.stderr}`);
  await sh(dir, "git config --global user.name bench && git config --global user.email bench@example.test");
  const values: number[] = [];
  for (let i = 1; i <= GITOPS_RUNS; i++) values.push(await commitApplied(dir, BENCH_FILE, configMap(`v${i}`), BENCH_VALUE, `v${i}`));
  console.error(`[bench]   commit to applied: ${values.join(", ")} ms`);
  return median(values);
}

const BENCH_FILE = "clusters/local/bench.yaml";
const BENCH_VALUE: Field = { object: "configmap/bench", path: "{.data.value}" };

/** A field of one object in the cluster: `-n team configmap/web-config`, `{.data.version}`. */
interface Field {
  object: string;
  path: string;
}

/**
 * One commit of a file's new text, timed until `field` in the cluster shows `value`. kubectl waits on a
 * watch: it sees the change as the API stores it, and takes no CPU from the cluster while it waits
 * (kubectl run in a loop, as this did up to 2026-11-30, took about a third of one core).
 */
function commitApplied(dir: string, file: string, text: string, field: Field, value: string): Promise<number> {
  return timed(
    dir,
    `printf '${text.replace(/\n/g, "\\n")}' > ${file} && git commit -q -am '${value}' && kubectl wait ${field.object} --for=jsonpath='${field.path}'=${value} --timeout=300s`,
  );
}

/** The resident memory of this container's service processes and their supervisor (MB), from /proc, and each one's. */
async function servicesRss(dir: string): Promise<{ total: number; each: string }> {
  const out = await sh(
    dir,
    "for p in $(pgrep -f 'kind-cluster[.]mjs (serve|supervise)'); do echo \"$(awk '/^VmRSS/ {print $2}' /proc/$p/status) $(tr '\\0' ' ' </proc/$p/cmdline | grep -oE '(serve|supervise) [^ ]*')\"; done",
  );
  const lines = out.stdout.split("\n").filter(Boolean);
  const kb = (line: string) => Number(line.split(" ")[0]);
  // "serve <dir>/<scope>/<kind>.<instance>.json" -> "<kind>.<instance>"; "supervise <dir>" -> "supervisor".
  const label = (line: string) => (line.includes(" supervise ") ? "supervisor" : (line.split("/").pop() ?? "").replace(/\.json$/, ""));
  const each = lines.map((l) => `${label(l)} ${(kb(l) / 1024).toFixed(1)}`).join(", ");
  return { total: lines.reduce((sum, l) => sum + kb(l), 0) / 1024, each };
}

/**
 * A few hundred commits, each waited for until the cluster applied it, against the services' resident
 * memory before and after (a leak in the Git source or the watch would show here) and the size of
 * their logs (bounded by rotation).
 */
async function soakLoop(dir: string): Promise<{ rssBefore: number; rssAfter: number; busiest: number; largestLog: number }> {
  const before = await restingRss(dir);
  console.error(`[bench]   soak: services at ${before.total.toFixed(1)} MB at rest before (${before.each})`);
  let busiest = 0;
  for (let i = 1; i <= SOAK_COMMITS; i++) {
    await commitApplied(dir, BENCH_FILE, configMap(`soak${i}`), BENCH_VALUE, `soak${i}`);
    if (i % 50 === 0 || i === SOAK_COMMITS) {
      const now = await servicesRss(dir);
      busiest = Math.max(busiest, now.total);
      console.error(`[bench]   soak: ${i} commits applied, services at ${now.total.toFixed(1)} MB (${now.each})`);
    }
  }
  const after = await restingRss(dir);
  console.error(`[bench]   soak: services at ${after.total.toFixed(1)} MB at rest after (${after.each})`);
  const logs = await sh(dir, `find "\${XDG_RUNTIME_DIR:-/tmp}"/kind-cluster* -name '*.log' -exec stat -c %s {} + 2>/dev/null | sort -n | tail -n 1`);
  return { rssBefore: before.total, rssAfter: after.total, busiest, largestLog: Number(logs.stdout.trim() || 0) };
}

/**
 * The services' memory once they have been idle a while. While busy, V8 lets garbage pile up in a heap
 * it grows, and gives it back after a few seconds without work: a leak stays at rest, garbage does not.
 */
async function restingRss(dir: string): Promise<{ total: number; each: string }> {
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  return servicesRss(dir);
}

/**
 * Apps one click away, on a cluster with the registry: an app already running (busybox's httpd, a
 * 256 MB file among its pages), then (1) a LoadBalancer Service applied until its port answers on the
 * dev container's localhost, against the same kind of Service until its node port answers from here
 * (kube-proxy's own part of the wait), and (2) the 256 MB file downloaded through the localhost forward,
 * against the same download straight from the node port.
 */
async function portsRows(dir: string, name: string): Promise<Row[]> {
  const setup = await sh(dir, `KIND_CLUSTER_NODE_IMAGE=${testbed.nodeImage} KIND_CLUSTER_LOCAL_REGISTRY=true kind-cluster up --name ${name} --port 6500`);
  if (setup.exitCode !== 0) throw new Error(`kind-cluster up with the registry failed:\n${setup.stderr}`);
  const base = await ensureBusyboxImage();
  const image = "localhost:5001/ports-app:1";
  const start =
    "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && busybox dd if=/dev/zero of=/tmp/www/big bs=1M count=256 2>/dev/null && exec httpd -f -p 8080 -h /tmp/www";
  await timed(
    dir,
    `mkdir -p /tmp/ports-app && cd /tmp/ports-app && printf 'FROM ${base}\\nCMD ["sh", "-c", "${start}"]\\n' > Dockerfile && DOCKER_BUILDKIT=0 docker build -q -t ${image} . >/dev/null && docker push -q ${image} >/dev/null && kubectl create deployment ports-app --image=${image} >/dev/null && kubectl rollout status deployment/ports-app --timeout=180s >/dev/null`,
  );
  const nodeIp = (await sh(dir, `kubectl get node ${name}-control-plane -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'`)).stdout.trim();
  const service = (svc: string, port: number) =>
    `printf 'apiVersion: v1\\nkind: Service\\nmetadata: {name: ${svc}, labels: {bench: ports}}\\nspec: {type: LoadBalancer, selector: {app: ports-app}, ports: [{port: ${port}, targetPort: 8080}]}\\n' | kubectl apply -f - >/dev/null`;
  const nodePort = (svc: string) => `$(kubectl get service ${svc} -o jsonpath='{.spec.ports[0].nodePort}')`;
  // Until the app's first page answers: a relay accepts before kube-proxy has the node port, so curl may see an empty reply first.
  const until = (url: string) => `until curl -sf -o /dev/null ${url}; do sleep 0.05; done`;
  const removeServices = async () => void (await sh(dir, "kubectl delete service -l bench=ports >/dev/null"));

  console.error("[bench] ports: Service applied -> localhost answering, vs -> its node port answering");
  const [local, direct] = await inTurns(FAST_RUNS, [
    { run: (i) => timed(dir, `${service(`pb-local-${i}`, 9100 + i)} && ${until(`http://localhost:${9100 + i}/`)}`), after: removeServices },
    { run: (i) => timed(dir, `${service(`pb-direct-${i}`, 9200 + i)} && ${until(`http://${nodeIp}:${nodePort(`pb-direct-${i}`)}/`)}`), after: removeServices },
  ]);
  console.error(`[bench]   localhost: ${local.join(", ")} ms; node port: ${direct.join(", ")} ms`);

  console.error("[bench] ports: a 256 MB download through the forward, vs straight from the node port");
  await timed(dir, `${service("pb-download", 9300)} && ${until("http://localhost:9300/")}`);
  const download = (url: string) => () => timed(dir, `curl -sf -o /dev/null ${url}`);
  const [forwarded, straight] = await inTurns(FAST_RUNS, [
    { run: download("http://localhost:9300/big") },
    { run: download(`http://${nodeIp}:${nodePort("pb-download")}/big`) },
  ]);
  console.error(`[bench]   forwarded: ${forwarded.join(", ")} ms; node port: ${straight.join(", ")} ms`);
  await removeServices();
  await sh(dir, "kubectl delete deployment ports-app");
  const mbps = (ms: number) => (256 * 1024 * 1024) / 1e6 / (ms / 1000);
  const [forwardedMs, straightMs] = [median(forwarded), median(straight)];
  return [
    {
      figure: "a LoadBalancer Service applied until its port answers on the dev container's localhost",
      ours: median(local),
      baseline: median(direct),
      baselineName: "the same until its node port answers from the dev container (kube-proxy's part)",
      target: "<= 1.5 s",
      met: median(local) <= 1500,
    },
    {
      figure: "one HTTP download (256 MB) through the localhost forward",
      ours: mbps(forwardedMs),
      baseline: mbps(straightMs),
      baselineName: "the same download straight from the node port",
      target: ">= 0.8 x",
      met: mbps(forwardedMs) >= 0.8 * mbps(straightMs),
      unit: "MB/s",
    },
  ];
}

/**
 * Commit to applied through three levels: the workspace becomes a team's bootstrap-shaped repository
 * (test/support/flux-repo.ts: flux-system -> apps -> web, web waiting on infrastructure), then a
 * ConfigMap deep in apps/base changes, commit after commit, until the cluster holds each value.
 */
async function nestedLoop(dir: string): Promise<number> {
  await writeFiles(dir, bootstrapRepo({ components: true }));
  await execa("chown", ["-R", "1234:1234", dir]);
  const layout = await sh(
    dir,
    `set -e; ${gotkComponents(testbed.featureOptions.fluxComponents)}; git rm -q ${BENCH_FILE}; git add -A; git commit -qm 'bootstrap layout'`,
  );
  if (layout.exitCode !== 0) throw new Error(`committing the bootstrap layout failed:\n${layout.stderr}`);
  const settled = await timed(
    dir,
    `until [ "$(kubectl -n ${WEB_NAMESPACE} get configmap web-config -o jsonpath='{.data.greeting}' 2>/dev/null)" = "hello from local" ]; do sleep 0.2; done`,
  );
  console.error(`[bench]   the bootstrap layout applied through every level in ${settled} ms`);
  const version: Field = { object: `-n ${WEB_NAMESPACE} configmap/web-config`, path: "{.data.version}" };
  const values: number[] = [];
  for (let i = 1; i <= GITOPS_RUNS; i++) values.push(await commitApplied(dir, "apps/base/web/configmap.yaml", webConfig(`n${i}`), version, `n${i}`));
  console.error(`[bench]   commit to applied, three levels: ${values.join(", ")} ms`);
  return median(values);
}

/**
 * What the Feature adds to the image (the size of its layers) against what it installs: our binaries
 * and CLI, and the files of the Debian packages it added (Node.js, socat...). The difference is waste
 * (apt's lists and caches, temporary files).
 */
async function imageBytes(dir: string, container: string): Promise<{ added: number; installed: number }> {
  const image = (await execa("docker", ["inspect", "-f", "{{.Config.Image}}", container])).stdout.trim();
  const history = (await execa("docker", ["history", "--human=false", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", image])).stdout.split("\n");
  const added = history.filter((l) => l.includes("dev-container-features")).reduce((sum, l) => sum + Number(l.split("\t")[0]), 0);
  const basePackages = (await execa("docker", ["run", "--rm", testbed.baseImage, "dpkg-query", "-W", "-f", "${Package}\\n"])).stdout.split("\n");
  const script = [
    "files() { for f in /usr/local/bin/kind /usr/local/bin/kubectl /usr/local/bin/docker /usr/local/bin/flux /usr/local/bin/helm /usr/local/bin/kind-cluster; do [ -f $f ] && echo $f; done; find /usr/local/share/kind-cluster -type f; }",
    `for p in $(dpkg-query -W -f '\${Package}\n' | grep -vxF -e '${basePackages.join("' -e '")}'); do dpkg -L $p; done > /tmp/pkgfiles`,
    '{ files; cat /tmp/pkgfiles; } | sort -u | while read -r f; do [ -f "$f" ] && [ ! -L "$f" ] && stat -c %s "$f"; done | awk \'{s+=$1} END {print s}\'',
  ].join("\n");
  const installed = Number((await sh(dir, script)).stdout.trim());
  return { added, installed };
}

main().catch((error: unknown) => {
  console.error(`[bench] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
