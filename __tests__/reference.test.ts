import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generatedFiles } from "../scripts/json-schema";
import { REPO } from "./support/synth";

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
