// The per-node Talos machine-configuration patch, as plain data (unit-tested on its own).

export type Cni = "cilium" | "flannel" | "none";

/** Cluster-wide settings every node's configuration shares. */
export interface TalosClusterNetwork {
  /** Nodes' network in CIDR form; gives the kubelet its node IP. */
  readonly nodeCidr: string;
  /** Prefix length of the nodes' network, for each node's address. */
  readonly nodePrefix: number;
  readonly gateway: string;
  readonly dnsServers: readonly string[];
  readonly ntpServers: readonly string[];
  readonly podCidr: string;
  readonly serviceCidr: string;
  /** Kubernetes API address. */
  readonly apiAddress: string;
  /** Run `apiAddress` as a layer-2 VIP shared by the controllers. */
  readonly apiVip: boolean;
  /** Extra names/addresses in the API server certificate. */
  readonly certSans: readonly string[];
  /** With cilium or none, Talos deploys no CNI and (cilium) no kube-proxy. */
  readonly cni: Cni;
  /** Let workloads run on controllers (a cluster without workers). */
  readonly schedulingOnControllers: boolean;
}

export interface TalosNodeSpec {
  readonly name: string;
  readonly address: string;
  readonly controller: boolean;
  readonly installDisk: string;
  /** Installer image from the image factory, for the node's schematic and SecureBoot variant. */
  readonly installImage: string;
  /** @default - the VM's only physical NIC */
  readonly macAddress?: string;
  readonly mtu: number;
  readonly kernelModules: readonly string[];
  /** Encrypt STATE and EPHEMERAL with a key sealed to the TPM or derived from the node's id. @default - not encrypted */
  readonly diskEncryption?: "tpm" | "nodeID";
  /** @default - none */
  readonly nodeLabels?: Readonly<Record<string, string>>;
}

/** KubePrism: an in-node load balancer for the API on localhost, used by Cilium and host-network pods. */
export const KUBEPRISM_PORT = 7445;

export function machineConfigPatch(node: TalosNodeSpec, cluster: TalosClusterNetwork): Record<string, unknown> {
  const iface: Record<string, unknown> = {
    deviceSelector: node.macAddress ? { hardwareAddr: node.macAddress } : { physical: true },
    dhcp: false,
    addresses: [`${node.address}/${cluster.nodePrefix}`],
    routes: [{ network: "0.0.0.0/0", gateway: cluster.gateway }],
    mtu: node.mtu,
  };
  if (node.controller && cluster.apiVip) iface.vip = { ip: cluster.apiAddress };

  const machine: Record<string, unknown> = {
    install: { disk: node.installDisk, image: node.installImage },
    network: { hostname: node.name, nameservers: [...cluster.dnsServers], interfaces: [iface] },
    time: { servers: [...cluster.ntpServers] },
    kubelet: { nodeIP: { validSubnets: [cluster.nodeCidr] } },
    features: { kubePrism: { enabled: true, port: KUBEPRISM_PORT } },
  };
  if (node.nodeLabels && Object.keys(node.nodeLabels).length > 0) machine.nodeLabels = { ...node.nodeLabels };
  if (node.kernelModules.length > 0) machine.kernel = { modules: node.kernelModules.map((name) => ({ name })) };
  if (node.diskEncryption) {
    const luks2 = { provider: "luks2", keys: [{ slot: 0, [node.diskEncryption]: {} }] };
    machine.systemDiskEncryption = { state: luks2, ephemeral: luks2 };
  }

  const clusterPatch: Record<string, unknown> = {
    network: {
      podSubnets: [cluster.podCidr],
      serviceSubnets: [cluster.serviceCidr],
      ...(cluster.cni === "flannel" ? {} : { cni: { name: "none" } }),
    },
  };
  if (cluster.cni === "cilium") clusterPatch.proxy = { disabled: true };
  if (node.controller) {
    clusterPatch.apiServer = { certSANs: [...new Set([cluster.apiAddress, ...cluster.certSans])] };
    if (cluster.schedulingOnControllers) clusterPatch.allowSchedulingOnControlPlanes = true;
  }
  return { machine, cluster: clusterPatch };
}
