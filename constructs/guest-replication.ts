import { Construct } from "constructs";
import { Replication } from "../.gen/providers/proxmox/replication";

export interface GuestReplicationProps {
  /** VMID of the guest. */
  readonly guestId: number;
  /** Used in the logical id. */
  readonly guestName: string;
  /** Host the disks are replicated to. */
  readonly target: string;
  /** @default "*\/15" */
  readonly schedule?: string;
  /** MB/s. @default - unlimited */
  readonly rate?: number;
}

/** Storage replication of one guest's disks to another host (job <guest>-0). */
export class GuestReplication extends Construct {
  readonly resource: Replication;

  constructor(scope: Construct, id: string, props: GuestReplicationProps) {
    super(scope, id);
    this.resource = new Replication(this, "Resource", {
      id: `${props.guestId}-0`,
      type: "local",
      target: props.target,
      schedule: props.schedule ?? "*/15",
      rate: props.rate,
      comment: `${props.guestName} to ${props.target} (managed by OpenTofu)`,
    });
    this.resource.overrideLogicalId(props.guestName);
  }
}
