import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import type { RequestListener } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import type { Endpoint } from "../../src/apiserver.js";

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

/**
 * An HTTPS server on loopback that, like the API server, demands a client certificate from the CA,
 * and the endpoint that reaches it with the client's credentials.
 */
export async function listenApi(pki: Pki, handler: RequestListener): Promise<{ server: Server; endpoint: Endpoint }> {
  const server = createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const endpoint: Endpoint = {
    server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tlsServerName: "localhost",
    credentials: { certificateAuthorityData: b64(pki.ca), clientCertificateData: b64(pki.clientCert), clientKeyData: b64(pki.clientKey) },
  };
  return { server, endpoint };
}
