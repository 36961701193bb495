// The logic behind ./bootstrap.sh, one subcommand per question the script asks; compiled by scripts/build.mjs into
// dist/bootstrap.cjs and run with plain node. Every command reads and updates the run document
// (<run dir>/run.json, run.ts); what bash needs back is printed on stdout as NAME='value' lines (shell.ts), human
// output goes to stderr (bootstrap.sh logs both). The config loader (zod, yaml) is loaded only by the commands that
// need it. Exit 0 = ok, 1 = failed, 2 = bad usage.
//
//   init --run-dir R --config-dir D --outdir O -- <argv>
//                              parses the command line once, writes the document; HELP, ASK_CLUSTER_NAME, AUTO_APPROVE,
//                              DESTROY, COMMAND, PLAN_ONLY, FORCE_UNLOCK, SAVE_PLANS
//   cluster-name --run-dir R   CLUSTER_NAME (exit 1 when the config is invalid)
//   preflight --run-dir R [--typed-cluster-name N]
//                              every check (with the firewall on, its Proxmox options read from the API:
//                              proxmox-firewall.ts); adds the engine, the layers and the phases; ENGINE, PHASE_COUNT
//   phase --run-dir R --index I
//                              PHASE_ACTION, PHASE_LAYER, PHASE_TARGET, PHASE_BLOCKER (a lower layer with changes still
//                              to apply that keeps a plan phase from being planned, or empty); apply-plans:
//                              PHASE_SAVED_PLAN (the layer's saved plan file) or PHASE_UNREVIEWED (the layer with
//                              changes that kept the saving run from planning it)
//   save-plan --run-dir R --index I [--plan P --changes 0|1]
//                              --save-plans: the phase's plan P copied into the folder (refused unless OpenTofu
//                              encrypted it), or, without P, the layer recorded as not planned; the manifest updated
//                              (saved-plans.ts)
//   state-resources --run-dir R --index I
//                              STATE_RESOURCES: how many resources the state of the phase's layer holds
//   plan-summary --run-dir R --index I --plan P
//                              adds the counts of the saved plan to the phase; PLAN_CHANGES (1 or 0), PLAN_REFUSED (why
//                              a plan of layer 00 must not be applied, or empty; the losses are printed)
//   record --run-dir R --index I --outcome completed|nothing|skipped|declined|refused|failed --seconds S
//   explain-failure --run-dir R --index I --output F
//   summary --run-dir R [--seconds S]
//   wait-api --run-dir R --index I       (BOOTSTRAP_API_TIMEOUT, BOOTSTRAP_API_INTERVAL)
//   deploy-key --run-dir R --index I     after layer 00 is applied: prints Flux's deploy key to add to the repository
//   leave --run-dir R --index I    before layer 01's apply: the nodes that left nodes.yaml reset gracefully, one at a
//                              time, and their Node objects deleted (preflight found them; exit 1 stops the apply)
//   rollout --run-dir R --index I --plan P
//                              layer 01's confirmed plan P, when it changes the configuration of several running nodes:
//                              applied in targeted steps, one node's configuration at a time, each node back and
//                              healthy before the next (rollout.ts); ROLLED 1 (applied) or 0 (bash applies P whole);
//                              exit 1 when a step failed (the steps after it were not applied)
//   upgrade-preflight --run-dir R
//                              `upgrade`: the config, the engine, layer 01's talos_nodes output, talosctl; prints the
//                              rolling order (with --plan without asking any node its version)
//   upgrade-run --run-dir R    runs it (BOOTSTRAP_UPGRADE_TIMEOUT, BOOTSTRAP_UPGRADE_INTERVAL); exit 1 when a step failed
//   restart-preflight --run-dir R
//                              `restart`: the config, the engine, layer 01's talos_nodes output (the VMs), talosctl, and
//                              which VMs have changes pending in Proxmox (PROXMOX_VE_API_TOKEN); prints the order
//   restart-run --run-dir R    restarts them one at a time (BOOTSTRAP_UPGRADE_TIMEOUT, BOOTSTRAP_UPGRADE_INTERVAL)
//   etcd-snapshot --run-dir R  the config, the engine, layer 01's talos_nodes output, talosctl, --out through the path
//                              gate; then `talosctl etcd snapshot` through the first controller that gives one
//   etcd-recover-preflight --run-dir R
//                              the same checks, --from through the path gate, and every controller's etcd waiting for
//                              a bootstrap (`talosctl service etcd`: Preparing); prints what the recovery does
//   etcd-recover-run --run-dir R
//                              `talosctl bootstrap --recover-from` on the first controller, then `talosctl health`
//   migrate-state --run-dir R  after the preflight of every layer (on state_backend): each layer's state copied from
//                              previous_state_backend, backed up first, verified by a plan with no changes
//                              (migrate-state.ts; BOOTSTRAP_LOCK_TIMEOUT); exit 1 when it refused or stopped
//   s3-probe                   (preflight's, no run document) stdin: {"location", "key"}; stdout: the verdict of
//                              probeConditionalWrites as JSON; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runEngine, streamEngine, type EngineBinary } from "./engine-binary";
import { credentialExports } from "./credentials";
import { deployKeyNotice } from "./deploy-key";
import { explainFailure } from "./explain";
import type { Layer } from "./layers";
import { ALLOW_DESTROY_ENV, CREDENTIALS_DIR, PERSISTENT_AUTH_LAYER, STATE_BACKEND_ENV } from "../../layers/catalog";
import type { ResolvedCluster } from "../../config";
import { ClusterNameError, clusterFolder } from "../../config/clusters";
import { formatUpgradePlan, planUpgrade, type UpgradeStep } from "../upgrade/plan";
import { describeUpgrade, runRemoval, runUpgrade, upgradePreflight } from "../upgrade/run";
import { TalosctlCli } from "../upgrade/talosctl";
import { ProxmoxApi, ProxmoxError } from "../upgrade/proxmox";
import { formatRestartPlan, pendingRestarts, runRestarts, type PendingRestart } from "../upgrade/restart";
import { recoverRefusals, recoverSource, runRecovery, snapshotTarget, takeSnapshot } from "../upgrade/etcd";
import { persistentRefusal } from "./persistent-guard";
import type { PreflightResult } from "./preflight";
import { asksClusterName, parseOptions, UsageError, type BootstrapOptions } from "./options";
import { describePlan, summarizePlan, type PlanJson } from "./plan-summary";
import { describeRollout, outsideConfirmed, planRollout, RolloutError, runRollout, type Rollout } from "./rollout";
import { formatProblems, type Problem } from "./problem";
import { bumpHint, bumpRefusal, describeLeaving, notRolledOut, type VersionBump } from "./running-cluster";
import { TALOS_NODES_LAYER } from "../upgrade/nodes";
import { proxmoxFirewallProblems } from "./proxmox-firewall";
import { formatSummary, resultsOf } from "./report";
import {
  blockedBy,
  OUTCOMES,
  phaseAt,
  readRun,
  resultOf,
  updatePhase,
  writeRun,
  type Outcome,
  type RunDocument,
} from "./run";
import type { ProbeVerdict, S3Location } from "./s3-probe";
import {
  isEncryptedPlan,
  MANIFEST,
  planFileOf,
  savedLayer,
  stackDigest,
  type SavedLayer,
  type SavedPlans,
} from "./saved-plans";
import { shellAssignments, type ShellValue } from "./shell";

/** The manifest of saved plans, written whole (saved-plans.ts reads it back). */
function writeManifest(dir: string, manifest: SavedPlans): void {
  writeFileSync(join(dir, `${MANIFEST}.tmp`), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  renameSync(join(dir, `${MANIFEST}.tmp`), join(dir, MANIFEST));
}

/** The repository: dist/bootstrap.cjs lives in <repo>/dist. */
const REPO = resolve(__dirname, "..");

const err = (line: string) => process.stderr.write(`${line}\n`);
const answer = (values: Record<string, ShellValue>) => process.stdout.write(shellAssignments(values));

interface Args {
  /** The command's own flags. */
  readonly values: Readonly<Record<string, string | undefined>>;
  /** After `--`: the user's command line (init only). */
  readonly rest: readonly string[];
  readonly runDir: string;
}

function parse(args: string[], names: readonly string[]): Args {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: Object.fromEntries(["run-dir", ...names].map((n) => [n, { type: "string" as const }])),
  });
  const runDir = values["run-dir"];
  if (runDir === undefined) throw new UsageError(["internal: --run-dir is required"]);
  return { values: values as Record<string, string | undefined>, rest: positionals, runDir };
}

function need(args: Args, name: string): string {
  const v = args.values[name];
  if (v === undefined) throw new UsageError([`internal: --${name} is required`]);
  return v;
}

function index(args: Args): number {
  const raw = need(args, "index");
  if (!/^\d+$/.test(raw)) throw new UsageError([`internal: --index ${raw} is not a phase number`]);
  return Number(raw);
}

/**
 * Each layer's backend block on previous_state_backend: the app synthesized a second time (STATE_BACKEND_ENV) into a
 * sibling of the run's output folder, so that a local state's path, relative to the stack, is the same from both.
 */
function synthesizePreviousBackends(
  doc: RunDocument,
  layers: ReadonlyArray<{ name: string }>,
): Record<string, Record<string, unknown>> | string {
  const outdir = `${doc.outdir.replace(/\/+$/, "")}-previous`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONFIG_DIR: doc.configDir,
    CDKTF_OUTDIR: outdir,
    [STATE_BACKEND_ENV]: "previous",
  };
  delete env[ALLOW_DESTROY_ENV];
  delete env.CDKTF_CONTEXT_JSON;
  try {
    const app = spawnSync(process.execPath, [join(REPO, "dist", "main.js")], { cwd: REPO, env, encoding: "utf8" });
    if (app.status !== 0) return `the synthesis with previous_state_backend failed: ${app.stderr.trim()}`;
    return Object.fromEntries(
      layers.map((l) => {
        const stack = JSON.parse(readFileSync(join(outdir, "stacks", l.name, "cdk.tf.json"), "utf8")) as {
          terraform: { backend: Record<string, unknown> };
        };
        return [l.name, stack.terraform.backend];
      }),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The config folder: clusters/<name> of this repository with --cluster, else CONFIG_DIR (or the repository). */
function configFolder(options: BootstrapOptions, configDir: string, configDirGiven: boolean): string {
  if (options.cluster === undefined || options.help) return configDir;
  if (configDirGiven) throw new UsageError(["CONFIG_DIR and --cluster both name the config folder: use one of them"]);
  try {
    return clusterFolder(REPO, options.cluster);
  } catch (e) {
    if (!(e instanceof ClusterNameError)) throw e;
    throw new UsageError([e.message]);
  }
}

/** The state backend a synthesized layer keeps its state in (local, s3, pg, http), if it can be read. */
function backendOf(layer: Layer | undefined): string | undefined {
  if (!layer) return undefined;
  try {
    const stack = JSON.parse(readFileSync(join(layer.dir, "cdk.tf.json"), "utf8")) as {
      terraform?: { backend?: Record<string, unknown> };
    };
    return Object.keys(stack.terraform?.backend ?? {})[0];
  } catch {
    return undefined;
  }
}

function engineOf(doc: RunDocument): EngineBinary {
  if (!doc.engine) throw new Error("internal: the run document has no engine (preflight did not pass)");
  return doc.engine;
}

const INFRASTRUCTURE = "01-infrastructure";

const commands: Record<string, (args: string[]) => Promise<number> | number> = {
  async "s3-probe"() {
    const { probeConditionalWrites, s3Credentials } = await import("./s3-probe");
    const { location, key } = JSON.parse(readFileSync(0, "utf8")) as { location: S3Location; key: string };
    const credentials = s3Credentials(process.env);
    const verdict: ProbeVerdict = credentials
      ? await probeConditionalWrites(location, credentials, key)
      : { kind: "error", reason: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set" };
    process.stdout.write(`${JSON.stringify(verdict)}\n`);
    return 0;
  },

  init(argv) {
    const args = parse(argv, ["config-dir", "config-dir-given", "outdir"]);
    const options = parseOptions(args.rest);
    const configDir = configFolder(options, need(args, "config-dir"), args.values["config-dir-given"] === "1");
    writeRun(args.runDir, { options, configDir, outdir: need(args, "outdir"), phases: [] });
    answer({
      HELP: options.help,
      ASK_CLUSTER_NAME: asksClusterName(options),
      AUTO_APPROVE: options.autoApprove,
      DESTROY: options.action === "destroy",
      COMMAND: options.command,
      PLAN_ONLY: options.planOnly,
      FORCE_UNLOCK: options.forceUnlock,
      SAVE_PLANS: options.savePlans !== undefined,
      CONFIG_DIR: configDir,
    });
    return 0;
  },

  async "cluster-name"(argv) {
    const doc = readRun(parse(argv, []).runDir);
    const { ConfigError, loadConfig, resolveCluster } = await import("../../config");
    try {
      answer({ CLUSTER_NAME: resolveCluster(loadConfig(doc.configDir)).name });
      return 0;
    } catch (e) {
      if (e instanceof ConfigError) return 1;
      throw e;
    }
  },

  async preflight(argv) {
    const args = parse(argv, ["typed-cluster-name"]);
    const doc = readRun(args.runDir);
    const result = await checkRun(doc, "all", args.values["typed-cluster-name"]);
    const problems = [...result.problems];
    if (result.running?.bumps.length && result.cluster)
      problems.push(...(await versionBumpProblems(doc, result.running.bumps, result.cluster.talos.kubernetesVersion)));
    if (
      problems.length === 0 &&
      result.cluster &&
      result.phases?.some((p) => p.layer === INFRASTRUCTURE && !p.action.includes("destroy"))
    )
      problems.push(...(await checkProxmoxFirewall(result.cluster)));
    if (problems.length > 0 || !result.phases || !result.engine) {
      err("");
      err(formatProblems(problems));
      return 1;
    }
    // The folder of --save-plans is made only now that nothing stops the run: its manifest lists the layers to come.
    if (result.plans && !result.plans.saved && result.cluster) {
      mkdirSync(result.plans.dir, { recursive: true, mode: 0o700 });
      writeManifest(result.plans.dir, {
        version: 1,
        cluster: result.cluster.name,
        engine: `${result.engine.kind} ${result.engine.version}`,
        scope: result.phases.filter((p) => p.action === "plan").map((p) => p.layer),
        layers: [],
      });
    }
    writeRun(args.runDir, {
      ...doc,
      engine: result.engine,
      layers: result.layers,
      phases: result.phases,
      persistentAuthUnlocked: result.persistentAuthUnlocked,
      leaving: result.running?.leaving.length ? result.running.leaving : undefined,
      plans: result.plans,
    });
    answer({ ENGINE: result.engine.path, PHASE_COUNT: result.phases.length });
    return 0;
  },

  async "migrate-state"(argv) {
    const doc = readRun(parse(argv, []).runDir);
    const { loadConfig, resolveCluster } = await import("../../config");
    const { migrateStates } = await import("./migrate-state");
    const state = resolveCluster(loadConfig(doc.configDir)).state;
    if (!state.previousBackend)
      throw new Error("internal: migrate-state without previous_state_backend passed preflight");
    const layers = doc.phases.filter((p) => p.action === "plan").map((p) => ({ name: p.layer, dir: p.target }));
    const sourceBlocks = synthesizePreviousBackends(doc, layers);
    if (typeof sourceBlocks === "string") {
      err(`migrate-state: ${sourceBlocks}`);
      return 1;
    }
    const ok = migrateStates({
      engine: engineOf(doc),
      layers,
      sourceBlocks,
      configDir: doc.configDir,
      from: state.previousBackend,
      to: state.backend,
      overwrite: doc.options.overwriteTargetState,
      lockTimeout: process.env.BOOTSTRAP_LOCK_TIMEOUT || "0s",
      env: process.env,
      stamp: new Date()
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z"),
      log: err,
    });
    return ok ? 0 : 1;
  },

  phase(argv) {
    const args = parse(argv, ["index"]);
    const doc = readRun(args.runDir);
    const i = index(args);
    const phase = phaseAt(doc, i);
    const saved = doc.plans?.saved && phase.action === "apply" ? savedLayer(doc.plans.saved, phase.layer) : undefined;
    answer({
      PHASE_ACTION: phase.action,
      PHASE_LAYER: phase.layer,
      PHASE_TARGET: phase.target,
      PHASE_BLOCKER: phase.action === "plan" ? blockedBy(doc, i) : undefined,
      PHASE_SAVED_PLAN: saved && "file" in saved ? join(doc.plans!.dir, saved.file) : undefined,
      PHASE_UNREVIEWED: saved && "blocker" in saved ? saved.blocker : undefined,
    });
    return 0;
  },

  "save-plan"(argv) {
    const args = parse(argv, ["index", "plan", "changes"]);
    const doc = readRun(args.runDir);
    const i = index(args);
    const phase = phaseAt(doc, i);
    const dir = doc.plans?.dir;
    if (!dir || doc.plans?.saved) throw new Error("internal: save-plan in a run without --save-plans");
    const stack = stackDigest(phase.target);
    const plan = args.values.plan;
    let entry: SavedLayer;
    if (plan === undefined) {
      const blocker = blockedBy(doc, i);
      if (!blocker) throw new Error(`internal: save-plan of ${phase.layer} without a plan file or a blocker`);
      entry = { layer: phase.layer, stack, blocker };
    } else {
      if (!isEncryptedPlan(readFileSync(plan))) {
        err(`  ${phase.layer}: the engine wrote its plan file unencrypted; it was not saved`);
        return 1;
      }
      const file = planFileOf(phase.layer);
      copyFileSync(plan, join(dir, file));
      chmodSync(join(dir, file), 0o600);
      entry = { layer: phase.layer, stack, file, changes: need(args, "changes") === "1" };
    }
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as SavedPlans;
    writeManifest(dir, { ...manifest, layers: [...manifest.layers.filter((l) => l.layer !== phase.layer), entry] });
    err(
      `  saved: ${"file" in entry ? join(dir, entry.file) : `${phase.layer} not planned (reads ${entry.blocker}); apply-plans plans it after ${entry.blocker} and refuses any change`}`,
    );
    return 0;
  },

  "deploy-key"(argv) {
    const args = parse(argv, ["index"]);
    const doc = readRun(args.runDir);
    const output = runEngine(
      engineOf(doc),
      phaseAt(doc, index(args)).target,
      ["output", "-json", "-no-color"],
      process.env,
    );
    if (output.status !== 0) {
      err(output.stderr.trim());
      return 1;
    }
    const notice = deployKeyNotice(output.stdout);
    if (notice.length) err(["", ...notice.map((l) => `  ${l}`), ""].join("\n"));
    return 0;
  },

  async "state-resources"(argv) {
    const args = parse(argv, ["index"]);
    const doc = readRun(args.runDir);
    const { countStateResources } = await import("./preflight");
    const show = runEngine(
      engineOf(doc),
      phaseAt(doc, index(args)).target,
      ["show", "-json", "-no-color"],
      process.env,
    );
    if (show.status !== 0) {
      err(show.stderr.trim());
      return 1;
    }
    answer({ STATE_RESOURCES: countStateResources(JSON.parse(show.stdout)) });
    return 0;
  },

  async "plan-summary"(argv) {
    const args = parse(argv, ["index", "plan"]);
    const doc = readRun(args.runDir);
    const i = index(args);
    const show = runEngine(
      engineOf(doc),
      phaseAt(doc, i).target,
      ["show", "-json", "-no-color", need(args, "plan")],
      process.env,
    );
    if (show.status !== 0) {
      err(show.stderr.trim());
      return 1;
    }
    const plan = JSON.parse(show.stdout) as PlanJson;
    const summary = summarizePlan(plan);
    err(`  plan: ${describePlan(summary)}`);
    const { add, change, destroy } = summary;
    writeRun(
      args.runDir,
      updatePhase(doc, i, (p) => ({ ...p, plan: { add, change, destroy } })),
    );
    const phase = phaseAt(doc, i);
    // A destroy of 00 passed the two keys before it was planned; an apply or a plan is checked here.
    const refusal =
      phase.layer === PERSISTENT_AUTH_LAYER && (phase.action === "apply" || phase.action === "plan")
        ? persistentRefusal(plan, doc.persistentAuthUnlocked === true)
        : [];
    if (refusal.length) err(["", ...refusal.map((l) => `  ${l}`)].join("\n"));
    if (phase.layer === TALOS_NODES_LAYER && doc.leaving?.length)
      err(["", ...describeLeaving(doc.leaving).map((l) => `  ${l}`)].join("\n"));
    const rollout = phase.layer === TALOS_NODES_LAYER ? await rolloutOf(doc, phase.target, plan) : undefined;
    if (rollout) err(["", ...describeRollout(rollout).map((l) => `  ${l}`)].join("\n"));
    answer({
      PLAN_CHANGES: summary.hasChanges,
      PLAN_REFUSED: refusal.length
        ? `the plan of ${phase.layer} deletes or replaces what cannot be made again; refused`
        : undefined,
    });
    return 0;
  },

  record(argv) {
    const args = parse(argv, ["index", "outcome", "seconds"]);
    const doc = readRun(args.runDir);
    const outcome = need(args, "outcome") as Outcome;
    if (!OUTCOMES.includes(outcome))
      throw new UsageError([`internal: --outcome ${outcome} is not one of ${OUTCOMES.join(", ")}`]);
    const seconds = Number(need(args, "seconds"));
    const updated = updatePhase(doc, index(args), (p) => ({ ...p, result: resultOf(p.action, outcome), seconds }));
    writeRun(args.runDir, updated);
    const phase = phaseAt(updated, index(args));
    err(`-- ${phase.layer}: ${phase.result} in ${seconds}s`);
    return 0;
  },

  "explain-failure"(argv) {
    const args = parse(argv, ["index", "output"]);
    const doc = readRun(args.runDir);
    const file = need(args, "output");
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    const { layer } = phaseAt(doc, index(args));
    const explanation = explainFailure(
      text,
      { layer, repo: REPO, configDir: doc.configDir, backend: backendOf(doc.layers?.find((l) => l.name === layer)) },
      process.env,
    );
    if (explanation) err(`\n${explanation}`);
    return 0;
  },

  credentials(argv) {
    const doc = readRun(parse(argv, []).runDir);
    const lines = credentialExports(doc.options, doc.configDir);
    if (lines.length)
      process.stdout.write(`\nThe cluster's credentials, for kubectl and talosctl:\n${lines.join("\n")}\n`);
    return 0;
  },

  summary(argv) {
    const args = parse(argv, ["seconds"]);
    const results = resultsOf(readRun(args.runDir).phases);
    if (results.length === 0) return 0;
    err("\n=== summary");
    err(formatSummary(results, args.values.seconds === undefined ? undefined : Number(args.values.seconds)));
    return 0;
  },

  async "wait-api"(argv) {
    const args = parse(argv, ["index"]);
    const file = phaseAt(readRun(args.runDir), index(args)).target;
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

  async leave(argv) {
    const doc = readRun(parse(argv, ["index"]).runDir);
    const leaving = doc.leaving ?? [];
    if (leaving.length === 0) return 0;
    const talosconfig = join(doc.configDir, CREDENTIALS_DIR, "talosconfig");
    const result = await runRemoval(leaving, upgradeTalosctl(talosconfig), (line) => err(`  ${line}`));
    if (result.failed) {
      err(`  stopped: ${result.failed}; left before it: ${result.done.join(", ") || "none"}`);
      err("  layer 01 was not applied: no VM was destroyed. Once the cause is fixed, run ./bootstrap.sh again.");
      return 1;
    }
    const kubeconfig = join(doc.configDir, CREDENTIALS_DIR, "kubeconfig");
    const { deleteNode, readKubeconfig } = await import("./wait-api");
    for (const node of result.done) {
      const gone = existsSync(kubeconfig)
        ? await deleteNode(readKubeconfig(readFileSync(kubeconfig, "utf8"), dirname(kubeconfig)), node)
        : { gone: false, detail: `${kubeconfig} does not exist` };
      err(
        gone.gone
          ? `  Node ${node} deleted from the Kubernetes API`
          : `  warning: Node ${node} could not be deleted (${gone.detail}); delete it yourself: kubectl delete node ${node}`,
      );
    }
    return 0;
  },

  async rollout(argv) {
    const args = parse(argv, ["index", "plan"]);
    const doc = readRun(args.runDir);
    const phase = phaseAt(doc, index(args));
    const engine = engineOf(doc);
    const confirmed = showPlan(engine, phase.target, need(args, "plan"));
    const rollout = await rolloutOf(doc, phase.target, confirmed);
    if (!rollout) {
      answer({ ROLLED: false });
      return 0;
    }
    const { ConfigError, loadConfig, resolveCluster } = await import("../../config");
    let nodes: readonly { address: string; controller: boolean }[];
    try {
      nodes = resolveCluster(loadConfig(doc.configDir)).nodes;
    } catch (e) {
      if (e instanceof ConfigError)
        throw new Error(`internal: the config became invalid after preflight: ${e.message}`);
      throw e;
    }
    const talosconfig = join(doc.configDir, CREDENTIALS_DIR, "talosconfig");
    const talosctl = upgradeTalosctl(talosconfig);
    const cannot = !existsSync(talosconfig)
      ? `${talosconfig} does not exist`
      : await talosctl.clientVersion().then(
          () => undefined,
          (e: Error) => `talosctl is not usable (${e.message})`,
        );
    if (cannot) {
      err(`  ${cannot}: the configurations cannot be rolled out one node at a time; nothing was applied`);
      return 1;
    }
    const controllers = nodes.filter((n) => n.controller).map((n) => n.address);
    const workers = nodes.filter((n) => !n.controller).map((n) => n.address);
    const lock = `-lock-timeout=${process.env.BOOTSTRAP_LOCK_TIMEOUT || "0s"}`;
    const timeoutMs = positiveNumber("BOOTSTRAP_UPGRADE_TIMEOUT", 600) * 1000;
    const intervalMs = positiveNumber("BOOTSTRAP_UPGRADE_INTERVAL", 5) * 1000;
    let steps = 0;
    const log = (line: string) => err(`  ${line}`);
    log(describeRollout(rollout)[0]);
    const result = await runRollout({
      rollout,
      log,
      step: async (targets) => {
        const file = join(args.runDir, `rollout-${++steps}.tfplan`);
        const planArgs = ["plan", "-input=false", "-no-color", lock, ...(targets ?? []).map((t) => `-target=${t}`)];
        if ((await streamEngine(engine, phase.target, [...planArgs, `-out=${file}`], process.env)) !== 0)
          throw new RolloutError("its plan failed (see above)");
        const plan = showPlan(engine, phase.target, file);
        const outside = outsideConfirmed(plan, confirmed);
        if (outside.length)
          throw new RolloutError(
            `its plan holds what the confirmed plan did not (the state or the config changed meanwhile): ${outside.join(", ")}`,
          );
        if (!summarizePlan(plan).hasChanges) return;
        if (
          (await streamEngine(
            engine,
            phase.target,
            ["apply", "-input=false", "-no-color", lock, file],
            process.env,
          )) !== 0
        )
          throw new RolloutError("its apply failed (see above)");
      },
      settle: async (node) => {
        for (let waited = 0; !(await talosctl.serverVersion(node.address)); waited += intervalMs) {
          if (waited >= timeoutMs) throw new RolloutError(`${node.address} did not answer within ${timeoutMs / 1000}s`);
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
        await talosctl.health(controllers, workers);
      },
    });
    if (result.failed) {
      err(`  stopped at ${result.failed}`);
      err(`  done before it: ${result.done.join(", ") || "nothing"}; the steps after it were not applied.`);
      err("  Once the cause is fixed, run ./bootstrap.sh again: what was applied plans no more.");
      return 1;
    }
    answer({ ROLLED: true });
    return 0;
  },

  "upgrade-preflight": (argv) => upgradePreflightCommand(argv),
  "upgrade-run": (argv) => upgradeRunCommand(argv),
  "restart-preflight": (argv) => restartPreflightCommand(argv),
  "restart-run": (argv) => restartRunCommand(argv),
  "etcd-snapshot": (argv) => etcdSnapshotCommand(argv),
  "etcd-recover-preflight": (argv) => etcdRecoverPreflightCommand(argv),
  "etcd-recover-run": (argv) => etcdRecoverRunCommand(argv),
};

/** Bootstrap's preflight on this run's config: every stage, or those of upgrade or restart. */
async function checkRun(
  doc: RunDocument,
  stages: "all" | "upgrade" | "restart",
  typedClusterName?: string,
): Promise<PreflightResult> {
  const preflight = await import("./preflight");
  const chosen = { all: preflight.STAGES, upgrade: preflight.UPGRADE_STAGES, restart: preflight.RESTART_STAGES };
  return preflight.runPreflight(
    {
      options: doc.options,
      repo: REPO,
      configDir: doc.configDir,
      outdir: doc.outdir,
      env: process.env,
      stdinIsTTY: process.stdin.isTTY === true,
      typedClusterName,
    },
    preflight.realDeps(err),
    chosen[stages],
  );
}

/**
 * What etcd-snapshot and etcd-recover check before they ask any node: the checks of `upgrade` (the config, the
 * engine, layer 01's talos_nodes output), talosctl usable, credentials/talosconfig there.
 */
async function etcdPreflight(doc: RunDocument, hint: string) {
  const result = await checkRun(doc, "upgrade");
  const problems: Problem[] = [...result.problems];
  const talosconfig = join(doc.configDir, CREDENTIALS_DIR, "talosconfig");
  const talosctl = upgradeTalosctl(talosconfig);
  try {
    await talosctl.clientVersion();
  } catch (e) {
    problems.push({ check: "talosctl", reason: `talosctl is not usable (${(e as Error).message})`, hint });
  }
  if (!existsSync(talosconfig))
    problems.push({
      check: "talosctl",
      reason: `${talosconfig} does not exist`,
      hint: "layer 01 writes it: ./bootstrap.sh --only=infrastructure",
    });
  const nodes = (result.upgrade?.nodes ?? []).map(({ name, address, controller }) => ({ name, address, controller }));
  return {
    problems,
    talosctl,
    talosconfig,
    controllers: nodes.filter((n) => n.controller).map(({ name, address }) => ({ name, address })),
    workers: nodes.filter((n) => !n.controller).map(({ name, address }) => ({ name, address })),
  };
}

async function etcdSnapshotCommand(argv: string[]): Promise<number> {
  const doc = readRun(parse(argv, []).runDir);
  const hint = "nothing was written; fix this and run ./bootstrap.sh etcd-snapshot again";
  const target = snapshotTarget(doc.configDir, doc.options.etcdOut, new Date());
  const { problems, talosctl, controllers } = await etcdPreflight(doc, hint);
  if ("reason" in target) problems.push({ check: "out", reason: target.reason, hint });
  if (problems.length > 0 || "reason" in target) {
    err("");
    err(formatProblems(problems));
    return 1;
  }
  mkdirSync(dirname(target.file), { recursive: true, mode: 0o700 });
  err("");
  try {
    const from = await takeSnapshot(talosctl, controllers, target.file, (line) => err(`  ${line}`));
    err(`etcd snapshot of ${from.name} in ${target.file}: keep it off the cluster, and out of git.`);
    return 0;
  } catch (e) {
    err(`  ${(e as Error).message}`);
    return 1;
  }
}

async function etcdRecoverPreflightCommand(argv: string[]): Promise<number> {
  const args = parse(argv, []);
  const doc = readRun(args.runDir);
  const hint = "nothing was recovered; fix this and run ./bootstrap.sh etcd-recover again";
  const source = recoverSource(doc.configDir, doc.options.etcdFrom ?? "");
  const { problems, talosctl, talosconfig, controllers, workers } = await etcdPreflight(doc, hint);
  if ("reason" in source) problems.push({ check: "from", reason: source.reason, hint });
  if (problems.length === 0)
    for (const reason of await recoverRefusals(talosctl, controllers))
      problems.push({
        check: "etcd",
        reason,
        hint: "etcd-recover restores a cluster that lost etcd: first wipe etcd's data on every controller (README: Take etcd snapshots, and recover from one)",
      });
  if (problems.length > 0 || "reason" in source) {
    err("");
    err(formatProblems(problems));
    return 1;
  }
  writeRun(args.runDir, { ...doc, etcdRecover: { file: source.file, controllers, workers, talosconfig } });
  const [first, ...others] = controllers;
  err("");
  err(`every controller's etcd waits for a bootstrap. The recovery:`);
  err(`  ${first.name}: talosctl bootstrap --recover-from=${source.file}`);
  if (others.length) err(`  ${others.map((c) => c.name).join(", ")}: join it (etcd's own join, nothing to run)`);
  err(`  talosctl health, until it passes (BOOTSTRAP_UPGRADE_TIMEOUT)`);
  return 0;
}

async function etcdRecoverRunCommand(argv: string[]): Promise<number> {
  const doc = readRun(parse(argv, []).runDir);
  if (!doc.etcdRecover) throw new Error("internal: the run document has no etcd-recover (its preflight did not pass)");
  const { file, controllers, workers, talosconfig } = doc.etcdRecover;
  try {
    await runRecovery({
      talosctl: upgradeTalosctl(talosconfig),
      controllers,
      workers,
      file,
      skipHashCheck: doc.options.recoverSkipHashCheck,
      log: (line) => err(`  ${line}`),
    });
  } catch (e) {
    err(`  ${(e as Error).message}`);
    return 1;
  }
  err("etcd is recovered. Now let the layers above 01 see the restored cluster: ./bootstrap.sh");
  return 0;
}

/** The check an upgrade refusal is reported under. */
function checkOf(reason: string): string {
  if (reason.includes("talos_config_contract")) return "contract";
  return reason.startsWith("Talos upgrades one minor at a time") ? "versions" : "talosctl";
}

async function upgradePreflightCommand(argv: string[]): Promise<number> {
  const args = parse(argv, []);
  const doc = readRun(args.runDir);
  const result = await checkRun(doc, "upgrade");
  const problems = [...result.problems];
  const talosconfig = join(doc.configDir, CREDENTIALS_DIR, "talosconfig");
  const talosctl = upgradeTalosctl(talosconfig);
  if (result.upgrade) {
    const { nodes, target, applied } = result.upgrade;
    const hint = "nothing was upgraded; fix this and run ./bootstrap.sh upgrade again";
    for (const reason of await upgradePreflight(talosctl, target, nodes, !doc.options.planOnly, applied?.talosVersion))
      problems.push({ check: checkOf(reason), reason, hint });
    if (!doc.options.planOnly && !existsSync(talosconfig))
      problems.push({
        check: "talosctl",
        reason: `${talosconfig} does not exist`,
        hint: "layer 01 writes it: ./bootstrap.sh --only=infrastructure",
      });
  }
  if (problems.length > 0 || !result.upgrade) {
    err("");
    err(formatProblems(problems));
    return 1;
  }
  const { nodes, target } = result.upgrade;
  const appliedKubernetes = result.upgrade.applied?.kubernetesVersion;
  writeRun(args.runDir, { ...doc, upgrade: { nodes, target, appliedKubernetes, talosconfig } });
  err("");
  if (doc.options.planOnly) {
    err(
      `rolling order to Talos ${target.talosVersion}, Kubernetes ${target.kubernetesVersion} (no node was asked its version):`,
    );
    err(formatUpgradePlan(planUpgrade(nodes, target, undefined, appliedKubernetes), [], target));
  } else {
    err(`rolling order to Talos ${target.talosVersion}, Kubernetes ${target.kubernetesVersion}:`);
    err(await describeUpgrade(nodes, target, talosctl, appliedKubernetes));
  }
  return 0;
}

async function upgradeRunCommand(argv: string[]): Promise<number> {
  const doc = readRun(parse(argv, []).runDir);
  if (!doc.upgrade) throw new Error("internal: the run document has no upgrade (its preflight did not pass)");
  const { nodes, target, appliedKubernetes, talosconfig } = doc.upgrade;
  const result = await runUpgrade({
    nodes,
    target,
    appliedKubernetes,
    talosctl: upgradeTalosctl(talosconfig),
    log: (line) => err(`  ${line}`),
    rejoinTimeoutMs: positiveNumber("BOOTSTRAP_UPGRADE_TIMEOUT", 600) * 1000,
    pollIntervalMs: positiveNumber("BOOTSTRAP_UPGRADE_INTERVAL", 5) * 1000,
  });
  const done = result.done.map(describeStep);
  if (!result.failed) {
    err(`done: ${done.join(", ")}`);
    err(`Now apply the new versions to layer 01 (ISO, machine configurations): ./bootstrap.sh`);
    return 0;
  }
  err("");
  err(`stopped at ${describeStep(result.failed.step)}: ${result.failed.error}`);
  err(`done before it: ${done.length ? done.join(", ") : "nothing"}; the steps after it did not run.`);
  err(
    `Once the cause is fixed, run ./bootstrap.sh upgrade again: nodes already at Talos ${target.talosVersion} are skipped.`,
  );
  return 1;
}

async function restartPreflightCommand(argv: string[]): Promise<number> {
  const args = parse(argv, []);
  const doc = readRun(args.runDir);
  const result = await checkRun(doc, "restart");
  const problems = [...result.problems];
  const talosconfig = join(doc.configDir, CREDENTIALS_DIR, "talosconfig");
  let restarts: PendingRestart[] = [];
  if (result.restart) {
    const hint = "nothing was restarted; fix this and run ./bootstrap.sh restart again";
    try {
      await upgradeTalosctl(talosconfig).clientVersion();
    } catch (e) {
      problems.push({ check: "talosctl", reason: `talosctl is not usable (${(e as Error).message})`, hint });
    }
    if (!doc.options.planOnly && !existsSync(talosconfig))
      problems.push({
        check: "talosctl",
        reason: `${talosconfig} does not exist`,
        hint: "layer 01 writes it: ./bootstrap.sh --only=infrastructure",
      });
    try {
      restarts = await pendingRestarts(result.restart.nodes, proxmoxOf(result.restart.proxmox));
    } catch (e) {
      if (!(e instanceof ProxmoxError)) throw e;
      problems.push({ check: "proxmox", reason: `the VMs' pending changes could not be read: ${e.message}`, hint });
    }
  }
  if (problems.length > 0 || !result.restart) {
    err("");
    err(formatProblems(problems));
    return 1;
  }
  writeRun(args.runDir, { ...doc, restart: { ...result.restart, talosconfig } });
  err("");
  err("rolling restart, one VM at a time, controllers first:");
  err(formatRestartPlan(restarts));
  return 0;
}

async function restartRunCommand(argv: string[]): Promise<number> {
  const doc = readRun(parse(argv, []).runDir);
  if (!doc.restart) throw new Error("internal: the run document has no restart (its preflight did not pass)");
  const { nodes, proxmox, talosconfig } = doc.restart;
  const result = await runRestarts({
    nodes,
    proxmox: proxmoxOf(proxmox),
    talosctl: upgradeTalosctl(talosconfig),
    log: (line) => err(`  ${line}`),
    rejoinTimeoutMs: positiveNumber("BOOTSTRAP_UPGRADE_TIMEOUT", 600) * 1000,
    pollIntervalMs: positiveNumber("BOOTSTRAP_UPGRADE_INTERVAL", 5) * 1000,
  });
  if (!result.failed) {
    err(`done: ${result.done.length ? `restarted ${result.done.join(", ")}` : "no VM had a change pending"}`);
    return 0;
  }
  err("");
  err(`stopped at ${result.failed.node}: ${result.failed.error}`);
  err(
    `restarted before it: ${result.done.length ? result.done.join(", ") : "nothing"}; the VMs after it were not restarted.`,
  );
  err("Once the cause is fixed, run ./bootstrap.sh restart again: only the VMs still pending are restarted.");
  return 1;
}

function showPlan(engine: EngineBinary, dir: string, file: string): PlanJson {
  const show = runEngine(engine, dir, ["show", "-json", "-no-color", file], process.env);
  if (show.status !== 0) throw new RolloutError(`${file} could not be read: ${show.stderr.trim()}`);
  return JSON.parse(show.stdout) as PlanJson;
}

/** The node-by-node rollout of a plan of layer 01 (rollout.ts), against the config's nodes and the stack's JSON. */
async function rolloutOf(doc: RunDocument, stackDir: string, plan: PlanJson): Promise<Rollout | undefined> {
  const { loadConfig, resolveCluster } = await import("../../config");
  const stack = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8"));
  return planRollout(plan, stack, resolveCluster(loadConfig(doc.configDir)).nodes);
}

/**
 * A version bump on a running cluster: refused unless the nodes already run it (./bootstrap.sh upgrade rolled it
 * out; layer 01 then only records it). --plan asks no node: it says what the apply will require.
 */
async function versionBumpProblems(
  doc: RunDocument,
  bumps: readonly VersionBump[],
  kubernetesVersion: string,
): Promise<Problem[]> {
  const reason = bumpRefusal(bumps);
  const hint = bumpHint(bumps, kubernetesVersion);
  if (doc.options.planOnly) {
    err("");
    err(`  note: ${reason}.`);
    err(`  An apply is refused until the nodes run it: ${hint}.`);
    return [];
  }
  const { ConfigError, loadConfig, resolveCluster } = await import("../../config");
  let nodes: { name: string; address: string }[];
  try {
    nodes = resolveCluster(loadConfig(doc.configDir)).nodes.map((n) => ({ name: n.name, address: n.address }));
  } catch (e) {
    if (e instanceof ConfigError) return [];
    throw e;
  }
  const talosctl = upgradeTalosctl(join(doc.configDir, CREDENTIALS_DIR, "talosconfig"));
  const kubeconfig = join(doc.configDir, CREDENTIALS_DIR, "kubeconfig");
  const { getApiJson, readKubeconfig } = await import("./wait-api");
  const behind = await notRolledOut(bumps, nodes, {
    talosVersion: (address) => talosctl.serverVersion(address).catch(() => undefined),
    kubernetesVersion: async () => {
      if (!existsSync(kubeconfig)) return undefined;
      const version = (await getApiJson(
        readKubeconfig(readFileSync(kubeconfig, "utf8"), dirname(kubeconfig)),
        "/version",
      )) as { gitVersion?: string } | undefined;
      return version?.gitVersion;
    },
  });
  if (behind.length === 0) {
    err(`  ${bumps.map((b) => `${b.what} ${b.to}`).join(", ")}: every node runs it already; layer 01 records it`);
    return [];
  }
  return [{ check: "versions", reason: `${reason} (${behind.join("; ")})`, hint }];
}

/**
 * The datacenter's and the hosts' firewall options the VMs' firewall needs (proxmox-firewall.ts), read from the
 * Proxmox API once every other check passed; its lines printed like preflight's own.
 */
async function checkProxmoxFirewall(cluster: ResolvedCluster): Promise<Problem[]> {
  if (!cluster.features.firewall) return [];
  const { PROXMOX_VE_API_TOKEN: token, PROXMOX_VE_USERNAME: username, PROXMOX_VE_PASSWORD: password } = process.env;
  const api = new ProxmoxApi({
    url: cluster.proxmox.apiUrl,
    insecure: cluster.proxmox.insecure,
    token,
    login: !token && username && password ? { username, password } : undefined,
  });
  const { ok, problems } = await proxmoxFirewallProblems(cluster, api);
  for (const line of ok) err(`  ✓ proxmox-firewall: ${line}`);
  return problems.map((p) => {
    err(`  ✗ proxmox-firewall: ${p.reason}`);
    return { check: "proxmox-firewall", ...p };
  });
}

/** The Proxmox API of the config, with PROXMOX_VE_API_TOKEN (checked by preflight). */
function proxmoxOf(api: { readonly url: string; readonly insecure: boolean }): ProxmoxApi {
  return new ProxmoxApi({ url: api.url, insecure: api.insecure, token: process.env.PROXMOX_VE_API_TOKEN ?? "" });
}

function describeStep(step: UpgradeStep): string {
  return step.kind === "talos" ? `Talos on ${step.node.name}` : `Kubernetes ${step.to}`;
}

/** talosctl (TALOSCTL, default the one on PATH) with the cluster's talosconfig. */
function upgradeTalosctl(talosconfig: string): TalosctlCli {
  return new TalosctlCli({ binary: process.env.TALOSCTL || "talosctl", talosconfig });
}

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
