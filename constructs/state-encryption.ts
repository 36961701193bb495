import { TerraformVariable, type TerraformStack } from "cdktf";
import { STATE_PASSPHRASE_VARIABLE } from "../config/env-references";
import { MIN_OPENTOFU_FOR_STATE_ENCRYPTION } from "../config/versions";

/**
 * OpenTofu state encryption for one stack: a key derived from a passphrase (pbkdf2) and AES-GCM, enforced for
 * state and plan files, and used to read the other layers' state (terraform_remote_state). The passphrase is
 * a sensitive variable with no default, so it only ever comes from the environment. The stack requires OpenTofu
 * MIN_OPENTOFU_FOR_STATE_ENCRYPTION or newer, so an older one stops at init with the version it needs instead of
 * reading the block with an unsupported release. Terraform has no state encryption and rejects the block.
 */
export interface EncryptStateOptions {
  /**
   * Also read state and plans that are not encrypted yet (an `unencrypted` method as fallback, not enforced),
   * so that turning encryption on for existing state works: the next apply writes it encrypted. Leave it on
   * only for that run: it also accepts a state someone replaced with an unencrypted one.
   * @default false
   */
  readonly migrateFromPlaintext?: boolean;
}

export function encryptState(stack: TerraformStack, options: EncryptStateOptions = {}): void {
  const passphrase = new TerraformVariable(stack, STATE_PASSPHRASE_VARIABLE, {
    type: "string",
    sensitive: true,
    description: "Passphrase of the state encryption (at least 16 characters); set TF_VAR_state_passphrase.",
  });
  passphrase.overrideLogicalId(STATE_PASSPHRASE_VARIABLE);
  // Encryption settings are static references: in JSON syntax a bare expression, not a "${...}" template.
  const method = "method.aes_gcm.state";
  const migrate = options.migrateFromPlaintext ?? false;
  const fallback = migrate ? { fallback: { method: "method.unencrypted.migrate" } } : {};
  stack.addOverride("terraform.required_version", `>= ${MIN_OPENTOFU_FOR_STATE_ENCRYPTION}`);
  stack.addOverride("terraform.encryption", {
    key_provider: { pbkdf2: { state: { passphrase: `\${var.${STATE_PASSPHRASE_VARIABLE}}` } } },
    method: {
      aes_gcm: { state: { keys: "${key_provider.pbkdf2.state}" } },
      ...(migrate ? { unencrypted: { migrate: {} } } : {}),
    },
    state: { method, enforced: !migrate, ...fallback },
    plan: { method, enforced: !migrate, ...fallback },
    remote_state_data_sources: { default: { method, ...fallback } },
  });
}
