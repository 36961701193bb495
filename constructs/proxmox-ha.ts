import { Token } from "cdktf";
import { Construct } from "constructs";
import { Haresource } from "../.gen/providers/proxmox/haresource";
import { tfName } from "./names";

export interface ProxmoxHaProps {
  readonly name: string;
  readonly vmId: number;
}

/** Makes a VM a Proxmox HA resource: started, and restarted or moved when its host fails. */
export class ProxmoxHa extends Construct {
  readonly resource: Haresource;

  constructor(scope: Construct, id: string, props: ProxmoxHaProps) {
    super(scope, id);
    this.resource = new Haresource(this, "Resource", {
      resourceId: `vm:${Token.asString(props.vmId)}`,
      state: "started",
      comment: `Talos node ${props.name} (managed by OpenTofu)`,
    });
    this.resource.overrideLogicalId(tfName(props.name));
  }
}
