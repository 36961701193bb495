import type { TerraformResource } from "cdktf";

/**
 * A `replace_triggered_by` entry that fires when `machine` is replaced: its id, not the whole resource, so an
 * in-place change of the VM (memory, cores, a migration) replaces nothing else.
 */
export function replacedWith(machine: TerraformResource): string {
  return `${machine.terraformResourceType}.${machine.friendlyUniqueId}.id`;
}
