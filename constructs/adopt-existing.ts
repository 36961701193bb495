import { TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { DataProxmoxHaresources } from "../.gen/providers/proxmox/data-proxmox-haresources";
import { DataProxmoxVirtualEnvironmentVms } from "../.gen/providers/proxmox/data-proxmox-virtual-environment-vms";

/** A VM whose Proxmox objects may already exist, made by another stack or by hand. */
export interface AdoptedVm {
  /** The VM id (a literal: an import id must be known when planning). */
  readonly vmId: number;
  /**
   * Addresses (`type.name`) of its firewall rules and options, adopted while the VM exists (their import id is
   * `vm/<the host the VM is on>/<vmId>`; reading a VM's firewall that has no rules yet finds none).
   * @default - none
   */
  readonly firewall?: readonly string[];
  /**
   * Address of its HA resource, adopted while Proxmox has the HA resource `vm:<vmId>`.
   * @default - none
   */
  readonly ha?: string;
}

export interface AdoptExistingProps {
  readonly vms: readonly AdoptedVm[];
}

/**
 * Adopts Proxmox objects that already exist instead of creating them again: an OpenTofu `import` block per
 * address, whose `for_each` is empty unless Proxmox has the object (read from two data sources at plan time).
 * Creating them again would fail: bpg refuses to create firewall rules where a VM has rules ("Existing rules
 * detected") and Proxmox an HA resource that exists ("already defined"). An import block for an address that
 * is already in the state does nothing, so the blocks stay harmless once adopted. One per stack.
 */
export class AdoptExisting extends Construct {
  constructor(scope: Construct, id: string, props: AdoptExistingProps) {
    super(scope, id);
    const firewalls = props.vms.filter((vm) => vm.firewall?.length);
    const has = props.vms.filter((vm) => vm.ha);
    const imports: Array<{ for_each: string; to: string; id: string }> = [];
    if (firewalls.length) {
      const data = new DataProxmoxVirtualEnvironmentVms(this, "Vms", {});
      data.overrideLogicalId("existing");
      const vms = data.fqn;
      for (const vm of firewalls) {
        const ids = `toset([for vm in ${vms}.vms : "vm/\${vm.node_name}/\${vm.vm_id}" if vm.vm_id == ${vm.vmId}])`;
        for (const to of vm.firewall!) imports.push({ for_each: `\${${ids}}`, to, id: "${each.value}" });
      }
    }
    if (has.length) {
      const data = new DataProxmoxHaresources(this, "Ha", {});
      data.overrideLogicalId("existing");
      const ha = data.fqn;
      for (const vm of has) {
        const sid = `vm:${vm.vmId}`;
        imports.push({
          for_each: `\${contains(${ha}.resource_ids, "${sid}") ? toset(["${sid}"]) : toset([])}`,
          to: vm.ha!,
          id: "${each.value}",
        });
      }
    }
    if (imports.length) TerraformStack.of(this).addOverride("import", imports);
  }
}
