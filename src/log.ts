/**
 * One logger for the CLI: stages with timings, like kind's status lines, and a debug trace.
 * Output goes to stderr so stdout stays clean for machine-readable output (`status --json`).
 */
export interface Logger {
  /** Runs `fn` as a named stage: a line when it starts, then its outcome and wall time, then its detail lines. */
  stage<T>(name: string, fn: (stage: StageHandle) => Promise<T>): Promise<T>;
  info(message: string): void;
  warn(message: string): void;
}

export interface StageHandle {
  /** Replaces the stage's closing note, e.g. "created" or "adopted". */
  note(text: string): void;
  /** A line printed under the stage's status line (why a route was or was not chosen...). */
  detail(text: string): void;
  /** A warning printed under the stage's status line. */
  warn(text: string): void;
  /** A line printed at once, while the stage runs (the steps of a long command). */
  progress(text: string): void;
}

export interface LoggerOptions {
  write?: (line: string) => void;
  now?: () => number;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

const stderrLine = (line: string) => process.stderr.write(`${line}\n`);

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? stderrLine;
  const now = options.now ?? (() => performance.now());
  const info = (message: string) => write(`   ${message}`);
  const warn = (message: string) => write(` ! ${message}`);

  return {
    async stage(name, fn) {
      const start = now();
      let note = "";
      const details: Array<() => void> = [];
      const line = (mark: string, text: string) => write(` ${mark} ${name.padEnd(12)} ${text.padEnd(48)} ${formatMs(now() - start)}`);
      write(` ▸ ${name}`);
      try {
        const result = await fn({
          note: (text) => (note = text),
          detail: (text) => details.push(() => info(text)),
          warn: (text) => details.push(() => warn(text)),
          progress: (text) => write(`   │ ${text}`),
        });
        line("✓", note);
        return result;
      } catch (error) {
        line("✗", "failed");
        throw error;
      } finally {
        for (const print of details) print();
      }
    },
    info,
    warn,
  };
}

/** KIND_CLUSTER_DEBUG=1: every command with its arguments and time, every API request. */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.KIND_CLUSTER_DEBUG === "1" || env.KIND_CLUSTER_DEBUG === "true";
}

/** One line of the debug trace (stderr), when KIND_CLUSTER_DEBUG is set. */
export function trace(line: string): void {
  if (debugEnabled()) stderrLine(` · ${line}`);
}
