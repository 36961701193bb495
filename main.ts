// Entry point: load the cluster definition, build every layer, synthesize. Bad input stops here, before
// anything is written. CONFIG_DIR selects another cluster.yaml/nodes.yaml pair (cdktf passes no arguments).
import { ConfigError, formatIssue, loadConfig, resolveCluster } from "./config";
import { refusedContext, synthesize } from "./layers/app";
import { ALLOW_DESTROY_ENV } from "./layers/catalog";

function main(): void {
  const configDir = process.env.CONFIG_DIR ?? ".";
  const refused = refusedContext(process.env);
  if (refused) {
    process.stderr.write(`${refused}\nNothing was synthesized.\n`);
    process.exit(1);
  }
  let definition: ReturnType<typeof loadConfig>;
  try {
    definition = loadConfig(configDir);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${e.message}\nNothing was synthesized.\n`);
    process.exit(1);
  }
  for (const warning of definition.warnings) process.stderr.write(`${formatIssue(warning, configDir)}\n`);
  synthesize(resolveCluster(definition), { configDir, allowDestroyPersistentAuth: process.env[ALLOW_DESTROY_ENV] });
}

main();
