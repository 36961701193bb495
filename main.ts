// Entry point: load the cluster definition, build every layer, synthesize. Bad input stops here, before
// anything is written. CONFIG_DIR selects another cluster.yaml/nodes.yaml pair (cdktf passes no arguments).
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ConfigError, formatIssue, loadConfig, resolveCluster } from "./config";
import { refusedContext, synthesize } from "./layers/app";
import { ALLOW_DESTROY_ENV, STATE_BACKEND_ENV } from "./layers/catalog";

function main(): void {
  const configDir = process.env.CONFIG_DIR ?? ".";
  const outdir = process.env.CDKTF_OUTDIR ?? "cdktf.out";
  const refused = refusedContext(process.env) ?? refusedOutdir(outdir);
  if (refused) stop(refused);
  let definition: ReturnType<typeof loadConfig>;
  try {
    definition = loadConfig(configDir);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    stop(e.message);
  }
  for (const warning of definition.warnings) process.stderr.write(`${formatIssue(warning, configDir)}\n`);
  const cluster = resolveCluster(definition);
  const previous = process.env[STATE_BACKEND_ENV] === "previous";
  if (previous && !cluster.state.previousBackend)
    stop(`${STATE_BACKEND_ENV}=previous: cluster.yaml has no previous_state_backend`);
  synthesize(
    previous ? { ...cluster, state: { ...cluster.state, backend: cluster.state.previousBackend! } } : cluster,
    {
      configDir,
      outdir,
      allowDestroyPersistentAuth: process.env[ALLOW_DESTROY_ENV],
    },
  );
}

/** Why the output folder cannot be written: its parent must be an existing folder (no typo grows a tree). */
function refusedOutdir(outdir: string): string | undefined {
  const parent = dirname(resolve(outdir));
  try {
    if (statSync(parent).isDirectory()) return undefined;
  } catch {}
  return `the output folder ${outdir} cannot be made: ${parent} is not an existing folder (CDKTF_OUTDIR)`;
}

function stop(message: string): never {
  process.stderr.write(`${message}\nNothing was synthesized.\n`);
  process.exit(1);
}

main();
