// Layer names, the layers in scope, the phases of a run and which layers a --plan run cannot plan.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ALLOW_DESTROY_ENV as CATALOG_ALLOW_DESTROY_ENV, PERSISTENT_AUTH_LAYER } from "../../layers/catalog";
import {
  ALLOW_DESTROY_ENV,
  findLayer,
  isPersistentAuth,
  kubeconfigWrittenBy,
  layerAliases,
  PERSISTENT_AUTH,
  readLayers,
  type Layer,
} from "../../scripts/bootstrap/layers";
import { parseOptions } from "../../scripts/bootstrap/options";
import { blockedBy, needsPersistentAuthState, planPhases, resolveScope, type LayerOutcome } from "../../scripts/bootstrap/phases";

const layer = (name: string, dependencies: string[] = []): Layer => ({ name, dir: `/out/stacks/${name}`, dependencies });
const LAYERS = [
  layer("00-persistent-auth"),
  layer("01-infrastructure", ["00-persistent-auth"]),
  layer("02-services", ["00-persistent-auth", "01-infrastructure"]),
  layer("03-configuration", ["01-infrastructure"]),
];
const KUBECONFIG = new Map([["01-infrastructure", "/config/credentials/kubeconfig"]]);

describe("layer names", () => {
  it("the tool's constants are the app's (the tool does not import layers/)", () => {
    expect(PERSISTENT_AUTH).toBe(PERSISTENT_AUTH_LAYER);
    expect(ALLOW_DESTROY_ENV).toBe(CATALOG_ALLOW_DESTROY_ENV);
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
    expect(findLayer(input, LAYERS)?.name).toBe(expected);
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

  it("takes the stacks of cdktf's manifest.json, sorted by name, with absolute folders", () => {
    const stack = (name: string, dependencies: string[]) => ({ name, workingDirectory: `stacks/${name}`, dependencies });
    writeFileSync(
      join(dir, "manifest.json"),
      JSON.stringify({
        version: "0.21.0",
        stacks: {
          "01-infrastructure": stack("01-infrastructure", ["00-persistent-auth"]),
          "00-persistent-auth": stack("00-persistent-auth", []),
          "02-services": stack("02-services", ["01-infrastructure", "00-persistent-auth"]),
        },
      }),
    );
    expect(readLayers(dir)).toEqual([
      { name: "00-persistent-auth", dir: join(dir, "stacks/00-persistent-auth"), dependencies: [] },
      { name: "01-infrastructure", dir: join(dir, "stacks/01-infrastructure"), dependencies: ["00-persistent-auth"] },
      { name: "02-services", dir: join(dir, "stacks/02-services"), dependencies: ["00-persistent-auth", "01-infrastructure"] },
    ]);
  });
});

describe("kubeconfigWrittenBy", () => {
  it("finds the local file named kubeconfig, relative to the stack folder", () => {
    const stack = {
      resource: {
        local_sensitive_file: {
          talosconfig: { filename: "${path.module}/../../../credentials/talosconfig" },
          kubeconfig: { filename: "${path.module}/../../../credentials/kubeconfig" },
        },
      },
    };
    expect(kubeconfigWrittenBy(layer("01-infrastructure"), stack)).toBe("/credentials/kubeconfig");
    expect(kubeconfigWrittenBy({ ...layer("01-infrastructure"), dir: "/c/cdktf.out/stacks/01-infrastructure" }, stack)).toBe("/c/credentials/kubeconfig");
  });

  it("is undefined for a layer that writes none", () => {
    expect(kubeconfigWrittenBy(layer("00-persistent-auth"), { resource: { talos_machine_secrets: { cluster: {} } } })).toBeUndefined();
  });
});

/** The phases as `action layer` strings. */
function phases(argv: string[], persistentAuthEmpty?: boolean) {
  const options = parseOptions(argv);
  const { scope, problems } = resolveScope(options, LAYERS);
  expect(problems).toEqual([]);
  const result = planPhases(options, scope!, { persistentAuthEmpty, kubeconfigs: KUBECONFIG });
  return { phases: result.phases.map((p) => `${p.action} ${p.layer}`), problems: result.problems, needs00: needsPersistentAuthState(options, scope!) };
}

describe("the phases of a run", () => {
  it.each<[string, string[], boolean | undefined, string[]]>([
    ["first bootstrap: 00 is empty, so it is applied first", [], true, ["apply 00-persistent-auth", "apply 01-infrastructure", "wait-api 01-infrastructure", "apply 02-services", "apply 03-configuration"]],
    ["later bootstrap: 00 holds the secrets, the run starts at 01", [], false, ["apply 01-infrastructure", "wait-api 01-infrastructure", "apply 02-services", "apply 03-configuration"]],
    ["--start-from=persistent-auth applies 00 even when it exists", ["--start-from=persistent-auth"], undefined, ["apply 00-persistent-auth", "apply 01-infrastructure", "wait-api 01-infrastructure", "apply 02-services", "apply 03-configuration"]],
    ["--start-from=services", ["--start-from=services"], false, ["apply 02-services", "apply 03-configuration"]],
    ["--only=persistent-auth", ["--only=persistent-auth"], undefined, ["apply 00-persistent-auth"]],
    ["--only=infrastructure still waits for the API it brings up", ["--only=infrastructure"], false, ["apply 01-infrastructure", "wait-api 01-infrastructure"]],
    ["--plan: every layer in order, no wait", ["--plan"], undefined, ["plan 00-persistent-auth", "plan 01-infrastructure", "plan 02-services", "plan 03-configuration"]],
    ["--plan --start-from=02", ["--plan", "--start-from=02"], undefined, ["plan 02-services", "plan 03-configuration"]],
    ["--destroy: top-down to 01", ["--destroy"], undefined, ["destroy 03-configuration", "destroy 02-services", "destroy 01-infrastructure"]],
    ["--destroy=services", ["--destroy=services"], undefined, ["destroy 03-configuration", "destroy 02-services"]],
    ["--destroy with both keys: down to 00", ["--destroy", "--including-persistent-auth"], undefined, ["destroy 03-configuration", "destroy 02-services", "destroy 01-infrastructure", "destroy 00-persistent-auth"]],
    ["--destroy --plan: the destroy plans only", ["--destroy=03", "--plan"], undefined, ["plan-destroy 03-configuration"]],
  ])("%s", (_, argv, persistentAuthEmpty, expected) => {
    const result = phases(argv, persistentAuthEmpty);
    expect(result.phases).toEqual(expected);
    expect(result.problems).toEqual([]);
  });

  it.each<[string[], boolean]>([
    [[], true],
    [["--start-from=01"], true],
    [["--only=services"], true],
    [["--only=00"], false],
    [["--start-from=00"], false],
    [["--plan"], false],
    [["--destroy"], false],
  ])("preflight reads 00's state for %j: %s", (argv, expected) => {
    expect(phases(argv, false).needs00).toBe(expected);
  });

  it.each([["--start-from=infrastructure"], ["--only=services"]])("%s before 00 was ever applied is refused: 01 reads its outputs", (arg) => {
    const { problems } = phases([arg], true);
    expect(problems).toEqual([
      expect.objectContaining({ check: "sequence", reason: expect.stringMatching(/^00-persistent-auth has never been applied \(its state is empty\), and \S+ reads its outputs$/) }),
    ]);
  });

  it.each<[string[], RegExp]>([
    [["--only=infra"], /^--only=infra names no layer; the layers are 00-persistent-auth, 01-infrastructure, 02-services, 03-configuration$/],
    [["--start-from=04"], /^--start-from=04 names no layer/],
    [["--destroy=storage"], /^--destroy=storage names no layer/],
  ])("%j: an unknown layer is a problem naming the known ones", (argv, reason) => {
    const { scope, problems } = resolveScope(parseOptions(argv), LAYERS);
    expect(scope).toBeUndefined();
    expect(problems).toEqual([expect.objectContaining({ check: "layers", reason: expect.stringMatching(reason), hint: expect.stringContaining("infrastructure") })]);
  });

  it("the phase targets are the stack folders, and the kubeconfig for the wait", () => {
    const options = parseOptions(["--only=01"]);
    const { phases: list } = planPhases(options, resolveScope(options, LAYERS).scope!, { kubeconfigs: KUBECONFIG });
    expect(list).toEqual([
      { action: "apply", layer: "01-infrastructure", target: "/out/stacks/01-infrastructure" },
      { action: "wait-api", layer: "01-infrastructure", target: "/config/credentials/kubeconfig" },
    ]);
  });
});

describe("blockedBy: which layers a --plan run cannot plan", () => {
  const outcomes = (entries: Record<string, LayerOutcome>) => new Map(Object.entries(entries));
  const clean = { pending: false, skipped: false };
  const pending = { pending: true, skipped: false };
  const skipped = { pending: false, skipped: true };

  it.each<[string, Record<string, LayerOutcome>, string, string | undefined]>([
    ["nothing planned yet", {}, "01-infrastructure", undefined],
    ["00 has no changes", { "00-persistent-auth": clean }, "01-infrastructure", undefined],
    ["00 is still to create (first bootstrap)", { "00-persistent-auth": pending }, "01-infrastructure", "00-persistent-auth"],
    ["01 has changes: 02 reads it", { "00-persistent-auth": clean, "01-infrastructure": pending }, "02-services", "01-infrastructure"],
    ["01 was not planned: neither is 03", { "00-persistent-auth": pending, "01-infrastructure": skipped }, "03-configuration", "01-infrastructure"],
    ["03 does not read 00", { "00-persistent-auth": pending, "01-infrastructure": clean }, "03-configuration", undefined],
  ])("%s", (_, results, name, expected) => {
    expect(blockedBy(LAYERS.find((l) => l.name === name)!, outcomes(results))).toBe(expected);
  });
});
