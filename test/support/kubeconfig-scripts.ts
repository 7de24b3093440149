import { join } from "node:path";
import { build } from "esbuild";
import { execa, type ResultPromise } from "execa";

/**
 * The kubeconfig and lock code as separate processes (they race each other, run in other namespaces):
 * test/support/kubeconfig-writer.ts and kubeconfig-lock-holder.ts, bundled to plain CommonJS.
 */
export async function bundleScripts(dir: string): Promise<{ writer: string; holder: string }> {
  const writer = join(dir, "writer.cjs");
  const holder = join(dir, "holder.cjs");
  const common = { bundle: true, platform: "node", format: "cjs", logLevel: "silent" } as const;
  await Promise.all([
    build({ ...common, entryPoints: ["test/support/kubeconfig-writer.ts"], outfile: writer }),
    build({ ...common, entryPoints: ["test/support/kubeconfig-lock-holder.ts"], outfile: holder }),
  ]);
  return { writer, holder };
}

const outputs = new WeakMap<ResultPromise, { text: string }>();

/**
 * Resolves with the first stdout line matching `pattern` (the holder's "held <pid>"), looking at all
 * the process has printed so far, so that a second call still sees lines printed before it.
 */
export function lineFrom(proc: ResultPromise, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  let output = outputs.get(proc);
  if (!output) {
    const collected = { text: "" };
    proc.stdout?.on("data", (chunk: Buffer) => (collected.text += chunk.toString()));
    output = collected;
    outputs.set(proc, output);
  }
  const seen = output;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const find = () => seen.text.split("\n").find((l) => pattern.test(l));
    const fail = () => reject(new Error(`no line matching ${pattern}; got ${JSON.stringify(seen.text)}`));
    const poll = () => {
      const line = find();
      if (line) return resolve(line);
      // Exited: its output may still be in flight until the process has settled.
      if (proc.exitCode !== null) return void proc.catch(() => undefined).then(() => (find() ? resolve(find()!) : fail()));
      if (Date.now() - started > timeoutMs) return fail();
      setTimeout(poll, 20);
    };
    poll();
  });
}

/** `kubectl config view --raw -o json` for one file (undefined when it does not exist) or a KUBECONFIG list. */
export async function kubectlView(kubeconfig: string, env: Record<string, string> = {}): Promise<Record<string, any> | undefined> {
  const result = await execa("kubectl", ["config", "view", "--raw", "-o", "json"], { env: { KUBECONFIG: kubeconfig, ...env }, reject: false });
  if (result.exitCode !== 0) throw new Error(`kubectl config view failed for ${kubeconfig}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}
