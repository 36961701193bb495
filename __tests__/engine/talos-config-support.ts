// Talos as the judge: the `talos_machine_configuration` data sources of a synthesized layer 01, handed to the
// Talos config checker of their Talos minor (judges/talos-config, built by judges/engine/build.sh), which
// generates each configuration as the provider does, applies our patches and validates the result with
// Talos' own machinery (metal mode, strict).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { engine, type StackJson } from "./support";

/** One machine configuration to judge: the data source's inputs, with references replaced. */
export interface CheckCase {
  readonly id: string;
  readonly clusterName: string;
  readonly endpoint: string;
  readonly kubernetesVersion: string;
  /** The Talos the node runs: picks the checker, bounds the Kubernetes version. */
  readonly talosVersion: string;
  /** The data source's talos_version (the version contract of the configuration). @default talosVersion */
  readonly contract?: string;
  readonly machineType: string;
  readonly patches: readonly string[];
  /** A rendered configuration to judge as it is (machineType and patches then unused). @default - generated */
  readonly config?: string;
}

export interface CheckResult {
  readonly id: string;
  readonly errors: string[];
  readonly warnings: string[];
  /** The configuration as the node would receive it (throwaway secrets), when it could be generated. */
  readonly config?: string;
  /** The configuration with every secret replaced by Talos' own redaction (REDACTED), when it loaded. */
  readonly redacted?: string;
}

/** What the checker's machinery puts in place of each secret in `redacted`. */
export const REDACTED = "<redacted by machinery>";

/** "v1.12" for "v1.12.1". */
export function talosMinor(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

/**
 * The only Terraform references a patch may hold: the installer image of the node's image-factory URLs.
 * Each is replaced by a value of the shape the provider computes (`<factory host>/installer[-secureboot]/
 * <schematic id>:<talos version>`); any other reference fails, since the checker could not judge it.
 */
const INSTALLER_REFERENCE = /\$\{data\.talos_image_factory_urls\.([\w-]+)\.urls\.(installer|installer_secureboot)\}/g;

/**
 * A sensitive variable of the stack (the Tailscale auth key) stands in a patch as a reference; the check puts a
 * value of the shape the variable's validation accepts in its place, never one from the environment.
 */
const VARIABLE_REFERENCE = /\$\{var\.(\w+)\}/g;

/** The value a test gives a sensitive variable: recognizable, so that a test can find where it went. */
export function testValueOf(variable: string): string {
  return `tskey-auth-test-${variable.replaceAll("_", "-")}`;
}

function resolvePatch(
  patch: string,
  talosVersion: string,
  where: string,
  variables: Readonly<Record<string, { sensitive?: boolean }>>,
): string {
  const resolved = patch
    .replace(INSTALLER_REFERENCE, (_, name: string, kind: string) => {
      const schematic = createHash("sha256").update(name).digest("hex");
      return `factory.talos.dev/${kind === "installer" ? "installer" : "installer-secureboot"}/${schematic}:${talosVersion}`;
    })
    .replace(VARIABLE_REFERENCE, (reference, name: string) =>
      variables[name]?.sensitive === true ? testValueOf(name) : reference,
    );
  const left = /\$\{[^}]*\}/.exec(resolved);
  if (left) throw new Error(`${where}: a config patch holds ${left[0]}, which the Talos config check cannot resolve`);
  return resolved;
}

/** Every `talos_machine_configuration` of a synthesized layer 01, as checker input; `label` prefixes each id. */
export function machineConfigCases(json: StackJson, label: string): CheckCase[] {
  const sources = json.data?.talos_machine_configuration ?? {};
  return Object.entries(sources).map(([name, source]) => {
    const where = `${label} data.talos_machine_configuration.${name}`;
    const literal = (key: string): string => {
      const value = source[key];
      if (typeof value !== "string" || value.includes("${"))
        throw new Error(`${where}: ${key} is not a literal string: ${JSON.stringify(value)}`);
      return value;
    };
    const contract = literal("talos_version");
    // The Talos the node runs: the version of the factory image its installer reference names.
    const patches = (source.config_patches ?? []) as string[];
    const factory = [...patches.join("\n").matchAll(INSTALLER_REFERENCE)].map(([, urls]) => urls);
    const talosVersion = json.data?.talos_image_factory_urls?.[factory[0]]?.talos_version;
    if (new Set(factory).size !== 1 || typeof talosVersion !== "string" || talosVersion.includes("${"))
      throw new Error(`${where}: no one literal Talos version behind the installer image (${factory.join(", ")})`);
    return {
      id: `${label} ${name}`,
      clusterName: literal("cluster_name"),
      endpoint: literal("cluster_endpoint"),
      kubernetesVersion: literal("kubernetes_version"),
      talosVersion,
      contract,
      machineType: literal("machine_type"),
      patches: patches.map((p) => resolvePatch(p, talosVersion, where, json.variable ?? {})),
    };
  });
}

/** Judges `cases` (all of one Talos minor) with that minor's checker; one result per case, in order. */
export async function checkMachineConfigs(
  minor: string,
  cases: readonly CheckCase[],
): Promise<{ machinery: string; results: CheckResult[] }> {
  const checker = engine().talosConfigCheckers[minor];
  if (!checker)
    throw new Error(
      `no Talos config checker for ${minor}; built: ${Object.keys(engine().talosConfigCheckers).join(", ")}`,
    );
  const child = execFile(checker.binary, [], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  const run = new Promise<string>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: string) => (stdout += c));
    child.stderr?.on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (status) =>
      status === 0 ? resolve(stdout) : reject(new Error(`${checker.binary} exited with ${status}: ${stderr}`)),
    );
  });
  child.stdin?.end(JSON.stringify({ cases }));
  return JSON.parse(await run) as { machinery: string; results: CheckResult[] };
}

/** "<id>: <message>" for every error and warning, for assertion messages. */
export function describeFindings(results: readonly CheckResult[]): string[] {
  return results.flatMap((r) => [
    ...r.errors.map((e) => `${r.id}: ${e}`),
    ...r.warnings.map((w) => `${r.id}: warning: ${w}`),
  ]);
}

/** Writes cluster.yaml, nodes.yaml and the `files` they name into `dir`; returns `dir`. */
export function writeConfig(
  dir: string,
  cluster: Record<string, unknown>,
  nodes: readonly Record<string, unknown>[],
  files: Readonly<Record<string, string>> = {},
): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cluster.yaml"), stringify(cluster));
  writeFileSync(join(dir, "nodes.yaml"), stringify({ nodes }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
