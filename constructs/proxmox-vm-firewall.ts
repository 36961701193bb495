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
  /** The nodes' network: the Talos, Kubernetes and CNI ports are open to it. */
  readonly nodeCidr: string;
  /** The controllers' addresses: etcd's peers and clients. */
  readonly controllerAddresses: readonly string[];
  /**
   * Other networks allowed to reach the Kubernetes API (controllers) and the Talos API: the operator's. Given,
   * they also narrow who reaches NodePorts (the nodes' network and these).
   * @default - none: NodePorts open to every source
   */
  readonly adminCidrs?: readonly string[];
  /** The pod network: pods keep their addresses between nodes (Cilium's native routing, flannel). */
  readonly podCidr: string;
  /** The CNI: Cilium's health checks, or flannel's VXLAN; with `none`, the CNI's own ports are not opened. */
  readonly cni: "cilium" | "flannel" | "none";
  /**
   * Cilium's load balancer: how it forwards to a backend on another node, and the addresses it announces for
   * LoadBalancer services (`start`-`stop`, accepted from anywhere, on any port).
   * @default - no Cilium load balancer
   */
  readonly loadBalancer?: {
    readonly mode: "dsr" | "snat";
    readonly range?: { readonly start: string; readonly stop: string };
  };
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
  { proto: "tcp", dport: "10250", comment: "kubelet" },
];

/** Ports of the CNI between nodes: Cilium's health checks (native routing: no tunnel), flannel's VXLAN. */
export const CNI_PORTS: Readonly<Record<ProxmoxVmFirewallProps["cni"], readonly Port[]>> = {
  cilium: [{ proto: "tcp", dport: "4240", comment: "Cilium health" }],
  flannel: [{ proto: "udp", dport: "8472", comment: "flannel VXLAN" }],
  none: [],
};

/**
 * Ports controllers open to the nodes' network in addition (etcd only to the controllers). kube-controller-manager
 * and kube-scheduler listen on 127.0.0.1 under Talos: nothing to open.
 */
export const CONTROLLER_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "50001", comment: "Talos trustd" },
  { proto: "tcp", dport: "6443", comment: "Kubernetes API" },
];

const ETCD: Port = { proto: "tcp", dport: "2379:2380", comment: "etcd" };

/** Kubernetes' NodePort range. */
export const NODEPORT_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "30000:32767", comment: "NodePort services" },
  { proto: "udp", dport: "30000:32767", comment: "NodePort services" },
];

/** Ports the operator's networks may reach. */
export const ADMIN_PORTS: readonly Port[] = [
  { proto: "tcp", dport: "50000", comment: "Talos apid" },
  { proto: "tcp", dport: "6443", comment: "Kubernetes API" },
];

/**
 * The Proxmox firewall of one VM, firewall first: the Talos, Kubernetes and CNI ports from the nodes' network
 * (etcd from the controllers), pod traffic, NodePorts, the LoadBalancer addresses and ICMP are accepted,
 * everything else in is dropped; judges/firewall-flows holds it against the flows a cluster needs. Outbound
 * stays open.
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
    const admins = props.adminCidrs ?? [];
    const accept = (rule: { proto?: string; dport?: string; source?: string; dest?: string; comment: string }) => ({
      type: "in",
      action: "ACCEPT",
      ...rule,
      enabled: true,
    });
    const open = (ports: readonly Port[], source: string | undefined, suffix = "") =>
      ports.map((p) => accept({ proto: p.proto, dport: p.dport, source, comment: `${p.comment}${suffix}` }));
    // Who may reach a NodePort, and with DSR a pod a NodePort or LoadBalancer address is forwarded to (the
    // client's address kept): anyone, unless admin networks narrow it to them and the nodes' network.
    const clients = admins.length === 0 ? [undefined] : [props.nodeCidr, ...admins];
    const lb = props.loadBalancer;
    const dsrClients = lb?.mode !== "dsr" ? [] : lb.range || admins.length === 0 ? [undefined] : admins;
    const rules = new VirtualEnvironmentFirewallRules(this, "Rules", {
      nodeName: props.proxmoxNode,
      vmId: props.vmId,
      lifecycle,
      rule: [
        accept({ proto: "icmp", source: props.nodeCidr, comment: "ping" }),
        ...open(
          [...NODE_PORTS, ...(props.controller ? CONTROLLER_PORTS : []), ...CNI_PORTS[props.cni]],
          props.nodeCidr,
        ),
        ...(props.controller ? open([ETCD], props.controllerAddresses.join(","), " (controllers)") : []),
        accept({ source: props.podCidr, comment: "pods on other nodes (their own addresses)" }),
        accept({
          source: props.nodeCidr,
          dest: props.podCidr,
          comment: "pods here from the nodes' network (host-network pods, the API server's webhooks, SNAT'd services)",
        }),
        ...clients.flatMap((source) => open(NODEPORT_PORTS, source)),
        ...(lb?.range
          ? [accept({ dest: `${lb.range.start}-${lb.range.stop}`, comment: "Cilium LoadBalancer addresses" })]
          : []),
        ...dsrClients.map((source) =>
          accept({
            source,
            dest: props.podCidr,
            comment: "service clients forwarded by another node to a pod here (Cilium DSR keeps their address)",
          }),
        ),
        ...admins.flatMap((source) =>
          open(
            ADMIN_PORTS.filter((p) => props.controller || p.dport !== "6443"),
            source,
            " (admin)",
          ),
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
