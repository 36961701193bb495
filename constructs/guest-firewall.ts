import type { TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { VirtualEnvironmentFirewallOptions } from "../.gen/providers/proxmox/virtual-environment-firewall-options";
import { VirtualEnvironmentFirewallRules } from "../.gen/providers/proxmox/virtual-environment-firewall-rules";
import { tfName } from "./names";
import { replacedWith } from "./replaced-with";

type Action = "ACCEPT" | "DROP" | "REJECT";

/** A rule with PVE's fields (`type` is the direction). */
export interface GuestFirewallRuleProps {
  readonly type: "in" | "out";
  readonly action: Action;
  /** @default - none */
  readonly macro?: string;
  /** @default - anywhere */
  readonly source?: string;
  /** @default - anywhere */
  readonly dest?: string;
  /** @default - any */
  readonly proto?: string;
  /** @default - any */
  readonly dport?: string;
  /** @default - any */
  readonly sport?: string;
  /** The one NIC the rule filters (`net1`). @default - every NIC with firewall=1 */
  readonly iface?: string;
  /** @default - none */
  readonly comment?: string;
  /** @default "nolog" */
  readonly log?: string;
  /** @default true */
  readonly enabled?: boolean;
}

export interface GuestFirewallProps {
  /** The guest's name: the resources' logical ids. */
  readonly name: string;
  readonly host: string;
  /** The guest: a VM's or a container's `vm_id` (a reference, so the rules follow it). */
  readonly guest: { readonly vmId: number } | { readonly containerId: number };
  /** The guest's resource: the firewall is replaced with it (a destroyed guest takes its firewall along). */
  readonly machine: TerraformResource;
  /** @default "DROP" */
  readonly policyIn?: Action;
  /** @default "ACCEPT" */
  readonly policyOut?: Action;
  /** Let DHCP requests out and leases in. @default false */
  readonly dhcp?: boolean;
  /** @default true */
  readonly macfilter?: boolean;
  /** @default false */
  readonly ipfilter?: boolean;
  /** @default "nolog" */
  readonly logLevelIn?: string;
  /** @default "nolog" */
  readonly logLevelOut?: string;
  /** In order: the first match decides. */
  readonly rules: readonly GuestFirewallRuleProps[];
}

/**
 * The Proxmox firewall of a VM or container: its rules, then its options (enabled, policies), so that enabling a
 * DROP policy never comes before the rules that let traffic in.
 */
export class GuestFirewall extends Construct {
  readonly rules: VirtualEnvironmentFirewallRules;
  readonly options: VirtualEnvironmentFirewallOptions;

  constructor(scope: Construct, id: string, props: GuestFirewallProps) {
    super(scope, id);
    const lifecycle = { replaceTriggeredBy: [replacedWith(props.machine)] };
    const target = { nodeName: props.host, ...props.guest };
    this.rules = new VirtualEnvironmentFirewallRules(this, "Rules", {
      ...target,
      lifecycle,
      rule: props.rules.map((r) => ({
        type: r.type,
        action: r.action,
        macro: r.macro,
        source: r.source,
        dest: r.dest,
        proto: r.proto,
        dport: r.dport,
        sport: r.sport,
        iface: r.iface,
        comment: r.comment,
        log: r.log,
        enabled: r.enabled ?? true,
      })),
    });
    this.rules.overrideLogicalId(tfName(props.name));
    this.options = new VirtualEnvironmentFirewallOptions(this, "Options", {
      ...target,
      enabled: true,
      inputPolicy: props.policyIn ?? "DROP",
      outputPolicy: props.policyOut ?? "ACCEPT",
      dhcp: props.dhcp ?? false,
      macfilter: props.macfilter ?? true,
      ipfilter: props.ipfilter ?? false,
      logLevelIn: props.logLevelIn,
      logLevelOut: props.logLevelOut,
      dependsOn: [this.rules],
      lifecycle,
    });
    this.options.overrideLogicalId(tfName(props.name));
  }
}
