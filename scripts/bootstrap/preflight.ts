// Everything ./bootstrap.sh checks before it changes anything: named checks grouped by stage. Every check runs and
// every problem is collected, so one run lists them all; a stage is skipped only when what it needs is missing (no
// synthesis from an invalid config, no engine run without an engine), or when the run was refused before the engine
// may run (the two keys of layer 00). Nothing here writes state: `init` and `validate` touch only the synthesized
// folders, and layer 00's state is read without a lock.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  ConfigError,
  formatIssue,
  loadConfig,
  resolveCluster,
  type ClusterDefinition,
  type ResolvedCluster,
  type ResolvedStateBackend,
} from "../../config";
import {
  ALLOW_DESTROY_ENV,
  STATE_BACKEND_ENV,
  CONFIGURATION_LAYER,
  CREDENTIALS_DIR,
  FLUX_SYNC_OBJECTS,
  PERSISTENT_AUTH_LAYER,
  SERVICES_LAYER,
  type LayerName,
} from "../../layers/catalog";
import {
  atLeast,
  MIN_OPENTOFU_FOR_STATE_ENCRYPTION,
  TESTED_KUBERNETES_VERSION,
  TESTED_TALOS_VERSION,
} from "../../config/versions";
import { TAILSCALE_AUTH_KEY_PATTERN } from "../../config/tailscale";
import { engineErrors, findEngine, runEngine, type EngineBinary, type EngineRun } from "./engine-binary";
import { configuredProviders, readLayers, type Layer } from "./layers";
import { unlocksPersistentAuth, type BootstrapOptions } from "./options";
import { needsPersistentAuthState, planPhases, resolveScope, type Phase, type Scope } from "./phases";
import type { Problem } from "./problem";
import type { ProbeVerdict, S3Location } from "./s3-probe";
import { notRootLogin, ROOT_LOGIN_HINT, workloadProblems } from "./workload-checks";
import { describeLeaving, type RunningClusterChange, runningClusterChange } from "./running-cluster";
import { applyStandIns, readStandIns, STAND_INS_ENV } from "./stand-ins";
import {
  type AppliedVersions,
  CLUSTER_VERSIONS_OUTPUT,
  parseClusterVersions,
  parseTalosNodesOutput,
  TALOS_NODES_LAYER,
  TALOS_NODES_OUTPUT,
  upgradeNodes,
  upgradeTarget,
} from "../upgrade/nodes";
import type { UpgradeNode, UpgradeTarget } from "../upgrade/plan";
import { LineCounter, parseDocument, isMap } from "yaml";
import {
  isEncryptedPlan,
  readSavedPlans,
  resolvePlansDir,
  savedPlansProblems,
  stackDigest,
  stackEncryptsPlans,
  type SavedPlans,
} from "./saved-plans";
import { restartNodes, type RestartNode } from "../upgrade/restart";

/** What the run was asked to do, and where. */
export interface PreflightInput {
  readonly options: BootstrapOptions;
  /** The repository of this tool (scripts/build.mjs, dist/main.js). */
  readonly repo: string;
  /** The folder of cluster.yaml and nodes.yaml. */
  readonly configDir: string;
  /** Where to synthesize. */
  readonly outdir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stdinIsTTY: boolean;
  /** The cluster name the user typed when asked (the second key of layer 00, without --yes-...). */
  readonly typedClusterName?: string;
}

export interface GitStatus {
  /** Top of the work tree holding the config, or undefined when it is in none. */
  readonly toplevel?: string;
  /** Changed and untracked paths, relative to the top. */
  readonly changes: readonly string[];
  /** Why git could not answer. */
  readonly error?: string;
}

/** The outside world, replaceable in tests. */
export interface PreflightDeps {
  gitStatus(dir: string): GitStatus;
  /** Paths (relative to the repo) that an installed checkout has and this one lacks. */
  missingNodeDeps(repo: string): string[];
  loadConfig(dir: string): ClusterDefinition;
  findEngine(env: NodeJS.ProcessEnv): EngineBinary | string;
  /** Compiles and runs the app (node dist/main.js); a non-zero status fails. */
  synth(repo: string, env: NodeJS.ProcessEnv): { status: number; output: string };
  readLayers(outdir: string): Layer[];
  /** The providers a synthesized stack configures. */
  configuredProviders(layer: Layer): string[];
  engine(engine: EngineBinary, dir: string, args: readonly string[], env: NodeJS.ProcessEnv): EngineRun;
  /** Whether an S3 store honours conditional writes (s3-probe.ts, run by dist/bootstrap.cjs s3-probe). */
  s3Probe(repo: string, probe: { location: S3Location; key: string }, env: NodeJS.ProcessEnv): ProbeVerdict;
  /** Progress, one line per check. */
  log(line: string): void;
}

/** What the checks found; a later check reads what an earlier one learned. */
export interface Facts {
  /** The config, validated and resolved. */
  cluster?: ResolvedCluster;
  /** workloads.yaml, validated, when it exists. */
  workloads?: NonNullable<ClusterDefinition["workloads"]>["config"];
  nodeDepsMissing?: boolean;
  /** The layers in scope, resolved against the catalog. */
  scope?: Scope;
  /** Layer 00's second key is missing or wrong: the engine must not run. */
  refused?: boolean;
  /** Both keys of layer 00 are right: synthesize with the context that lifts prevent_destroy. */
  liftPreventDestroy?: boolean;
  engine?: EngineBinary;
  /** The synthesized layers (with the provider stand-ins, when given). */
  layers?: Layer[];
  /** The state backends in scope answered. */
  backendsReady?: boolean;
  persistentAuthEmpty?: boolean;
  phases?: Phase[];
  /**
   * `upgrade`: the nodes (installer images from layer 01's state), the versions of the config, and the Talos and
   * Kubernetes versions layer 01 last applied (absent in a state written before they were recorded).
   */
  upgrade?: { nodes: UpgradeNode[]; target: UpgradeTarget; applied?: AppliedVersions };
  /** `restart`: the nodes with their VMs. */
  restart?: RestartNode[];
  /** A plain run that applies layer 01: what it does to the nodes that run now (running-cluster.ts). */
  running?: RunningClusterChange;
  /** --save-plans: the folder the plans go to; apply-plans: the folder and its manifest. */
  plans?: { dir: string; saved?: SavedPlans };
  /** Layer 03 is applied before 02 (Flux off, its sync still in 03's state). */
  configurationFirst?: boolean;
}

export interface CheckContext {
  readonly input: PreflightInput;
  readonly deps: PreflightDeps;
  readonly facts: Facts;
  /** `✓ <check>: what` */
  ok(what: string): void;
  /** `✗ <check>: reason`, and the problem collected. */
  fail(problem: Omit<Problem, "check">): void;
  /** `- <check>: skipped (why)` */
  skip(why: string): void;
  /** An indented line under the check's. */
  note(line: string): void;
}

export interface Check {
  /** Shown before each line of the check and in its problems: `git`, `config`, `environment`, ... */
  readonly name: string;
  run(ctx: CheckContext): void;
}

export interface Stage {
  readonly name: string;
  /** Why the stage cannot run, given what the stages before it found; undefined to run it. */
  readonly blockedBy?: (facts: Facts, problems: readonly Problem[]) => string | undefined;
  readonly checks: readonly Check[];
}

/** Paths bootstrap itself writes beside the config; they belong in the config repository's .gitignore. */
const OWN_OUTPUT = /^(?:.*\/)?(logs|state|credentials|cdktf\.out)\//;

/** A Proxmox API token as the provider takes it: `user@realm!tokenid=uuid`. */
const PROXMOX_TOKEN = /^[^@\s]+@[^!\s]+![^=\s]+=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// --- Stage input: the command line, the config and the work tree; no synthesis, no engine.

const git: Check = {
  name: "git",
  run({ input, deps, ok, fail, skip }) {
    if (input.options.allowDirty) return skip("--allow-dirty");
    const status = deps.gitStatus(input.configDir);
    if (status.error !== undefined || status.toplevel === undefined) {
      return fail({
        reason:
          status.error ??
          `${input.configDir} is not inside a git work tree, so what is applied cannot be traced to a commit`,
        hint: "keep cluster.yaml and nodes.yaml in a git repository, or pass --allow-dirty",
      });
    }
    // The saved plans apply-plans reads (downloaded beside the config by CI) are no change of the config.
    const plans = input.options.applyPlans && resolvePlansDir(input.configDir, "plans", input.options.applyPlans);
    const toplevel = status.toplevel;
    const changes =
      plans && "dir" in plans
        ? status.changes.filter((c) => {
            const path = resolve(toplevel, c.replace(/\/$/, ""));
            return path !== plans.dir && !path.startsWith(`${plans.dir}/`);
          })
        : status.changes;
    if (changes.length === 0) return ok(`${status.toplevel} is clean`);
    const shown = changes.slice(0, 5).join(", ") + (changes.length > 5 ? `, and ${changes.length - 5} more` : "");
    const own = changes.some((c) => OWN_OUTPUT.test(c));
    fail({
      reason: `the work tree ${status.toplevel} has uncommitted changes: ${shown}`,
      hint: `commit or stash them, or pass --allow-dirty${own ? " (logs/, state/, credentials/ and cdktf.out/ belong in .gitignore)" : ""}`,
    });
  },
};

const node: Check = {
  name: "node",
  run({ input, deps, facts, ok, fail }) {
    const missing = deps.missingNodeDeps(input.repo);
    facts.nodeDepsMissing = missing.length > 0;
    if (missing.length === 0) return ok("dependencies installed");
    fail({
      reason: `Node dependencies are not installed (missing ${missing.join(", ")})`,
      hint: `run npm ci in ${input.repo}`,
    });
  },
};

const config: Check = {
  name: "config",
  run({ input, deps, facts, ok, fail, note }) {
    try {
      const definition = deps.loadConfig(input.configDir);
      facts.cluster = resolveCluster(definition);
      facts.workloads = definition.workloads?.config;
      ok(
        `${join(input.configDir, "cluster.yaml")} and nodes.yaml are valid (cluster ${facts.cluster.name}; ${describeVersions(definition.cluster)})`,
      );
      for (const w of definition.warnings) note(formatIssue(w, input.configDir));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const errors = e.issues.filter((i) => i.severity === "error").length;
      fail({
        reason: `the cluster configuration in ${input.configDir} is invalid (${errors} error${errors === 1 ? "" : "s"})`,
        details: e.issues.map((i) => formatIssue(i, input.configDir)),
        hint: "fix the lines above (npm run synth reports the same); nothing is synthesized from an invalid config",
      });
    }
  },
};

/** Where a cluster's states live: two clusters with the same location would share (and overwrite) them. */
export function stateLocation(backend: ResolvedStateBackend, configDir: string): string {
  switch (backend.type) {
    case "local":
      return `${join(configDir, "state")}/`;
    case "http":
      return backend.address;
    case "s3":
      return `s3://${backend.bucket}/${backend.key}${backend.endpoint ? ` at ${backend.endpoint}` : ""}`;
    case "pg":
      return `the PostgreSQL schema ${backend.schema_name}`;
  }
}

/**
 * previous_state_backend marks a move of the states in progress: only migrate-state runs while it is set (another
 * run would plan against a state_backend the states are not in yet, and apply a new cluster), and migrate-state needs
 * it, as the source.
 */
const stateMigration: Check = {
  name: "migration",
  run({ input: { options, configDir }, facts, ok, fail }) {
    const state = facts.cluster?.state;
    if (!state) return;
    const from = state.previousBackend && stateLocation(state.previousBackend, configDir);
    const to = stateLocation(state.backend, configDir);
    if (options.command !== "migrate-state") {
      if (from === undefined) return;
      return fail({
        reason: `previous_state_backend is set in cluster.yaml: the states are moving from ${from} to ${to}, and this run would work on ${to}`,
        hint: "run ./bootstrap.sh migrate-state; once it has migrated every layer, remove previous_state_backend from cluster.yaml",
      });
    }
    if (from === undefined)
      return fail({
        reason:
          "migrate-state copies each layer's state from previous_state_backend to state_backend, and cluster.yaml has no previous_state_backend",
        hint: "set previous_state_backend to where the states are now, state_backend to where they go, and commit",
      });
    if (from === to)
      return fail({
        reason: `previous_state_backend and state_backend are the same place (${to}): nothing to migrate`,
        hint: "remove previous_state_backend from cluster.yaml",
      });
    ok(`each layer's state from ${from} to ${to}`);
  },
};

/**
 * The local backend's lock is the engine's POSIX lock (fcntl) on the state file: it ends with the engine's process,
 * killed or not. Beside the state the engine writes a note naming the holder, state/.<layer>.tfstate.lock.info, which
 * a killed engine leaves behind and the next engine replaces. Such notes are shown (a run holding the lock now, or
 * one that was killed); --force-unlock has nothing to release here (the engine's force-unlock cannot either).
 */
const localLock: Check = {
  name: "lock",
  run({ input: { options, configDir }, facts, ok, fail, note }) {
    if (facts.cluster?.state.backend.type !== "local") return;
    const notes = localLockNotes(join(configDir, "state"));
    if (options.forceUnlock !== undefined)
      return fail({
        reason: `--force-unlock=${options.forceUnlock}: the local backend's lock is the engine's lock on the state file, which ends with the engine's process, so there is nothing to release`,
        details: notes.map(describeLockNote),
        hint: "a run named above that is still running holds the lock: wait for it (or stop it); a killed one holds nothing, and the next run replaces its note",
      });
    if (notes.length === 0) return;
    ok(
      `${notes.length} lock note${notes.length === 1 ? "" : "s"} in ${join(configDir, "state")}/: a run holding a lock now, or one that was killed (its lock ended with it; the next run replaces the note)`,
    );
    for (const n of notes) note(describeLockNote(n));
  },
};

interface LockNote {
  readonly file: string;
  readonly id?: string;
  readonly who?: string;
  readonly operation?: string;
  readonly created?: string;
}

/** The notes the engine wrote beside the local states (.<layer>.tfstate.lock.info), as far as they parse. */
export function localLockNotes(stateDir: string): LockNote[] {
  let names: string[];
  try {
    names = readdirSync(stateDir).filter((n) => /^\..+\.tfstate\.lock\.info$/.test(n));
  } catch {
    return [];
  }
  return names.sort().map((name) => {
    const file = join(stateDir, name);
    try {
      const info = JSON.parse(readFileSync(file, "utf8").slice(0, 64 * 1024)) as Record<string, unknown>;
      const text = (key: string) => (typeof info[key] === "string" ? (info[key] as string) : undefined);
      return { file, id: text("ID"), who: text("Who"), operation: text("Operation"), created: text("Created") };
    } catch {
      return { file };
    }
  });
}

function describeLockNote(n: LockNote): string {
  const what = [n.who, n.operation?.replace(/^OperationType/, "").toLowerCase(), n.created && `since ${n.created}`]
    .filter(Boolean)
    .join(", ");
  return `${n.file}: ${what || "unreadable"}${n.id ? ` (lock ID ${n.id})` : ""}`;
}

const terminal: Check = {
  name: "terminal",
  run({ input: { options, stdinIsTTY }, fail }) {
    // etcd-snapshot asks nothing (a timer may run it).
    if (options.planOnly || options.autoApprove || stdinIsTTY || options.command === "etcd-snapshot") return;
    fail({
      reason: "stdin is not a terminal, so the plans cannot be confirmed",
      hint: "pass --auto-approve to apply each plan without asking, or --plan to apply nothing",
    });
  },
};

/**
 * The two keys of layer 00: --including-persistent-auth (checked with the arguments) and the cluster name. With
 * --destroy they destroy 00; without, they let a plan of 00 delete or replace.
 */
const persistentAuthKeys: Check = {
  name: "persistent-auth",
  run({ input, facts, ok, fail, skip }) {
    if (!unlocksPersistentAuth(input.options)) return;
    const what =
      input.options.action === "destroy"
        ? `destroying ${PERSISTENT_AUTH_LAYER}`
        : `letting a plan of ${PERSISTENT_AUTH_LAYER} delete or replace`;
    const given = input.options.yesDestroyPersistentAuth ?? input.typedClusterName;
    const cluster = facts.cluster;
    facts.refused = true;
    if (given === undefined) {
      return fail({
        reason: input.stdinIsTTY
          ? `${what} needs the cluster name typed when asked`
          : `${what} needs the cluster name typed on a terminal, and stdin is not one`,
        hint: "pass --yes-destroy-persistent-auth=<cluster name> for automation",
      });
    }
    if (cluster === undefined) return skip("the config is invalid, so the cluster name is unknown; refused");
    if (given !== cluster.name) {
      return fail({
        reason: `refused: '${given}' is not the name of this cluster, so ${PERSISTENT_AUTH_LAYER} stays`,
        hint: "give the cluster name exactly as cluster.yaml spells it (cluster_name)",
      });
    }
    facts.refused = false;
    facts.liftPreventDestroy = true;
    ok(`both keys given for ${cluster.name}: prevent_destroy is lifted for this run`);
  },
};

/** `file:line: key` of a top-level key of cluster.yaml, or the file alone when the key is absent. */
function keyLocation(configDir: string, key: string): string {
  const file = join(configDir, "cluster.yaml");
  try {
    const counter = new LineCounter();
    const doc = parseDocument(readFileSync(file, "utf8"), { lineCounter: counter });
    const pair = isMap(doc.contents) ? doc.contents.items.find((p) => String(p.key) === key) : undefined;
    const offset = (pair?.key as { range?: [number] } | undefined)?.range?.[0];
    return offset === undefined ? `${file}: ${key} (not set)` : `${file}:${counter.linePos(offset).line}: ${key}`;
  } catch {
    return `${file}: ${key}`;
  }
}

/**
 * --save-plans: a folder inside the config folder, new or empty, and plans the stacks encrypt (a plan file holds the
 * layer's prior state: Talos PKI, tokens, keys). apply-plans: the folder's manifest, readable and complete.
 */
const plansFolder: Check = {
  name: "plans",
  run({ input: { options, configDir }, facts, ok, fail }) {
    const value = options.savePlans ?? options.applyPlans;
    if (value === undefined || !facts.cluster) return;
    const flag = options.savePlans !== undefined ? "save-plans" : "plans";
    const where = resolvePlansDir(configDir, flag, value);
    const hint = "name a folder inside the config folder (e.g. plans), and keep it out of git (.gitignore)";
    if ("reason" in where) return fail({ reason: where.reason, hint });
    if (!facts.cluster.state.encrypted)
      fail({
        reason: `${keyLocation(configDir, "state_encryption")} is off: a saved plan holds its layer's state (the Talos PKI, tokens, keys) in clear, so plans are ${flag === "plans" ? "applied" : "saved"} only when OpenTofu encrypts them`,
        hint: "set state_encryption: true (the stacks then encrypt state and plan files) and TF_VAR_state_passphrase",
      });
    if (options.savePlans !== undefined) {
      if (existsSync(where.dir) && readdirSync(where.dir).length > 0)
        return fail({
          reason: `--save-plans=${value}: ${where.dir} is not empty; the plans of two runs must not mix`,
          hint: "save into a new or empty folder",
        });
      facts.plans = { dir: where.dir };
      return ok(`the plans go to ${where.dir}`);
    }
    const saved = readSavedPlans(where.dir);
    if (typeof saved === "string")
      return fail({
        reason: saved,
        hint: "point --plans at the folder ./bootstrap.sh --plan --save-plans=<dir> filled",
      });
    facts.plans = { dir: where.dir, saved };
    ok(
      `plans of ${saved.cluster} in ${where.dir}: ${saved.layers.map((l) => `${l.layer} ${"file" in l ? (l.changes ? "changes" : "no changes") : `not planned (reads ${l.blocker})`}`).join(", ")}`,
    );
  },
};

/**
 * After the synthesis: a plan is saved only from a stack that encrypts plans; saved plans are applied only to the
 * stacks they were made from, by the engine that made them, and only as OpenTofu's encrypted payload.
 */
const plansStacks: Check = {
  name: "plans",
  run({ input: { options }, facts, ok, fail }) {
    const plans = facts.plans;
    if (!plans || !facts.engine) return;
    if (!plans.saved) {
      const plain = inScope(facts).filter((l) => !stackEncryptsPlans(l.dir));
      if (plain.length === 0)
        return ok(
          `${inScope(facts)
            .map((l) => l.name)
            .join(", ")} encrypt their plan files`,
        );
      return fail({
        reason: `${plain.map((l) => l.name).join(", ")} ${plain.length === 1 ? "does" : "do"} not encrypt plan files (no terraform.encryption.plan in the stack): refused to save plans`,
        hint: "set state_encryption: true in cluster.yaml",
      });
    }
    const dirs = new Map(facts.layers!.map((l) => [l.name, l.dir]));
    const problems = savedPlansProblems(plans.saved, {
      cluster: facts.cluster!.name,
      engine: `${facts.engine.kind} ${facts.engine.version}`,
      digest: (layer) => stackDigest(dirs.get(layer)!),
      exists: (file) => existsSync(join(plans.dir, file)),
    });
    for (const entry of plans.saved.layers)
      if (
        "file" in entry &&
        existsSync(join(plans.dir, entry.file)) &&
        !isEncryptedPlan(readFileSync(join(plans.dir, entry.file)))
      )
        problems.push(`${entry.layer}: ${entry.file} is not an encrypted plan`);
    if (problems.length === 0)
      return ok(`the plans were made from these stacks by ${facts.engine.kind} ${facts.engine.version}`);
    fail({
      reason: `the plans in ${plans.dir} cannot be applied by this run (${options.applyPlans})`,
      details: problems,
      hint: "plan again from this commit (./bootstrap.sh --plan --save-plans=<dir>, or the pull request's plan job) and apply those plans",
    });
  },
};

const layers: Check = {
  name: "layers",
  run({ input: { options }, facts, ok, fail }) {
    // apply-plans: the layers of the run that saved the plans.
    const saved = facts.plans?.saved;
    const { scope, problems } = saved ? { scope: { layers: [...saved.scope] }, problems: [] } : resolveScope(options);
    problems.forEach(fail);
    if (!scope) return;
    facts.scope = scope;
    const verb = options.action === "destroy" ? "destroy" : options.planOnly ? "plan" : "apply";
    const arrow = options.action === "destroy" ? " ← " : " → ";
    const guarded =
      options.action === "apply" && scope.layers.includes(PERSISTENT_AUTH_LAYER)
        ? ` (${PERSISTENT_AUTH_LAYER} applied only with changes, never a deletion or replacement without both keys)`
        : "";
    ok(`${verb} ${scope.layers.join(arrow)}${guarded}`);
  },
};

// --- Stage environment: what the engine and the providers read from the environment, as the config asks.

/** What each remote state backend reads from the environment (the engine reads it itself). */
const BACKEND_ENVIRONMENT: Record<string, readonly string[]> = {
  http: ["TF_HTTP_USERNAME", "TF_HTTP_PASSWORD"],
  s3: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
  pg: ["PG_CONN_STR"],
};

const stateBackendCredentials: Check = {
  name: "environment",
  run({ input: { env, options }, facts, ok, fail }) {
    const state = facts.cluster?.state;
    // migrate-state reads the states where they were too.
    const types = new Set([
      state?.backend.type,
      options.command === "migrate-state" ? state?.previousBackend?.type : undefined,
    ]);
    for (const type of types) {
      const needed = type ? BACKEND_ENVIRONMENT[type] : undefined;
      if (!needed) continue;
      const names = needed.join(" and ");
      const absent = needed.filter((v) => !env[v]);
      if (absent.length === 0) {
        ok(`${names} set for the ${type} state backend`);
        continue;
      }
      fail({
        reason: `the ${type} state backend needs ${names}; ${absent.join(" and ")} ${absent.length === 1 ? "is" : "are"} not set`,
        hint: "export them (the engine reads them itself; they never go into the config)",
      });
    }
  },
};

const statePassphrase: Check = {
  name: "environment",
  run({ input: { env }, facts, ok, fail }) {
    if (!facts.cluster?.state.encrypted) return;
    const passphrase = env.TF_VAR_state_passphrase ?? "";
    if (passphrase.length >= 16) return ok("TF_VAR_state_passphrase set for state_encryption");
    fail({
      reason: `state_encryption is on and TF_VAR_state_passphrase is ${passphrase ? "shorter than 16 characters" : "not set"}`,
      hint: "export TF_VAR_state_passphrase (16 characters or more; without it the state cannot be read again)",
    });
  },
};

/** The Tailscale auth key, when a node joins the tailnet: set, and of the shape layer 01's variable accepts. */
const tailscaleAuthKey: Check = {
  name: "environment",
  run({ input: { env }, facts, ok, fail }) {
    const tailnet = facts.cluster?.features.tailscale;
    const joining = facts.cluster?.nodes.filter((n) => n.tailscale).map((n) => n.name) ?? [];
    if (!tailnet || joining.length === 0) return;
    const key = env[tailnet.authKeyEnv] ?? "";
    if (new RegExp(TAILSCALE_AUTH_KEY_PATTERN).test(key))
      return ok(`${tailnet.authKeyEnv} set for the nodes in the tailnet (${joining.join(", ")})`);
    fail({
      reason: `${joining.join(", ")} join${joining.length === 1 ? "s" : ""} the tailnet and ${tailnet.authKeyEnv} is ${key ? "not an auth key (letters, digits, '_' and '-', and ?options for an OAuth client secret)" : "not set"}`,
      hint: `export ${tailnet.authKeyEnv} (a reusable, pre-approved auth key from the Tailscale admin console; it never goes into the config)`,
    });
  },
};

// --- Stage engine.

const engine: Check = {
  name: "engine",
  run({ input: { env }, deps, facts, ok, fail }) {
    const found = deps.findEngine(env);
    if (typeof found === "string") {
      return fail({
        reason: found,
        hint: "install OpenTofu (https://opentofu.org/docs/intro/install/), or point TF_BINARY at tofu or terraform",
      });
    }
    if (found.kind === "terraform" && facts.cluster?.state.encrypted) {
      return fail({
        reason: `state_encryption is on, and ${found.path} is Terraform ${found.version}, which has no state encryption`,
        hint: "use OpenTofu (tofu on PATH, or TF_BINARY)",
      });
    }
    if (facts.cluster?.state.encrypted && !atLeast(found.version, MIN_OPENTOFU_FOR_STATE_ENCRYPTION)) {
      return fail({
        reason: `state_encryption is on, and ${found.path} is OpenTofu ${found.version}; the encrypted stacks need OpenTofu ${MIN_OPENTOFU_FOR_STATE_ENCRYPTION} or newer`,
        hint: `install OpenTofu ${MIN_OPENTOFU_FOR_STATE_ENCRYPTION} or newer (https://opentofu.org/docs/intro/install/), or point TF_BINARY at it`,
      });
    }
    facts.engine = found;
    ok(`${found.kind === "opentofu" ? "OpenTofu" : "Terraform"} ${found.version} (${found.path})`);
  },
};

// --- Stage synth.

const synth: Check = {
  name: "synth",
  run({ input, deps, facts, ok, fail, note }) {
    const { env } = input;
    const synthEnv: NodeJS.ProcessEnv = {
      ...env,
      CONFIG_DIR: input.configDir,
      CDKTF_OUTDIR: input.outdir,
      CHECKPOINT_DISABLE: "1",
    };
    // Only the two keys lift prevent_destroy: a context or a confirmation exported by the user does not reach the synth.
    delete synthEnv.CDKTF_CONTEXT_JSON;
    delete synthEnv[ALLOW_DESTROY_ENV];
    delete synthEnv[STATE_BACKEND_ENV];
    if (facts.liftPreventDestroy) synthEnv[ALLOW_DESTROY_ENV] = facts.cluster!.name;
    const run = deps.synth(input.repo, synthEnv);
    if (run.status !== 0) {
      return fail({
        reason: `synthesis failed (exit ${run.status})`,
        details: run.output.trim().split("\n").slice(-20),
        hint: `CONFIG_DIR=${input.configDir} npm run synth reproduces it`,
      });
    }
    const synthesized = deps.readLayers(input.outdir);
    ok(
      `${synthesized.map((l) => l.name).join(", ")} in ${input.outdir}${facts.liftPreventDestroy ? ` (prevent_destroy lifted on ${PERSISTENT_AUTH_LAYER})` : ""}`,
    );

    const standInsFile = env[STAND_INS_ENV];
    if (standInsFile) {
      const read = readStandIns(standInsFile);
      if ("problems" in read) {
        return fail({
          reason: `${STAND_INS_ENV} names a file that is not a list of provider stand-ins`,
          details: read.problems,
          hint: `point ${STAND_INS_ENV} at the providers.json of the engine that builds the stand-ins (judges/engine/build.sh --print-env: ENGINE_PROVIDERS), or unset it to install the pinned providers`,
        });
      }
      const used = new Map<string, string>();
      for (const layer of synthesized) {
        const applied = applyStandIns(layer.dir, read.standIns);
        if ("problems" in applied) {
          return fail({
            reason: `${layer.name}: the provider stand-ins of ${standInsFile} are not for this checkout's pins`,
            details: applied.problems,
            hint: `rebuild the engine for this checkout (judges/engine/build.sh) or unset ${STAND_INS_ENV}`,
          });
        }
        for (const u of applied.used)
          used.set(
            u.source,
            `${u.source} ${u.built} stands in for the pinned ${u.pinned}${u.why ? ` (${u.why})` : ""}`,
          );
      }
      for (const line of used.values()) note(`provider stand-in: ${line}`);
    }
    facts.layers = synthesized;
  },
};

// --- Stage validate: the synthesized stacks in scope.

/** The layers in scope, as synthesized. */
function inScope(facts: Facts): Layer[] {
  return facts.scope!.layers.map((name) => facts.layers!.find((l) => l.name === name)!);
}

const proxmoxToken: Check = {
  name: "environment",
  run({ input: { env }, deps, facts, ok, fail }) {
    const proxmox = inScope(facts).filter((l) => deps.configuredProviders(l).includes("proxmox"));
    if (proxmox.length === 0) return;
    const names = proxmox.map((l) => l.name).join(", ");
    const token = env.PROXMOX_VE_API_TOKEN;
    // The provider also logs in with a user and password (only root@pam itself may set some container
    // options of workloads.yaml, see workload-checks.ts); it prefers a token when both are set.
    if (!token && env.PROXMOX_VE_USERNAME && env.PROXMOX_VE_PASSWORD)
      return ok(
        `PROXMOX_VE_USERNAME ${env.PROXMOX_VE_USERNAME} and PROXMOX_VE_PASSWORD set for ${facts.cluster!.proxmox.apiUrl}`,
      );
    if (!token) {
      return fail({
        reason: `${names} need${proxmox.length === 1 ? "s" : ""} the Proxmox API: PROXMOX_VE_API_TOKEN is not set`,
        hint: "export PROXMOX_VE_API_TOKEN='user@realm!tokenid=uuid' (the provider reads it itself), or PROXMOX_VE_USERNAME and PROXMOX_VE_PASSWORD",
      });
    }
    if (!PROXMOX_TOKEN.test(token)) {
      return fail({
        reason: "PROXMOX_VE_API_TOKEN is not of the form user@realm!tokenid=uuid",
        hint: "copy the token id and secret from Datacenter → Permissions → API Tokens as user@realm!tokenid=secret",
      });
    }
    ok(`PROXMOX_VE_API_TOKEN set for ${facts.cluster!.proxmox.apiUrl}`);
  },
};

/** What workloads.yaml needs from the environment and the API user; its VMs and containers are in layer 01. */
const workloads: Check = {
  name: "workloads",
  run({ input: { env }, facts, ok, fail }) {
    if (!facts.workloads || !facts.scope!.layers.includes("01-infrastructure")) return;
    const problems = workloadProblems(facts.workloads, env);
    problems.forEach(fail);
    if (problems.length === 0) ok("environment variables set, API user allowed to set every container option");
  },
};

/**
 * A node's PCI device by raw id: qemu-server lets only root@pam itself set a `hostpci` that is not a mapping
 * ("only root can set 'hostpci0' config for non-mapped devices"), an API token of root@pam included.
 */
const rawPciIds: Check = {
  name: "permissions",
  run({ input: { env }, facts, ok, fail }) {
    if (!facts.scope!.layers.includes("01-infrastructure")) return;
    const raw = facts.cluster!.nodes.flatMap((n) =>
      n.pciDevices.flatMap((d) => (d.id ? [`${n.name}: pci_devices id ${d.id}`] : [])),
    );
    if (raw.length === 0) return;
    const notRoot = notRootLogin(env);
    if (!notRoot) return ok("root@pam logs in with its password, as raw PCI ids need");
    fail({
      reason: `Proxmox lets only root@pam itself, logged in with its password, pass a PCI device by raw id; ${notRoot}`,
      details: raw,
      hint: `use a PCI resource mapping instead (Datacenter → Resource Mappings; pci_devices: [{ mapping: <name> }], which an API token may use with Mapping.Use), or ${ROOT_LOGIN_HINT.replace(", or remove the options", "")}`,
    });
  },
};

const validate: Check = {
  name: "validate",
  run({ input: { env }, deps, facts, ok, fail, skip, note }) {
    const engine = facts.engine;
    if (!engine) return skip("no usable engine");
    for (const layer of inScope(facts)) {
      const init = deps.engine(engine, layer.dir, ["init", "-backend=false", "-input=false", "-no-color"], env);
      if (init.status !== 0) {
        fail({
          reason: `${layer.name}: init -backend=false failed`,
          details: engineErrors(init),
          hint: "the stack could not be loaded or its providers installed (the engine's errors above say which); providers come from the registry or the mirrors of TF_CLI_CONFIG_FILE",
        });
        continue;
      }
      const run = deps.engine(engine, layer.dir, ["validate", "-json", "-no-color"], env);
      const diagnostics = parseValidate(run);
      const errors = diagnostics.filter((d) => d.severity === "error");
      if (run.status !== 0 || errors.length > 0) {
        fail({
          reason: `${layer.name}: ${Math.max(errors.length, 1)} error${errors.length > 1 ? "s" : ""} from ${engine.kind === "opentofu" ? "tofu" : "terraform"} validate`,
          details: errors.length ? errors.map(describeDiagnostic) : engineErrors(run),
          hint: `cd ${layer.dir} && ${engine.path} validate shows them in place; a stack bootstrap did not synthesize itself points at a bug in layers/ or constructs/`,
        });
        continue;
      }
      ok(
        `${layer.name}${diagnostics.length ? ` (${diagnostics.length} warning${diagnostics.length === 1 ? "" : "s"})` : ""}`,
      );
      for (const d of diagnostics) note(describeDiagnostic(d));
    }
  },
};

// --- Stage state: the state backends, only when everything else is in order.

/** The layers whose state preflight reads: those in scope, and 00 when the run must know whether it is empty. */
function stateLayers(input: PreflightInput, facts: Facts): Layer[] {
  const layers = inScope(facts);
  const persistentAuth = facts.layers!.find((l) => l.name === PERSISTENT_AUTH_LAYER)!;
  if (needsPersistentAuthState(input.options, facts.scope!) && !layers.includes(persistentAuth))
    layers.push(persistentAuth);
  return layers;
}

const backends: Check = {
  name: "state",
  run({ input, deps, facts, ok, fail }) {
    const layers = stateLayers(input, facts);
    if (facts.backendsReady === false) return;
    let ready = true;
    for (const layer of layers) {
      const init = deps.engine(facts.engine!, layer.dir, ["init", "-input=false", "-no-color"], input.env);
      if (init.status === 0) continue;
      ready = false;
      fail({
        reason: `${layer.name}: the state backend could not be initialized`,
        details: engineErrors(init),
        hint: "check state_backend in cluster.yaml, that the state server answers, and its credentials",
      });
    }
    facts.backendsReady = ready;
    if (ready) ok(`backends of ${layers.map((l) => l.name).join(", ")} initialized`);
  },
};

/**
 * An S3 store must honour conditional writes, or OpenTofu's lock file locks nothing: two runs would both take it.
 * Probed beside layer 00's state with an object of its own, before any engine touches the state.
 */
const conditionalWrites: Check = {
  name: "state",
  run({ input, deps, facts, ok, fail }) {
    const backend = facts.cluster?.state.backend;
    if (backend?.type !== "s3") return;
    const location = {
      endpoint: backend.endpoint,
      bucket: backend.bucket,
      region: backend.region,
      usePathStyle: backend.use_path_style,
    };
    const key = `${backend.key.replaceAll("{layer}", PERSISTENT_AUTH_LAYER)}.bootstrap-probe-${randomUUID()}`;
    const verdict = deps.s3Probe(input.repo, { location, key }, input.env);
    const where = `s3://${backend.bucket}${backend.endpoint ? ` at ${backend.endpoint}` : ""}`;
    if (verdict.kind === "honoured")
      return ok(`${where} honours conditional writes (If-None-Match), which OpenTofu's lock file needs`);
    facts.backendsReady = false;
    if (verdict.kind === "ignored") {
      return fail({
        reason: `${where} ignores conditional writes: ${verdict.statuses.length} PutObject requests with If-None-Match: * on one new object were all stored (HTTP ${verdict.statuses.join(", ")}), so OpenTofu's lock file (use_lockfile) would not lock and two runs could write the state at once`,
        hint: "use a store that refuses an existing object with 412 Precondition Failed (AWS S3 does; upgrade or replace the S3-compatible store), or another state backend (pg, http with locking)",
      });
    }
    fail({
      reason: `${where}: could not check that the store honours conditional writes: ${verdict.reason}`,
      hint: "check the bucket exists, state_backend's endpoint, region and use_path_style, and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    });
  },
};

const persistentAuthState: Check = {
  name: "state",
  run({ input, deps, facts, ok, fail }) {
    if (!facts.backendsReady || !needsPersistentAuthState(input.options, facts.scope!)) return;
    const layer = facts.layers!.find((l) => l.name === PERSISTENT_AUTH_LAYER)!;
    const show = deps.engine(facts.engine!, layer.dir, ["show", "-json", "-no-color"], input.env);
    if (show.status !== 0) {
      return fail({
        reason: `${PERSISTENT_AUTH_LAYER}: its state could not be read`,
        details: engineErrors(show),
        hint: "check the state backend and, with state_encryption, TF_VAR_state_passphrase",
      });
    }
    const count = countStateResources(JSON.parse(show.stdout));
    facts.persistentAuthEmpty = count === 0;
    ok(
      `${PERSISTENT_AUTH_LAYER} holds ${count} resource${count === 1 ? "" : "s"}${facts.persistentAuthEmpty ? ": never applied" : ""}`,
    );
  },
};

// A plain run that applies (or plans) layer 01 on a cluster that runs: the nodes that left nodes.yaml and the
// version bumps, from layer 01's outputs.
const runningCluster: Check = {
  name: "state",
  run({ input, deps, facts, ok, fail, note }) {
    const { options } = input;
    if (!facts.backendsReady || options.command !== "layers" || options.action !== "apply") return;
    if (!facts.scope!.layers.includes(TALOS_NODES_LAYER)) return;
    const layer = facts.layers!.find((l) => l.name === TALOS_NODES_LAYER)!;
    const output = deps.engine(facts.engine!, layer.dir, ["output", "-json", "-no-color"], input.env);
    let change: RunningClusterChange | undefined;
    try {
      // A state with no outputs (never applied) answers nothing or {}.
      const text = output.status === 0 ? output.stdout.trim() : "";
      change = text ? runningClusterChange(facts.cluster!, JSON.parse(text)) : undefined;
    } catch (e) {
      return fail({
        reason: `${TALOS_NODES_LAYER}: ${(e as Error).message}`,
        hint: "its outputs were written by another version of this code; apply it once with that version",
      });
    }
    if (!change) return ok(`${TALOS_NODES_LAYER} records no running nodes yet: nothing leaves, no version moves`);
    for (const reason of change.refusals)
      fail({ reason, hint: "nothing was changed; remove fewer controllers in this run, then the rest in the next" });
    facts.running = change;
    ok(
      `${TALOS_NODES_LAYER}: ${change.leaving.length ? `${change.leaving.map((n) => n.name).join(", ")} leave${change.leaving.length === 1 ? "s" : ""}` : "no node leaves"}; ${change.bumps.length ? change.bumps.map((b) => `${b.what} ${b.from} -> ${b.to}`).join(", ") : "no version moves"}`,
    );
    for (const line of describeLeaving(change.leaving)) note(line);
  },
};

// Flux switched off while layer 03 still holds its sync: 02 would uninstall Flux with its CRDs before 03 deletes
// the GitRepository and Kustomization (the engine cannot read an object whose kind is gone; on a real cluster their
// finalizers would wait for controllers that no longer run). With Flux off 03 reads nothing of 02, so it goes first.
const fluxSyncLeaving: Check = {
  name: "state",
  run({ input, deps, facts, ok, fail }) {
    const { options } = input;
    if (!facts.backendsReady || options.command !== "layers" || options.action !== "apply" || options.planOnly) return;
    const { layers } = facts.scope!;
    if (facts.cluster!.features.flux || !layers.includes(SERVICES_LAYER) || !layers.includes(CONFIGURATION_LAYER))
      return;
    const layer = facts.layers!.find((l) => l.name === CONFIGURATION_LAYER)!;
    const show = deps.engine(facts.engine!, layer.dir, ["show", "-json", "-no-color"], input.env);
    if (show.status !== 0) {
      return fail({
        reason: `${CONFIGURATION_LAYER}: its state could not be read`,
        details: engineErrors(show),
        hint: "check the state backend and, with state_encryption, TF_VAR_state_passphrase",
      });
    }
    const held = stateAddresses(JSON.parse(show.stdout)).filter((a) =>
      (FLUX_SYNC_OBJECTS as readonly string[]).includes(a),
    );
    if (held.length === 0) return;
    facts.configurationFirst = true;
    ok(
      `flux_enabled is false and ${CONFIGURATION_LAYER} holds Flux's sync (${held.join(", ")}): ${CONFIGURATION_LAYER} is applied before ${SERVICES_LAYER}, so that the sync is deleted while Flux still runs`,
    );
  },
};

// --- Stage sequence: the phases of the run.

const sequence: Check = {
  name: "sequence",
  run({ input, facts, fail }) {
    const dirs = new Map(facts.layers!.map((l) => [l.name, l.dir]));
    const { phases, problems } = planPhases(input.options, facts.scope!, {
      persistentAuthEmpty: facts.persistentAuthEmpty,
      configurationFirst: facts.configurationFirst,
      stackDir: (layer: LayerName) => dirs.get(layer)!,
      kubeconfig: join(input.configDir, CREDENTIALS_DIR, "kubeconfig"),
    });
    problems.forEach(fail);
    if (problems.length === 0) facts.phases = phases;
  },
};

// --- `upgrade`: the nodes as layer 01 recorded them; only its state is read.

const upgradeLayers: Check = {
  name: "layers",
  run({ input, facts, ok }) {
    facts.scope = { layers: [TALOS_NODES_LAYER] };
    ok(`${input.options.command} reads the ${TALOS_NODES_OUTPUT} output of ${TALOS_NODES_LAYER} and changes no layer`);
  },
};

const talosNodes: Check = {
  name: "state",
  run({ input, deps, facts, ok, fail }) {
    if (!facts.backendsReady) return;
    const layer = facts.layers!.find((l) => l.name === TALOS_NODES_LAYER)!;
    const output = deps.engine(
      facts.engine!,
      layer.dir,
      ["output", "-json", "-no-color", TALOS_NODES_OUTPUT],
      input.env,
    );
    const hint = `apply ${TALOS_NODES_LAYER} first (./bootstrap.sh); the upgrade takes each node's installer image from it`;
    if (output.status !== 0) {
      return fail({
        reason: `${TALOS_NODES_LAYER}: its state has no ${TALOS_NODES_OUTPUT} output (never applied, or applied by an older version)`,
        details: engineErrors(output),
        hint,
      });
    }
    try {
      const entries = parseTalosNodesOutput(output.stdout);
      const cluster = facts.cluster!;
      // An older state has no cluster_versions output: then only the nodes themselves tell where they are.
      const versions = deps.engine(
        facts.engine!,
        layer.dir,
        ["output", "-json", "-no-color", CLUSTER_VERSIONS_OUTPUT],
        input.env,
      );
      const applied = versions.status === 0 ? parseClusterVersions(JSON.parse(versions.stdout)) : undefined;
      facts.upgrade = {
        nodes: upgradeNodes(cluster, entries),
        target: upgradeTarget(cluster),
        ...(applied ? { applied } : {}),
      };
      if (input.options.command === "restart") facts.restart = restartNodes(cluster, entries);
      ok(`${entries.length} node${entries.length === 1 ? "" : "s"} in ${TALOS_NODES_LAYER}'s ${TALOS_NODES_OUTPUT}`);
    } catch (e) {
      fail({ reason: `${TALOS_NODES_LAYER}: ${(e as Error).message}`, hint });
    }
  },
};

const REFUSED = "refused before the engine runs";

function beforeSynth(facts: Facts): string | undefined {
  if (facts.refused) return REFUSED;
  if (!facts.cluster) return "the config is invalid";
  if (facts.nodeDepsMissing) return "Node dependencies missing";
  return undefined;
}

function beforeValidate(facts: Facts): string | undefined {
  return (
    beforeSynth(facts) ?? (!facts.layers ? "no synthesized stacks" : !facts.scope ? "no layers in scope" : undefined)
  );
}

const everythingInOrder = (facts: Facts, problems: readonly Problem[]) =>
  beforeValidate(facts) ?? (problems.length > 0 ? "fix the problems above first" : undefined);

const ENVIRONMENT_STAGE: Stage = {
  name: "environment",
  blockedBy: (f) => (f.cluster ? undefined : "the config is invalid"),
  checks: [stateBackendCredentials, statePassphrase],
};
const ENGINE_STAGE: Stage = { name: "engine", blockedBy: (f) => (f.refused ? REFUSED : undefined), checks: [engine] };
const SYNTH_STAGE: Stage = { name: "synth", blockedBy: beforeSynth, checks: [synth] };

/** Every check, by stage, in the order they run. */
export const STAGES: readonly Stage[] = [
  {
    name: "input",
    checks: [git, node, config, stateMigration, localLock, terminal, persistentAuthKeys, plansFolder, layers],
  },
  { ...ENVIRONMENT_STAGE, checks: [...ENVIRONMENT_STAGE.checks, tailscaleAuthKey] },
  ENGINE_STAGE,
  SYNTH_STAGE,
  { name: "validate", blockedBy: beforeValidate, checks: [proxmoxToken, workloads, rawPciIds, validate, plansStacks] },
  {
    name: "state",
    blockedBy: everythingInOrder,
    checks: [conditionalWrites, backends, persistentAuthState, runningCluster, fluxSyncLeaving],
  },
  { name: "sequence", blockedBy: everythingInOrder, checks: [sequence] },
];

/** The checks of `./bootstrap.sh upgrade`: the config, the engine, and layer 01's state; nothing is validated or planned. */
export const UPGRADE_STAGES: readonly Stage[] = [
  { name: "input", checks: [git, node, config, stateMigration, terminal, upgradeLayers] },
  ENVIRONMENT_STAGE,
  ENGINE_STAGE,
  SYNTH_STAGE,
  { name: "state", blockedBy: everythingInOrder, checks: [backends, talosNodes] },
];

/** The checks of `./bootstrap.sh restart`: those of `upgrade`, and the Proxmox API token. */
export const RESTART_STAGES: readonly Stage[] = [
  ...UPGRADE_STAGES.slice(0, -1),
  { name: "state", blockedBy: everythingInOrder, checks: [proxmoxToken, backends, talosNodes] },
];

/** The checks by name, for their unit tests. */
export const CHECKS = {
  git,
  node,
  config,
  stateMigration,
  localLock,
  terminal,
  persistentAuthKeys,
  plansFolder,
  layers,
  stateBackendCredentials,
  statePassphrase,
  tailscaleAuthKey,
  engine,
  synth,
  proxmoxToken,
  workloads,
  rawPciIds,
  validate,
  conditionalWrites,
  backends,
  persistentAuthState,
  runningCluster,
  fluxSyncLeaving,
  sequence,
  upgradeLayers,
  talosNodes,
  plansStacks,
};

export interface PreflightResult {
  readonly problems: Problem[];
  readonly engine?: EngineBinary;
  readonly layers?: Layer[];
  /** Set when there is no problem. */
  readonly phases?: Phase[];
  readonly clusterName?: string;
  /** The config, resolved, once it is valid. */
  readonly cluster?: ResolvedCluster;
  /** Both keys of layer 00 were given and are right. */
  readonly persistentAuthUnlocked?: boolean;
  /** `upgrade`: what to upgrade, to which versions, from the versions layer 01 last applied. */
  readonly upgrade?: {
    readonly nodes: UpgradeNode[];
    readonly target: UpgradeTarget;
    readonly applied?: AppliedVersions;
  };
  /** `restart`: the nodes with their VMs, and the Proxmox API they are on. */
  readonly restart?: {
    readonly nodes: RestartNode[];
    readonly proxmox: { readonly url: string; readonly insecure: boolean };
  };
  /** A plain run through layer 01: the nodes leaving and the version bumps, against its state. */
  readonly running?: RunningClusterChange;
  /** --save-plans or apply-plans: the folder, and for apply-plans its manifest. */
  readonly plans?: { readonly dir: string; readonly saved?: SavedPlans };
}

/** Runs `check` with a context that logs its lines and collects its problems into `problems`. */
export function runCheck(
  check: Check,
  input: PreflightInput,
  deps: PreflightDeps,
  facts: Facts,
  problems: Problem[],
): void {
  check.run({
    input,
    deps,
    facts,
    ok: (what) => deps.log(`  ✓ ${check.name}: ${what}`),
    fail: (p) => {
      // A problem may name a check of its own (workload-checks.ts reports "environment").
      const problem = { check: check.name, ...p };
      problems.push(problem);
      deps.log(`  ✗ ${problem.check}: ${p.reason}`);
    },
    skip: (why) => deps.log(`  - ${check.name}: skipped (${why})`),
    note: (line) => deps.log(`      ${line}`),
  });
}

export function runPreflight(
  input: PreflightInput,
  deps: PreflightDeps,
  stages: readonly Stage[] = STAGES,
): PreflightResult {
  const facts: Facts = {};
  const problems: Problem[] = [];
  // Stages skipped one after the other for the same reason are reported on one line.
  let skipped: { names: string[]; why: string } | undefined;
  const flush = () => {
    if (skipped) deps.log(`  - ${skipped.names.join(", ")}: skipped (${skipped.why})`);
    skipped = undefined;
  };
  for (const stage of stages) {
    const why = stage.blockedBy?.(facts, problems);
    if (why !== undefined) {
      if (skipped?.why === why) skipped.names.push(stage.name);
      else {
        flush();
        skipped = { names: [stage.name], why };
      }
      continue;
    }
    flush();
    for (const check of stage.checks) runCheck(check, input, deps, facts, problems);
  }
  flush();
  return {
    problems,
    engine: facts.engine,
    layers: facts.layers,
    phases: problems.length === 0 ? facts.phases : undefined,
    clusterName: facts.cluster?.name,
    cluster: facts.cluster,
    persistentAuthUnlocked: facts.liftPreventDestroy === true,
    upgrade: problems.length === 0 ? facts.upgrade : undefined,
    running: problems.length === 0 ? facts.running : undefined,
    plans: problems.length === 0 ? facts.plans : undefined,
    restart:
      problems.length === 0 && facts.restart && facts.cluster
        ? {
            nodes: facts.restart,
            proxmox: { url: facts.cluster.proxmox.apiUrl, insecure: facts.cluster.proxmox.insecure },
          }
        : undefined,
  };
}

interface Diagnostic {
  readonly severity: "error" | "warning";
  readonly summary: string;
  readonly detail?: string;
  readonly address?: string;
  readonly range?: { readonly filename: string; readonly start: { readonly line: number } };
}

function parseValidate(run: EngineRun): Diagnostic[] {
  try {
    return (JSON.parse(run.stdout) as { diagnostics?: Diagnostic[] }).diagnostics ?? [];
  } catch {
    return [];
  }
}

function describeDiagnostic(d: Diagnostic): string {
  const where = d.address ?? (d.range ? `${d.range.filename}:${d.range.start.line}` : "");
  return `${d.severity}: ${where ? `${where}: ` : ""}${d.summary}${d.detail ? `: ${d.detail.replace(/\s+/g, " ").trim()}` : ""}`;
}

/** Resources in `<engine> show -json` of a state (root and child modules). */
export function countStateResources(state: { values?: { root_module?: StateModule } }): number {
  const count = (m: StateModule | undefined): number =>
    (m?.resources?.length ?? 0) + (m?.child_modules ?? []).reduce((n, c) => n + count(c), 0);
  return count(state.values?.root_module);
}

/** The address of every resource in `<engine> show -json` of a state. */
export function stateAddresses(state: { values?: { root_module?: StateModule } }): string[] {
  const walk = (m: StateModule | undefined): string[] => [
    ...(m?.resources ?? []).map((r) => (r as { address: string }).address),
    ...(m?.child_modules ?? []).flatMap(walk),
  ];
  return walk(state.values?.root_module);
}

interface StateModule {
  readonly resources?: readonly unknown[];
  readonly child_modules?: readonly StateModule[];
}

/** The real outside world. */
export function realDeps(log: (line: string) => void): PreflightDeps {
  return {
    gitStatus(dir) {
      const top = spawnSync("git", ["-C", dir, "rev-parse", "--show-toplevel"], { encoding: "utf8" });
      if (top.error) return { changes: [], error: `git could not run (${top.error.message})` };
      if (top.status !== 0) return { changes: [] };
      const toplevel = top.stdout.trim();
      const status = spawnSync("git", ["-C", toplevel, "status", "--porcelain=v1", "-z", "--untracked-files=all"], {
        encoding: "utf8",
      });
      if (status.status !== 0)
        return { toplevel, changes: [], error: `git status failed in ${toplevel}: ${status.stderr.trim()}` };
      const changes = status.stdout
        .split("\0")
        .filter((e) => e.length > 3)
        .map((e) => e.slice(3));
      return { toplevel, changes };
    },
    missingNodeDeps(repo) {
      const needed = [
        "node_modules/cdktf/package.json",
        "node_modules/constructs/package.json",
        "node_modules/yaml/package.json",
        "node_modules/zod/package.json",
        "node_modules/esbuild/package.json",
        ".gen",
      ];
      return needed.filter((p) => !existsSync(join(repo, p)));
    },
    loadConfig,
    findEngine,
    synth(repo, env) {
      const build = spawnSync(process.execPath, [join(repo, "scripts", "build.mjs")], {
        cwd: repo,
        env,
        encoding: "utf8",
      });
      if (build.status !== 0) return { status: build.status ?? -1, output: `${build.stdout}${build.stderr}` };
      const app = spawnSync(process.execPath, [join(repo, "dist", "main.js")], { cwd: repo, env, encoding: "utf8" });
      return { status: app.status ?? -1, output: `${app.stdout}${app.stderr}` };
    },
    readLayers,
    configuredProviders,
    engine: runEngine,
    s3Probe(repo, probe, env) {
      const run = spawnSync(process.execPath, [join(repo, "dist", "bootstrap.cjs"), "s3-probe"], {
        env,
        input: JSON.stringify(probe),
        encoding: "utf8",
        timeout: 120_000,
      });
      if (run.status !== 0)
        return { kind: "error", reason: `the probe failed: ${(run.stderr || run.error?.message || "").trim()}` };
      return JSON.parse(run.stdout) as ProbeVerdict;
    },
    log,
  };
}

/** "Talos v1.12.7, Kubernetes v1.35.4 (the versions this release is tested with)", or which differ from them. */
export function describeVersions(cluster: {
  readonly talos_version: string;
  readonly kubernetes_version: string;
}): string {
  const versions = `Talos ${cluster.talos_version}, Kubernetes ${cluster.kubernetes_version}`;
  if (cluster.talos_version === TESTED_TALOS_VERSION && cluster.kubernetes_version === TESTED_KUBERNETES_VERSION)
    return `${versions} (the versions this release is tested with)`;
  return `${versions} (this release is tested with Talos ${TESTED_TALOS_VERSION}, Kubernetes ${TESTED_KUBERNETES_VERSION})`;
}
