// A separate process that rewrites one kubeconfig many times, to race another writer (lock test).
import { upsertClusterEntry } from "../../src/kubeconfig.js";
import { updateKubeconfig } from "../../src/kubeconfig-file.js";

async function main(): Promise<void> {
  const [path = "", prefix = "w", count = "10"] = process.argv.slice(2);
  const credentials = { certificateAuthorityData: "Q0E=", clientCertificateData: "Q0VSVA==", clientKeyData: "S0VZ" };
  for (let i = 0; i < Number(count); i++) {
    const name = `${prefix}-${i}`;
    await updateKubeconfig(path, (text) => upsertClusterEntry(text, { name, server: `https://${name}:6443`, credentials }, path));
  }
}

void main();
