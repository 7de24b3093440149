// A separate process that takes a lock and holds it: prints "held <pid>" once it holds it, then
// "released <epoch ms>" as it lets go (unless it is killed first: a dead holder's lock).
import { withLock } from "../../src/lock.js";

async function main(): Promise<void> {
  const [path = "", holdMs = "600000"] = process.argv.slice(2);
  await withLock(path, { timeoutMs: 60_000, purpose: "a test lock" }, async () => {
    process.stdout.write(`held ${process.pid}\n`);
    await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
    process.stdout.write(`released ${Date.now()}\n`);
  });
}

void main();
