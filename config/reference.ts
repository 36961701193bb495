// Everything generated from the schema: the JSON Schemas editors use (schema/*.schema.json), the configuration
// reference (docs/configuration.md) and the supported versions table (docs/versions.md). `npm run schema` writes
// them; a test and .ci/run fail when the committed copies are stale.
import { z } from "zod";
import { IGNORED_CLUSTER_KEYS, IGNORED_NODE_KEYS } from "./foreign-keys";
import { clusterSchema, nodesFileSchema } from "./schema";
import { CILIUM_RELEASES, TALOS_RELEASES, TESTED_KUBERNETES_VERSION, TESTED_TALOS_VERSION } from "./versions";
import { workloadsFileSchema } from "./workloads";

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  [key: string]: unknown;
};

const IGNORED_DESCRIPTION = "onedr0p/cluster-template key this project does not use; accepted and ignored.";

export function clusterJsonSchema(): JsonSchema {
  const schema = toJsonSchema(clusterSchema, "cluster.schema.json");
  for (const key of IGNORED_CLUSTER_KEYS) schema.properties![key] = { description: IGNORED_DESCRIPTION };
  return schema;
}

export function nodesJsonSchema(): JsonSchema {
  const schema = toJsonSchema(nodesFileSchema, "nodes.schema.json");
  const node = schema.properties!.nodes.items!;
  for (const key of IGNORED_NODE_KEYS) node.properties![key] = { description: IGNORED_DESCRIPTION };
  return schema;
}

export function workloadsJsonSchema(): JsonSchema {
  return toJsonSchema(workloadsFileSchema, "workloads.schema.json");
}

function toJsonSchema(schema: z.ZodType, id: string): JsonSchema {
  const json = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" }) as JsonSchema;
  return { $id: id, title: json.description, ...json };
}

/** Markdown tables of every key, with type, default and meaning (docs/configuration.md). */
export function referenceMarkdown(): string {
  const sections = [
    ["cluster.yaml", clusterJsonSchema(), ""],
    ["nodes.yaml (each entry of `nodes`)", nodesJsonSchema().properties!.nodes.items!, ""],
    ["workloads.yaml (optional)", workloadsJsonSchema(), ""],
  ] as const;
  const out: string[] = [];
  for (const [title, schema] of sections) {
    out.push(`## ${title}`, "", "| key | type | default | meaning |", "|---|---|---|---|");
    for (const row of rows(schema, "")) out.push(row);
    out.push("");
  }
  return out.join("\n");
}

/** The supported versions table of docs/versions.md, from config/versions.ts and the chart default. */
export function versionsMarkdown(): string {
  const span = (r: { min: string; max: string }) => `${r.min}-${r.max}`;
  const talos = Object.entries(TALOS_RELEASES);
  const cilium = Object.entries(CILIUM_RELEASES);
  const ciliumDefault = clusterJsonSchema().properties!.cilium_version.default;
  return [
    "| | supported | default | how it is checked |",
    "|---|---|---|---|",
    `| Talos | ${talos.map(([minor]) => minor).join(", ")} | ${TESTED_TALOS_VERSION} | \`npm run test:engine\`, with Talos' own machinery of each minor |`,
    `| Kubernetes | what the Talos minor supports: ${talos.map(([minor, r]) => `${minor}: ${span(r.kubernetes)}`).join(", ")} | ${TESTED_KUBERNETES_VERSION} | config check; the tests hold the ranges against the machinery |`,
    `| Cilium chart | ${cilium.map(([minor, r], i) => `${minor} (${i === 0 ? "Kubernetes " : ""}${span(r.kubernetes)})`).join(", ")} | ${ciliumDefault} | config check against Cilium's documented e2e-tested range |`,
    "",
  ].join("\n");
}

function rows(schema: JsonSchema, prefix: string): string[] {
  const out: string[] = [];
  const required = new Set(schema.required ?? []);
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (prop.description === IGNORED_DESCRIPTION) continue;
    const [meaning, docDefault] = splitDefault(prop.description ?? "");
    const def = required.has(key)
      ? "**required**"
      : prop.default !== undefined
        ? `\`${JSON.stringify(prop.default)}\``
        : docDefault || "-";
    out.push(`| \`${prefix}${key}\` | ${typeName(prop)} | ${def} | ${meaning.replace(/\|/g, "\\|")} |`);
    if (prop.properties && !prop.oneOf) out.push(...rows(prop, `${prefix}${key}.`));
    if (prop.items?.properties) out.push(...rows(prop.items, `${prefix}${key}[].`));
    const values = typeof prop.additionalProperties === "object" ? prop.additionalProperties : undefined;
    if (values?.properties) out.push(...rows(values, `${prefix}${key}.<name>.`));
    // A union of objects: the keys of every form, each once.
    const forms = [...(prop.anyOf ?? []), ...(prop.items?.anyOf ?? [])].filter((v) => v.properties);
    const formPrefix = `${prefix}${key}${prop.items ? "[]" : ""}.`;
    const seen = new Set<string>();
    for (const form of forms) {
      const fresh = Object.fromEntries(Object.entries(form.properties!).filter(([k]) => !seen.has(k)));
      Object.keys(fresh).forEach((k) => seen.add(k));
      out.push(...rows({ ...form, properties: fresh }, formPrefix));
    }
    for (const variant of prop.oneOf ?? []) {
      const tag = variant.properties?.type?.const;
      out.push(
        ...rows(
          {
            ...variant,
            properties: Object.fromEntries(Object.entries(variant.properties ?? {}).filter(([k]) => k !== "type")),
          },
          `${prefix}${key}.`,
        ).map((r) => r.replace(/ \| ([^|]*) \|$/, ` | (type: ${tag}) $1 |`)),
      );
    }
  }
  return out;
}

function splitDefault(description: string): [string, string] {
  const at = description.indexOf("@default");
  if (at < 0) return [description, ""];
  return [description.slice(0, at).trim(), description.slice(at + "@default".length).trim()];
}

function typeName(prop: JsonSchema): string {
  if (prop.enum) return prop.enum.map((v) => `\`${v}\``).join(" \\| ");
  if (prop.oneOf) return prop.oneOf.map((v) => `\`${v.properties?.type?.const}\``).join(" \\| ");
  if (prop.anyOf) {
    const variant = (v: JsonSchema) =>
      v.properties
        ? `{${Object.keys(v.properties)[0]}, ...}`
        : v.type === "string" && v.pattern === "^\\d{1,9}$"
          ? "digits in a string"
          : typeName(v);
    return `one of: ${prop.anyOf.map(variant).join(" \\| ")}`;
  }
  if (typeof prop.additionalProperties === "object") return `map of ${typeName(prop.additionalProperties)}`;
  if (prop.type === "array") return `list of ${typeName(prop.items ?? {})}`;
  if (typeof prop.type === "string") return prop.format ? `${prop.type} (${prop.format})` : prop.type;
  return "any";
}
