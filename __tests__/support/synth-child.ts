// Run by tsx in a child process (synthesis is seconds of synchronous work, which must stay out of vitest's
// workers): synthesizes each config folder named on the command line and prints, as one JSON array, its
// resolved cluster and its layer-01 stack.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, resolveCluster } from "../../config";
import { buildApp } from "../../layers/app";

const results = process.argv.slice(2).map((configDir) => {
  const cluster = resolveCluster(loadConfig(configDir));
  const out = mkdtempSync(join(tmpdir(), "synth-child-"));
  try {
    buildApp(cluster, { configDir, outdir: out }).synth();
    const infrastructure = JSON.parse(readFileSync(join(out, "stacks/01-infrastructure/cdk.tf.json"), "utf8"));
    return { configDir, cluster, infrastructure };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
process.stdout.write(JSON.stringify(results));
