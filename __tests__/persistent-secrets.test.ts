// The constructs of layer 00, each alone: protected by default, released only when asked.
import { TerraformStack, Testing } from "cdktf";
import { describe, expect, it } from "vitest";
import { ProxmoxCsiToken } from "../constructs/proxmox-csi-token";
import { SealedSecretsKey } from "../constructs/sealed-secrets-key";
import { TalosSecrets } from "../constructs/talos-secrets";

const constructs = {
  TalosSecrets: (stack: TerraformStack, allowDestroy?: boolean) =>
    new TalosSecrets(stack, "X", { talosVersion: "v1.12.1", allowDestroy }),
  SealedSecretsKey: (stack: TerraformStack, allowDestroy?: boolean) =>
    new SealedSecretsKey(stack, "X", { allowDestroy }),
  ProxmoxCsiToken: (stack: TerraformStack, allowDestroy?: boolean) =>
    new ProxmoxCsiToken(stack, "X", { clusterName: "lab", allowDestroy }),
};

function preventDestroyOf(
  make: (stack: TerraformStack, allowDestroy?: boolean) => unknown,
  allowDestroy?: boolean,
): boolean[] {
  const stack = new TerraformStack(Testing.app(), "s");
  make(stack, allowDestroy);
  const resources = JSON.parse(Testing.synth(stack)).resource as Record<string, Record<string, any>>;
  return Object.values(resources).flatMap((byName) => Object.values(byName).map((r) => r.lifecycle.prevent_destroy));
}

describe.each(Object.entries(constructs))("%s", (_, make) => {
  it("protects every resource by default", () => {
    const flags = preventDestroyOf(make);
    expect(flags.length).toBeGreaterThan(0);
    expect(flags.every((f) => f === true)).toBe(true);
  });

  it("releases every resource with allowDestroy", () => {
    expect(preventDestroyOf(make, true).every((f) => f === false)).toBe(true);
  });
});

it("TalosSecrets keeps the PKI across Talos upgrades", () => {
  const stack = new TerraformStack(Testing.app(), "s");
  new TalosSecrets(stack, "X", { talosVersion: "v1.12.1" });
  expect(JSON.parse(Testing.synth(stack)).resource.talos_machine_secrets.cluster.lifecycle.ignore_changes).toEqual([
    "talos_version",
  ]);
});

it("SealedSecretsKey's certificate is valid for 10 years unless told otherwise", () => {
  const hours = (validityYears?: number) => {
    const stack = new TerraformStack(Testing.app(), "s");
    new SealedSecretsKey(stack, "X", { validityYears });
    return JSON.parse(Testing.synth(stack)).resource.tls_self_signed_cert.sealed_secrets.validity_period_hours;
  };
  expect([hours(), hours(1)]).toEqual([87600, 8760]);
});
