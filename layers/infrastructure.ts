import * as helmProvider from "@cdktf/provider-helm/lib/provider";
import { LocalProvider } from "@cdktf/provider-local/lib/provider";
import { TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ProxmoxProvider } from "../.gen/providers/proxmox/provider";
import { TalosProvider } from "../.gen/providers/talos/provider";
import { firstHost, parseCidr, type ClusterDefinition } from "../config";
import { Cilium } from "../constructs/cilium";
import { kubernetesAccessFrom } from "../constructs/kubernetes-access";
import { configureLayerState, type LayerStateProps } from "../constructs/layer-state";
import { encryptState } from "../constructs/state-encryption";
import { TalosCluster, type TalosClusterNode } from "../constructs/talos-cluster";
import { TalosImage } from "../constructs/talos-image";
import { TalosNodeVm } from "../constructs/talos-node-vm";
import { TalosSchematic } from "../constructs/talos-schematic";
import { shortLabels } from "../constructs/names";
import type { PersistentAuthLayer } from "./persistent-auth";

export interface InfrastructureLayerProps {
  readonly definition: ClusterDefinition;
  readonly state: LayerStateProps;
  /** Encrypt state and plans at rest (OpenTofu). */
  readonly encryptState: boolean;
  readonly persistentAuth: PersistentAuthLayer;
  /** Folder, relative to the stack directory, for kubeconfig and talosconfig. */
  readonly credentialsDir: string;
}

/** Layer 01: Talos images, one VM per node, Talos configuration, bootstrap, kubeconfig/talosconfig, the CNI. */
export class InfrastructureLayer extends TerraformStack {
  static readonly NAME = "01-infrastructure";
  readonly vms: ReadonlyMap<string, TalosNodeVm>;
  readonly talos: TalosCluster;
  /** The CNI, when cluster_cni is cilium. */
  readonly cilium?: Cilium;

  constructor(scope: Construct, props: InfrastructureLayerProps) {
    super(scope, InfrastructureLayer.NAME);
    const { cluster, nodes } = props.definition;
    const vm = cluster.proxmox_vm_advanced;
    const defaults = cluster.proxmox_vm_defaults;
    configureLayerState(this, props.state);
    if (props.encryptState) encryptState(this);

    new ProxmoxProvider(this, "proxmox", { endpoint: cluster.proxmox_api_url, insecure: cluster.proxmox_api_insecure });
    new TalosProvider(this, "talos", { imageFactoryUrl: cluster.talos_image_factory_url });
    new LocalProvider(this, "local");

    const schematic = new TalosSchematic(this, "default", { extensions: cluster.talos_extensions });
    // Nodes with their own schematic_id use it; the others the schematic built from talos_extensions.
    const labels = shortLabels([schematic.digest, ...nodes.flatMap((n) => n.schematic_id ?? [])]);
    const images = new Map<string, TalosImage>();
    const imageFor = (schematicId: string | undefined, secureboot: boolean) => {
      const label = labels.get(schematicId ?? schematic.digest)!;
      const key = `${label}${secureboot ? "-secureboot" : ""}`;
      let image = images.get(key);
      if (!image) {
        image = new TalosImage(this, `Image-${key}`, {
          schematicId: schematicId ?? schematic.schematicId,
          schematicLabel: label,
          talosVersion: cluster.talos_version,
          secureboot,
          isoStorage: cluster.proxmox_iso_storage,
        });
        images.set(key, image);
      }
      return image;
    };

    const nodeNetwork = parseCidr(cluster.node_cidr);
    const gateway = cluster.node_default_gateway ?? firstHost(nodeNetwork);
    const vms = new Map<string, TalosNodeVm>();
    const talosNodes: TalosClusterNode[] = nodes.map((node) => {
      const image = imageFor(node.schematic_id, node.secureboot);
      const proxmoxNode = node.proxmox_node ?? cluster.proxmox_node;
      const machine = new TalosNodeVm(this, `Vm-${node.name}`, {
        name: node.name,
        proxmoxNode,
        vmId: node.vm_id,
        cores: node.vm_cores ?? defaults.cores,
        sockets: node.vm_sockets ?? defaults.sockets,
        memory: node.vm_memory ?? defaults.memory,
        balloon: vm.balloon,
        diskSize: node.vm_disk_size ?? defaults.disk_size,
        diskStorage: cluster.proxmox_disk_storage,
        isoFileId: image.isoOn(proxmoxNode),
        secureboot: node.secureboot,
        address: `${node.address}/${nodeNetwork.prefix}`,
        gateway,
        dnsServers: cluster.node_dns_servers,
        macAddress: node.mac_addr,
        vlanId: cluster.node_vlan_tag,
        mtu: node.mtu,
        bridge: vm.network_bridge,
        netQueues: vm.net_queues,
        bios: vm.bios,
        machine: vm.machine,
        cpuType: vm.cpu_type,
        numa: vm.numa,
        scsiHardware: vm.scsi_hw,
        qemuAgent: vm.qemu_agent,
        diskDiscard: vm.disk_discard,
        diskSsd: vm.disk_ssd,
        tags: vm.tags,
        firewall: cluster.proxmox_firewall_enabled,
        startupOrder: node.vm_startup_order ?? (node.controller ? 1 : 2),
        startupDelay: node.vm_startup_delay,
        shutdownDelay: node.vm_shutdown_delay,
      });
      vms.set(node.name, machine);
      return {
        name: node.name,
        address: node.address,
        controller: node.controller,
        installDisk: node.disk,
        installImage: image.installerImage,
        macAddress: node.mac_addr,
        mtu: node.mtu,
        kernelModules: node.kernel_modules,
        // The Proxmox CSI driver places volumes by these (region = Proxmox cluster, zone = Proxmox host).
        nodeLabels: cluster.proxmox_csi_enabled ? { "topology.kubernetes.io/region": cluster.proxmox_region, "topology.kubernetes.io/zone": proxmoxNode } : undefined,
        dependsOn: [machine.resource],
      };
    });
    this.vms = vms;

    const secrets = props.persistentAuth.talosSecrets;
    this.talos = new TalosCluster(this, "Talos", {
      clusterName: cluster.cluster_name,
      talosVersion: cluster.talos_version,
      kubernetesVersion: cluster.kubernetes_version,
      machineSecrets: secrets.machineSecrets,
      clientConfiguration: secrets.clientConfiguration,
      network: {
        nodeCidr: cluster.node_cidr,
        gateway,
        dnsServers: cluster.node_dns_servers,
        ntpServers: cluster.node_ntp_servers,
        podCidr: cluster.cluster_pod_cidr,
        serviceCidr: cluster.cluster_svc_cidr,
        apiAddress: cluster.cluster_api_addr,
        apiVip: cluster.cluster_api_vip,
        certSans: cluster.cluster_api_tls_sans,
        cni: cluster.cluster_cni,
        schedulingOnControllers: nodes.every((n) => n.controller),
      },
      nodes: talosNodes,
      credentialsDir: props.credentialsDir,
    });

    if (cluster.cluster_cni === "cilium") {
      new helmProvider.HelmProvider(this, "helm", { kubernetes: kubernetesAccessFrom(this.talos.kubeconfig) });
      this.cilium = new Cilium(this, "Cilium", {
        version: cluster.cilium_version,
        podCidr: cluster.cluster_pod_cidr,
        loadBalancerMode: cluster.cilium_loadbalancer_mode,
        l2Announcements: cluster.cilium_loadbalancer_pool !== undefined,
        dependsOn: [this.talos.controlPlaneHealth],
      });
    }
  }
}
