// Every stack of every example, synthesized as a user would, passes the real `tofu validate` with no error
// and no warning.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  deriveConfig,
  describeDiagnostics,
  LAYERS,
  REPO,
  synthesize,
  tempDir,
  tofu,
  type Diagnostic,
  type SynthesizedStack,
} from "./support";

const work = tempDir("validate");
afterAll(() => work.remove());

const configs: Array<[name: string, dir: () => string]> = [
  ["the root example", () => REPO],
  ...readdirSync(join(REPO, "examples")).map((e): [string, () => string] => [
    `examples/${e}`,
    () => join(REPO, "examples", e),
  ]),
  [
    "the root example with state_encryption",
    () => deriveConfig(join(work.dir, "encrypted-config"), { state_encryption: true }),
  ],
  [
    "the root example with a private Flux repository",
    () =>
      deriveConfig(join(work.dir, "private-flux-config"), {
        repository_name: "owner/home-ops",
        repository_visibility: "private",
      }),
  ],
];

describe.each(configs)("%s", (name, configDir) => {
  let stacks: Promise<Record<string, SynthesizedStack>> | undefined;
  const stack = async (layer: string) => {
    stacks ??= synthesize(configDir(), join(work.dir, name.replace(/[^a-z0-9]+/gi, "-")));
    return (await stacks)[layer];
  };

  it.each(LAYERS)("%s: tofu validate reports no error and no warning", async (layer) => {
    const s = await stack(layer);
    await tofu(s, ["init", "-backend=false", "-input=false", "-no-color"]);
    const result = JSON.parse((await tofu(s, ["validate", "-json", "-no-color"], { ok: [0, 1] })).stdout) as {
      valid: boolean;
      diagnostics: Diagnostic[];
    };
    expect(describeDiagnostics(s, result.diagnostics), `tofu validate of ${name}`).toEqual([]);
    expect(result.valid).toBe(true);
  });
});
