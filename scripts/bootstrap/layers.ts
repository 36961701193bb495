// The layers as synthesized: read from cdktf's manifest.json, sorted by name (their numeric prefix gives the
// apply order), and the facts bootstrap needs from each stack's Terraform JSON.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * Layer 00, the one with prevent_destroy. Same as PersistentAuthLayer.NAME (a unit test keeps them equal; this
 * tool does not import layers/, which would bundle the provider bindings).
 */
export const PERSISTENT_AUTH = "00-persistent-auth";

/** The environment variable of a synth that lifts prevent_destroy on layer 00; same as ALLOW_DESTROY_ENV in layers/catalog.ts. */
export const ALLOW_DESTROY_ENV = "BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH";

export interface Layer {
  /** Stack name, e.g. `01-infrastructure`. */
  readonly name: string;
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
  return layerAliases(PERSISTENT_AUTH).includes(input);
}

/** The layer `input` names, or undefined. */
export function findLayer(input: string, layers: readonly Layer[]): Layer | undefined {
  return layers.find((l) => layerAliases(l.name).includes(input));
}

/** Every layer of a synthesized output folder, in apply order (sorted by name). */
export function readLayers(outdir: string): Layer[] {
  const file = join(outdir, "manifest.json");
  const manifest = JSON.parse(readFileSync(file, "utf8")) as {
    stacks: Record<string, { name: string; workingDirectory: string; dependencies?: string[] }>;
  };
  return Object.values(manifest.stacks)
    .map((s) => ({ name: s.name, dir: resolve(outdir, s.workingDirectory), dependencies: [...(s.dependencies ?? [])].sort() }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The parts of a stack's Terraform JSON that bootstrap looks at. */
export interface StackJson {
  terraform?: { backend?: Record<string, Record<string, unknown>>; required_providers?: Record<string, { source: string; version?: string }> };
  provider?: Record<string, Array<Record<string, unknown>>>;
  resource?: Record<string, Record<string, Record<string, unknown>>>;
}

export function readStack(layer: Layer): StackJson {
  return JSON.parse(readFileSync(join(layer.dir, "cdk.tf.json"), "utf8")) as StackJson;
}

/** The providers a stack configures (`proxmox`, `talos`, ...). */
export function configuredProviders(stack: StackJson): string[] {
  return Object.keys(stack.provider ?? {});
}

/**
 * The kubeconfig a stack writes (a `local_sensitive_file` or `local_file` named `kubeconfig`), as an absolute
 * path, or undefined. The Kubernetes API wait follows the layer that writes it.
 */
export function kubeconfigWrittenBy(layer: Layer, stack: StackJson): string | undefined {
  for (const type of ["local_sensitive_file", "local_file"]) {
    for (const file of Object.values(stack.resource?.[type] ?? {})) {
      const filename = file.filename;
      if (typeof filename !== "string" || !/(^|\/)kubeconfig$/.test(filename)) continue;
      return resolve(layer.dir, filename.replace(/^\$\{path\.module\}\/?/, ""));
    }
  }
  return undefined;
}
