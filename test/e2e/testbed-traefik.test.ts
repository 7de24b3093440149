import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureBusyboxImage } from "../support/images.js";
import { deleteClusters, readTestbed, type Testbed } from "../support/testbed.js";
import { traefikManifests } from "../support/traefik.js";

/**
 * The test bed's Traefik in a kind cluster of the test bed: the Gateway API CRDs and
 * test/fixtures/traefik applied, one busybox backend behind an Ingress (app.localhost) and an
 * HTTPRoute (gw.localhost), requests sent from inside the node to Traefik's Service.
 */
const CLUSTER = "tbtraefik";
const NODE = `${CLUSTER}-control-plane`;
const BODY = "hello from the test bed backend";

let testbed: Testbed;
let dir = "";
let env: Record<string, string>;
const timings: Record<string, number> = {};

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await work();
  } finally {
    timings[what] = (Date.now() - start) / 1000;
  }
}

async function kubectl(args: string[], input?: string) {
  const result = await execa(testbed.kubectl, args, { env, input, reject: false, all: true });
  expect(result.exitCode, `kubectl ${args.join(" ")}\n${result.all}`).toBe(0);
  return result.stdout;
}

const getJson = async (...args: string[]) => JSON.parse(await kubectl(["get", ...args, "-o", "json"]));

type Condition = { type: string; status: string };
const conditions = (list: Condition[] = []) => Object.fromEntries(list.map((c) => [c.type, c.status]));

/** An HTTP request sent from the node's own network namespace; returns the status code and body. */
async function fromNode(url: string, host: string): Promise<{ code: string; body: string }> {
  const out = await execa("docker", ["exec", NODE, "curl", "-s", "-m", "5", "-H", `Host: ${host}`, "-w", "\n%{http_code}", url], { reject: false });
  const lines = out.stdout.split("\n");
  return { code: lines.pop() ?? "", body: lines.join("\n").trim() };
}

/** The backend (busybox httpd), an Ingress for app.localhost and an HTTPRoute for gw.localhost to it. */
function backend(image: string): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65534}
      containers:
        - name: httpd
          image: ${image}
          imagePullPolicy: Never
          command: [sh, -c, 'echo "${BODY}" >/www/index.html && exec httpd -f -p 8080 -h /www']
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
          volumeMounts: [{name: www, mountPath: /www}]
      volumes: [{name: www, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: demo}
spec:
  ingressClassName: traefik
  rules:
    - host: app.localhost
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: demo}
spec:
  parentRefs: [{name: traefik, namespace: traefik}]
  hostnames: [gw.localhost]
  rules: [{backendRefs: [{name: web, port: 80}]}]
`;
}

beforeAll(async () => {
  testbed = readTestbed();
  await deleteClusters(testbed, CLUSTER);
  dir = await mkdtemp(join(tmpdir(), "testbed-traefik-"));
  env = { KUBECONFIG: join(dir, "kubeconfig") };
});

afterAll(async () => {
  console.log(`[testbed-traefik] seconds: ${JSON.stringify(timings)}`);
  await deleteClusters(testbed, CLUSTER);
  await rm(dir, { recursive: true, force: true });
});

describe("Traefik from the test bed, as ingress and Gateway API controller", () => {
  let clusterIp = "";
  let nodeIp = "";

  it("runs in a kind cluster of the test bed's node image, from an image loaded into the node", async () => {
    const created = await timed("create cluster", () =>
      execa(testbed.kind, ["create", "cluster", "--name", CLUSTER, "--image", testbed.nodeImage, "--wait", "3m"], { env, reject: false, all: true }),
    );
    expect(created.exitCode, created.all).toBe(0);
    const busybox = await ensureBusyboxImage();
    for (const image of [testbed.traefikImage, busybox]) {
      const loaded = await timed(`load ${image}`, () => execa(testbed.kind, ["load", "docker-image", "--name", CLUSTER, image], { reject: false, all: true }));
      expect(loaded.exitCode, loaded.all).toBe(0);
    }
    await timed("apply CRDs and Traefik", async () => {
      await kubectl(["apply", "--server-side", "-f", testbed.gatewayApiCrds]);
      await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "-f", testbed.gatewayApiCrds]);
      await kubectl(["apply", "--server-side", "-f", "-"], await traefikManifests(testbed));
    });
    await timed("Traefik ready", () => kubectl(["rollout", "status", "-n", "traefik", "deployment/traefik", "--timeout=180s"]));
    const pod = (await getJson("pods", "-n", "traefik", "-l", "app.kubernetes.io/name=traefik")).items[0];
    expect(pod.spec.containers[0].image).toBe(testbed.traefikImage);
    clusterIp = (await getJson("service", "-n", "traefik", "traefik")).spec.clusterIP;
    nodeIp = (await getJson("node", NODE)).status.addresses.find((a: { type: string }) => a.type === "InternalIP").address;
    expect([clusterIp, nodeIp]).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/), expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/)]);
  });

  it("accepts its GatewayClass and Gateway, and the backend's HTTPRoute", async () => {
    await kubectl(["apply", "--server-side", "-f", "-"], backend(await ensureBusyboxImage()));
    await kubectl(["rollout", "status", "-n", "demo", "deployment/web", "--timeout=120s"]);
    await vi.waitFor(
      async () => {
        expect(conditions((await getJson("gatewayclass", "traefik")).status?.conditions)).toMatchObject({ Accepted: "True" });
        expect(conditions((await getJson("gateway", "-n", "traefik", "traefik")).status?.conditions)).toMatchObject({ Accepted: "True" });
        const parents = (await getJson("httproute", "-n", "demo", "web")).status?.parents ?? [];
        expect(parents.map((p: { conditions: Condition[] }) => conditions(p.conditions))).toEqual([
          expect.objectContaining({ Accepted: "True", ResolvedRefs: "True" }),
        ]);
      },
      { timeout: 60_000, interval: 1000 },
    );
  });

  it("routes app.localhost (Ingress) and gw.localhost (HTTPRoute) to the backend, and answers 404 for any other host", async () => {
    const url = `http://${clusterIp}/`;
    await timed("first routed request", () =>
      vi.waitFor(
        async () => {
          expect(await fromNode(url, "app.localhost")).toEqual({ code: "200", body: BODY });
          expect(await fromNode(url, "gw.localhost")).toEqual({ code: "200", body: BODY });
        },
        { timeout: 60_000, interval: 1000 },
      ),
    );
    expect((await fromNode(url, "unknown.localhost")).code).toBe("404");
    // The LoadBalancer Service also works as a NodePort one, on the node's address.
    const nodePort = (await getJson("service", "-n", "traefik", "traefik")).spec.ports[0].nodePort;
    expect(await fromNode(`http://${nodeIp}:${nodePort}/`, "gw.localhost")).toEqual({ code: "200", body: BODY });
  });

  it("copies the Service's load-balancer address into the Ingress and Gateway statuses", async () => {
    // kind has no load-balancer controller: give the Service the node's address as one would, through
    // the status subresource.
    const address = nodeIp;
    expect((await getJson("ingress", "-n", "demo", "web")).status.loadBalancer).toEqual({});
    const status = { status: { loadBalancer: { ingress: [{ ip: address }] } } };
    await kubectl(["patch", "service", "-n", "traefik", "traefik", "--subresource=status", "--type=merge", "-p", JSON.stringify(status)]);
    await vi.waitFor(
      async () => {
        expect((await getJson("ingress", "-n", "demo", "web")).status.loadBalancer.ingress).toEqual([{ ip: address }]);
        expect((await getJson("gateway", "-n", "traefik", "traefik")).status.addresses).toEqual([{ type: "IPAddress", value: address }]);
      },
      { timeout: 60_000, interval: 1000 },
    );
  });
});
