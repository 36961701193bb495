import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { LAYERS } from "../layers/catalog";
import { generatedFiles } from "../scripts/json-schema";
import { REPO, synth } from "./support/synth";

describe("generated from the zod schema", () => {
  it.each(Object.entries(generatedFiles()))("%s is up to date (run npm run schema)", (file, content) => {
    expect(readFileSync(join(REPO, file), "utf8")).toBe(content);
  });

  it("the example files point editors at the JSON Schemas", () => {
    expect(readFileSync(join(REPO, "cluster.yaml"), "utf8")).toMatch(
      /^# yaml-language-server: \$schema=\.\/schema\/cluster\.schema\.json$/m,
    );
    expect(readFileSync(join(REPO, "nodes.yaml"), "utf8")).toMatch(
      /^# yaml-language-server: \$schema=\.\/schema\/nodes\.schema\.json$/m,
    );
    for (const example of readdirSync(join(REPO, "examples"))) {
      const file = join(REPO, "examples", example, "workloads.yaml");
      if (existsSync(file))
        expect(readFileSync(file, "utf8"), file).toMatch(
          /^# yaml-language-server: \$schema=\.\.\/\.\.\/schema\/workloads\.schema\.json$/m,
        );
    }
  });

  it("the JSON Schema rejects unknown keys and accepts cluster-template ones", () => {
    const schema = JSON.parse(generatedFiles()["schema/cluster.schema.json"]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.repository_name).toBeDefined();
    expect(schema.required).toEqual(expect.arrayContaining(["node_cidr", "cluster_api_addr", "proxmox_api_url"]));
    // cluster-template's files have no version keys: they default to the versions this release is tested with.
    expect(schema.required).not.toContain("talos_version");
    expect(schema.required).not.toContain("kubernetes_version");
  });
});

/**
 * Features the reference text places in a layer, each found by the words that name it and the resources that
 * make it. Where a feature lives is read from a synthesized cluster with every one of them on, the stack names
 * from the catalog (layers/catalog.ts): a text naming another layer is stale.
 */
const FEATURES = [
  {
    feature: "the VMs' Proxmox firewall",
    words: /\bProxmox firewall\b|\bfirewall (?:rules|and HA)\b|`proxmox_firewall_enabled`/i,
    resources: ["proxmox_virtual_environment_firewall_rules", "proxmox_virtual_environment_firewall_options"],
  },
  {
    feature: "the VMs' Proxmox HA",
    words: /\bProxmox HA resource\b|\bfirewall and HA\b|`vm_ha`/,
    resources: ["proxmox_haresource"],
  },
  {
    feature: "Cilium's LoadBalancer pool and layer-2 announcements",
    words: /LoadBalancer IP pool|layer-2 announcement policy/,
    resources: ["kubernetes_manifest"],
  },
] as const;

/** The places of the reference: table rows whole, prose by sentence and clause. */
function units(text: string): string[] {
  return text
    .split("\n\n")
    .flatMap((paragraph) =>
      paragraph.trimStart().startsWith("|") ? paragraph.split("\n") : paragraph.split(/(?<=[.!?;])\s+/),
    );
}

/** The layers a unit of text names: "layer 03", "layers 00 and 01", "01-infrastructure". */
function layersNamed(unit: string): Set<string> {
  const named = new Set<string>();
  for (const m of unit.matchAll(/\b[Ll]ayers?\s+(0[0-3](?:(?:,\s*|\s+(?:and|or|to)\s+|\s*(?:→|->)\s*)0[0-3])*)\b/g))
    for (const n of m[1].matchAll(/0[0-3]/g)) named.add(n[0]);
  for (const m of unit.matchAll(/\b(0[0-3])-(?:persistent-auth|infrastructure|services|configuration)\b/g))
    named.add(m[1]);
  for (const m of unit.matchAll(/\bto (0[0-3])\b/g)) named.add(m[1]);
  return named;
}

describe("the reference names the layer each feature is in", () => {
  let layerOf: Map<string, string>;
  beforeAll(() => {
    const stacks = synth({
      cluster: { proxmox_firewall_enabled: true },
      nodes: (nodes) => nodes.map((n) => (n.controller ? { ...n, vm_ha: true } : n)),
    });
    const byLayer: Array<[string, Record<string, unknown>]> = [
      [LAYERS[0], stacks.persistentAuth.resource ?? {}],
      [LAYERS[1], stacks.infrastructure.resource ?? {}],
      [LAYERS[2], stacks.services.resource ?? {}],
      [LAYERS[3], stacks.configuration.resource ?? {}],
    ];
    layerOf = new Map(
      FEATURES.map(({ feature, resources }) => {
        const holders = byLayer.filter(([, r]) => resources.every((type) => type in r)).map(([name]) => name);
        expect(holders, feature).toHaveLength(1);
        return [feature, holders[0].slice(0, 2)];
      }),
    );
  });

  const sources = () => {
    const schemas = ["schema/cluster.schema.json", "schema/nodes.schema.json", "schema/workloads.schema.json"].map(
      (file) => {
        const descriptions: string[] = [];
        const walk = (v: unknown) => {
          if (Array.isArray(v)) v.forEach(walk);
          else if (v && typeof v === "object")
            for (const [k, x] of Object.entries(v))
              k === "description" && typeof x === "string" ? descriptions.push(x) : walk(x);
        };
        walk(JSON.parse(readFileSync(join(REPO, file), "utf8")));
        return [file, descriptions.join("\n\n")] as const;
      },
    );
    const docs = readdirSync(join(REPO, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => [`docs/${f}`, readFileSync(join(REPO, "docs", f), "utf8")] as const);
    return [["README.md", readFileSync(join(REPO, "README.md"), "utf8")] as const, ...docs, ...schemas];
  };

  it("in README.md, docs/ and the JSON Schemas' descriptions", () => {
    const stale: string[] = [];
    let checked = 0;
    for (const [file, text] of sources()) {
      for (const unit of units(text)) {
        const named = layersNamed(unit);
        if (named.size === 0) continue;
        for (const { feature, words } of FEATURES) {
          if (!words.test(unit)) continue;
          checked++;
          if (!named.has(layerOf.get(feature)!))
            stale.push(
              `${file}: names layer ${[...named].join(", ")} for ${feature} (in ${layerOf.get(feature)}): ${unit.slice(0, 160)}`,
            );
        }
      }
    }
    expect(stale).toEqual([]);
    expect(checked).toBeGreaterThan(3);
  });

  it("catches a stale sentence", () => {
    expect(layersNamed("Layer 03 enables the Proxmox firewall on every VM.")).toEqual(new Set(["03"]));
    expect(layersNamed("Firewall and HA moved from layer 03 to 01")).toEqual(new Set(["03", "01"]));
    expect(layersNamed("| `01-infrastructure` | one VM per node with its Proxmox firewall |")).toEqual(new Set(["01"]));
    expect(layersNamed("announces on layer 2")).toEqual(new Set());
  });
});
