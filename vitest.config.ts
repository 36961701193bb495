import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["__tests__/**/*.test.ts"],
    // Engine tests build and run real OpenTofu; they have their own command (npm run test:engine).
    exclude: ["__tests__/engine/**"],
    // Tests await child processes (synth, bootstrap.sh, git) and servers: at load 30 on two cores a test that takes
    // 12 s idle took over 60 s. A hang still fails, later.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: "forks",
  },
});
