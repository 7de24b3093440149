import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureBusyboxImage } from "../support/images.js";

/**
 * The Feature's entrypoint (docker-socket.sh) as it runs at container start: as install.sh installs it
 * (for the remote user "dev", uid 1234), as root, with its default paths, in a throwaway container's
 * filesystem. The host's socket
 * is a real socket, mounted where the Feature mounts it. The busybox image has no socat and no nohup:
 * a stand-in socat records how it was started (the proxy itself is covered by
 * test/e2e/feature-install.test.ts), and a stand-in nohup runs its command.
 */
let entrypoint = "";
let share = "";
const RAN = "the container's command ran";
/** The file a planted symlink points at, printed whole (a line appended to it shows). */
const VICTIM = 'echo "victim=[$(cat /tmp/victim)]"';
let image = "";
const servers: Server[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  image = await ensureBusyboxImage();
  // install.sh's own step writes the remote user into the copy it installs.
  share = await mkdtemp(join(tmpdir(), "socket-share-"));
  const installed = await execa("bash", [
    "-c",
    `source features/src/kind-cluster/install.sh; SHARE_DIR='${share}'; REMOTE_USER=dev; install_socket_entrypoint`,
  ]);
  expect(installed.exitCode).toBe(0);
  entrypoint = join(share, "docker-socket.sh");
});

afterAll(() => rm(share, { recursive: true, force: true }));

afterEach(async () => {
  for (const server of servers.splice(0)) server.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
});

/** A listening Unix socket at PATH on the host (the daemon's socket, or a proxy socket of an earlier start). */
async function listen(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((listening) => server.listen(path, listening));
}

/**
 * Starts a container whose entrypoint is ours: SETUP prepares its filesystem, the entrypoint runs
 * `echo RAN`, then CHECK prints what the test looks at. `sockets` are made on the host in what
 * becomes the container's /var/run.
 */
async function start(setup: string, check: string, sockets: string[] = ["kind-cluster/docker-host.sock"]) {
  const run = await mkdtemp(join(tmpdir(), "socket-run-"));
  dirs.push(run);
  await mkdir(join(run, "kind-cluster"));
  for (const socket of sockets) await listen(join(run, socket));
  const script = [
    "busybox --install -s /bin",
    "printf 'root:x:0:0::/root:/bin/sh\\ndev:x:1234:1234::/home/dev:/bin/sh\\n' >/etc/passwd",
    "mkdir -p -m 1777 /tmp",
    `printf '#!/bin/sh\\necho "$*" >/tmp/socat.args\\n' >/bin/socat && printf '#!/bin/sh\\nexec "$@"\\n' >/bin/nohup && chmod +x /bin/socat /bin/nohup`,
    setup,
    `/entrypoint.sh echo "${RAN}"`,
    "sleep 0.2", // the proxy starts in the background
    check,
  ].join("\n");
  return execa("docker", ["run", "--rm", "-v", `${entrypoint}:/entrypoint.sh:ro`, "-v", `${run}:/var/run`, image, "sh", "-c", script], { reject: false });
}

describe("docker-socket.sh, the entrypoint (root, at container start)", () => {
  it("does not follow a symlink planted at the old /tmp log path: its target is unchanged", async () => {
    const out = await start(
      "echo original >/tmp/victim && ln -s /tmp/victim /tmp/kind-cluster-docker-socket.log && chown -h 1234 /tmp/kind-cluster-docker-socket.log",
      VICTIM,
    );
    expect(out.stdout, out.stderr).toContain(RAN);
    expect(out.stdout).toContain("victim=[original]");
  });

  it("logs to a folder only root can write: /var/log/kind-cluster, root-owned, 0755", async () => {
    const out = await start("", "stat -c 'folder: %u %a' /var/log/kind-cluster; echo log: $(cat /var/log/kind-cluster/docker-socket.log)");
    expect(out.stdout, out.stderr).toContain(RAN);
    expect(out.stdout).toContain("folder: 0 755");
    expect(out.stdout).toMatch(/log: socat proxy: \/var\/run\/docker\.sock \(owner dev\)/);
  });

  it("writes no log through a folder or file it did not make, and still starts the container", async () => {
    const setup =
      "echo original >/tmp/victim && mkdir -p /var/log/kind-cluster && chown 1234 /var/log/kind-cluster && ln -s /tmp/victim /var/log/kind-cluster/docker-socket.log";
    const out = await start(setup, VICTIM);
    expect(out.stdout, out.stderr).toContain(RAN);
    expect(out.stdout).toContain("victim=[original]");
    expect(out.stderr).toContain("not logging to /var/log/kind-cluster/docker-socket.log");
    expect(out.stderr).toContain("socat proxy: /var/run/docker.sock (owner dev)");
  });

  it("leaves a symlink at /var/run/docker.sock alone for a non-root user (another Feature's socket)", async () => {
    const out = await start(
      "ln -s /var/run/docker-host.sock /var/run/docker.sock",
      "echo link: $(readlink /var/run/docker.sock); cat /tmp/socat.args 2>/dev/null",
    );
    expect(out.stdout, out.stderr).toContain(RAN);
    expect(out.stdout).toContain("link: /var/run/docker-host.sock");
    expect(out.stdout).not.toContain("UNIX-LISTEN");
  });

  it("leaves a socket owned by someone else alone", async () => {
    const out = await start("", "[ -S /var/run/docker.sock ] && echo socket kept; cat /tmp/socat.args 2>/dev/null", [
      "kind-cluster/docker-host.sock",
      "docker.sock",
    ]);
    expect(out.stdout, out.stderr).toContain("socket kept");
    expect(out.stdout).not.toContain("UNIX-LISTEN");
  });

  it("replaces its own proxy socket of an earlier start (owned by the remote user) with a new proxy", async () => {
    const out = await start("chown 1234 /var/run/docker.sock", "cat /tmp/socat.args", ["kind-cluster/docker-host.sock", "docker.sock"]);
    expect(out.stdout, out.stderr).toContain(RAN);
    expect(out.stdout).toContain(
      "-t 86400 UNIX-LISTEN:/var/run/docker.sock,fork,mode=660,user=dev,backlog=128 UNIX-CONNECT:/var/run/kind-cluster/docker-host.sock",
    );
  });
});
