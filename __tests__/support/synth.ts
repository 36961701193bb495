// Synthesizes a cluster definition into a temporary folder laid out like the repo (config files, and
// cdktf.out beside them), so relative paths in the output are the same as for a user.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { parseConfig, resolveCluster } from "../../config";
import { buildApp } from "../../layers/app";

export const REPO = join(__dirname, "..", "..");
/**
 * The cluster the tests edit: a copy of the root example taken once, so that a user editing the root example
 * (as the README invites) changes no test.
 */
export const FIXTURE = join(REPO, "__tests__", "fixtures", "example");
export const EXAMPLE = {
  cluster: readFileSync(join(FIXTURE, "cluster.yaml"), "utf8"),
  nodes: readFileSync(join(FIXTURE, "nodes.yaml"), "utf8"),
};

/** Terraform JSON of one stack. */
export type StackJson = {
  terraform: {
    backend: Record<string, Record<string, unknown>>;
    required_providers: Record<string, { source: string; version: string }>;
  };
  provider: Record<string, Record<string, unknown>[]>;
  resource?: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
  output?: Record<string, { value: unknown; sensitive?: boolean }>;
  removed?: Array<{ from: string; lifecycle: { destroy: boolean } }>;
};

export interface Synthesized {
  readonly persistentAuth: StackJson;
  readonly infrastructure: StackJson;
  readonly services: StackJson;
  readonly configuration: StackJson;
  /** Raw text of every stack file, for searching. */
  readonly text: string;
}

export interface SynthOptions {
  /** Changes to the example cluster.yaml (merged at the top level). */
  readonly cluster?: Record<string, unknown>;
  /** Replaces the example nodes, or edits them. */
  readonly nodes?: Record<string, unknown>[] | ((nodes: Record<string, unknown>[]) => Record<string, unknown>[]);
  readonly context?: Record<string, unknown>;
  /** bootstrap's confirmation of a destroy of layer 00 (the cluster name lifts prevent_destroy). */
  readonly allowDestroyPersistentAuth?: string;
}

export function exampleSources(options: SynthOptions = {}): { cluster: string; nodes: string } {
  const cluster = { ...parse(EXAMPLE.cluster), ...options.cluster };
  const exampleNodes = parse(EXAMPLE.nodes).nodes as Record<string, unknown>[];
  const nodes = typeof options.nodes === "function" ? options.nodes(exampleNodes) : (options.nodes ?? exampleNodes);
  return { cluster: stringify(cluster), nodes: stringify({ nodes }) };
}

export function synth(options: SynthOptions = {}): Synthesized {
  const dir = mkdtempSync(join(tmpdir(), "synth-"));
  try {
    const sources = exampleSources(options);
    writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
    writeFileSync(join(dir, "nodes.yaml"), sources.nodes);
    const app = buildApp(resolveCluster(parseConfig(sources)), {
      configDir: dir,
      outdir: join(dir, "cdktf.out"),
      context: options.context,
      allowDestroyPersistentAuth: options.allowDestroyPersistentAuth,
    });
    app.synth();
    const read = (layer: string) => readFileSync(join(dir, "cdktf.out", "stacks", layer, "cdk.tf.json"), "utf8");
    const texts = ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"].map(read);
    const [persistentAuth, infrastructure, services, configuration] = texts.map((t) => JSON.parse(t));
    return { persistentAuth, infrastructure, services, configuration, text: texts.join("\n") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The v1alpha1 Talos machine-config patch of a node (the first), parsed. */
export function patchOf(stack: StackJson, node: string): any {
  return patchesOf(stack, node)[0];
}

/** Every Talos machine-config patch of a node, parsed. */
export function patchesOf(stack: StackJson, node: string): any[] {
  const config = stack.data!.talos_machine_configuration[node];
  return (config.config_patches as string[]).map((p) => JSON.parse(p));
}
