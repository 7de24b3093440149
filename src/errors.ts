/** The three zones of the design, plus the hop between zone 1 and zone 3. */
export type Zone = "dev container" | "docker host" | "kind cluster" | "route";

const ZONE_NUMBER: Record<Zone, string> = {
  "dev container": "zone 1",
  "docker host": "zone 2",
  "kind cluster": "zone 3",
  route: "zone 1 -> zone 3",
};

export interface ZoneErrorOptions {
  zone: Zone;
  /** What went wrong, in one sentence. */
  message: string;
  /** What the user does about it. */
  fix: string;
  /** Output of the failed program or request, shown indented under the message. */
  detail?: string;
  /** The error this one explains, kept for debugging (KIND_CLUSTER_DEBUG prints it). */
  cause?: unknown;
}

/**
 * An error a user can act on: what went wrong, in which zone, and how to fix it.
 * Everything the CLI reports as a failure is one of these; anything else is a bug.
 */
export class ZoneError extends Error {
  readonly zone: Zone;
  readonly fix: string;
  readonly detail?: string;

  constructor(options: ZoneErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ZoneError";
    this.zone = options.zone;
    this.fix = options.fix;
    this.detail = options.detail;
  }

  /** Multi-line text for the terminal. */
  render(): string {
    const lines = [`[${this.zone} (${ZONE_NUMBER[this.zone]})] ${this.message}`, `  fix: ${this.fix}`];
    if (this.detail)
      lines.push(
        ...this.detail
          .trim()
          .split("\n")
          .map((l) => `  | ${l}`),
      );
    return lines.join("\n");
  }
}

export function isZoneError(error: unknown): error is ZoneError {
  return error instanceof ZoneError;
}

/** The one line of an error for a status line: a zone error's message, else the error's own. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
