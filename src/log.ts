/**
 * One logger for the CLI: stages with timings, like kind's status lines.
 * Output goes to stderr so stdout stays clean for machine-readable output (`status --json`).
 */
export interface Logger {
  /** Runs `fn` as a named stage, printing its outcome and wall time. */
  stage<T>(name: string, fn: (stage: StageHandle) => Promise<T>): Promise<T>;
  info(message: string): void;
  warn(message: string): void;
  /** Milliseconds of every finished stage, in order (for `up --timings` and the benchmark). */
  readonly timings: ReadonlyArray<{ name: string; ms: number }>;
}

export interface StageHandle {
  /** Replaces the stage's closing note, e.g. "created" or "adopted". */
  note(text: string): void;
}

export interface LoggerOptions {
  write?: (line: string) => void;
  now?: () => number;
  quiet?: boolean;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => performance.now());
  const timings: Array<{ name: string; ms: number }> = [];
  const emit = (line: string) => {
    if (!options.quiet) write(line);
  };

  return {
    timings,
    async stage(name, fn) {
      const start = now();
      let note = "";
      try {
        const result = await fn({ note: (text) => (note = text) });
        const ms = now() - start;
        timings.push({ name, ms });
        emit(` ✓ ${name.padEnd(12)} ${note.padEnd(48)} ${formatMs(ms)}`);
        return result;
      } catch (error) {
        const ms = now() - start;
        timings.push({ name, ms });
        emit(` ✗ ${name.padEnd(12)} ${"failed".padEnd(48)} ${formatMs(ms)}`);
        throw error;
      }
    },
    info: (message) => emit(`   ${message}`),
    warn: (message) => emit(` ! ${message}`),
  };
}
