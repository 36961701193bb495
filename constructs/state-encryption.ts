import { TerraformVariable, type TerraformStack } from "cdktf";

/** The variable the passphrase comes in through; OpenTofu reads it from TF_VAR_state_passphrase. */
export const STATE_PASSPHRASE_VARIABLE = "state_passphrase";

/**
 * OpenTofu state encryption for one stack: a key derived from a passphrase (pbkdf2) and AES-GCM, enforced for
 * state and plan files, and used to read the other layers' state (terraform_remote_state). The passphrase is
 * a sensitive variable with no default, so it only ever comes from the environment. Terraform has no state
 * encryption and rejects the block.
 */
export function encryptState(stack: TerraformStack): void {
  const passphrase = new TerraformVariable(stack, STATE_PASSPHRASE_VARIABLE, {
    type: "string",
    sensitive: true,
    description: "Passphrase of the state encryption (at least 16 characters); set TF_VAR_state_passphrase.",
  });
  passphrase.overrideLogicalId(STATE_PASSPHRASE_VARIABLE);
  // Encryption settings are static references: in JSON syntax a bare expression, not a "${...}" template.
  const method = "method.aes_gcm.state";
  stack.addOverride("terraform.encryption", {
    key_provider: { pbkdf2: { state: { passphrase: `\${var.${STATE_PASSPHRASE_VARIABLE}}` } } },
    method: { aes_gcm: { state: { keys: "${key_provider.pbkdf2.state}" } } },
    state: { method, enforced: true },
    plan: { method, enforced: true },
    remote_state_data_sources: { default: { method } },
  });
}
