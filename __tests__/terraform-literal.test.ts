// No config value reaches the engine as an expression: every string key either refuses "${" and "%{" or hands
// them on escaped. The engine's side (the value arrives in state verbatim) is __tests__/engine/literals.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../config";
import { terraformLiteral } from "../config/terraform-literal";
import { sourcesWith, stringKeys, stringLeavesOf, TEMPLATE } from "./support/literals";
import { synth } from "./support/synth";

/** Evaluated by Terraform: "${" or "%{" not preceded by the escaping "$" or "%". */
const UNESCAPED = /(^|[^$])\$\{path\.cwd\}|(^|[^%])%\{ (if true|endif) \}/;

describe("terraformLiteral", () => {
  it.each([
    ["${x}", "$${x}"],
    ["%{ if x }", "%%{ if x }"],
    ["$${x}", "$$${x}"],
    ["a$b%c{d}", "a$b%c{d}"],
    ["${a}${b}%{c}", "$${a}$${b}%%{c}"],
  ])("%s becomes %s", (text, literal) => {
    expect(terraformLiteral(text)).toBe(literal);
  });

  it("leaves no unescaped ${ or %{ in any text (HCL reads $${ and %%{ as escapes, left to right)", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("$", "%", "{", "}", "a", "\\", '"') }), (text) => {
        const literal = terraformLiteral(text);
        // Read it as HCL's template scanner does: an escape, an expression start, or one literal character.
        let read = "";
        for (let i = 0; i < literal.length; ) {
          if (literal.startsWith("$${", i) || literal.startsWith("%%{", i))
            [read, i] = [read + literal.slice(i + 1, i + 3), i + 3];
          else if (literal.startsWith("${", i) || literal.startsWith("%{", i))
            throw new Error(`${JSON.stringify(text)} -> ${JSON.stringify(literal)}: expression at ${i}`);
          else [read, i] = [read + literal[i], i + 1];
        }
        expect(read).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("every string key of the config refuses a template or hands it on escaped", () => {
  const keys = stringKeys();

  it("the schema walk finds the string keys", () => {
    const names = keys.map((k) => `${k.file}:${k.path.join(".")}`);
    expect(names).toEqual(
      expect.arrayContaining([
        "cluster.yaml:proxmox_node",
        "cluster.yaml:repository_path",
        "cluster.yaml:state_backend.address",
        "nodes.yaml:disk",
        "nodes.yaml:name",
      ]),
    );
    expect(keys.length).toBeGreaterThan(25);
  });

  it.each(keys.map((k) => [`${k.file} ${k.path.join(".")}`, k] as const))("%s", (_, key) => {
    const { options, sources } = sourcesWith(key, TEMPLATE);
    let error: unknown;
    try {
      parseConfig(sources);
    } catch (e) {
      error = e;
    }
    if (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const at = (error as ConfigError).issues
        .filter((i) => i.severity === "error")
        .map((i) => `${i.file}:${i.path.join(".")}`);
      const path = key.file === "nodes.yaml" ? ["nodes", 0, ...key.path] : key.path;
      expect([...new Set(at)]).toEqual([`${key.file}:${[...path, ...(key.list ? [0] : [])].join(".")}`]);
      return;
    }
    const stacks = synth(options);
    const leaves = [stacks.persistentAuth, stacks.infrastructure, stacks.services, stacks.configuration].flatMap(
      stringLeavesOf,
    );
    for (const leaf of leaves) expect(leaf).not.toMatch(UNESCAPED);
    // The value did reach a stack, escaped.
    expect(
      leaves.filter((leaf) => leaf.includes("$${path.cwd}")).length,
      "stack strings with the escaped value",
    ).toBeGreaterThan(0);
  });
});
