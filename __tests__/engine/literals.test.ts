// No config value is evaluated by the engine: each string key that accepts "${" and "%{" is synthesized with
// them, and every stack string carrying the value goes through the real tofu (as the input of a built-in
// terraform_data resource, applied with local state); the state must hold the text the user wrote.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../config";
import { terraformLiteral } from "../../config/terraform-literal";
import { sourcesWith, stringKeys, stringLeavesOf, TEMPLATE } from "../support/literals";
import { synth } from "../support/synth";
import { tempDir, tofu } from "./support";

const work = tempDir("literals");
afterAll(() => work.remove());

/** Applies one terraform_data resource per input and returns the inputs as the engine stored them. */
async function throughTheEngine(name: string, inputs: readonly string[]): Promise<string[]> {
  const dir = join(work.dir, name);
  mkdirSync(dir, { recursive: true });
  const resources = Object.fromEntries(inputs.map((input, i) => [`v${i}`, { input }]));
  writeFileSync(join(dir, "main.tf.json"), JSON.stringify({ resource: { terraform_data: resources } }, null, 2));
  const stack = { dir };
  await tofu(stack, ["init", "-input=false", "-no-color"]);
  await tofu(stack, ["apply", "-auto-approve", "-input=false", "-no-color"]);
  const state = JSON.parse((await tofu(stack, ["show", "-json", "-no-color"])).stdout) as {
    values: { root_module: { resources: { name: string; values: { input: string } }[] } };
  };
  const byName = new Map(state.values.root_module.resources.map((r) => [r.name, r.values.input]));
  return inputs.map((_, i) => byName.get(`v${i}`)!);
}

describe("the engine reads config strings as literals", () => {
  it("terraformLiteral: tricky texts arrive verbatim", async () => {
    const texts = [
      TEMPLATE,
      "${",
      "%{",
      "$${x}",
      "%%{x}",
      "$$${x}",
      "a$",
      "a%",
      "$%{x}",
      "%${x}",
      "}${",
      '${"}"}',
      "\\${x}",
      '${file("/etc/hostname")}',
      "%{ for x in [1] }${x}%{ endfor }",
    ];
    expect(await throughTheEngine("texts", texts.map(terraformLiteral))).toEqual(texts);
  });

  // The keys that refuse the template are covered by the unit test (terraform-literal.test.ts); these are the
  // ones whose value reaches a stack.
  const accepted = stringKeys().filter((key) => {
    try {
      parseConfig(sourcesWith(key, TEMPLATE).sources);
      return true;
    } catch (e) {
      if (e instanceof ConfigError) return false;
      throw e;
    }
  });

  it("some keys take free text (otherwise this test proves nothing)", () => {
    expect(accepted.map((k) => k.path.join("."))).toEqual(
      expect.arrayContaining(["repository_branch", "repository_path"]),
    );
  });

  it.each(accepted.map((k) => [`${k.file} ${k.path.join(".")}`, k] as const))(
    "%s: every stack string with the value arrives with it verbatim",
    async (_, key) => {
      const stacks = synth(sourcesWith(key, TEMPLATE).options);
      // A carrier may also hold the stack's own references (a machine config patch names the installer image's
      // data source): outside their stack they are undeclared, so each becomes plain text; escaped "$${" is kept.
      const carriers = [stacks.persistentAuth, stacks.infrastructure, stacks.services, stacks.configuration]
        .flatMap(stringLeavesOf)
        .filter((s) => s.includes("path.cwd"))
        .map((s) => s.replace(/(?<!\$)\$\{(data|var|local|module)\.[\w.-]+\}/g, "<reference>"));
      expect(carriers.length).toBeGreaterThan(0);
      for (const value of await throughTheEngine(key.path.join("_"), carriers)) expect(value).toContain(TEMPLATE);
    },
  );
});
