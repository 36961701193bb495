// Turning state_encryption on for a cluster whose state is not encrypted yet, with the real engine and local
// state beside the config: refused without state_encryption_migrate (OpenTofu will not read plaintext state
// it was told to decrypt), migrated by one apply with it, enforced again without it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deriveConfig, synthesize, tempDir, tofu, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("encryption-migration");
afterAll(() => work.remove());

const configDir = join(work.dir, "config");
/** With a well-formed Proxmox token (never sent anywhere: layer 01 plans new VMs only), as bpg/proxmox needs one to configure. */
const PASSPHRASE = {
  TF_VAR_state_passphrase: "engine-test passphrase, not a secret",
  PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000",
};
/** Never contacted: the root example without Proxmox CSI (its token needs a Proxmox API to apply). */
const LOOPBACK = {
  proxmox_csi_enabled: false,
  proxmox_api_url: "https://127.0.0.1:9/",
  talos_image_factory_url: "http://127.0.0.1:9",
};

let synths = 0;
function stacks(cluster: Record<string, unknown>): Promise<Record<Layer, SynthesizedStack>> {
  deriveConfig(configDir, { ...LOOPBACK, ...cluster });
  return synthesize(configDir, join(work.dir, `synth-${++synths}`));
}

const stateFile = () => readFileSync(join(configDir, "state", "00-persistent-auth.tfstate"), "utf8");
const isEncrypted = (text: string) => "encrypted_data" in (JSON.parse(text) as Record<string, unknown>);

/** Layer 01 planned offline (its VMs are new, so Proxmox is not asked), reading layer 00's state. */
async function planLayer01(layer01: SynthesizedStack, env: Record<string, string>): Promise<void> {
  await tofu(layer01, ["init", "-input=false", "-no-color"], { env });
  const plan = await tofu(layer01, ["plan", "-input=false", "-no-color", "-exclude=helm_release.cilium"], { env });
  expect(plan.stdout).toMatch(/Plan: \d+ to add, 0 to change, 0 to destroy/);
}

describe("state_encryption on existing unencrypted state", () => {
  it("layer 00 applies without encryption: its state is plaintext", async () => {
    const layer00 = (await stacks({ state_encryption: false }))["00-persistent-auth"];
    await tofu(layer00, ["init", "-input=false", "-no-color"]);
    await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"]);
    expect(isEncrypted(stateFile())).toBe(false);
    expect(stateFile()).toContain("talos_machine_secrets");
  });

  it("state_encryption alone is refused by the engine, and the state is left as it was", async () => {
    const before = stateFile();
    const layer00 = (await stacks({ state_encryption: true }))["00-persistent-auth"];
    const init = await tofu(layer00, ["init", "-input=false", "-no-color"], { env: PASSPHRASE, ok: [1] });
    expect(init.stderr).toMatch(/encountered unencrypted payload without unencrypted method configured/);
    expect(stateFile()).toBe(before);
  });

  it("with state_encryption_migrate one apply writes it encrypted, changing no resource; layer 01 reads it", async () => {
    const migrating = await stacks({ state_encryption: true, state_encryption_migrate: true });
    const layer00 = migrating["00-persistent-auth"];
    await tofu(layer00, ["init", "-input=false", "-no-color"], { env: PASSPHRASE });
    const apply = await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env: PASSPHRASE });
    expect(apply.stdout).toMatch(/0 added, 0 changed, 0 destroyed|No changes/);
    const stored = stateFile();
    expect(isEncrypted(stored)).toBe(true);
    expect(stored).not.toMatch(/PRIVATE KEY|talos_machine_secrets/);
    await planLayer01(migrating["01-infrastructure"], PASSPHRASE);
  });

  it("without state_encryption_migrate again, encryption is enforced and everything still plans", async () => {
    const enforced = await stacks({ state_encryption: true });
    const layer00 = enforced["00-persistent-auth"];
    await tofu(layer00, ["init", "-input=false", "-no-color"], { env: PASSPHRASE });
    await tofu(layer00, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], { env: PASSPHRASE });
    await planLayer01(enforced["01-infrastructure"], PASSPHRASE);
    const wrong = await tofu(layer00, ["plan", "-input=false", "-no-color"], {
      env: { ...PASSPHRASE, TF_VAR_state_passphrase: "a wrong passphrase of enough length" },
      ok: [1],
    });
    expect(wrong.stderr).toMatch(/decryption failed/);
  });
});
