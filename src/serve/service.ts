/** What a service body gets and gives back: kept apart from the table of kinds (kinds.ts), which imports every body. */
export interface Running {
  /** One line for `status`: what it listens on and serves. */
  summary: string;
  close(): Promise<void>;
}

export type ServiceLog = (line: string) => void;
