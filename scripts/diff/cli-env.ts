// How the diff runs a side's app: as cdktf's CLI would.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ALLOW_DESTROY_ENV } from "../../layers/catalog";

/**
 * The environment cdktf's CLI would give the app of `tree`: the "context" of its cdktf.json as
 * CDKTF_CONTEXT_JSON (so that a change to cdktf.json shows in the diff, or is refused by the synth), and no
 * destroy confirmation of bootstrap's.
 */
export function cliEnv(tree: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  delete out[ALLOW_DESTROY_ENV];
  delete out.CDKTF_CONTEXT_JSON;
  const path = join(tree, "cdktf.json");
  if (existsSync(path)) {
    try {
      const context = (JSON.parse(readFileSync(path, "utf8")) as { context?: unknown }).context;
      if (context && typeof context === "object" && Object.keys(context).length > 0)
        out.CDKTF_CONTEXT_JSON = JSON.stringify(context);
    } catch {
      // A broken cdktf.json: the synth reads it and reports it.
    }
  }
  return out;
}
