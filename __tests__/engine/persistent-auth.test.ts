// Layer 00 and its feature switches, with the real engine: a switched-off feature must never plan a deletion
// (prevent_destroy cannot protect a resource whose block is gone), and switching it on again must find the
// same key. Local state beside the config, as a user has it; nothing leaves the machine.
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deriveConfig, synthesize, tempDir, tofu, type SynthesizedStack } from "./support";

const work = tempDir("persistent-auth");
afterAll(() => work.remove());

/** Never contacted: the root example without Proxmox CSI (its token needs a Proxmox API to apply). */
const configDir = join(work.dir, "config");
const LOOPBACK = {
  proxmox_csi_enabled: false,
  proxmox_api_url: "https://127.0.0.1:9/",
  talos_image_factory_url: "http://127.0.0.1:9",
};

let synths = 0;
/** Layer 00 of the example with `cluster` merged over it, synthesized beside the others so they share state/. */
async function layer00(cluster: Record<string, unknown>): Promise<SynthesizedStack> {
  deriveConfig(configDir, { ...LOOPBACK, ...cluster });
  return (await synthesize(configDir, join(work.dir, `synth-${++synths}`)))["00-persistent-auth"];
}

type ResourceChange = { address: string; change: { actions: string[] } };
type Plan = { resource_changes?: ResourceChange[]; output_changes?: Record<string, { actions: string[] }> };

/** `tofu plan` into a file and its JSON; the exit status is -detailed-exitcode's (0 no changes, 2 changes). */
async function plan(stack: SynthesizedStack): Promise<{ json: Plan; exitCode: number }> {
  await tofu(stack, ["init", "-input=false", "-no-color"]);
  const run = await tofu(stack, ["plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=test.tfplan"], {
    ok: [0, 2],
  });
  const json = JSON.parse((await tofu(stack, ["show", "-json", "test.tfplan"])).stdout) as Plan;
  return { json, exitCode: run.status };
}

/** "address: action" for every resource the plan does something to. */
function actions(json: Plan): string[] {
  return (json.resource_changes ?? [])
    .filter((rc) => rc.change.actions.join("+") !== "no-op")
    .map((rc) => `${rc.address}: ${rc.change.actions.join("+")}`);
}

async function keyFingerprint(stack: SynthesizedStack): Promise<string> {
  const state = JSON.parse((await tofu(stack, ["show", "-json", "-no-color"])).stdout) as {
    values: { root_module: { resources: Array<{ address: string; values: Record<string, unknown> }> } };
  };
  const key = state.values.root_module.resources.find((r) => r.address === "tls_private_key.sealed_secrets");
  expect(key, "tls_private_key.sealed_secrets in layer 00's state").toBeDefined();
  return key!.values.public_key_fingerprint_sha256 as string;
}

describe("layer 00 feature switches", () => {
  let fingerprint: string;

  it("applies with sealed_secrets_enabled on", async () => {
    const on = await layer00({ sealed_secrets_enabled: true });
    await tofu(on, ["init", "-input=false", "-no-color"]);
    const apply = await tofu(on, ["apply", "-auto-approve", "-input=false", "-no-color"]);
    expect(apply.stdout).toMatch(/4 added, 0 changed, 0 destroyed/);
    fingerprint = await keyFingerprint(on);
    expect(fingerprint).toMatch(/^SHA256:/);
  });

  it("sealed_secrets_enabled off plans no change to any resource, and applies destroying nothing", async () => {
    const off = await layer00({ sealed_secrets_enabled: false });
    const { json } = await plan(off);
    expect(actions(json)).toEqual([]);
    expect((json.resource_changes ?? []).map((rc) => rc.address).sort()).toEqual([
      "talos_machine_secrets.cluster",
      "tls_private_key.flux_deploy_key",
      "tls_private_key.sealed_secrets",
      "tls_self_signed_cert.sealed_secrets",
    ]);
    const apply = await tofu(off, ["apply", "-input=false", "-no-color", "test.tfplan"]);
    expect(apply.stdout).toMatch(/0 destroyed|No changes/);
    expect(await keyFingerprint(off)).toBe(fingerprint);
  });

  it("on again finds the same key: no resource created, replaced or deleted", async () => {
    const on = await layer00({ sealed_secrets_enabled: true });
    const { json } = await plan(on);
    expect(actions(json)).toEqual([]);
    await tofu(on, ["apply", "-input=false", "-no-color", "test.tfplan"]);
    expect(await keyFingerprint(on)).toBe(fingerprint);
  });

  it("proxmox_csi_enabled off with nothing of it in the state: its removed blocks plan nothing", async () => {
    const off = await layer00({ sealed_secrets_enabled: true });
    expect((off.json as { removed?: unknown[] }).removed).toHaveLength(4);
    const { json, exitCode } = await plan(off);
    expect(actions(json)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});
