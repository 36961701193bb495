// ./bootstrap.sh migrate-state: each layer's state copied by the engine (init -migrate-state) from
// previous_state_backend to state_backend, in layer order, once preflight has synthesized every stack and initialized
// it on state_backend. Nothing is ever deleted: the source keeps its states, and each layer's state is first copied
// to a local backup (in the engine's own format: encrypted with state_encryption). Every layer is surveyed before
// any is copied, so a refusal changes nothing; each copy is verified by its content (the source's resources and outputs: the engine may give a
// remote copy a lineage of its own), then by a plan
// with no changes.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { ResolvedStateBackend } from "../../config";
import type { LayerName } from "../../layers/catalog";
import { engineErrors, runEngine, type EngineBinary, type EngineRun } from "./engine-binary";
import { stateLocation } from "./preflight";

export interface MigrationInput {
  readonly engine: EngineBinary;
  /** Every layer in apply order, each synthesized in `dir` and initialized on state_backend. */
  readonly layers: ReadonlyArray<{ readonly name: LayerName; readonly dir: string }>;
  /** Each layer's terraform.backend block on previous_state_backend, as synthesized beside the stacks. */
  readonly sourceBlocks: Readonly<Record<string, Record<string, unknown>>>;
  readonly configDir: string;
  readonly from: ResolvedStateBackend;
  readonly to: ResolvedStateBackend;
  /** --overwrite-target-state: a state state_backend already holds for a layer may be replaced. */
  readonly overwrite: boolean;
  /** BOOTSTRAP_LOCK_TIMEOUT */
  readonly lockTimeout: string;
  readonly env: NodeJS.ProcessEnv;
  /** UTC time of the run, in the backup folder's name. */
  readonly stamp: string;
  readonly log: (line: string) => void;
}

interface PulledState {
  readonly lineage: string;
  readonly serial: number;
  /** It has resources or outputs: something to keep. */
  readonly holds: boolean;
  /** Its resources and outputs, as JSON: what a copy must hold. */
  readonly content: string;
}

/** What `state pull` printed: undefined when there is no state at all. */
export function parsePulledState(stdout: string): PulledState | undefined {
  if (stdout.trim() === "") return undefined;
  const state = JSON.parse(stdout) as { lineage?: string; serial?: number; resources?: unknown[]; outputs?: object };
  return {
    lineage: state.lineage ?? "",
    serial: state.serial ?? 0,
    holds: (state.resources?.length ?? 0) > 0 || Object.keys(state.outputs ?? {}).length > 0,
    content: JSON.stringify({ resources: state.resources ?? [], outputs: state.outputs ?? {} }),
  };
}

/** Migrates every layer; false (with the reason logged) when it stopped. */
export function migrateStates(input: MigrationInput): boolean {
  const { log } = input;
  const from = stateLocation(input.from, input.configDir);
  const to = stateLocation(input.to, input.configDir);
  const backups = join(input.configDir, "state", "backups", input.stamp);

  // Survey: what each side holds, before anything is copied.
  const moves: Array<{ name: LayerName; dir: string; source: PulledState; target: Record<string, unknown> }> = [];
  const refusals: string[] = [];
  for (const layer of input.layers) {
    const stack = stackOf(input, layer.dir);
    const target = stack.pull(layer.name, "state_backend");
    if (!target.ok) return fail(log, target.why);
    const source = stack.switchTo(input.sourceBlocks[layer.name], "-reconfigure");
    if (!source.ok)
      return fail(log, `${layer.name}: previous_state_backend (${from}) could not be initialized`, source.run);
    const pulled = stack.pull(layer.name, "previous_state_backend");
    if (!pulled.ok) return fail(log, pulled.why);
    if (!pulled.state?.holds) {
      log(`  - ${layer.name}: previous_state_backend holds no state of it; nothing to migrate`);
      continue;
    }
    if (target.state?.holds) {
      if (!input.overwrite) {
        refusals.push(
          `${layer.name}: state_backend (${to}) already holds a state of it (lineage ${target.state.lineage}, serial ${target.state.serial})`,
        );
        continue;
      }
      log(
        `  ! ${layer.name}: the state state_backend holds (serial ${target.state.serial}) will be replaced (--overwrite-target-state)`,
      );
    }
    log(`  ✓ ${layer.name}: serial ${pulled.state.serial} to migrate`);
    moves.push({ ...layer, source: pulled.state, target: stack.target });
  }
  if (refusals.length > 0) {
    for (const r of refusals) log(`  ✗ ${r}`);
    return fail(
      log,
      "refused: migrating would replace the states above; nothing was migrated. If they are leftovers (an earlier migration, a test), run again with --overwrite-target-state",
    );
  }
  if (moves.length === 0)
    return fail(log, `previous_state_backend (${from}) holds no state of any layer: nothing to migrate`);

  mkdirSync(backups, { recursive: true, mode: 0o700 });
  chmodSync(backups, 0o700);
  for (const layer of moves) {
    const stack = stackOf(input, layer.dir);
    const backup = join(backups, `${layer.name}.tfstate`);
    // The stack is on previous_state_backend since the survey: copy to the backup, then from there to state_backend.
    const saved = stack.switchTo({ local: { path: relative(layer.dir, backup) } }, "-migrate-state");
    if (!saved.ok || !existsSync(backup))
      return fail(
        log,
        `${layer.name}: the backup of its state could not be written to ${backup}; its state stays where it was`,
        saved.run,
      );
    log(`  ✓ ${layer.name}: backup ${backup}`);
    const moved = stack.switchTo(layer.target, "-migrate-state");
    if (!moved.ok)
      return fail(
        log,
        `${layer.name}: the engine could not copy its state to state_backend (${to}); previous_state_backend still holds it, and the backup is ${backup}`,
        moved.run,
      );
    const copy = stack.pull(layer.name, "state_backend");
    if (!copy.ok) return fail(log, copy.why);
    if (copy.state?.content !== layer.source.content)
      return fail(
        log,
        `${layer.name}: what state_backend holds after the copy differs from the source's resources and outputs; previous_state_backend still holds its state and the backup is ${backup}`,
      );
    const plan = runEngine(
      input.engine,
      layer.dir,
      ["plan", "-input=false", "-no-color", "-detailed-exitcode", `-lock-timeout=${input.lockTimeout}`],
      input.env,
    );
    if (plan.status === 2) {
      log(plan.stdout);
      return fail(
        log,
        `${layer.name}: its state was copied to state_backend, but its plan there has changes (above). Nothing was applied; previous_state_backend still holds its state and the backup is ${backup}`,
      );
    }
    if (plan.status !== 0)
      return fail(log, `${layer.name}: its state was copied to state_backend, but it could not be planned there`, plan);
    log(
      `  ✓ ${layer.name}: migrated to ${to} (the same resources and outputs as the source); the plan there has no changes`,
    );
  }
  log(
    `migrate-state: ${moves.map((m) => m.name).join(", ")} migrated from ${from} to ${to}; the backups are in ${backups}. previous_state_backend keeps its copies (remove them yourself once you are sure). Now remove previous_state_backend from cluster.yaml and commit.`,
  );
  return true;
}

type Step = { ok: true; run?: EngineRun } | { ok: false; run: EngineRun };

function stackOf(input: MigrationInput, dir: string) {
  const file = join(dir, "cdk.tf.json");
  const json = JSON.parse(readFileSync(file, "utf8")) as { terraform: { backend: Record<string, unknown> } };
  const engine = (args: string[]) => runEngine(input.engine, dir, args, input.env);
  return {
    /** The backend the stack has now: state_backend as synthesized, until switchTo. */
    target: json.terraform.backend,
    /** Points the stack at `backend` and initializes it, either forgetting (-reconfigure) or copying (-migrate-state) the state it was on. */
    switchTo(backend: Record<string, unknown>, mode: "-reconfigure" | "-migrate-state"): Step {
      writeFileSync(file, `${JSON.stringify({ ...json, terraform: { ...json.terraform, backend } }, null, 2)}\n`);
      const args = ["init", "-input=false", "-no-color", mode, `-lock-timeout=${input.lockTimeout}`];
      // -force-copy answers the engine's questions: the survey made sure no state is replaced unless told.
      if (mode === "-migrate-state") args.push("-force-copy");
      const run = engine(args);
      return run.status === 0 ? { ok: true, run } : { ok: false, run };
    },
    pull(layer: string, side: string): { ok: true; state?: PulledState } | { ok: false; why: string } {
      const run = engine(["state", "pull"]);
      if (run.status !== 0)
        return { ok: false, why: `${layer}: its state on ${side} could not be read:\n${engineErrors(run).join("\n")}` };
      return { ok: true, state: parsePulledState(run.stdout) };
    },
  };
}

function fail(log: (line: string) => void, why: string, run?: EngineRun): false {
  if (run) for (const line of engineErrors(run)) log(`      ${line}`);
  log(`migrate-state: ${why}`);
  return false;
}
