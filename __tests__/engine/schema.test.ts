// Schema truth: the schemas the bindings are generated from, against the real providers.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sourceKey, standIns } from "../../judges/engine/engine";
import {
  dumpSchemas,
  normaliseSchema,
  cdktfPin,
  VENDORED,
  type Block,
  type ProviderSchema,
  type SchemaDump,
} from "../../judges/engine/provider-schema";
import { deriveConfig, engine, LAYERS, REPO, synthesize, tempDir, type StackJson } from "./support";

const work = tempDir("schema");
let real: SchemaDump;
let used: StackJson[];

beforeAll(async () => {
  real = normaliseSchema(dumpSchemas(engine()));
  // Every stack of every example config, with the optional parts turned on.
  const configs = [
    REPO,
    ...readdirSync(join(REPO, "examples")).map((e) => join(REPO, "examples", e)),
    deriveConfig(join(work.dir, "encrypted"), { state_encryption: true }),
  ];
  used = [];
  for (const [i, dir] of configs.entries()) {
    const stacks = await synthesize(dir, join(work.dir, `synth-${i}`));
    used.push(...LAYERS.map((layer) => stacks[layer].json));
  }
});
afterAll(() => work.remove());

/** Meta-arguments and cdktf's metadata: not provider attributes. */
const META = new Set([
  "//",
  "count",
  "for_each",
  "depends_on",
  "lifecycle",
  "provider",
  "provisioner",
  "connection",
  "alias",
]);

/** Every attribute or block path of `value` (a resource body) that `block` does not define. */
function unknownNames(block: Block, value: Record<string, unknown>, at: string): string[] {
  return Object.entries(value).flatMap(([name, v]) => {
    if (META.has(name)) return [];
    const attribute = block.attributes?.[name];
    const nested = block.block_types?.[name];
    if (attribute?.nested_type)
      return each(v, (o, p) => unknownNames({ attributes: attribute.nested_type!.attributes }, o, p), `${at}.${name}`);
    if (attribute) return each(v, (o, p) => unknownObjectKeys(attribute.type, o, p), `${at}.${name}`);
    if (nested) return each(v, (o, p) => unknownNames(nested.block, o, p), `${at}.${name}`);
    return [`${at}.${name}`];
  });
}

/** For an attribute of cty type object (or a collection of objects) written as JSON objects, the keys it does not define. */
function unknownObjectKeys(type: unknown, value: Record<string, unknown>, at: string): string[] {
  let t = type;
  while (Array.isArray(t) && ["list", "set", "map"].includes(t[0] as string)) t = t[1];
  if (!Array.isArray(t) || t[0] !== "object") return [];
  const fields = t[1] as Record<string, unknown>;
  return Object.keys(value).flatMap((k) =>
    k in fields ? each(value[k], (o, p) => unknownObjectKeys(fields[k], o, p), `${at}.${k}`) : [`${at}.${k}`],
  );
}

/** Applies `check` to an object value or to each object of an array value; strings (expressions) are skipped. */
function each(value: unknown, check: (o: Record<string, unknown>, at: string) => string[], at: string): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => each(v, check, `${at}[${i}]`));
  if (value !== null && typeof value === "object") return check(value as Record<string, unknown>, at);
  return [];
}

/**
 * What `stacks` use of one provider that its schema lacks (types, attributes, nested names), and how many
 * resource and data-source bodies were checked.
 */
function usage(
  source: string,
  stacks: readonly StackJson[] = used,
  dump: SchemaDump = real,
): { missing: string[]; checked: number } {
  const key = `registry.terraform.io/${source}`;
  const schema: ProviderSchema | undefined = dump.provider_schemas[key];
  if (!schema) return { missing: [`${key}: no such provider in the dump`], checked: 0 };
  const problems = new Set<string>();
  let checked = 0;
  for (const stack of stacks) {
    const local = Object.entries(stack.terraform?.required_providers ?? {}).find(
      ([, r]) => sourceKey(r.source) === source,
    )?.[0];
    if (!local) continue;
    for (const config of stack.provider?.[local] ?? [])
      for (const p of unknownNames(schema.provider.block, config, `provider.${local}`)) problems.add(p);
    const kinds = [
      ["resource", stack.resource, schema.resource_schemas],
      ["data", stack.data, schema.data_source_schemas],
    ] as const;
    for (const [kind, bodies, schemas] of kinds) {
      for (const [type, byName] of Object.entries(bodies ?? {})) {
        if (!type.startsWith(`${local}_`) && type !== local) continue;
        const typeSchema = schemas?.[type];
        if (!typeSchema) {
          problems.add(
            `${kind === "data" ? "data." : ""}${type}: no such ${kind === "data" ? "data source" : "resource type"}`,
          );
          continue;
        }
        for (const [name, body] of Object.entries(byName)) {
          checked++;
          for (const p of unknownNames(typeSchema.block, body, `${kind === "data" ? "data." : ""}${type}.${name}`))
            problems.add(p);
        }
      }
    }
  }
  return { missing: [...problems].sort(), checked };
}

describe("bpg/proxmox (built at the pinned version)", () => {
  it("the vendored schema the bindings are generated from is the real provider's schema", () => {
    const vendored = normaliseSchema(JSON.parse(readFileSync(VENDORED.file, "utf8")) as SchemaDump);
    const ours = normaliseSchema(real, [VENDORED.source]);
    // The engine builds the release cdktf.json pins (the bindings and the stacks), not a stand-in.
    const pin = cdktfPin(VENDORED.source);
    expect(engine().providers[VENDORED.source]).toMatchObject({ pinned: pin, built: pin });
    // toEqual on a 4 MB document prints an unreadable diff: compare per type first.
    const [a, b] = [vendored, ours].map((d) => d.provider_schemas[`registry.terraform.io/${VENDORED.source}`]);
    for (const kind of ["resource_schemas", "data_source_schemas"] as const) {
      const differing = Object.keys({ ...a[kind], ...b[kind] }).filter(
        (t) => JSON.stringify(a[kind]?.[t]) !== JSON.stringify(b[kind]?.[t]),
      );
      expect(
        differing,
        `${kind} that differ from the real dump (run npx tsx judges/engine/provider-schema.ts)`,
      ).toEqual([]);
    }
    expect(JSON.stringify(vendored) === JSON.stringify(ours), "vendored schema == real dump").toBe(true);
  });

  it("every type and attribute our stacks use exists in it", () => {
    const { missing, checked } = usage("bpg/proxmox");
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });
});

describe.each(standIns(engine()))("%s (STAND-IN: built at another release than pinned)", (source, provider) => {
  it(`every type and attribute our stacks use exists in the stand-in ${provider.built}'s real schema (pinned ${provider.pinned})`, () => {
    const { missing, checked } = usage(source);
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(0);
  });
});

describe("the usage walk", () => {
  it("reports unknown types, attributes, nested block and object keys, and skips meta-arguments", () => {
    const schema = {
      format_version: "1.0",
      provider_schemas: {
        "registry.terraform.io/acme/x": {
          provider: { block: { attributes: { url: {} } } },
          resource_schemas: {
            x_vm: {
              block: {
                attributes: { name: { type: "string" }, nic: { type: ["list", ["object", { mac: "string" }]] } },
                block_types: { disk: { nesting_mode: "list", block: { attributes: { size: { type: "number" } } } } },
              },
            },
          },
          data_source_schemas: {},
        },
      },
    } satisfies SchemaDump;
    const stack: StackJson = {
      terraform: { required_providers: { x: { source: "acme/x", version: "1.0.0" } } },
      provider: { x: [{ url: "u", token: "t" }] },
      resource: {
        x_vm: {
          a: {
            name: "a",
            nme: "typo",
            nic: [{ mac: "m", mtu: 1 }],
            disk: [{ size: 1, sise: 2 }],
            depends_on: [],
            lifecycle: {},
            "//": {},
          },
        },
        x_gone: { b: {} },
      },
      data: { x_info: { c: {} } },
    };
    expect(usage("acme/x", [stack], schema)).toEqual({
      missing: [
        "data.x_info: no such data source",
        "provider.x.token",
        "x_gone: no such resource type",
        "x_vm.a.disk[0].sise",
        "x_vm.a.nic[0].mtu",
        "x_vm.a.nme",
      ],
      checked: 1,
    });
  });
});
