import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["__tests__/**/*.test.ts"],
    // Engine tests build and run real OpenTofu; they have their own command (npm run test:engine).
    exclude: ["__tests__/engine/**"],
    testTimeout: 60_000,
    // Hooks start servers and child processes, which take seconds on a loaded machine (the default is 10 s).
    hookTimeout: 120_000,
    pool: "forks",
  },
});
