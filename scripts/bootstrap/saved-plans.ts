// Saved plans: `./bootstrap.sh --plan --save-plans=<dir>` keeps each layer's plan file and a manifest, and
// `./bootstrap.sh apply-plans --plans=<dir>` applies exactly those plans later (CI: planned on the pull request,
// applied on merge). The rules, and why:
// - A plan file holds the layer's prior state (Talos PKI, tokens, keys): saved only when the stacks encrypt plans
//   (state_encryption: the stacks' terraform.encryption.plan), and each saved file must be OpenTofu's encrypted
//   payload, never the plain zip.
// - A layer that reads a layer with changes is not planned (run.ts blockedBy): its plan would be computed against
//   outputs that the apply is about to change. apply-plans plans such a layer once the layers below are applied
//   and refuses it when that plan has any change (nobody reviewed one).
// - Every planned layer's file is kept, a plan with no changes too: applying it is how the engine proves that the
//   layer's state has not moved since ("Saved plan is stale"), before any layer above that read it is applied.
// - The stacks synthesized by apply-plans must be byte for byte those the plans were made from (a digest per
//   layer): a checkout, a config or a folder layout that differs is refused before anything is applied.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { LAYERS, type LayerName } from "../../layers/catalog";

export const MANIFEST = "plans.json";
const MANIFEST_VERSION = 1;

/** What a saved layer holds. */
export type SavedLayer =
  /** Planned: its plan file (with or without changes). */
  | { readonly layer: LayerName; readonly stack: string; readonly file: string; readonly changes: boolean }
  /** Not planned: it reads `blocker`, which had changes to apply. */
  | { readonly layer: LayerName; readonly stack: string; readonly blocker: string };

export interface SavedPlans {
  readonly version: typeof MANIFEST_VERSION;
  readonly cluster: string;
  /** The engine that made the plans (OpenTofu applies only its own version's plans; named in refusals). */
  readonly engine: string;
  /** The layers of the run, in order. */
  readonly scope: readonly LayerName[];
  /** One entry per layer of `scope` once the run has dealt with it. */
  readonly layers: readonly SavedLayer[];
}

/** The plan file of a layer inside the folder. */
export const planFileOf = (layer: LayerName) => `${layer}.tfplan`;

/** sha256 of a synthesized stack's JSON. */
export function stackDigest(stackDir: string): string {
  return createHash("sha256")
    .update(readFileSync(join(stackDir, "cdk.tf.json")))
    .digest("hex");
}

/**
 * The folder a --save-plans/--plans value names, resolved against the config folder: it must lie inside it (after
 * following symbolic links of what exists already), and not be the folder itself; else the reason.
 */
export function resolvePlansDir(configDir: string, flag: string, value: string): { dir: string } | { reason: string } {
  const root = realpathSync(configDir);
  const dir = resolve(root, value);
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  let real = existing;
  try {
    real = join(realpathSync(existing), relative(existing, dir));
  } catch {
    // unreadable: the check below still sees where it points
  }
  const inside = (p: string) => p !== root && p.startsWith(root + sep);
  if (!inside(dir) || !inside(real))
    return {
      reason: `--${flag}=${value} is ${real === dir ? dir : `${dir} (${real})`}, outside the config folder ${root}; the plans stay beside cluster.yaml`,
    };
  if (existsSync(dir) && !lstatSync(dir).isDirectory()) return { reason: `--${flag}=${value}: ${dir} is not a folder` };
  return { dir };
}

/** Whether `bytes` are OpenTofu's encrypted payload (encryption/base.go: JSON with encrypted_data and encryption_version). */
export function isEncryptedPlan(bytes: Buffer): boolean {
  if (bytes.subarray(0, 2).toString("latin1") === "PK") return false;
  try {
    const payload = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    return typeof payload.encrypted_data === "string" && typeof payload.encryption_version === "string";
  } catch {
    return false;
  }
}

/** Whether a synthesized stack encrypts its plan files (constructs/state-encryption.ts: terraform.encryption.plan). */
export function stackEncryptsPlans(stackDir: string): boolean {
  const stack = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8")) as {
    terraform?: { encryption?: { plan?: { method?: unknown; enforced?: unknown } } };
  };
  const plan = stack.terraform?.encryption?.plan;
  return typeof plan?.method === "string" && plan.method !== "" && !plan.method.startsWith("method.unencrypted");
}

/** Names in the folder that are not the manifest or a layer's plan file (a folder to save into must hold none of them). */
export function foreignFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const ours = new Set([MANIFEST, ...LAYERS.map(planFileOf)]);
  return readdirSync(dir).filter((f) => !ours.has(f));
}

/** The manifest of a folder, checked; a string is why it cannot be used. */
export function readSavedPlans(dir: string): SavedPlans | string {
  const file = join(dir, MANIFEST);
  if (!existsSync(file))
    return `${file} does not exist: no plans were saved there (./bootstrap.sh --plan --save-plans)`;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    return `${file} is not JSON (${(e as Error).message})`;
  }
  const bad = (what: string) => `${file}: ${what}; it was not written by ./bootstrap.sh --save-plans of this version`;
  if (typeof raw !== "object" || raw === null) return bad("not an object");
  const m = raw as Record<string, unknown>;
  if (m.version !== MANIFEST_VERSION) return bad(`version ${JSON.stringify(m.version)}, expected ${MANIFEST_VERSION}`);
  if (typeof m.cluster !== "string" || typeof m.engine !== "string") return bad("no cluster or engine");
  const isLayer = (v: unknown): v is LayerName => LAYERS.includes(v as LayerName);
  if (!Array.isArray(m.scope) || m.scope.length === 0 || !m.scope.every(isLayer)) return bad("no layers in scope");
  if (!Array.isArray(m.layers)) return bad("no layers");
  const layers: SavedLayer[] = [];
  for (const entry of m.layers as unknown[]) {
    const e = entry as Record<string, unknown>;
    if (!isLayer(e?.layer) || typeof e.stack !== "string") return bad("a layer entry without layer or stack");
    if (typeof e.blocker === "string") layers.push({ layer: e.layer, stack: e.stack, blocker: e.blocker });
    else if (e.file === planFileOf(e.layer) && typeof e.changes === "boolean")
      layers.push({ layer: e.layer, stack: e.stack, file: e.file, changes: e.changes });
    else return bad(`${e.layer}: neither a plan file nor a blocker`);
  }
  const missing = m.scope.filter((l) => !layers.some((e) => e.layer === l));
  if (missing.length)
    return `${file}: no plan of ${missing.join(", ")}: the run that saved the plans did not finish (its log says why)`;
  return { version: MANIFEST_VERSION, cluster: m.cluster, engine: m.engine, scope: m.scope, layers };
}

/**
 * Why saved plans cannot be applied by this run (each reason a line), given the cluster, the engine and the
 * stacks synthesized now: empty when they can.
 */
export function savedPlansProblems(
  saved: SavedPlans,
  now: { cluster: string; engine: string; digest: (layer: LayerName) => string; exists: (file: string) => boolean },
): string[] {
  const problems: string[] = [];
  if (saved.cluster !== now.cluster)
    problems.push(`the plans are of cluster ${saved.cluster}, and this config is cluster ${now.cluster}`);
  if (saved.engine !== now.engine)
    problems.push(`the plans were made by ${saved.engine}, and this run's engine is ${now.engine}`);
  for (const entry of saved.layers) {
    if (entry.stack !== now.digest(entry.layer))
      problems.push(
        `${entry.layer}: the stack synthesized now differs from the one its plan was made from (another commit, config, or folder layout than the run that saved the plans)`,
      );
    if ("file" in entry && !now.exists(entry.file))
      problems.push(`${entry.layer}: its plan file ${entry.file} is missing`);
  }
  return problems;
}

/** The manifest's entry for `layer`. */
export function savedLayer(saved: SavedPlans, layer: string): SavedLayer | undefined {
  return saved.layers.find((e) => e.layer === layer);
}
