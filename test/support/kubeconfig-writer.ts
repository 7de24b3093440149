// A separate process that rewrites one kubeconfig many times, to race another writer (lock test).
import { exportEntry } from "../../src/kubeconfig/index.js";

async function main(): Promise<void> {
  const [path = "", prefix = "w", count = "10"] = process.argv.slice(2);
  const credentials = { certificateAuthorityData: "Q0E=", clientCertificateData: "Q0VSVA==", clientKeyData: "S0VZ" };
  for (let i = 0; i < Number(count); i++) {
    const name = `${prefix}-${i}`;
    await exportEntry(path, { name, server: `https://${name}:6443`, credentials });
  }
}

void main();
