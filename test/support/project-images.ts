import { removeProjectImages } from "./devcontainer.js";

/** Global teardown of the end-to-end tier: the images built for its throwaway projects go with it. */
export async function teardown(): Promise<void> {
  console.log(`[e2e] removed ${await removeProjectImages()} images built for test projects`);
}
