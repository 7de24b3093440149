import { execa } from "execa";
import { trace } from "./log.js";

/** The one way this CLI runs a process. */
export interface RunResult {
  /** The command line as it was run (for messages and the debug trace; never holds the input). */
  command: string;
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
  /** Called with each line the program writes to stderr as it runs (progress of long commands). */
  onStderrLine?: (line: string) => void;
}

/** A command line for people: arguments with spaces or quotes are quoted. Pure. */
export function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/**
 * Runs a program with arguments (never through a shell); a non-zero exit is returned, not thrown.
 * A missing executable is reported as exit code 127, like a shell would. Children run in `/`: the
 * workspace folder (the hooks' working directory) may not be readable by the remote user in CI.
 */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const stdin = options.input === undefined ? { stdin: "ignore" as const } : { input: options.input };
  const onLine = options.onStderrLine;
  const stderr = onLine
    ? {
        stderr: function* (line: unknown) {
          onLine(String(line));
          yield line;
        },
      }
    : {};
  const start = performance.now();
  const result = await execa(file, args, { reject: false, cwd: "/", timeout: options.timeoutMs, env: options.env, ...stdin, ...stderr });
  const notFound = (result as { code?: string }).code === "ENOENT";
  const exitCode = notFound ? 127 : result.timedOut ? 124 : (result.exitCode ?? 1);
  const command = commandLine(file, args);
  trace(`$ ${command}  (exit ${exitCode}, ${Math.round(performance.now() - start)}ms)`);
  return {
    command,
    stdout: typeof result.stdout === "string" ? result.stdout : "",
    stderr: notFound ? `${file}: command not found` : typeof result.stderr === "string" ? result.stderr : "",
    exitCode,
  };
}
