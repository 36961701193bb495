import type { Construct } from "constructs";
import { CiliumL2Pool } from "../constructs/cilium-l2-pool";
import { FluxSync } from "../constructs/flux-sync";
import { forgetWithoutDestroying } from "../constructs/forget-without-destroying";
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

/** Layer 03: configuration that needs the CRDs and controllers of layer 02 (Flux sync, Cilium's LB pool). */
export class ConfigurationLayer extends LayerStack {
  constructor(scope: Construct, name: LayerName, props: ConfigurationLayerProps) {
    super(scope, name, props);
    const { cluster, infrastructure, persistentAuth } = props;
    const sync = cluster.features.flux?.sync;
    const pool = cluster.features.cilium?.pool;

    // Also with both off: the objects a switched-off feature left in the state are deleted through it (without
    // it, the engine cannot even initialize a state that holds them).
    kubernetesProvider(this, infrastructure.talos.kubeconfig);
    if (sync) {
      const key = persistentAuth.fluxDeployKey;
      new FluxSync(this, "FluxSync", {
        ...sync,
        deployKey: sync.private ? { privateKey: key.privateKeyOpenssh, publicKey: key.publicKeyOpenssh } : undefined,
      });
    }
    if (pool) new CiliumL2Pool(this, "CiliumL2Pool", pool);

    // The VMs' firewall and HA lived here before they moved to layer 01, which adopts them: this layer's state
    // forgets them, Proxmox keeps them (with the provider configured, which forgetting needs).
    proxmoxProvider(this, cluster.proxmox);
    forgetWithoutDestroying(
      this,
      cluster.nodes.flatMap((node) => [...ProxmoxVmFirewall.addresses(node.name), ProxmoxHa.address(node.name)]),
    );
  }
}
