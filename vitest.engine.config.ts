import { defineConfig } from "vitest/config";

// The real-engine tests (npm run test:engine): OpenTofu and the providers built by judges/engine/build.sh.
// Each file starts its own servers on 127.0.0.1; files run one after another, as tofu and its providers
// already use both cores of a CI machine.
export default defineConfig({
  test: {
    include: ["__tests__/engine/**/*.test.ts"],
    globalSetup: ["__tests__/engine/setup.ts"],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: "forks",
    fileParallelism: false,
  },
});
