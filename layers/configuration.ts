import * as kubernetesProvider from "@cdktf/provider-kubernetes/lib/provider";
import { TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ProxmoxProvider } from "../.gen/providers/proxmox/provider";
import type { ClusterDefinition } from "../config";
import { CiliumL2Pool } from "../constructs/cilium-l2-pool";
import { FluxSync } from "../constructs/flux-sync";
import { kubernetesAccessFrom } from "../constructs/kubernetes-access";
import { configureLayerState, type LayerStateProps } from "../constructs/layer-state";
import { ProxmoxHa } from "../constructs/proxmox-ha";
import { ProxmoxVmFirewall } from "../constructs/proxmox-vm-firewall";
import { encryptState } from "../constructs/state-encryption";
import type { InfrastructureLayer } from "./infrastructure";

export interface ConfigurationLayerProps {
  readonly definition: ClusterDefinition;
  readonly state: LayerStateProps;
  readonly encryptState: boolean;
  readonly infrastructure: InfrastructureLayer;
}

/**
 * Layer 03: configuration that needs the CRDs and controllers of layer 02 (Flux sync, Cilium's LB pool), and
 * Proxmox-side configuration of the cluster's VMs (firewall, HA).
 */
export class ConfigurationLayer extends TerraformStack {
  static readonly NAME = "03-configuration";

  constructor(scope: Construct, props: ConfigurationLayerProps) {
    super(scope, ConfigurationLayer.NAME);
    const { cluster, nodes } = props.definition;
    configureLayerState(this, props.state);
    if (props.encryptState) encryptState(this);

    const needsKubernetes = (cluster.flux_enabled && cluster.repository_name) || (cluster.cluster_cni === "cilium" && cluster.cilium_loadbalancer_pool);
    if (needsKubernetes) {
      new kubernetesProvider.KubernetesProvider(this, "kubernetes", kubernetesAccessFrom(props.infrastructure.talos.kubeconfig));
    }
    if (cluster.flux_enabled && cluster.repository_name) {
      new FluxSync(this, "FluxSync", { repository: cluster.repository_name, branch: cluster.repository_branch, path: cluster.repository_path });
    }
    if (cluster.cluster_cni === "cilium" && cluster.cilium_loadbalancer_pool) {
      new CiliumL2Pool(this, "CiliumL2Pool", cluster.cilium_loadbalancer_pool);
    }

    const haNodes = nodes.filter((n) => n.vm_ha);
    if (cluster.proxmox_firewall_enabled || haNodes.length > 0) {
      new ProxmoxProvider(this, "proxmox", { endpoint: cluster.proxmox_api_url, insecure: cluster.proxmox_api_insecure });
    }
    for (const node of nodes) {
      const vm = props.infrastructure.vms.get(node.name)!;
      if (cluster.proxmox_firewall_enabled) {
        new ProxmoxVmFirewall(this, `Firewall-${node.name}`, {
          name: node.name,
          proxmoxNode: node.proxmox_node ?? cluster.proxmox_node,
          vmId: vm.vmId,
          controller: node.controller,
          nodeCidr: cluster.node_cidr,
          adminCidrs: cluster.proxmox_firewall_allow_from,
        });
      }
      if (node.vm_ha) new ProxmoxHa(this, `Ha-${node.name}`, { name: node.name, vmId: vm.vmId });
    }
  }
}
