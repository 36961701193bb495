import type { TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { VirtualEnvironmentFirewallOptions } from "../.gen/providers/proxmox/virtual-environment-firewall-options";
import { VirtualEnvironmentFirewallRules } from "../.gen/providers/proxmox/virtual-environment-firewall-rules";
import { tfName } from "./names";
import { replacedWith } from "./replaced-with";

export interface ProxmoxVmFirewallProps {
  readonly name: string;
  readonly proxmoxNode: string;
  readonly vmId: number;
  readonly controller: boolean;
  /** The nodes' network: allowed in on every cluster port. */
  readonly nodeCidr: string;
  /**
   * Other networks allowed to reach the Kubernetes API (controllers) and the Talos API: the operator's.
   * @default - none
   */
  readonly adminCidrs?: readonly string[];
  /**
   * The pod network. Cilium routes natively: pod traffic between nodes keeps pod source addresses, on any
   * port, so it is accepted from here (Cilium's own policies filter it).
   */
  readonly podCidr: string;
  /**
   * Addresses Cilium announces for LoadBalancer services (`start`-`stop`): accepted from anywhere, on any port.
   * @default - no LoadBalancer addresses
   */
  readonly loadBalancerRange?: { readonly start: string; readonly stop: string };
  /**
   * The VM: rules and options are replaced with it (destroying a VM deletes its firewall in Proxmox, so the old
   * ones in the state would point at nothing).
   * @default - a VM outside this stack: never replaced with it
   */
  readonly machine?: TerraformResource;
}

interface Port {
  readonly proto: "tcp" | "udp";
  readonly dport: string;
  readonly comment: string;
}

/** Ports every node opens to the nodes' network. */
export const NODE_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "50000", comment: "Talos apid" },
  { proto: "tcp", dport: "50001", comment: "Talos trustd" },
  { proto: "tcp", dport: "10250", comment: "kubelet" },
  { proto: "udp", dport: "8472", comment: "Cilium VXLAN" },
  { proto: "tcp", dport: "4240", comment: "Cilium health" },
  { proto: "tcp", dport: "4244", comment: "Hubble" },
  { proto: "udp", dport: "51871", comment: "Cilium WireGuard" },
  { proto: "tcp", dport: "7946", comment: "Cilium L2 / memberlist" },
];

/**
 * Ports of pods that the control plane (on the host network, so from node addresses) calls across nodes:
 * admission webhooks and aggregated APIs (cert-manager, metrics-server, ...).
 */
export const WEBHOOK_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "443,4443,8443,9443", comment: "webhooks and aggregated APIs in pods" },
];

/** Kubernetes' NodePort range, open to every source like the services it exposes. */
export const NODEPORT_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "30000:32767", comment: "NodePort services" },
  { proto: "udp", dport: "30000:32767", comment: "NodePort services" },
];

/** Ports controllers open in addition. */
export const CONTROLLER_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "6443", comment: "Kubernetes API" },
  { proto: "tcp", dport: "2379:2380", comment: "etcd" },
  { proto: "tcp", dport: "10257", comment: "kube-controller-manager" },
  { proto: "tcp", dport: "10259", comment: "kube-scheduler" },
];

/** Ports the operator's networks may reach. */
export const ADMIN_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "50000", comment: "Talos apid" },
  { proto: "tcp", dport: "6443", comment: "Kubernetes API" },
];

/**
 * The Proxmox firewall of one VM, firewall first: the Talos, Kubernetes and Cilium ports from the nodes'
 * network, pod traffic, NodePorts, the LoadBalancer addresses and ICMP are accepted, everything else in is
 * dropped. Outbound stays open.
 */
export class ProxmoxVmFirewall extends Construct {
  /** The addresses of the rules and options of the node `name`. */
  static addresses(name: string): string[] {
    return [VirtualEnvironmentFirewallRules, VirtualEnvironmentFirewallOptions].map(
      (r) => `${r.tfResourceType}.${tfName(name)}`,
    );
  }

  constructor(scope: Construct, id: string, props: ProxmoxVmFirewallProps) {
    super(scope, id);
    const lifecycle = props.machine && { replaceTriggeredBy: [replacedWith(props.machine)] };
    const ports = [...NODE_PORTS, ...(props.controller ? CONTROLLER_PORTS : [])];
    const rules = new VirtualEnvironmentFirewallRules(this, "Rules", {
      nodeName: props.proxmoxNode,
      vmId: props.vmId,
      lifecycle,
      rule: [
        { type: "in", action: "ACCEPT", proto: "icmp", source: props.nodeCidr, comment: "ping", enabled: true },
        ...[...ports, ...WEBHOOK_PORTS].map((p) => ({
          type: "in",
          action: "ACCEPT",
          proto: p.proto,
          dport: p.dport,
          source: props.nodeCidr,
          comment: p.comment,
          enabled: true,
        })),
        {
          type: "in",
          action: "ACCEPT",
          source: props.podCidr,
          comment: "pods on other nodes (Cilium native routing)",
          enabled: true,
        },
        ...NODEPORT_PORTS.map((p) => ({
          type: "in",
          action: "ACCEPT",
          proto: p.proto,
          dport: p.dport,
          comment: p.comment,
          enabled: true,
        })),
        ...(props.loadBalancerRange
          ? [
              {
                type: "in",
                action: "ACCEPT",
                dest: `${props.loadBalancerRange.start}-${props.loadBalancerRange.stop}`,
                comment: "Cilium LoadBalancer addresses",
                enabled: true,
              },
            ]
          : []),
        ...(props.adminCidrs ?? []).flatMap((source) =>
          ADMIN_PORTS.filter((p) => props.controller || p.dport !== "6443").map((p) => ({
            type: "in",
            action: "ACCEPT",
            proto: p.proto,
            dport: p.dport,
            source,
            comment: `${p.comment} (admin)`,
            enabled: true,
          })),
        ),
      ],
    });
    rules.overrideLogicalId(tfName(props.name));
    // Rules first, then the DROP policy, so enabling the firewall never cuts a node off mid-apply.
    const options = new VirtualEnvironmentFirewallOptions(this, "Options", {
      nodeName: props.proxmoxNode,
      vmId: props.vmId,
      enabled: true,
      inputPolicy: "DROP",
      outputPolicy: "ACCEPT",
      dhcp: false,
      macfilter: true,
      ipfilter: false,
      dependsOn: [rules],
      lifecycle,
    });
    options.overrideLogicalId(tfName(props.name));
  }
}
