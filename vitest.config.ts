import { defineConfig } from "vitest/config";

// Tests by layer (style.md rule 9). `npm test` runs the fast layers only;
// image and e2e need a Docker engine / a cluster and are started by tools/test-all.sh.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts", "test/fake-ado/**/*.test.ts", "test/support/**/*.test.ts"] } },
      {
        // Static checks of the generated files: helm template renderings, the schema, linters,
        // and their sync with the generator and the image's scripts; no containers, no cluster.
        test: {
          name: "static",
          include: ["test/render/**/*.test.ts", "test/schema/**/*.test.ts", "test/lint/**/*.test.ts", "test/sync/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      { test: { name: "image", include: ["test/image/**/*.test.ts"], testTimeout: 600_000, hookTimeout: 1_200_000, fileParallelism: false } },
      { test: { name: "release", include: ["test/release/**/*.test.ts"], testTimeout: 600_000, hookTimeout: 3_600_000, fileParallelism: false } },
      { test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], testTimeout: 900_000, hookTimeout: 1_800_000, fileParallelism: false } },
    ],
  },
});
