import { defineConfig } from "vitest/config";

// Three tiers: unit (pure, no Docker), integration (a real Docker Engine), e2e (the test bed:
// real kind, real devcontainer CLI). `npm test` runs the first two; `.ci/run` adds e2e.
// scripts/test.sh sets KIND_CLUSTER_TEST_RESULTS to collect every run's counts for its closing line.
const results = process.env.KIND_CLUSTER_TEST_RESULTS;

export default defineConfig({
  test: {
    reporters: results ? ["default", ["json", { outputFile: `${results}/${Date.now()}.json` }]] : ["default"],
    // Integration and e2e files share one Docker host: run files one at a time.
    fileParallelism: false,
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          // ghcr.io's official Features (our installsAfter) served by a local stand-in: see the file.
          // Afterwards, the images built for the throwaway projects are removed.
          globalSetup: ["test/support/official-features.ts", "test/support/project-images.ts"],
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
