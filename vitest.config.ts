import { defineConfig } from "vitest/config";

// Four tiers: unit (pure: no build, no process, no Docker), cli (the built bundle and install.sh run as
// processes), integration (a real Docker Engine, real git, real sockets), e2e (the test bed: real kind,
// real devcontainer CLI). `npm test` runs the first three; `.ci/run` adds e2e.
// scripts/test.sh sets KIND_CLUSTER_TEST_RESULTS to collect every run's counts for its closing line.
const results = process.env.KIND_CLUSTER_TEST_RESULTS;

export default defineConfig({
  test: {
    reporters: results ? ["default", ["json", { outputFile: `${results}/${Date.now()}.json` }]] : ["default"],
    // Integration and e2e files share one Docker host: run files one at a time.
    fileParallelism: false,
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      { test: { name: "cli", include: ["test/cli/**/*.test.ts"], testTimeout: 60_000 } },
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
