import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devcontainerUp, removeContainer, removeImages, sh, type UpResult } from "../support/devcontainer.js";
import { ensureBusyboxImage } from "../support/images.js";
import { commitWorkspace, devProject } from "../support/project.js";
import { deleteClusters, readTestbed, removeRegistry, type Testbed } from "../support/testbed.js";
import { hostRoutes, traefikManifests } from "../support/traefik.js";

/**
 * Apps one click away, end to end, as the non-root user of one dev container and one cluster: an app
 * built here and pushed to the local registry behind LoadBalancer Services gets external addresses and
 * answers on localhost; Services come, collide, move and go; annotations opt Services in; bad input is
 * named while the rest works; another implementation's Services are left alone; Traefik, installed by
 * a commit, routes by host name (Ingress and HTTPRoute) behind a Kustomization that waits for its
 * address; the relays outlive a node restart and come back after a rebuild. The container runs with
 * net.ipv4.ip_unprivileged_port_start=1024, so ports below 1024 are privileged for its user.
 */
const CLUSTER = "ports";
const NODE = `${CLUSTER}-control-plane`;
const GITOPS_PATH = "clusters/local";
const IMAGE = "localhost:5001/ports-app:1";
let testbed: Testbed;
let dir = "";
let up: UpResult;
let nodeIp = "";
const containers: Array<string | undefined> = [];
const timings: Record<string, number> = {};
const pushed: string[] = [IMAGE];

/** Runs in the dev container and expects success; returns stdout. */
async function run(script: string): Promise<string> {
  const out = await sh(dir, script);
  expect(out.exitCode, `${script}\n${out.stdout}\n${out.stderr}`).toBe(0);
  return out.stdout;
}

const apply = (yaml: string) => run(`kubectl apply -f - <<'EOF'\n${yaml}\nEOF`);

/** busybox's httpd answering TEXT on 8080; one image for every app of this file. */
function deployment(name: string, text: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: default}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - name: web
          image: ${IMAGE}
          env: [{name: TEXT, value: "${text}"}]
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}`;
}

interface ServiceSpec {
  app?: string;
  type?: string;
  ports: number[];
  annotation?: string;
  loadBalancerClass?: string;
}

function service(name: string, spec: ServiceSpec): string {
  const annotations = spec.annotation === undefined ? "" : `\n  annotations: {kind-cluster.dev/forward: "${spec.annotation}"}`;
  const lbClass = spec.loadBalancerClass ? `\n  loadBalancerClass: ${spec.loadBalancerClass}` : "";
  const ports = spec.ports.map((p) => `{name: p${p}, port: ${p}, targetPort: 8080}`).join(", ");
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: default${annotations}
spec:
  type: ${spec.type ?? "LoadBalancer"}${lbClass}
  selector: {app: ${spec.app ?? "hello"}}
  ports: [${ports}]`;
}

/** GET in the dev container: the body, or curl's exit code and the seconds it took when it failed. */
async function get(url: string): Promise<{ ok: boolean; body: string; code: number; seconds: number }> {
  // A body file of its own each time: curl leaves a file untouched when nothing arrives.
  const out = await sh(
    dir,
    `b=$(mktemp); s=$(date +%s%N); curl -sS -m 5 -o "$b" -w '%{http_code}' '${url}'; rc=$?; e=$(date +%s%N); echo " $rc $(((e - s) / 1000000))"; cat "$b"; rm -f "$b"`,
  );
  const [first = "", ...rest] = out.stdout.split("\n");
  const [status = "", rc = "1", ms = "0"] = first.trim().split(" ");
  return { ok: rc === "0" && status === "200", body: rest.join("\n").trim(), code: Number(rc), seconds: Number(ms) / 1000 };
}

/** Polls `check` until it holds; returns the seconds it took (recorded under `what`). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) {
      timings[what] = (Date.now() - start) / 1000;
      return timings[what];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s: ${what}`);
}

const answers =
  (port: number, text: string, host = "localhost") =>
  async () => {
    const r = await get(`http://${host}:${port}/`);
    return r.ok && r.body === text;
  };
const refused = (port: number) => async () => (await get(`http://localhost:${port}/`)).code === 7;

interface StatusForward {
  service: string;
  port: number;
  local: number;
  url: string;
  note?: string;
}
interface Status {
  ports: { forwards: StatusForward[]; problems: Array<{ service: string; port?: number; message: string; fix: string }>; lines: { loadBalancers: string[] } };
}

async function status(): Promise<Status> {
  return JSON.parse((await sh(dir, "kind-cluster status --json")).stdout) as Status;
}

async function forwardOf(name: string, port: number): Promise<StatusForward | undefined> {
  return (await status()).ports.forwards.find((f) => f.service === `default/${name}` && f.port === port);
}

const ingressOf = async (namespace: string, name: string) =>
  (await sh(dir, `kubectl get service -n ${namespace} ${name} -o jsonpath='{.status.loadBalancer.ingress}'`)).stdout.trim();

/** Writes files into the workspace as its owner (uid 1234) and commits them in the dev container. */
async function commit(message: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  await execa("chown", ["-R", "1234:1234", dir]);
  await run(`git add -A && git commit -q -m '${message}'`);
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
  await removeRegistry();
  dir = await devProject({
    options: { clusterName: CLUSTER, apiServerPort: "6491", localRegistry: true, gitops: "flux", gitopsPath: GITOPS_PATH },
    config: { runArgs: ["--sysctl", "net.ipv4.ip_unprivileged_port_start=1024"] },
    files: { [`${GITOPS_PATH}/placeholder.yaml`]: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: placeholder, namespace: default}\n" },
  });
  await commitWorkspace(dir);
  up = await devcontainerUp(dir);
  containers.push(up.containerId);
  await sh(dir, "git config --global user.name dev && git config --global user.email dev@example.test");
  nodeIp = (await sh(dir, `kubectl get node ${NODE} -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'`)).stdout.trim();
});

afterAll(async () => {
  console.log(`[e2e] ports: ${JSON.stringify(timings)}`);
  for (const id of containers) await removeContainer(id);
  await deleteClusters(testbed, CLUSTER);
  await removeRegistry();
  await removeImages(pushed);
});

describe("LoadBalancer Services: an address, and every port on localhost", () => {
  it("up starts the ports service before the GitOps stage", async () => {
    expect(up.exitCode, up.output.slice(-4000)).toBe(0);
    expect(up.output).toMatch(/✓ ports\s+0 forwards, 0 load balancers \(service started\)/);
    expect(up.output.indexOf("✓ ports")).toBeLessThan(up.output.indexOf("✓ gitops"));
    expect(nodeIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it("an app built here and pushed to the local registry, behind LoadBalancer Services: each gets the node's address, each port answers on localhost", async () => {
    const base = await ensureBusyboxImage();
    const dockerfile = `FROM ${base}\\nCMD ["sh", "-c", "mkdir -p /tmp/www && echo \\"$TEXT\\" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]\\n`;
    await run(
      `set -e; mkdir -p /tmp/app && cd /tmp/app && printf '${dockerfile}' > Dockerfile && DOCKER_BUILDKIT=0 docker build -q -t ${IMAGE} . && docker push -q ${IMAGE}`,
    );
    await apply(deployment("hello", "hello"));
    await run("kubectl rollout status deployment/hello --timeout=120s");

    const applied = Date.now();
    await apply(`${service("hello", { ports: [8081] })}\n---\n${service("hello-two", { ports: [8082, 8083] })}`);
    await until(
      "Services applied -> both have the node's address",
      async () => (await ingressOf("default", "hello")).includes(nodeIp) && (await ingressOf("default", "hello-two")).includes(nodeIp),
    );
    for (const port of [8081, 8082, 8083]) await until(`Services applied -> localhost:${port} answers`, answers(port, "hello"));
    timings["Services applied -> every port answering"] = (Date.now() - applied) / 1000;
    expect(JSON.parse(await ingressOf("default", "hello"))).toEqual([{ ip: nodeIp, ipMode: "VIP" }]);
    expect(await run("kubectl get service hello -o custom-columns=IP:.status.loadBalancer.ingress[0].ip --no-headers")).toBe(nodeIp);
    const text = (await sh(dir, "kind-cluster status")).stdout;
    expect(text).toContain("forward               default/hello 8081 (p8081) -> http://localhost:8081\n");
    expect(text).toContain(`load balancer         default/hello ${nodeIp}\n`);
  });

  it("two Services on one port: the second is forwarded where status says, each to its own app", async () => {
    await apply(deployment("other", "other"));
    await run("kubectl rollout status deployment/other --timeout=120s");
    await apply(service("dup", { app: "other", ports: [8081] }));
    await until("second Service on 8081 -> forwarded", async () => (await forwardOf("dup", 8081)) !== undefined);
    const dup = (await forwardOf("dup", 8081))!;
    expect([8081, 8082, 8083]).not.toContain(dup.local);
    expect(dup).toMatchObject({ url: `http://localhost:${dup.local}`, note: "8081 is taken by default/hello" });
    await until("second Service -> answers on its port", answers(dup.local, "other"));
    expect((await get("http://localhost:8081/")).body).toBe("hello");
    expect((await sh(dir, "kind-cluster status")).stdout).toContain(
      `forward               default/dup 8081 (p8081) -> http://localhost:${dup.local}; 8081 is taken by default/hello`,
    );
  });

  it("a deleted Service stops answering; a changed port moves", async () => {
    const dup = (await forwardOf("dup", 8081))!;
    await run("kubectl delete service dup");
    await until("Service deleted -> its local port refuses", refused(dup.local));
    await run(`kubectl patch service hello-two --type=json -p '[{"op":"replace","path":"/spec/ports/1/port","value":8093}]'`);
    await until("port changed -> the new port answers", answers(8093, "hello"));
    await until("port changed -> the old port refuses", refused(8083));
    expect((await get("http://localhost:8082/")).body).toBe("hello");
  });

  it("every relay listens on the dev container's 127.0.0.1, nowhere else", async () => {
    const forwarded = new Set((await status()).ports.forwards.map((f) => f.local));
    const listening = (await run("ss -Hltn"))
      .split("\n")
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/)[3]!)
      .filter((address) => forwarded.has(Number(address.split(":").pop())));
    expect(listening.sort()).toEqual([...forwarded].map((p) => `127.0.0.1:${p}`).sort());
  });
});

describe("other Services by annotation; bad input named while the others keep working", () => {
  it("a ClusterIP Service on a local port of its own (through a NodePort companion it owns), a NodePort Service with true", async () => {
    await apply(
      `${service("hello-internal", { type: "ClusterIP", ports: [80], annotation: "9000" })}\n---\n${service("hello-np", { type: "NodePort", ports: [8085], annotation: "true" })}`,
    );
    await until("ClusterIP Service annotated -> localhost:9000 answers", answers(9000, "hello"));
    await until("NodePort Service annotated -> localhost:8085 answers", answers(8085, "hello"));
    const companion = JSON.parse(await run("kubectl get service kc-forward-hello-internal -o json"));
    expect(companion.spec.type).toBe("NodePort");
    expect(companion.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: "Service", name: "hello-internal" })]);
    // Without the annotation, the forward and the companion go.
    await run("kubectl annotate service hello-internal kind-cluster.dev/forward-");
    await until("annotation removed -> localhost:9000 refuses", refused(9000));
    await until("annotation removed -> companion deleted", async () => (await sh(dir, "kubectl get service kc-forward-hello-internal")).exitCode !== 0);
  });

  it("a privileged port, a port held by another process, a bad annotation, a Service without endpoints: each named with its fix", async () => {
    // Another process of the dev container holds 8095.
    await run(`nohup node -e "require('net').createServer().listen(8095, '127.0.0.1')" >/dev/null 2>&1 & echo $! > /tmp/holder.pid; sleep 0.5`);
    try {
      await apply(
        [
          service("hello-web", { ports: [80] }),
          service("hello-held", { ports: [8095] }),
          service("hello-bad", { ports: [8096], annotation: "8096:70000" }),
          service("nobody", { app: "nobody", ports: [8097] }),
        ].join("\n---\n"),
      );
      const problem = async (name: string) => (await status()).ports.problems.find((p) => p.service === `default/${name}`);
      await until("bad input -> all four named", async () =>
        (await Promise.all(["hello-web", "hello-held", "hello-bad", "nobody"].map(problem))).every(Boolean),
      );

      const privileged = (await problem("hello-web"))!;
      expect(privileged.message).toBe(
        "port 80 is privileged in this dev container (net.ipv4.ip_unprivileged_port_start is 1024, and the service runs as uid 1234); forwarded on localhost:8080 instead",
      );
      expect(privileged.fix).toContain('"runArgs": ["--sysctl", "net.ipv4.ip_unprivileged_port_start=0"]');
      expect((await get("http://localhost:8080/")).body).toBe("hello");

      const held = (await problem("hello-held"))!;
      expect(held.message).toMatch(/^local port 8095 is held by another process in this dev container; forwarded on localhost:(\d+) instead$/);
      const heldAt = Number(/localhost:(\d+)/.exec(held.message)![1]);
      expect((await get(`http://localhost:${heldAt}/`)).body).toBe("hello");

      expect((await problem("hello-bad"))!.message).toBe("annotation kind-cluster.dev/forward: local port 70000 is out of range (1-65535); not forwarded");
      expect((await problem("nobody"))!.message).toMatch(/^no ready endpoint: /);
      // Its forward answers with a clean close at once, not a hang.
      const empty = await get("http://localhost:8097/");
      expect(empty.code).toBe(52); // curl: empty reply from server
      expect(empty.seconds).toBeLessThan(1);
      timings["no endpoint -> connection closed"] = empty.seconds;

      // The others keep working, and doctor names each with its fix.
      expect((await get("http://localhost:8081/")).body).toBe("hello");
      const doctor = await sh(dir, "kind-cluster doctor");
      expect(doctor.exitCode).toBe(1);
      expect(doctor.stdout).toMatch(/✗ default\/hello-bad: annotation kind-cluster.dev\/forward: local port 70000 is out of range/);
      expect(doctor.stdout).toMatch(/✓ default\/hello 8081: http:\/\/localhost:8081: node port \d+ answers on /);
    } finally {
      await sh(dir, "kill $(cat /tmp/holder.pid); kubectl delete service hello-web hello-held hello-bad nobody");
    }
  });
});

describe("another load balancer's Services are left alone", () => {
  it("a loadBalancerClass, or a status another implementation wrote: not touched, and said so", async () => {
    try {
      await apply(`${service("theirs-class", { ports: [8099], loadBalancerClass: "example.com/other" })}\n---\n${service("theirs-status", { ports: [8100] })}`);
      await until("theirs-status -> our address first", async () => (await ingressOf("default", "theirs-status")).includes(nodeIp));
      const theirs = { status: { loadBalancer: { ingress: [{ ip: "198.51.100.7" }] } } };
      await run(`kubectl patch service theirs-status --subresource=status --type=merge --field-manager=other-lb -p '${JSON.stringify(theirs)}'`);
      await until("theirs-status -> said to be another implementation's", async () =>
        (await status()).ports.lines.loadBalancers.includes("default/theirs-status: left to another implementation: its status was set by other-lb"),
      );
      await new Promise((r) => setTimeout(r, 2_000));
      expect(JSON.parse(await ingressOf("default", "theirs-status")).map((i: { ip: string }) => i.ip)).toEqual(["198.51.100.7"]);
      expect(await ingressOf("default", "theirs-class")).toBe("");
      expect((await status()).ports.lines.loadBalancers).toContain(
        "default/theirs-class: left to another implementation: its loadBalancerClass example.com/other names another implementation",
      );
    } finally {
      await sh(dir, "kubectl delete service theirs-class theirs-status");
    }
  });

  it("loadBalancer false: no address is written, the forward still works; true again: written", async () => {
    try {
      await run("kind-cluster up --load-balancer=false");
      await apply(service("no-lb", { ports: [8098] }));
      await until("loadBalancer false -> forwarded anyway", answers(8098, "hello"));
      expect(await ingressOf("default", "no-lb")).toBe("");
      await run("kind-cluster up");
      await until("loadBalancer true again -> address written", async () => (await ingressOf("default", "no-lb")).includes(nodeIp));
    } finally {
      await sh(dir, "kind-cluster up; kubectl delete service no-lb");
    }
  });
});

describe("host names through a real ingress and Gateway API controller that the repository installs", () => {
  const TRAEFIK = "localhost:5001/traefik:testbed";

  it("Traefik, the Gateway API CRDs and two routes, committed: a Kustomization with wait: true over its LoadBalancer Service becomes Ready", async () => {
    await run(`docker tag ${testbed.traefikImage} ${TRAEFIK} && docker push -q ${TRAEFIK}`);
    pushed.push(TRAEFIK);
    const routes = `${["ingress", "gateway"].map((which) => deployment(`web-${which}`, `from the ${which}`).replace("namespace: default", "namespace: demo")).join("\n---\n")}
---
${["ingress", "gateway"].map((which) => `apiVersion: v1\nkind: Service\nmetadata: {name: web-${which}, namespace: demo}\nspec:\n  selector: {app: web-${which}}\n  ports: [{port: 80, targetPort: 8080}]`).join("\n---\n")}
---
${hostRoutes("demo", { host: "app.localhost", service: "web-ingress" }, { host: "gw.localhost", service: "web-gateway" })}`;
    const apps = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  sourceRef: {kind: GitRepository, name: flux-system}
  path: ./apps/traefik
  prune: true
  wait: true
  interval: 10m
  timeout: 4m
`;
    await commit("traefik", {
      "apps/traefik/gateway-api-crds.yaml": await readFile(testbed.gatewayApiCrds, "utf8"),
      "apps/traefik/traefik.yaml": (await traefikManifests(testbed)).replaceAll(testbed.traefikImage, TRAEFIK),
      "apps/traefik/namespace-demo.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n",
      "apps/traefik/routes.yaml": routes,
      [`${GITOPS_PATH}/apps.yaml`]: apps,
    });
    await until(
      "commit -> Kustomization apps (wait: true, Traefik's LoadBalancer Service) Ready",
      async () =>
        (await sh(dir, `kubectl -n flux-system get kustomization apps -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'`)).stdout === "True",
      300_000,
    );
    expect(await ingressOf("traefik", "traefik")).toContain(nodeIp);
    // Traefik copies the Service's address into the Ingress's status.
    await until("Ingress status -> the node's address", async () =>
      (await sh(dir, "kubectl get ingress -n demo web -o jsonpath='{.status.loadBalancer.ingress[0].ip}'")).stdout.includes(nodeIp),
    );
  });

  it("http://app.localhost:<port> reaches the Ingress's backend, http://gw.localhost:<port> the HTTPRoute's, any other host 404", async () => {
    const traefik = (await status()).ports.forwards.find((f) => f.service === "traefik/traefik" && f.port === 80)!;
    // Port 80 is privileged in this container: its forward is where status says.
    expect(traefik.local).toBe(8080);
    await until("app.localhost -> routed by the Ingress", answers(traefik.local, "from the ingress", "app.localhost"), 60_000);
    await until("gw.localhost -> routed by the HTTPRoute", answers(traefik.local, "from the gateway", "gw.localhost"), 60_000);
    const other = await sh(dir, `curl -s -o /dev/null -w '%{http_code}' http://unknown.localhost:${traefik.local}/`);
    expect(other.stdout).toBe("404");
  });
});

describe("the forwards outlive pods, nodes and the dev container", () => {
  it("a pod restart and a node restart (no `up` in between): localhost answers again", async () => {
    await run("kubectl rollout restart deployment/hello && kubectl rollout status deployment/hello --timeout=120s");
    await until("pod restarted -> answers", answers(8081, "hello"));
    await execa("docker", ["restart", NODE]);
    await until("node restarted -> localhost answers again", answers(8081, "hello"), 240_000);
    // Docker may give the node another address on its way back: the load-balancer status follows it.
    await until("node restarted -> the status names its address", async () => {
      nodeIp = (await sh(dir, `kubectl get node ${NODE} -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'`)).stdout.trim();
      return nodeIp !== "" && JSON.parse((await ingressOf("default", "hello")) || "[]")[0]?.ip === nodeIp;
    });
  });

  it("from the Docker host: the external address answers on a Linux engine, and a pipe through the dev container reaches a forward", async () => {
    const direct = await fetch(`http://${nodeIp}:8081/`, { signal: AbortSignal.timeout(5_000) });
    expect((await direct.text()).trim()).toBe("hello");
    // The README's recipe for other engines, one connection: `docker exec -i` and socat in the dev container.
    const piped = await execa("docker", ["exec", "-i", containers.at(-1)!, "socat", "STDIO", "TCP:127.0.0.1:8081"], {
      input: "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
      reject: false,
    });
    expect(piped.stdout).toMatch(/^HTTP\/1\.[01] 200 OK[\s\S]*\r\n\r\nhello\n?$/);
  });

  it("a rebuilt dev container restores every forward on the same local port", async () => {
    const before = (await status()).ports.forwards.map((f) => [f.service, f.port, f.local]);
    expect(before.length).toBeGreaterThanOrEqual(5);
    const rebuilt = await devcontainerUp(dir, "--remove-existing-container");
    containers.push(rebuilt.containerId);
    expect(rebuilt.exitCode, rebuilt.output.slice(-4000)).toBe(0);
    expect(rebuilt.output).toMatch(/✓ ports\s+\d+ forwards, \d+ load balancers \(service started\)/);
    expect((await status()).ports.forwards.map((f) => [f.service, f.port, f.local])).toEqual(before);
    for (const [name, , local] of before)
      if (String(name).startsWith("default/hello")) await until(`rebuilt -> localhost:${local} answers`, answers(Number(local), "hello"));
    expect((await get("http://app.localhost:8080/")).body).toBe("from the ingress");
  });
});
