import { existsSync, readFileSync } from "node:fs";

/** What `npm run testbed` prepared: binaries, images and the Feature options that install offline. */
export interface Testbed {
  kindVersion: string;
  kubernetesVersion: string;
  kind: string;
  kubectl: string;
  nodeImage: string;
  baseImage: string;
  mirrorUrl: string;
  /** The folder the mirror serves (beside the binaries when the test bed does not name it). */
  mirrorDir?: string;
  dockerVersion: string;
  featureOptions: Record<string, string>;
}

export const TESTBED_FILE = ".testbed/testbed.json";

export function readTestbed(): Testbed {
  if (!existsSync(TESTBED_FILE)) throw new Error(`${TESTBED_FILE} is missing: run \`npm run testbed\` first`);
  return JSON.parse(readFileSync(TESTBED_FILE, "utf8")) as Testbed;
}
