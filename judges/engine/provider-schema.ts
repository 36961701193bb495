/**
 * Schema truth: dumps `tofu providers schema -json` from the providers the engine built and writes the
 * bpg/proxmox part, normalised, to providers/schema-cache/proxmox@<version>.json, the file the bindings in
 * .gen/ are generated from (then run `npm run gen` and `npm run bindings:digest`).
 *
 *   npx tsx judges/engine/provider-schema.ts           write the vendored schema
 *   npx tsx judges/engine/provider-schema.ts --check   exit 1 when it differs from the real dump
 *
 * Only bpg/proxmox is written: it is the one provider built at its pinned version. The other providers are
 * stand-ins (see judges/engine/build.sh), whose schema is not the pinned release's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEngine, REPO, runTofu, sourceKey, type Engine } from "./engine";

/** The version cdktf.json pins `source` at: the one the bindings are generated for and the stacks require. */
export function cdktfPin(source: string): string {
  const { terraformProviders } = JSON.parse(readFileSync(join(REPO, "cdktf.json"), "utf8")) as {
    terraformProviders: string[];
  };
  const entry = terraformProviders.find((p) => p.startsWith(`${source}@`));
  if (!entry) throw new Error(`cdktf.json pins no ${source}`);
  return entry.slice(source.length + 1);
}

/** The provider written to the schema cache, and its file (named as cdktf's schema cache looks it up). */
export const VENDORED = {
  source: "bpg/proxmox",
  file: join(REPO, "providers", "schema-cache", `proxmox@${cdktfPin("bpg/proxmox")}.json`),
} as const;

/** Host the vendored schemas (and the generated bindings) name providers with. */
const HOST = "registry.terraform.io";

/** A `providers schema -json` document. */
export interface SchemaDump {
  readonly format_version: string;
  readonly provider_schemas: Record<string, ProviderSchema>;
  readonly provider_versions?: Record<string, string>;
}

export interface ProviderSchema {
  readonly provider: { readonly block: Block };
  readonly resource_schemas?: Record<string, { readonly block: Block }>;
  readonly data_source_schemas?: Record<string, { readonly block: Block }>;
  readonly [other: string]: unknown;
}

export interface Block {
  readonly attributes?: Record<string, Attribute>;
  readonly block_types?: Record<string, { readonly nesting_mode: string; readonly block: Block }>;
}

export interface Attribute {
  /** cty type: `"string"`, `["list", "string"]`, `["object", {...}]`, ... */
  readonly type?: unknown;
  /** Plugin-framework nested attributes. */
  readonly nested_type?: { readonly attributes: Record<string, Attribute>; readonly nesting_mode: string };
}

/** Recursively sorted keys, so two dumps compare (and diff) by content alone. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

/**
 * The dump as we compare and vendor it: only the providers named in `sources` (all when omitted), every
 * address on registry.terraform.io (OpenTofu says registry.opentofu.org), keys sorted, without
 * `provider_versions` (Terraform 1.5 dumps have none; cdktf's cache adds it).
 */
export function normaliseSchema(dump: SchemaDump, sources?: readonly string[]): SchemaDump {
  const providers: Record<string, ProviderSchema> = {};
  for (const [address, schema] of Object.entries(dump.provider_schemas)) {
    const key = sourceKey(address);
    if (sources === undefined || sources.includes(key)) providers[`${HOST}/${key}`] = schema;
  }
  return sortKeys({ format_version: dump.format_version, provider_schemas: providers }) as SchemaDump;
}

/** `tofu providers schema -json` of every provider the engine built, at its built version. */
export function dumpSchemas(engine: Engine = loadEngine()): SchemaDump {
  const dir = mkdtempSync(join(tmpdir(), "provider-schema-"));
  try {
    const required = Object.fromEntries(
      Object.entries(engine.providers).map(([source, p]) => [source.split("/")[1], { source, version: p.built }]),
    );
    writeFileSync(join(dir, "main.tf.json"), JSON.stringify({ terraform: { required_providers: required } }, null, 2));
    runTofu(["init", "-input=false", "-no-color"], { cwd: dir }, engine);
    return JSON.parse(runTofu(["providers", "schema", "-json"], { cwd: dir }, engine).stdout) as SchemaDump;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The vendored file's content for a real dump: normalised, with the `provider_versions` cdktf's cache needs. */
export function vendoredText(dump: SchemaDump, engine: Engine = loadEngine()): string {
  const version = engine.providers[VENDORED.source].built;
  const normalised = normaliseSchema(dump, [VENDORED.source]);
  return `${JSON.stringify({ ...normalised, provider_versions: { [`${HOST}/${VENDORED.source}`]: version } })}\n`;
}

function main(argv: readonly string[]): void {
  const unknown = argv.filter((a) => a !== "--check");
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown[0]} (usage: provider-schema.ts [--check])`);
  const engine = loadEngine();
  const p = engine.providers[VENDORED.source];
  if (p.built !== p.pinned)
    throw new Error(`${VENDORED.source} is built at ${p.built}, not the pinned ${p.pinned}: nothing to vendor`);
  const text = vendoredText(dumpSchemas(engine), engine);
  if (argv.includes("--check")) {
    if (readFileSync(VENDORED.file, "utf8") !== text) {
      process.stderr.write(
        `${VENDORED.file} differs from the real dump: run npx tsx judges/engine/provider-schema.ts\n`,
      );
      process.exit(1);
    }
    process.stdout.write(`${VENDORED.file} is the real dump\n`);
    return;
  }
  writeFileSync(VENDORED.file, text);
  process.stdout.write(`wrote ${VENDORED.file}: now run npm run gen and npm run bindings:digest\n`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`provider-schema: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
