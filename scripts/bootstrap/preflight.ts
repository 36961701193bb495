// Everything ./bootstrap.sh checks before it changes anything. Every check runs and every problem is collected,
// so one run lists them all; a check is skipped only when what it needs is missing (no synthesis from an
// invalid config, no engine run without an engine), or when the run was refused before the engine may run (the
// two keys of layer 00). Nothing here writes state: `init` and `validate` touch only the synthesized folders,
// and layer 00's state is read without a lock.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, formatIssue, loadConfig, type ClusterDefinition } from "../../config";
import { TESTED_KUBERNETES_VERSION, TESTED_TALOS_VERSION } from "../../config/versions";
import { engineErrors, findEngine, runEngine, type EngineBinary, type EngineRun } from "./engine-binary";
import { ALLOW_DESTROY_ENV, configuredProviders, kubeconfigWrittenBy, PERSISTENT_AUTH, readLayers, readStack, type Layer, type StackJson } from "./layers";
import { destroysPersistentAuth, type BootstrapOptions } from "./options";
import { needsPersistentAuthState, planPhases, resolveScope, type Phase } from "./phases";
import type { Problem } from "./problem";
import { workloadProblems } from "./workload-checks";

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
  /** Runs BOOTSTRAP_PREPARE_STACK in a stack folder. */
  prepareStack(command: string, dir: string, env: NodeJS.ProcessEnv): { status: number; output: string };
  readLayers(outdir: string): Layer[];
  readStack(layer: Layer): StackJson;
  engine(engine: EngineBinary, dir: string, args: readonly string[], env: NodeJS.ProcessEnv): EngineRun;
  /** Progress, one line per check. */
  log(line: string): void;
}

export interface PreflightResult {
  readonly problems: Problem[];
  readonly engine?: EngineBinary;
  readonly layers?: Layer[];
  readonly phases?: Phase[];
  readonly clusterName?: string;
}

/** Paths bootstrap itself writes beside the config; they belong in the config repository's .gitignore. */
const OWN_OUTPUT = /^(?:.*\/)?(logs|state|credentials|cdktf\.out)\//;

/** A Proxmox API token as the provider takes it: `user@realm!tokenid=uuid`. */
const PROXMOX_TOKEN = /^[^@\s]+@[^!\s]+![^=\s]+=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function runPreflight(input: PreflightInput, deps: PreflightDeps): PreflightResult {
  const { options, env } = input;
  const problems: Problem[] = [];
  const ok = (check: string, what: string) => deps.log(`  ✓ ${check}: ${what}`);
  const skip = (check: string, why: string) => deps.log(`  - ${check}: skipped (${why})`);
  const add = (p: Problem) => {
    problems.push(p);
    deps.log(`  ✗ ${p.check}: ${p.reason}`);
  };

  // --- Stage 1: no synthesis, no engine.
  if (options.allowDirty) skip("git", "--allow-dirty");
  else {
    const git = deps.gitStatus(input.configDir);
    if (git.error !== undefined || git.toplevel === undefined) {
      add({
        check: "git",
        reason: git.error ?? `${input.configDir} is not inside a git work tree, so what is applied cannot be traced to a commit`,
        hint: "keep cluster.yaml and nodes.yaml in a git repository, or pass --allow-dirty",
      });
    } else if (git.changes.length > 0) {
      const shown = git.changes.slice(0, 5).join(", ") + (git.changes.length > 5 ? `, and ${git.changes.length - 5} more` : "");
      const own = git.changes.some((c) => OWN_OUTPUT.test(c));
      add({
        check: "git",
        reason: `the work tree ${git.toplevel} has uncommitted changes: ${shown}`,
        hint: `commit or stash them, or pass --allow-dirty${own ? " (logs/, state/, credentials/ and cdktf.out/ belong in .gitignore)" : ""}`,
      });
    } else ok("git", `${git.toplevel} is clean`);
  }

  const missing = deps.missingNodeDeps(input.repo);
  if (missing.length > 0) {
    add({ check: "node", reason: `Node dependencies are not installed (missing ${missing.join(", ")})`, hint: `run npm ci in ${input.repo}` });
  } else ok("node", "dependencies installed");

  let definition: ClusterDefinition | undefined;
  try {
    definition = deps.loadConfig(input.configDir);
    ok("config", `${join(input.configDir, "cluster.yaml")} and nodes.yaml are valid (cluster ${definition.cluster.cluster_name}; ${describeVersions(definition.cluster)})`);
    for (const w of definition.warnings) deps.log(`      ${formatIssue(w, input.configDir)}`);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const errors = e.issues.filter((i) => i.severity === "error").length;
    add({
      check: "config",
      reason: `the cluster configuration in ${input.configDir} is invalid (${errors} error${errors === 1 ? "" : "s"})`,
      details: e.issues.map((i) => formatIssue(i, input.configDir)),
      hint: "fix the lines above (npm run synth reports the same); nothing is synthesized from an invalid config",
    });
  }
  const cluster = definition?.cluster;

  if (!options.planOnly && !options.autoApprove && !input.stdinIsTTY) {
    add({
      check: "terminal",
      reason: "stdin is not a terminal, so the plans cannot be confirmed",
      hint: "pass --auto-approve to apply each plan without asking, or --plan to apply nothing",
    });
  }

  // The two keys of layer 00: --including-persistent-auth (checked with the arguments) and the cluster name.
  let liftPreventDestroy = false;
  let refused = false;
  if (destroysPersistentAuth(options)) {
    const given = options.yesDestroyPersistentAuth ?? input.typedClusterName;
    if (given === undefined) {
      refused = true;
      add({
        check: "persistent-auth",
        reason: input.stdinIsTTY
          ? `destroying ${PERSISTENT_AUTH} needs the cluster name typed when asked`
          : `destroying ${PERSISTENT_AUTH} needs the cluster name typed on a terminal, and stdin is not one`,
        hint: "pass --yes-destroy-persistent-auth=<cluster name> for automation",
      });
    } else if (cluster === undefined) {
      refused = true;
      skip("persistent-auth", "the config is invalid, so the cluster name is unknown; refused");
    } else if (given !== cluster.cluster_name) {
      refused = true;
      add({
        check: "persistent-auth",
        reason: `refused: '${given}' is not the name of this cluster, so ${PERSISTENT_AUTH} stays`,
        hint: `give the cluster name exactly as cluster.yaml spells it (cluster_name)`,
      });
    } else {
      liftPreventDestroy = true;
      ok("persistent-auth", `both keys given for ${cluster.cluster_name}: prevent_destroy is lifted for this run`);
    }
  }

  if (cluster?.state_backend.type === "http") {
    const absent = ["TF_HTTP_USERNAME", "TF_HTTP_PASSWORD"].filter((v) => !env[v]);
    if (absent.length > 0) {
      add({
        check: "environment",
        reason: `the http state backend needs TF_HTTP_USERNAME and TF_HTTP_PASSWORD; ${absent.join(" and ")} ${absent.length === 1 ? "is" : "are"} not set`,
        hint: "export them (the engine reads them itself; they never go into the config)",
      });
    } else ok("environment", "TF_HTTP_USERNAME and TF_HTTP_PASSWORD set for the http state backend");
  }
  if (cluster?.state_encryption) {
    const passphrase = env.TF_VAR_state_passphrase ?? "";
    if (passphrase.length < 16) {
      add({
        check: "environment",
        reason: `state_encryption is on and TF_VAR_state_passphrase is ${passphrase ? "shorter than 16 characters" : "not set"}`,
        hint: "export TF_VAR_state_passphrase (16 characters or more; without it the state cannot be read again)",
      });
    } else ok("environment", "TF_VAR_state_passphrase set for state_encryption");
  }

  // --- Stage 2: synthesis and the engine's validate.
  if (refused) {
    skip("engine, synth, validate", "refused before the engine runs");
    return { problems, clusterName: cluster?.cluster_name };
  }
  const engine = checkEngine();
  if (!definition || missing.length > 0) {
    skip("synth, validate", definition ? "Node dependencies missing" : "the config is invalid");
    return { problems, engine, clusterName: cluster?.cluster_name };
  }

  const synthEnv: NodeJS.ProcessEnv = { ...env, CONFIG_DIR: input.configDir, CDKTF_OUTDIR: input.outdir, CHECKPOINT_DISABLE: "1" };
  // Only the two keys lift prevent_destroy: a context or a confirmation exported by the user does not reach the synth.
  delete synthEnv.CDKTF_CONTEXT_JSON;
  delete synthEnv[ALLOW_DESTROY_ENV];
  if (liftPreventDestroy) synthEnv[ALLOW_DESTROY_ENV] = definition.cluster.cluster_name;
  const synth = deps.synth(input.repo, synthEnv);
  if (synth.status !== 0) {
    add({
      check: "synth",
      reason: `synthesis failed (exit ${synth.status})`,
      details: synth.output.trim().split("\n").slice(-20),
      hint: `CONFIG_DIR=${input.configDir} npm run synth reproduces it`,
    });
    return { problems, engine, clusterName: cluster?.cluster_name };
  }
  const layers = deps.readLayers(input.outdir);
  ok("synth", `${layers.map((l) => l.name).join(", ")} in ${input.outdir}${liftPreventDestroy ? ` (prevent_destroy lifted on ${PERSISTENT_AUTH})` : ""}`);

  const prepare = env.BOOTSTRAP_PREPARE_STACK;
  if (prepare) {
    let prepared = true;
    for (const layer of layers) {
      const run = deps.prepareStack(prepare, layer.dir, env);
      if (run.status !== 0) {
        prepared = false;
        add({
          check: "synth",
          reason: `BOOTSTRAP_PREPARE_STACK failed in ${layer.name} (exit ${run.status})`,
          details: run.output.trim().split("\n").slice(0, 10),
          hint: "BOOTSTRAP_PREPARE_STACK is for tests only: unset it",
        });
      }
    }
    if (!prepared) return { problems, engine, layers, clusterName: cluster?.cluster_name };
    deps.log(`      BOOTSTRAP_PREPARE_STACK (test hook) ran in every stack`);
  }

  const { scope, problems: scopeProblems } = resolveScope(options, layers);
  scopeProblems.forEach(add);
  if (!scope) return { problems, engine, layers, clusterName: cluster?.cluster_name };
  const verb = options.action === "destroy" ? "destroy" : options.planOnly ? "plan" : "apply";
  ok("layers", `${verb} ${scope.layers.map((l) => l.name).join(scope.layers.length > 1 ? (options.action === "destroy" ? " ← " : " → ") : "")}` +
    (scope.persistentAuthIfEmpty ? ` (${PERSISTENT_AUTH} only if its state is empty)` : ""));

  const stacks = new Map(scope.layers.map((l) => [l.name, deps.readStack(l)] as const));
  const proxmox = scope.layers.filter((l) => configuredProviders(stacks.get(l.name)!).includes("proxmox"));
  if (proxmox.length > 0) {
    const names = proxmox.map((l) => l.name).join(", ");
    const token = env.PROXMOX_VE_API_TOKEN;
    const endpoint = stacks.get(proxmox[0].name)!.provider?.proxmox?.[0]?.endpoint ?? env.PROXMOX_VE_ENDPOINT;
    if (!token) {
      add({ check: "environment", reason: `${names} need${proxmox.length === 1 ? "s" : ""} the Proxmox API: PROXMOX_VE_API_TOKEN is not set`, hint: "export PROXMOX_VE_API_TOKEN='user@realm!tokenid=uuid' (the provider reads it itself)" });
    } else if (!PROXMOX_TOKEN.test(token)) {
      add({ check: "environment", reason: "PROXMOX_VE_API_TOKEN is not of the form user@realm!tokenid=uuid", hint: "copy the token id and secret from Datacenter → Permissions → API Tokens as user@realm!tokenid=secret" });
    } else if (!endpoint) {
      add({ check: "environment", reason: `${names} configure no Proxmox endpoint and PROXMOX_VE_ENDPOINT is not set`, hint: "set proxmox_api_url in cluster.yaml" });
    } else ok("environment", `PROXMOX_VE_API_TOKEN set for ${endpoint}`);
  }
  if (scope.layers.some((l) => l.name === "01-infrastructure")) {
    const workloads = workloadProblems(definition?.workloads?.config, env);
    workloads.forEach(add);
    if (definition?.workloads && workloads.length === 0) ok("workloads", "environment variables set, API user allowed to set every container option");
  }

  if (!engine) {
    skip("validate", "no usable engine");
    return { problems, layers, clusterName: cluster?.cluster_name };
  }
  for (const layer of scope.layers) {
    const init = deps.engine(engine, layer.dir, ["init", "-backend=false", "-input=false", "-no-color"], env);
    if (init.status !== 0) {
      add({ check: "validate", reason: `${layer.name}: init -backend=false failed`, details: engineErrors(init), hint: "the stack could not be loaded or its providers installed (the engine's errors above say which); providers come from the registry or the mirrors of TF_CLI_CONFIG_FILE" });
      continue;
    }
    const validate = deps.engine(engine, layer.dir, ["validate", "-json", "-no-color"], env);
    const diagnostics = parseValidate(validate);
    const errors = diagnostics.filter((d) => d.severity === "error");
    if (validate.status !== 0 || errors.length > 0) {
      add({
        check: "validate",
        reason: `${layer.name}: ${Math.max(errors.length, 1)} error${errors.length > 1 ? "s" : ""} from ${engine.kind === "opentofu" ? "tofu" : "terraform"} validate`,
        details: errors.length ? errors.map(describeDiagnostic) : engineErrors(validate),
        hint: `cd ${layer.dir} && ${engine.path} validate shows them in place; a stack bootstrap did not synthesize itself points at a bug in layers/ or constructs/`,
      });
    } else {
      ok("validate", `${layer.name}${diagnostics.length ? ` (${diagnostics.length} warning${diagnostics.length === 1 ? "" : "s"})` : ""}`);
      for (const d of diagnostics) deps.log(`      ${describeDiagnostic(d)}`);
    }
  }

  // --- Stage 3: the state backends, only when everything else is in order.
  if (problems.length > 0) {
    skip("state", "fix the problems above first");
    return { problems, engine, layers, clusterName: cluster?.cluster_name };
  }
  const needs00 = needsPersistentAuthState(options, scope);
  const backendLayers = [...scope.layers];
  const persistentAuth = layers.find((l) => l.name === PERSISTENT_AUTH);
  if (needs00 && persistentAuth && !backendLayers.includes(persistentAuth)) backendLayers.push(persistentAuth);
  for (const layer of backendLayers) {
    const init = deps.engine(engine, layer.dir, ["init", "-input=false", "-no-color"], env);
    if (init.status !== 0) {
      add({ check: "state", reason: `${layer.name}: the state backend could not be initialized`, details: engineErrors(init), hint: "check state_backend in cluster.yaml, that the state server answers, and its credentials" });
    }
  }
  if (problems.length > 0) return { problems, engine, layers, clusterName: cluster?.cluster_name };
  ok("state", `backends of ${backendLayers.map((l) => l.name).join(", ")} initialized`);

  let persistentAuthEmpty: boolean | undefined;
  if (needs00 && persistentAuth) {
    const show = deps.engine(engine, persistentAuth.dir, ["show", "-json", "-no-color"], env);
    if (show.status !== 0) {
      add({ check: "state", reason: `${PERSISTENT_AUTH}: its state could not be read`, details: engineErrors(show), hint: "check the state backend and, with state_encryption, TF_VAR_state_passphrase" });
      return { problems, engine, layers, clusterName: cluster?.cluster_name };
    }
    const count = countStateResources(JSON.parse(show.stdout));
    persistentAuthEmpty = count === 0;
    ok("state", `${PERSISTENT_AUTH} holds ${count} resource${count === 1 ? "" : "s"}${persistentAuthEmpty ? ": first bootstrap, it is applied first" : ""}`);
  }

  const kubeconfigs = new Map<string, string>();
  for (const layer of scope.layers) {
    const kubeconfig = kubeconfigWrittenBy(layer, stacks.get(layer.name)!);
    if (kubeconfig) kubeconfigs.set(layer.name, kubeconfig);
  }
  const { phases, problems: sequenceProblems } = planPhases(options, scope, { persistentAuthEmpty, kubeconfigs });
  sequenceProblems.forEach(add);
  return { problems, engine, layers, phases: problems.length ? undefined : phases, clusterName: cluster?.cluster_name };

  function checkEngine(): EngineBinary | undefined {
    const found = deps.findEngine(env);
    if (typeof found === "string") {
      add({ check: "engine", reason: found, hint: "install OpenTofu (https://opentofu.org/docs/intro/install/), or point TF_BINARY at tofu or terraform" });
      return undefined;
    }
    if (found.kind === "terraform" && cluster?.state_encryption) {
      add({ check: "engine", reason: `state_encryption is on, and ${found.path} is Terraform ${found.version}, which has no state encryption`, hint: "use OpenTofu (tofu on PATH, or TF_BINARY)" });
      return undefined;
    }
    ok("engine", `${found.kind === "opentofu" ? "OpenTofu" : "Terraform"} ${found.version} (${found.path})`);
    return found;
  }
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
  const count = (m: StateModule | undefined): number => (m?.resources?.length ?? 0) + (m?.child_modules ?? []).reduce((n, c) => n + count(c), 0);
  return count(state.values?.root_module);
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
      const status = spawnSync("git", ["-C", toplevel, "status", "--porcelain=v1", "-z", "--untracked-files=all"], { encoding: "utf8" });
      if (status.status !== 0) return { toplevel, changes: [], error: `git status failed in ${toplevel}: ${status.stderr.trim()}` };
      const changes = status.stdout
        .split("\0")
        .filter((e) => e.length > 3)
        .map((e) => e.slice(3));
      return { toplevel, changes };
    },
    missingNodeDeps(repo) {
      const needed = ["node_modules/cdktf/package.json", "node_modules/constructs/package.json", "node_modules/yaml/package.json", "node_modules/zod/package.json", "node_modules/esbuild/package.json", ".gen"];
      return needed.filter((p) => !existsSync(join(repo, p)));
    },
    loadConfig,
    findEngine,
    synth(repo, env) {
      const build = spawnSync(process.execPath, [join(repo, "scripts", "build.mjs")], { cwd: repo, env, encoding: "utf8" });
      if (build.status !== 0) return { status: build.status ?? -1, output: `${build.stdout}${build.stderr}` };
      const app = spawnSync(process.execPath, [join(repo, "dist", "main.js")], { cwd: repo, env, encoding: "utf8" });
      return { status: app.status ?? -1, output: `${app.stdout}${app.stderr}` };
    },
    prepareStack(command, dir, env) {
      const run = spawnSync(command, { shell: true, cwd: dir, env: { ...env, BOOTSTRAP_STACK_DIR: dir }, encoding: "utf8" });
      return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
    },
    readLayers,
    readStack,
    engine: runEngine,
    log,
  };
}

/** "Talos v1.12.1, Kubernetes v1.35.0 (the versions this release is tested with)", or which differ from them. */
export function describeVersions(cluster: { readonly talos_version: string; readonly kubernetes_version: string }): string {
  const versions = `Talos ${cluster.talos_version}, Kubernetes ${cluster.kubernetes_version}`;
  if (cluster.talos_version === TESTED_TALOS_VERSION && cluster.kubernetes_version === TESTED_KUBERNETES_VERSION) return `${versions} (the versions this release is tested with)`;
  return `${versions} (this release is tested with Talos ${TESTED_TALOS_VERSION}, Kubernetes ${TESTED_KUBERNETES_VERSION})`;
}
