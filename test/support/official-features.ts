import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { execa, type ResultPromise } from "execa";
import { makePki } from "./pki.js";

/**
 * Global set-up of the end-to-end tier. Our Feature names the official Features in `installsAfter`
 * (ghcr.io/devcontainers/features/common-utils, docker-outside-of-docker, node), and the devcontainer
 * CLI fetches their metadata whenever it builds, so with no registry reachable every build would fail.
 * For the run, `ghcr.io` resolves to this host's loopback (an /etc/hosts line, removed afterwards),
 * where a real OCI registry (Debian's docker-registry, TLS with a throwaway CA the CLI is told to trust)
 * serves stand-ins of those three Features, published with the devcontainer CLI under their official
 * ids. The stand-ins only record when they were installed, so a test can check the install order.
 */
const HOSTS = "/etc/hosts";
const MARK = "# kind-cluster e2e: ghcr.io stand-in";
export const CA_FILE = resolve(".testbed/official-features/ca.crt");

let registry: ResultPromise | undefined;

async function restoreHosts(): Promise<void> {
  const text = await readFile(HOSTS, "utf8");
  await writeFile(
    HOSTS,
    text
      .split("\n")
      .filter((l) => !l.endsWith(MARK))
      .join("\n"),
  );
}

async function answers(): Promise<boolean> {
  const probe = await execa("curl", ["-fsS", "--cacert", CA_FILE, "https://ghcr.io/v2/"], { reject: false, timeout: 5_000 });
  return probe.exitCode === 0;
}

export async function setup(): Promise<void> {
  const dir = resolve(".testbed/official-features");
  await mkdir(`${dir}/data`, { recursive: true });
  const pki = await makePki(["ghcr.io"]);
  await writeFile(CA_FILE, pki.ca);
  await writeFile(`${dir}/tls.crt`, pki.serverCert);
  await writeFile(`${dir}/tls.key`, pki.serverKey, { mode: 0o600 });
  await writeFile(
    `${dir}/config.yml`,
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:443\n  tls:\n    certificate: ${dir}/tls.crt\n    key: ${dir}/tls.key\nlog:\n  level: error\n`,
  );
  await restoreHosts();
  await writeFile(HOSTS, `${(await readFile(HOSTS, "utf8")).trimEnd()}\n127.0.0.1 ghcr.io ${MARK}\n`);
  registry = execa("docker-registry", ["serve", `${dir}/config.yml`], { reject: false });
  for (let i = 0; i < 50 && !(await answers()); i++) await new Promise((r) => setTimeout(r, 200));
  if (!(await answers())) throw new Error("the ghcr.io stand-in registry did not answer on 127.0.0.1:443");
  const cli = resolve("node_modules/.bin/devcontainer");
  const published = await execa(
    cli,
    ["features", "publish", "test/fixtures/official-features/src", "--registry", "ghcr.io", "--namespace", "devcontainers/features", "--log-level", "info"],
    {
      env: { NODE_EXTRA_CA_CERTS: CA_FILE },
      reject: false,
      all: true,
    },
  );
  if (published.exitCode !== 0) throw new Error(`publishing the stand-in Features failed:\n${published.all}`);
}

export async function teardown(): Promise<void> {
  registry?.kill();
  if (existsSync(HOSTS)) await restoreHosts();
}
