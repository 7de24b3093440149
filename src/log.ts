/**
 * One logger for the CLI: stages with timings, like kind's status lines.
 * Output goes to stderr so stdout stays clean for machine-readable output (`status --json`).
 */
export interface Logger {
  /** Runs `fn` as a named stage, printing its outcome and wall time, then its detail lines. */
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
}

export interface LoggerOptions {
  write?: (line: string) => void;
  now?: () => number;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => performance.now());
  const info = (message: string) => write(`   ${message}`);
  const warn = (message: string) => write(` ! ${message}`);

  return {
    async stage(name, fn) {
      const start = now();
      let note = "";
      const details: Array<() => void> = [];
      const line = (mark: string, text: string) => write(` ${mark} ${name.padEnd(12)} ${text.padEnd(48)} ${formatMs(now() - start)}`);
      try {
        const result = await fn({ note: (text) => (note = text), detail: (text) => details.push(() => info(text)), warn: (text) => details.push(() => warn(text)) });
        line("✓", note);
        return result;
      } catch (error) {
        line("✗", "failed");
        throw error;
      } finally {
        details.forEach((print) => print());
      }
    },
    info,
    warn,
  };
}
