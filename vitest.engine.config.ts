import { defineConfig } from "vitest/config";

// The real-engine tests (npm run test:engine): OpenTofu and the providers built by judges/engine/build.sh.
// Each file starts its own servers on 127.0.0.1 (free ports, its own loopback range for Talos nodes, its own
// plugin cache per worker), so two files run at a time: a file waits on servers, timeouts and child processes
// much of its time, and one file at a time held a quiet 2-core machine's load average near 1.5 (25 of a cold
// CI run's 57 minutes).
export default defineConfig({
  test: {
    include: ["__tests__/engine/**/*.test.ts"],
    globalSetup: ["__tests__/engine/setup.ts"],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
  },
});
