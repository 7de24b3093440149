/** The three zones of the design, plus the hop between zone 1 and zone 3. */
export type Zone = "dev container" | "docker host" | "kind cluster" | "route";

const ZONE_NUMBER: Record<Zone, string> = {
  "dev container": "zone 1",
  "docker host": "zone 2",
  "kind cluster": "zone 3",
  route: "zone 1 -> zone 3",
};

/**
 * An error a user can act on: what went wrong, in which zone, and how to fix it.
 * Everything the CLI reports as a failure is one of these; anything else is a bug.
 */
export class ZoneError extends Error {
  readonly zone: Zone;
  readonly fix: string;
  readonly detail?: string;

  constructor(zone: Zone, message: string, fix: string, detail?: string) {
    super(message);
    this.name = "ZoneError";
    this.zone = zone;
    this.fix = fix;
    this.detail = detail;
  }

  /** Multi-line text for the terminal. */
  render(): string {
    const lines = [`[${this.zone} (${ZONE_NUMBER[this.zone]})] ${this.message}`, `  fix: ${this.fix}`];
    if (this.detail) lines.push(...this.detail.trim().split("\n").map((l) => `  | ${l}`));
    return lines.join("\n");
  }
}

export function isZoneError(error: unknown): error is ZoneError {
  return error instanceof ZoneError;
}
