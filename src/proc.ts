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
  /** Text written to the program's standard input. */
  input?: string;
}

/**
 * Runs a program with arguments (never through a shell); a non-zero exit is returned, not thrown.
 * A missing executable is reported as exit code 127, like a shell would. Children run in `/`: the
 * workspace folder (the hooks' working directory) may not be readable by the remote user in CI.
 */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const stdin = options.input === undefined ? { stdin: "ignore" as const } : { input: options.input };
  const result = await execa(file, args, { reject: false, cwd: "/", timeout: options.timeoutMs, env: options.env, ...stdin });
  const notFound = (result as { code?: string }).code === "ENOENT";
  return {
    stdout: typeof result.stdout === "string" ? result.stdout : "",
    stderr: notFound ? `${file}: command not found` : typeof result.stderr === "string" ? result.stderr : "",
    exitCode: notFound ? 127 : result.timedOut ? 124 : (result.exitCode ?? 1),
  };
}
