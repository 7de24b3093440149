// A separate process that exports entries into a kubeconfig (a file or a KUBECONFIG list) many times,
// to race other writers. With START_AT (epoch ms, fractional) it waits until that instant, spinning for
// the last milliseconds, so that racers arrive within microseconds of each other, in a chosen order.
import { exportEntry } from "../../src/kubeconfig/index.js";

async function main(): Promise<void> {
  const [path = "", prefix = "w", count = "10"] = process.argv.slice(2);
  const credentials = { certificateAuthorityData: "Q0E=", clientCertificateData: "Q0VSVA==", clientKeyData: "S0VZ" };
  const startAt = Number(process.env.START_AT ?? 0);
  const now = () => performance.timeOrigin + performance.now();
  if (startAt - now() > 5) await new Promise((resolve) => setTimeout(resolve, startAt - now() - 5));
  while (now() < startAt); // spin: a timer is only good to a millisecond or so
  for (let i = 0; i < Number(count); i++) {
    const name = `${prefix}-${i}`;
    await exportEntry(path, { name, server: `https://${name}:6443`, credentials });
  }
}

void main();
