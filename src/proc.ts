import { execa } from "execa";

/** The one way this CLI runs a process. */
export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Milliseconds before the process is killed. */
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  input?: string;
  /** When false (default), a non-zero exit is returned, not thrown. */
  check?: boolean;
}

export class ProcessError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(`\`${command}\` exited ${result.exitCode}: ${(result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ")}`);
    this.name = "ProcessError";
  }
}

/**
 * A missing executable is reported as exit code 127, like a shell would. Children run in `/`: the
 * workspace folder (the hooks' working directory) may not be readable by the remote user in CI.
 */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await execa(file, args, {
    reject: false,
    cwd: "/",
    timeout: options.timeoutMs,
    env: options.env,
    input: options.input,
    stdin: options.input === undefined ? "ignore" : undefined,
  });
  const notFound = (result as { code?: string }).code === "ENOENT";
  const out: RunResult = {
    stdout: typeof result.stdout === "string" ? result.stdout : "",
    stderr: notFound ? `${file}: command not found` : typeof result.stderr === "string" ? result.stderr : "",
    exitCode: notFound ? 127 : result.timedOut ? 124 : (result.exitCode ?? 1),
  };
  if (options.check && out.exitCode !== 0) throw new ProcessError([file, ...args].join(" "), out);
  return out;
}
