import { type TerraformResource, Token } from "cdktf";
import { Construct } from "constructs";
import { Haresource } from "../.gen/providers/proxmox/haresource";
import { tfName } from "./names";
import { replacedWith } from "./replaced-with";

export interface ProxmoxHaProps {
  /** The node's name: the logical id and the comment. */
  readonly name: string;
  readonly vmId: number;
  /**
   * The VM: the HA resource is replaced with it (destroying a VM purges its HA resource in Proxmox, so the old
   * one in the state would point at nothing).
   * @default - a VM outside this stack: never replaced with it
   */
  readonly machine?: TerraformResource;
}

/** Makes a VM a Proxmox HA resource: started, and restarted or moved when its host fails. */
export class ProxmoxHa extends Construct {
  /** The address of the HA resource of the node `name`. */
  static address(name: string): string {
    return `${Haresource.tfResourceType}.${tfName(name)}`;
  }

  readonly resource: Haresource;

  constructor(scope: Construct, id: string, props: ProxmoxHaProps) {
    super(scope, id);
    this.resource = new Haresource(this, "Resource", {
      resourceId: `vm:${Token.asString(props.vmId)}`,
      state: "started",
      comment: `Talos node ${props.name} (managed by OpenTofu)`,
      lifecycle: props.machine && { replaceTriggeredBy: [replacedWith(props.machine)] },
    });
    this.resource.overrideLogicalId(tfName(props.name));
  }
}
