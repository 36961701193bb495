import type { TerraformStack } from "cdktf";

/**
 * Stops managing resources without destroying them: one OpenTofu `removed` block with
 * `lifecycle { destroy = false }` per address (`type.name`). `prevent_destroy` cannot protect a resource whose
 * block is gone, so a layer emits these for what a switched-off feature used to hold. A block for an address
 * that is not in the state does nothing. The stack must keep the forgotten resources' provider configured:
 * OpenTofu configures it to forget them, and bpg/proxmox without its endpoint fails the plan.
 */
export function forgetWithoutDestroying(stack: TerraformStack, addresses: readonly string[]): void {
  if (addresses.length === 0) return;
  stack.addOverride(
    "removed",
    addresses.map((from) => ({ from, lifecycle: { destroy: false } })),
  );
}
