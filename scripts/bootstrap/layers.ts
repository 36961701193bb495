// The layers of a run: the catalog's (layers/catalog.ts), by the names a user may type, and where the synthesis put
// them (cdktf's manifest.json: each stack's folder and the layers it reads through terraform_remote_state).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LAYERS, PERSISTENT_AUTH_LAYER, type LayerName } from "../../layers/catalog";

export interface Layer {
  /** Stack name, e.g. `01-infrastructure`. */
  readonly name: LayerName;
  /** Absolute stack directory (where cdk.tf.json is and the engine runs). */
  readonly dir: string;
  /** Layers this one reads (terraform_remote_state), from the manifest. */
  readonly dependencies: readonly string[];
}

/** The names a layer answers to: `01-infrastructure`, `infrastructure`, `01` and `1`. */
export function layerAliases(name: string): string[] {
  const m = /^(\d+)-(.+)$/.exec(name);
  if (!m) return [name];
  return [name, m[2], m[1], String(Number(m[1]))];
}

/** True when `input` names layer 00 (checked before anything is synthesized). */
export function isPersistentAuth(input: string): boolean {
  return layerAliases(PERSISTENT_AUTH_LAYER).includes(input);
}

/** The catalog layer `input` names, or undefined. */
export function findLayer(input: string, names: readonly LayerName[] = LAYERS): LayerName | undefined {
  return names.find((name) => layerAliases(name).includes(input));
}

/**
 * Every layer of a synthesized output folder, in the catalog's order. Throws when the manifest does not hold
 * exactly the catalog's layers (the app and the catalog disagree: a bug, not a user error).
 */
export function readLayers(outdir: string): Layer[] {
  const file = join(outdir, "manifest.json");
  const manifest = JSON.parse(readFileSync(file, "utf8")) as {
    stacks: Record<string, { name: string; workingDirectory: string; dependencies?: string[] }>;
  };
  const synthesized = Object.values(manifest.stacks);
  const names = synthesized.map((s) => s.name).sort();
  if (names.join() !== [...LAYERS].sort().join()) {
    throw new Error(`${file} holds the stacks ${names.join(", ")}, the layer catalog ${LAYERS.join(", ")}`);
  }
  return LAYERS.map((name) => {
    const s = synthesized.find((stack) => stack.name === name)!;
    return { name, dir: resolve(outdir, s.workingDirectory), dependencies: [...(s.dependencies ?? [])].sort() };
  });
}

/** The parts of a stack's Terraform JSON that bootstrap looks at. */
export interface StackJson {
  provider?: Record<string, unknown>;
}

/** The providers a synthesized stack configures (`proxmox`, `talos`, ...): what the engine will need credentials for. */
export function configuredProviders(layer: Layer): string[] {
  const stack = JSON.parse(readFileSync(join(layer.dir, "cdk.tf.json"), "utf8")) as StackJson;
  return Object.keys(stack.provider ?? {});
}
