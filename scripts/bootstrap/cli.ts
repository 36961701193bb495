// The logic behind ./bootstrap.sh, one subcommand per question the script asks; compiled by scripts/build.mjs into
// dist/bootstrap.cjs and run with plain node. Human output goes to stderr (bootstrap.sh logs it); stdout carries
// only what the script reads back. The config loader (zod, yaml) is loaded only by the commands that need it.
// Exit 0 = ok, 1 = failed, 2 = bad usage.
//
//   args -- <argv>                   parse; prints key=value lines (help, ask_cluster_name)
//   cluster-name --config-dir D      prints cluster_name (exit 1 when the config is invalid)
//   preflight --config-dir D --outdir O --run-dir R [--typed-cluster-name N] -- <argv>
//                                    every check; prints engine=<path> and phase=<action>\t<layer>\t<target> lines
//   blocked-by --run-dir R <layer>   prints the lower layer whose pending changes keep <layer> from being planned
//   plan-summary --engine E --dir D --plan P
//                                    prints "<add> <change> <destroy> <changes:0|1>"
//   state-resources --engine E --dir D
//                                    prints how many resources the stack's state holds
//   explain-failure --layer L --engine E --output F --config-dir D
//   summary --run-dir R [--seconds S]
//   wait-api --kubeconfig K          (BOOTSTRAP_API_TIMEOUT, BOOTSTRAP_API_INTERVAL)
//   deploy-key --engine E --dir D    after layer 00 is applied: prints Flux's deploy key to add to the repository
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runEngine, type EngineBinary } from "./engine-binary";
import { deployKeyNotice } from "./deploy-key";
import { explainFailure } from "./explain";
import type { Layer } from "./layers";
import { destroysPersistentAuth, parseOptions, UsageError } from "./options";
import { blockedBy, type LayerOutcome } from "./phases";
import { describePlan, summarizePlan, type PlanJson } from "./plan-summary";
import { formatProblems } from "./problem";
import { formatSummary, readResults } from "./report";

/** The repository: dist/bootstrap.cjs lives in <repo>/dist. */
const REPO = resolve(__dirname, "..");

const err = (line: string) => process.stderr.write(`${line}\n`);
const out = (line: string) => process.stdout.write(`${line}\n`);

function flags(args: string[], names: string[]): { values: Record<string, string | undefined>; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: Object.fromEntries(names.map((n) => [n, { type: "string" as const }])),
  });
  return { values: values as Record<string, string | undefined>, positionals };
}

function need(values: Record<string, string | undefined>, name: string): string {
  const v = values[name];
  if (v === undefined) throw new UsageError([`internal: --${name} is required`]);
  return v;
}

/** Splits `<own flags> -- <user argv>`. */
function splitAtDashes(args: string[]): [string[], string[]] {
  const i = args.indexOf("--");
  return i < 0 ? [args, []] : [args.slice(0, i), args.slice(i + 1)];
}

const commands: Record<string, (args: string[]) => Promise<number> | number> = {
  args(args) {
    const [, argv] = splitAtDashes(args);
    const options = parseOptions(argv);
    out(`help=${options.help ? 1 : 0}`);
    out(`ask_cluster_name=${destroysPersistentAuth(options) && options.yesDestroyPersistentAuth === undefined ? 1 : 0}`);
    out(`auto_approve=${options.autoApprove ? 1 : 0}`);
    return 0;
  },

  async "cluster-name"(args) {
    const { values } = flags(args, ["config-dir"]);
    const { ConfigError, loadConfig } = await import("../../config");
    try {
      out(loadConfig(need(values, "config-dir")).cluster.cluster_name);
      return 0;
    } catch (e) {
      if (e instanceof ConfigError) return 1;
      throw e;
    }
  },

  async preflight(args) {
    const [own, argv] = splitAtDashes(args);
    const { realDeps, runPreflight } = await import("./preflight");
    const { values } = flags(own, ["config-dir", "outdir", "run-dir", "typed-cluster-name"]);
    const runDir = need(values, "run-dir");
    const result = runPreflight(
      {
        options: parseOptions(argv),
        repo: REPO,
        configDir: need(values, "config-dir"),
        outdir: need(values, "outdir"),
        env: process.env,
        stdinIsTTY: process.stdin.isTTY === true,
        typedClusterName: values["typed-cluster-name"],
      },
      realDeps(err),
    );
    if (result.problems.length > 0 || !result.phases || !result.engine) {
      err("");
      err(formatProblems(result.problems));
      return 1;
    }
    writeFileSync(join(runDir, "run.json"), JSON.stringify({ engine: result.engine, layers: result.layers }, null, 2));
    out(`engine=${result.engine.path}`);
    for (const p of result.phases) out(`phase=${p.action}\t${p.layer}\t${p.target}`);
    return 0;
  },

  "blocked-by"(args) {
    const { values, positionals } = flags(args, ["run-dir"]);
    const runDir = need(values, "run-dir");
    const { layers } = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as { layers: Layer[] };
    const layer = layers.find((l) => l.name === positionals[0]);
    if (!layer) throw new UsageError([`internal: unknown layer ${positionals[0]}`]);
    const outcomes = new Map<string, LayerOutcome>();
    for (const r of readResults(join(runDir, "results.tsv"))) {
      outcomes.set(r.layer, { pending: r.result === "planned", skipped: r.result === "validated only" });
    }
    const blocker = blockedBy(layer, outcomes);
    if (blocker) out(blocker);
    return 0;
  },

  "plan-summary"(args) {
    const { values } = flags(args, ["engine", "dir", "plan"]);
    const engine = { path: need(values, "engine") } as EngineBinary;
    const show = runEngine(engine, need(values, "dir"), ["show", "-json", "-no-color", need(values, "plan")], process.env);
    if (show.status !== 0) {
      err(show.stderr.trim());
      return 1;
    }
    const summary = summarizePlan(JSON.parse(show.stdout) as PlanJson);
    err(`  plan: ${describePlan(summary)}`);
    out(`${summary.add} ${summary.change} ${summary.destroy} ${summary.hasChanges ? 1 : 0}`);
    return 0;
  },

  "deploy-key"(args) {
    const { values } = flags(args, ["engine", "dir"]);
    const output = runEngine({ path: need(values, "engine") } as EngineBinary, need(values, "dir"), ["output", "-json", "-no-color"], process.env);
    if (output.status !== 0) {
      err(output.stderr.trim());
      return 1;
    }
    const notice = deployKeyNotice(output.stdout);
    if (notice.length) err(["", ...notice.map((l) => `  ${l}`), ""].join("\n"));
    return 0;
  },

  async "state-resources"(args) {
    const { values } = flags(args, ["engine", "dir"]);
    const { countStateResources } = await import("./preflight");
    const show = runEngine({ path: need(values, "engine") } as EngineBinary, need(values, "dir"), ["show", "-json", "-no-color"], process.env);
    if (show.status !== 0) {
      err(show.stderr.trim());
      return 1;
    }
    out(String(countStateResources(JSON.parse(show.stdout))));
    return 0;
  },

  "explain-failure"(args) {
    const { values } = flags(args, ["layer", "engine", "output", "config-dir"]);
    const file = need(values, "output");
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    const explanation = explainFailure(text, {
      layer: need(values, "layer"),
      engineName: basename(need(values, "engine")),
      repo: REPO,
      configDir: need(values, "config-dir"),
    });
    if (explanation) err(`\n${explanation}`);
    return 0;
  },

  summary(args) {
    const { values } = flags(args, ["run-dir", "seconds"]);
    const results = readResults(join(need(values, "run-dir"), "results.tsv"));
    if (results.length === 0) return 0;
    err("\n=== summary");
    err(formatSummary(results, values.seconds === undefined ? undefined : Number(values.seconds)));
    return 0;
  },

  async "wait-api"(args) {
    const { values } = flags(args, ["kubeconfig"]);
    const file = need(values, "kubeconfig");
    if (!existsSync(file)) {
      err(`  ${file} does not exist: the layer that should write it did not`);
      return 1;
    }
    const { readKubeconfig, waitForApi } = await import("./wait-api");
    const api = readKubeconfig(readFileSync(file, "utf8"), dirname(file));
    const timeoutSeconds = positiveNumber("BOOTSTRAP_API_TIMEOUT", 600);
    const intervalSeconds = positiveNumber("BOOTSTRAP_API_INTERVAL", 10);
    err(`  waiting for ${api.server}/readyz (every ${intervalSeconds}s, at most ${timeoutSeconds}s)`);
    const ready = await waitForApi(api, { timeoutSeconds, intervalSeconds, log: err });
    if (!ready) err(`  the Kubernetes API did not answer within ${timeoutSeconds}s (BOOTSTRAP_API_TIMEOUT)`);
    return ready ? 0 : 1;
  },
};

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError([`${name}=${raw} must be a positive number of seconds`]);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = commands[name ?? ""];
  if (!command) {
    err(`bootstrap: internal: unknown command ${name ?? "(none)"}; commands: ${Object.keys(commands).join(", ")}`);
    return 2;
  }
  try {
    return await command(args);
  } catch (e) {
    if (e instanceof UsageError) {
      for (const p of e.problems) err(`bootstrap: ${p}`);
      err("Run ./bootstrap.sh --help for the options.");
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (e: unknown) => {
    err(`bootstrap: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  },
);
