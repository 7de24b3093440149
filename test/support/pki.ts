import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

/** A throwaway CA, a server certificate for `names` (by default `localhost`, like kind's API server) and a client certificate. */
export interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await execa("openssl", args, { cwd: dir });
}

export async function makePki(names: readonly string[] = ["localhost", "kubernetes"]): Promise<Pki & { dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "pki-"));
  await openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca");
  await writeFile(join(dir, "san.ext"), `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\n`);
  for (const [name, subject, ext] of [
    ["server", "/CN=kube-apiserver", ["-extfile", "san.ext"]],
    ["client", "/O=kubeadm:cluster-admins/CN=kubernetes-admin", []],
  ] as const) {
    await openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "1",
      ...ext,
    );
  }
  const read = (f: string) => readFile(join(dir, f), "utf8");
  return {
    dir,
    ca: await read("ca.crt"),
    serverCert: await read("server.crt"),
    serverKey: await read("server.key"),
    clientCert: await read("client.crt"),
    clientKey: await read("client.key"),
  };
}
