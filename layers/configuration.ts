import type { Construct } from "constructs";
import { CiliumL2Pool } from "../constructs/cilium-l2-pool";
import { FluxSync } from "../constructs/flux-sync";
import { kubernetesProvider, proxmoxProvider } from "../constructs/providers";
import { ProxmoxHa } from "../constructs/proxmox-ha";
import { ProxmoxVmFirewall } from "../constructs/proxmox-vm-firewall";
import type { LayerName } from "./catalog";
import type { InfrastructureLayer } from "./infrastructure";
import type { PersistentAuthLayer } from "./persistent-auth";
import { LayerStack, type LayerProps } from "./layer-stack";

export interface ConfigurationLayerProps extends LayerProps {
  readonly persistentAuth: PersistentAuthLayer;
  readonly infrastructure: InfrastructureLayer;
}

/**
 * Layer 03: configuration that needs the CRDs and controllers of layer 02 (Flux sync, Cilium's LB pool), and
 * Proxmox-side configuration of the cluster's VMs (firewall, HA).
 */
export class ConfigurationLayer extends LayerStack {
  constructor(scope: Construct, name: LayerName, props: ConfigurationLayerProps) {
    super(scope, name, props);
    const { cluster, infrastructure, persistentAuth } = props;
    const { firewall } = cluster.features;
    const sync = cluster.features.flux?.sync;
    const pool = cluster.features.cilium?.pool;

    if (sync || pool) kubernetesProvider(this, infrastructure.talos.kubeconfig);
    if (sync) {
      const key = persistentAuth.fluxDeployKey;
      new FluxSync(this, "FluxSync", {
        ...sync,
        deployKey: key && { privateKey: key.privateKeyOpenssh, publicKey: key.publicKeyOpenssh },
      });
    }
    if (pool) new CiliumL2Pool(this, "CiliumL2Pool", pool);

    const haNodes = cluster.nodes.filter((n) => n.ha);
    if (firewall || haNodes.length > 0) proxmoxProvider(this, cluster.proxmox);
    for (const node of cluster.nodes) {
      const vmId = infrastructure.vms.get(node.name)!.vmId;
      if (firewall) {
        new ProxmoxVmFirewall(this, `Firewall-${node.name}`, {
          name: node.name,
          proxmoxNode: node.host,
          vmId,
          controller: node.controller,
          nodeCidr: cluster.network.nodes.cidr,
          adminCidrs: firewall.allowFrom,
          podCidr: cluster.network.pods.cidr,
          loadBalancerRange: pool,
        });
      }
      if (node.ha) new ProxmoxHa(this, `Ha-${node.name}`, { name: node.name, vmId });
    }
  }
}
