import { Construct } from "constructs";
import { Haresource } from "../.gen/providers/proxmox/haresource";
import { Harule } from "../.gen/providers/proxmox/harule";

export interface GuestHaProps {
  readonly kind: "vm" | "ct";
  readonly guestId: number;
  /** Used in logical ids, the rule name and comments. */
  readonly guestName: string;
  /** @default "started" */
  readonly state?: "started" | "stopped" | "ignored" | "disabled";
  /** Preferred hosts and their priority, as a node-affinity rule. @default - no rule: any host */
  readonly hosts?: Readonly<Record<string, number>>;
  /** With hosts: never run elsewhere. @default false */
  readonly strict?: boolean;
}

/** A guest as a Proxmox HA resource, with a node-affinity rule when it prefers hosts. */
export class GuestHa extends Construct {
  readonly resource: Haresource;
  readonly rule?: Harule;

  constructor(scope: Construct, id: string, props: GuestHaProps) {
    super(scope, id);
    const resourceId = `${props.kind}:${props.guestId}`;
    this.resource = new Haresource(this, "Resource", {
      resourceId,
      state: props.state ?? "started",
      comment: `${props.guestName} (managed by OpenTofu)`,
    });
    this.resource.overrideLogicalId(props.guestName);
    if (props.hosts && Object.keys(props.hosts).length) {
      this.rule = new Harule(this, "Rule", {
        // A PVE config id starts with a letter; a guest name may start with a digit.
        rule: `hosts-${props.guestName}`,
        type: "node-affinity",
        resources: [resourceId],
        nodes: { ...props.hosts },
        strict: props.strict ?? false,
        comment: `Preferred hosts of ${props.guestName} (managed by OpenTofu)`,
        dependsOn: [this.resource],
      });
      this.rule.overrideLogicalId(props.guestName);
    }
  }
}
