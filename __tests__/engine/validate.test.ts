// Every stack of every example, synthesized as a user would, passes the real `tofu validate` with no error
// and no warning.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
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
    "the root example with Tailscale on every node and OIDC login",
    () =>
      deriveConfig(join(work.dir, "reach-config"), {
        tailscale: { all_nodes: true, advertise_routes: ["192.168.10.0/24"] },
        cluster_api_oidc: { issuer_url: "https://auth.example.com/realms/home", client_id: "kubernetes" },
      }),
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

// OpenTofu 1.12 checks that what replace_triggered_by names exists (its changelog, #3967: before, validation and
// planning did not check the referenced attributes): the references that replace a node's configuration apply, firewall and HA with
// its VM are judged by validate above, and this shows validate would catch a broken one.
describe("replace_triggered_by references (OpenTofu 1.12)", () => {
  it("a reference to an attribute the VM does not have fails tofu validate, naming it", async () => {
    const stacks = await synthesize(
      join(REPO, "__tests__", "fixtures", "example"),
      join(work.dir, "replace-triggered-by"),
    );
    const s = stacks["01-infrastructure"];
    const text = readFileSync(join(s.dir, "cdk.tf.json"), "utf8");
    const triggers = [...text.matchAll(/"(proxmox_virtual_environment_vm\.[a-z0-9_]+)\.id"/g)];
    expect(triggers.length, "layer 01 replaces what lives with a VM when the VM's id changes").toBeGreaterThan(0);
    const broken = triggers[0][1];
    writeFileSync(join(s.dir, "cdk.tf.json"), text.replace(`"${broken}.id"`, `"${broken}.idd"`));
    await tofu(s, ["init", "-backend=false", "-input=false", "-no-color"]);
    const result = JSON.parse((await tofu(s, ["validate", "-json", "-no-color"], { ok: [0, 1] })).stdout) as {
      valid: boolean;
      diagnostics: Diagnostic[];
    };
    expect(result.valid).toBe(false);
    expect(result.diagnostics.map((d) => `${d.severity}: ${d.summary} ${d.detail ?? ""}`).join("\n")).toMatch(
      /error: .*idd/s,
    );
  });
});
