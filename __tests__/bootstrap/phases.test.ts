// Layer names, the layers in scope and the phases of a run.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LAYERS, type LayerName } from "../../layers/catalog";
import { findLayer, isPersistentAuth, layerAliases, readLayers } from "../../scripts/bootstrap/layers";
import { parseOptions } from "../../scripts/bootstrap/options";
import { needsPersistentAuthState, planPhases, resolveScope } from "../../scripts/bootstrap/phases";

const stackDir = (name: LayerName) => `/out/stacks/${name}`;
const KUBECONFIG = "/config/credentials/kubeconfig";

describe("layer names", () => {
  it("a run without --only/--start-from/--destroy covers the catalog's layers, in apply order", () => {
    expect(resolveScope(parseOptions(["--plan"])).scope?.layers).toEqual(LAYERS);
  });

  it("a layer answers to its name, its name without the number, and its number", () => {
    expect(layerAliases("01-infrastructure")).toEqual(["01-infrastructure", "infrastructure", "01", "1"]);
    expect(layerAliases("custom")).toEqual(["custom"]);
  });

  it.each([
    ["infrastructure", "01-infrastructure"],
    ["01-infrastructure", "01-infrastructure"],
    ["1", "01-infrastructure"],
    ["persistent-auth", "00-persistent-auth"],
    ["03", "03-configuration"],
    ["services", "02-services"],
    ["02-infrastructure", undefined],
    ["infra", undefined],
    ["Infrastructure", undefined],
  ])("%s → %s", (input, expected) => {
    expect(findLayer(input)).toBe(expected);
  });

  it.each([
    ["persistent-auth", true],
    ["00-persistent-auth", true],
    ["00", true],
    ["0", true],
    ["01", false],
    ["auth", false],
  ])("isPersistentAuth(%s) = %s", (input, expected) => {
    expect(isPersistentAuth(input)).toBe(expected);
  });
});

describe("readLayers", () => {
  const dir = mkdtempSync(join(tmpdir(), "bootstrap-layers-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const stack = (name: string, dependencies: string[]) => ({ name, workingDirectory: `stacks/${name}`, dependencies });
  const manifest = (stacks: ReturnType<typeof stack>[]) =>
    writeFileSync(
      join(dir, "manifest.json"),
      JSON.stringify({ version: "0.21.0", stacks: Object.fromEntries(stacks.map((s) => [s.name, s])) }),
    );

  it("takes each catalog layer's folder and dependencies from cdktf's manifest.json, in the catalog's order", () => {
    manifest([
      stack("02-services", ["01-infrastructure", "00-persistent-auth"]),
      stack("01-infrastructure", ["00-persistent-auth"]),
      stack("00-persistent-auth", []),
      stack("03-configuration", ["01-infrastructure"]),
    ]);
    expect(readLayers(dir)).toEqual([
      { name: "00-persistent-auth", dir: join(dir, "stacks/00-persistent-auth"), dependencies: [] },
      { name: "01-infrastructure", dir: join(dir, "stacks/01-infrastructure"), dependencies: ["00-persistent-auth"] },
      {
        name: "02-services",
        dir: join(dir, "stacks/02-services"),
        dependencies: ["00-persistent-auth", "01-infrastructure"],
      },
      { name: "03-configuration", dir: join(dir, "stacks/03-configuration"), dependencies: ["01-infrastructure"] },
    ]);
  });

  it("throws when the synthesized stacks are not the catalog's layers (the app and the catalog disagree)", () => {
    manifest([stack("00-persistent-auth", []), stack("01-infrastructure", ["00-persistent-auth"])]);
    expect(() => readLayers(dir)).toThrow(
      /holds the stacks 00-persistent-auth, 01-infrastructure, the layer catalog 00-persistent-auth, 01-infrastructure, 02-services, 03-configuration/,
    );
  });
});

/** The phases as `action layer` strings. */
function phases(argv: string[], persistentAuthEmpty?: boolean) {
  const options = parseOptions(argv);
  const { scope, problems } = resolveScope(options);
  expect(problems).toEqual([]);
  const result = planPhases(options, scope!, { persistentAuthEmpty, stackDir, kubeconfig: KUBECONFIG });
  return {
    phases: result.phases.map((p) => `${p.action} ${p.layer}`),
    problems: result.problems,
    needs00: needsPersistentAuthState(options, scope!),
  };
}

describe("the phases of a run", () => {
  it.each<[string, string[], boolean | undefined, string[]]>([
    [
      "first bootstrap: 00 is empty, so it is applied first",
      [],
      true,
      [
        "apply 00-persistent-auth",
        "apply 01-infrastructure",
        "wait-api 01-infrastructure",
        "apply 02-services",
        "apply 03-configuration",
      ],
    ],
    [
      "later bootstrap: 00 holds the secrets and is planned again (applied only with changes, guarded)",
      [],
      false,
      [
        "apply 00-persistent-auth",
        "apply 01-infrastructure",
        "wait-api 01-infrastructure",
        "apply 02-services",
        "apply 03-configuration",
      ],
    ],
    [
      "--start-from=persistent-auth applies 00 even when it exists",
      ["--start-from=persistent-auth"],
      undefined,
      [
        "apply 00-persistent-auth",
        "apply 01-infrastructure",
        "wait-api 01-infrastructure",
        "apply 02-services",
        "apply 03-configuration",
      ],
    ],
    ["--start-from=services", ["--start-from=services"], false, ["apply 02-services", "apply 03-configuration"]],
    ["--only=persistent-auth", ["--only=persistent-auth"], undefined, ["apply 00-persistent-auth"]],
    [
      "--only=infrastructure still waits for the API it brings up",
      ["--only=infrastructure"],
      false,
      ["apply 01-infrastructure", "wait-api 01-infrastructure"],
    ],
    [
      "--plan: every layer in order, no wait",
      ["--plan"],
      undefined,
      ["plan 00-persistent-auth", "plan 01-infrastructure", "plan 02-services", "plan 03-configuration"],
    ],
    ["--plan --start-from=02", ["--plan", "--start-from=02"], undefined, ["plan 02-services", "plan 03-configuration"]],
    [
      "--destroy: top-down to 01",
      ["--destroy"],
      undefined,
      ["destroy 03-configuration", "destroy 02-services", "destroy 01-infrastructure"],
    ],
    ["--destroy=services", ["--destroy=services"], undefined, ["destroy 03-configuration", "destroy 02-services"]],
    [
      "--destroy with both keys: down to 00",
      ["--destroy", "--including-persistent-auth"],
      undefined,
      ["destroy 03-configuration", "destroy 02-services", "destroy 01-infrastructure", "destroy 00-persistent-auth"],
    ],
    [
      "--destroy --plan: the destroy plans only",
      ["--destroy=03", "--plan"],
      undefined,
      ["plan-destroy 03-configuration"],
    ],
  ])("%s", (_, argv, persistentAuthEmpty, expected) => {
    const result = phases(argv, persistentAuthEmpty);
    expect(result.phases).toEqual(expected);
    expect(result.problems).toEqual([]);
  });

  it.each<[string[], boolean]>([
    [[], false],
    [["--start-from=01"], true],
    [["--only=services"], true],
    [["--only=00"], false],
    [["--start-from=00"], false],
    [["--plan"], false],
    [["--destroy"], false],
  ])("preflight reads 00's state for %j: %s", (argv, expected) => {
    expect(phases(argv, false).needs00).toBe(expected);
  });

  it.each([["--start-from=infrastructure"], ["--only=services"]])(
    "%s before 00 was ever applied is refused: 01 reads its outputs",
    (arg) => {
      const { problems } = phases([arg], true);
      expect(problems).toEqual([
        expect.objectContaining({
          check: "sequence",
          reason: expect.stringMatching(
            /^00-persistent-auth has never been applied \(its state is empty\), and \S+ reads its outputs$/,
          ),
        }),
      ]);
    },
  );

  it.each<[string[], RegExp]>([
    [
      ["--only=infra"],
      /^--only=infra names no layer; the layers are 00-persistent-auth, 01-infrastructure, 02-services, 03-configuration$/,
    ],
    [["--start-from=04"], /^--start-from=04 names no layer/],
    [["--destroy=storage"], /^--destroy=storage names no layer/],
  ])("%j: an unknown layer is a problem naming the known ones", (argv, reason) => {
    const { scope, problems } = resolveScope(parseOptions(argv));
    expect(scope).toBeUndefined();
    expect(problems).toEqual([
      expect.objectContaining({
        check: "layers",
        reason: expect.stringMatching(reason),
        hint: expect.stringContaining("infrastructure"),
      }),
    ]);
  });

  it("the phase targets are the stack folders, and the kubeconfig for the wait after the layer that writes it", () => {
    const options = parseOptions(["--only=01"]);
    const { phases: list } = planPhases(options, resolveScope(options).scope!, { stackDir, kubeconfig: KUBECONFIG });
    expect(list).toEqual([
      { action: "apply", layer: "01-infrastructure", target: "/out/stacks/01-infrastructure" },
      { action: "wait-api", layer: "01-infrastructure", target: "/config/credentials/kubeconfig" },
    ]);
  });
});
