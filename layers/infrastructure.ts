import { TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import type { ResolvedCluster, ResolvedNode } from "../config";
import type { EngineLiterals } from "../config/terraform-literal";
import { AdoptExisting } from "../constructs/adopt-existing";
import { Cilium } from "../constructs/cilium";
import { helmProvider, localProvider, proxmoxProvider, talosProvider } from "../constructs/providers";
import { ProxmoxHa } from "../constructs/proxmox-ha";
import { ProxmoxVmFirewall } from "../constructs/proxmox-vm-firewall";
import { TalosCluster, type TalosClusterNode } from "../constructs/talos-cluster";
import { TalosImages } from "../constructs/talos-images";
import type { TalosClusterNetwork } from "../constructs/talos-machine-config";
import { TalosNodeVm, type TalosNodeVmProps } from "../constructs/talos-node-vm";
import { TailscaleAuthKey } from "../constructs/tailscale-auth-key";
import type { LayerName } from "./catalog";
import { LayerStack, type LayerProps } from "./layer-stack";
import type { PersistentAuthLayer } from "./persistent-auth";
import { addWorkloads } from "./workloads";

export interface InfrastructureLayerProps extends LayerProps {
  readonly persistentAuth: PersistentAuthLayer;
  /** Folder, relative to the stack directory, for kubeconfig and talosconfig. */
  readonly credentialsDir: EngineLiterals<string>;
}

/**
 * Layer 01: Talos images, one VM per node with its Proxmox firewall and HA, Talos configuration, bootstrap,
 * kubeconfig/talosconfig, the CNI.
 */
export class InfrastructureLayer extends LayerStack {
  readonly vms: ReadonlyMap<string, TalosNodeVm>;
  readonly talos: TalosCluster;
  /** The CNI, when cluster_cni is cilium. */
  readonly cilium?: Cilium;

  constructor(scope: Construct, name: LayerName, props: InfrastructureLayerProps) {
    super(scope, name, props);
    const { cluster } = props;
    proxmoxProvider(this, cluster.proxmox);
    talosProvider(this, cluster.talos.imageFactoryUrl);
    localProvider(this);

    const images = new TalosImages(this, "Images", {
      talosVersion: cluster.talos.version,
      extensions: cluster.talos.extensions,
      schematicIds: cluster.nodes.flatMap((n) => n.image.schematicId ?? []),
      extensionSets: cluster.nodes.flatMap((n) => (n.image.schematicId ? [] : [n.image.extensions])),
      isoStorage: cluster.proxmox.isoStorage,
      sharedIsoHost: cluster.proxmox.sharedIsoHost,
    });
    // Declared only when a node joins the tailnet, so that no other cluster asks for the key.
    const tailnet = cluster.features.tailscale;
    const authKey =
      tailnet && cluster.nodes.some((n) => n.tailscale)
        ? new TailscaleAuthKey(this, "TailscaleAuthKey", { variable: tailnet.authKeyVariable })
        : undefined;
    const vms = new Map<string, TalosNodeVm>();
    const talosNodes: TalosClusterNode[] = cluster.nodes.map((node) => {
      const vm = new TalosNodeVm(this, `Vm-${node.name}`, vmProps(cluster, node, images.isoOn(node.host, node.image)));
      vms.set(node.name, vm);
      return {
        ...talosNode(cluster, node),
        ...(node.tailscale && authKey && { tailscale: { ...node.tailscale, authKey: authKey.value } }),
        installImage: images.image(node.image).installerImage,
        machine: vm.resource,
      };
    });
    this.vms = vms;
    proxmoxVmSettings(this, cluster, vms);
    addWorkloads(this, cluster);
    // What `./bootstrap.sh upgrade` and `restart` need of each node, read with `tofu output -json talos_nodes`
    // (no secret).
    new TerraformOutput(this, "talos_nodes", {
      value: cluster.nodes.map((node) => ({
        name: node.name,
        address: node.address,
        controller: node.controller,
        installer: images.image(node.image).installerRepository,
        vm_id: vms.get(node.name)!.vmId,
        proxmox_node: vms.get(node.name)!.resource.nodeName,
        config_contract: cluster.talos.contract,
      })),
      description:
        "Each node's name, Talos API address, role, installer image without tag, VM id, Proxmox node and the version contract of its machine configuration, for rolling upgrades and restarts.",
    });
    // The versions the nodes were last configured with: ./bootstrap.sh compares them with the config's, so that a
    // bump goes through the rolling upgrade instead of reaching every node at once.
    new TerraformOutput(this, "cluster_versions", {
      value: { talos_version: cluster.talos.version, kubernetes_version: cluster.talos.kubernetesVersion },
      description: "The Talos and Kubernetes versions layer 01 last applied to the nodes' machine configurations.",
    });

    const secrets = props.persistentAuth.talosSecrets;
    this.talos = new TalosCluster(this, "Talos", {
      clusterName: cluster.name,
      contract: cluster.talos.contract,
      talosVersion: cluster.talos.version,
      kubernetesVersion: cluster.talos.kubernetesVersion,
      machineSecrets: secrets.machineSecrets,
      clientConfiguration: secrets.clientConfiguration,
      network: talosNetwork(cluster),
      nodes: talosNodes,
      credentialsDir: props.credentialsDir,
    });

    const cilium = cluster.features.cilium;
    if (cilium) {
      helmProvider(this, this.talos.kubeconfig);
      this.cilium = new Cilium(this, "Cilium", {
        version: cilium.version,
        repository: cluster.features.chartMirror,
        podCidr: cluster.network.pods.cidr,
        loadBalancerMode: cilium.loadBalancerMode,
        l2Announcements: cilium.pool !== undefined,
        dependsOn: [this.talos.apiReady.resource],
      });
    }
  }
}

/**
 * The firewall and HA of every node's VM, beside the VM so that fixing them needs Proxmox alone. Layer 03 held
 * them before: what Proxmox already has is adopted (see AdoptExisting), not made twice.
 */
function proxmoxVmSettings(scope: Construct, cluster: ResolvedCluster, vms: ReadonlyMap<string, TalosNodeVm>) {
  const { firewall, cilium } = cluster.features;
  for (const node of cluster.nodes) {
    const vm = vms.get(node.name)!;
    if (firewall) {
      new ProxmoxVmFirewall(scope, `Firewall-${node.name}`, {
        name: node.name,
        proxmoxNode: node.host,
        vmId: vm.vmId,
        controller: node.controller,
        nodeCidr: cluster.network.nodes.cidr,
        controllerAddresses: cluster.nodes.filter((n) => n.controller).map((n) => n.address),
        adminCidrs: firewall.allowFrom,
        podCidr: cluster.network.pods.cidr,
        cni: cluster.cni,
        loadBalancer: cilium && { mode: cilium.loadBalancerMode, range: cilium.pool },
        machine: vm.resource,
      });
    }
    if (node.ha) new ProxmoxHa(scope, `Ha-${node.name}`, { name: node.name, vmId: vm.vmId, machine: vm.resource });
  }
  // Only a VM with a vm_id: an import id must be known when planning (docs/day2.md: "Firewall and HA moved from layer 03 to 01").
  new AdoptExisting(scope, "Adopt", {
    vms: cluster.nodes.flatMap((node) =>
      node.vmId === undefined
        ? []
        : [
            {
              vmId: node.vmId,
              firewall: firewall && ProxmoxVmFirewall.addresses(node.name),
              ha: node.ha ? ProxmoxHa.address(node.name) : undefined,
            },
          ],
    ),
  });
}

function vmProps(cluster: ResolvedCluster, node: ResolvedNode, isoFileId: string): TalosNodeVmProps {
  const { vm } = cluster.proxmox;
  return {
    name: node.name,
    proxmoxNode: node.host,
    vmId: node.vmId,
    hardware: { ...vm.hardware, ...node.sizing, diskStorage: cluster.proxmox.diskStorage },
    boot: { ...vm.boot, isoFileId, secureboot: node.image.secureboot },
    network: {
      ...vm.nic,
      address: node.addressCidr,
      gateway: cluster.network.gateway,
      dnsServers: cluster.network.dnsServers,
      macAddress: node.macAddress,
      vlanId: cluster.network.vlanId,
      mtu: node.mtu,
      firewall: cluster.features.firewall !== undefined,
    },
    startup: node.startup,
    tags: vm.tags,
    pciDevices: node.pciDevices,
  };
}

export function talosNetwork(cluster: ResolvedCluster): TalosClusterNetwork {
  const { network, api } = cluster;
  return {
    nodeCidr: network.nodes.cidr,
    nodePrefix: network.nodes.prefix,
    gateway: network.gateway,
    dnsServers: network.dnsServers,
    ntpServers: network.ntpServers,
    podCidr: network.pods.cidr,
    serviceCidr: network.services.cidr,
    apiAddress: api.address,
    apiVip: api.vip,
    certSans: api.certSans,
    cni: cluster.cni,
    schedulingOnControllers: cluster.schedulingOnControllers,
    oidc: api.oidc,
  };
}

export function talosNode(
  cluster: ResolvedCluster,
  node: ResolvedNode,
): Omit<TalosClusterNode, "installImage" | "machine"> {
  return {
    name: node.name,
    address: node.address,
    controller: node.controller,
    installDisk: node.installDisk,
    diskEncryption: node.diskEncryption,
    macAddress: node.macAddress,
    mtu: node.mtu,
    kernelModules: node.kernelModules,
    sysctls: node.sysctls,
    certSans: node.certSans,
    nodeLabels: {
      ...node.labels,
      // The Proxmox CSI driver places volumes by these (region = Proxmox cluster, zone = Proxmox host).
      ...(cluster.features.proxmoxCsi
        ? { "topology.kubernetes.io/region": cluster.proxmox.region, "topology.kubernetes.io/zone": node.host }
        : {}),
    },
    nodeTaints: node.taints,
  };
}
