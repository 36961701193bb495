import { Construct } from "constructs";
import { VirtualEnvironmentPool } from "../.gen/providers/proxmox/virtual-environment-pool";

export interface ResourcePoolProps {
  readonly name: string;
}

/** A Proxmox resource pool (guests join it by their pool_id; backups can select it). */
export class ResourcePool extends Construct {
  readonly resource: VirtualEnvironmentPool;

  constructor(scope: Construct, id: string, props: ResourcePoolProps) {
    super(scope, id);
    this.resource = new VirtualEnvironmentPool(this, "Resource", {
      poolId: props.name,
      comment: "Managed by OpenTofu (talos-proxmox-cdktf)",
    });
    this.resource.overrideLogicalId(props.name);
  }

  get poolId(): string {
    return this.resource.poolId;
  }
}
