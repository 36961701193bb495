// The validated files resolved into the values the cluster is built from: every default that depends on another
// key applied, every network parsed, every switch folded into its feature. Computed once after validation (the
// cross-field checks resolve the entries that are valid on their own); nothing downstream derives these again.
import { resolveWorkloads, type ResolvedWorkloads } from "./guests";
import { firstHost, parseCidr, type Ipv4Network } from "./ipv4";
import type { Workloads } from "./load";
import type { ClusterConfig, NodeConfig, StateBackendConfig } from "./schema";
import { TAILSCALE_EXTENSION } from "./tailscale";
import { minorOf } from "./versions";

export type Cni = ClusterConfig["cluster_cni"];

export interface ResolvedNetwork {
  /** The nodes' network (node_cidr). */
  readonly nodes: Ipv4Network;
  /** node_default_gateway, else the first address of node_cidr. */
  readonly gateway: string;
  readonly dnsServers: readonly string[];
  readonly ntpServers: readonly string[];
  /** VLAN tag of the VMs' NIC; undefined: untagged. */
  readonly vlanId?: number;
  readonly pods: Ipv4Network;
  readonly services: Ipv4Network;
}

/** What every VM shares (proxmox_vm_advanced), by concern. */
export interface ResolvedVmSettings {
  readonly hardware: {
    readonly cpuType: string;
    readonly scsiHardware: string;
    /** Balloon floor in MiB; 0: ballooning off. */
    readonly balloon: number;
    readonly numa: boolean;
    readonly qemuAgent: boolean;
    readonly diskDiscard: boolean;
    readonly diskSsd: boolean;
  };
  readonly boot: { readonly bios: "ovmf" | "seabios"; readonly machine: string };
  readonly nic: {
    readonly bridge: string;
    /** virtio-net queues; 0: multiqueue off. */
    readonly queues: number;
  };
  readonly tags: readonly string[];
}

export interface ResolvedProxmox {
  readonly apiUrl: string;
  readonly insecure: boolean;
  /** Name of the Proxmox cluster (the CSI driver's region). */
  readonly region: string;
  readonly isoStorage: string;
  /**
   * The host that downloads each ISO once for every host, when the ISO storage is shared
   * (proxmox_iso_storage_shared, else from proxmox_iso_storage_type); undefined: one download per host.
   */
  readonly sharedIsoHost?: string;
  readonly diskStorage: string;
  readonly vm: ResolvedVmSettings;
}

/** Optional parts of the cluster; each is present only when it is switched on. */
export interface ResolvedFeatures {
  /** helm_chart_mirror: where every chart comes from instead of its upstream repository. */
  readonly chartMirror?: string;
  /** cluster_cni: cilium. */
  readonly cilium?: {
    readonly version: string;
    readonly loadBalancerMode: "dsr" | "snat";
    /** Addresses announced on layer 2 (layer 03). */
    readonly pool?: { readonly start: string; readonly stop: string };
  };
  readonly proxmoxCsi?: {
    readonly version: string;
    /** proxmox_csi_storage, else proxmox_disk_storage. */
    readonly storage: string;
  };
  readonly sealedSecrets?: { readonly version: string };
  readonly flux?: {
    readonly version: string;
    /** With repository_name: the repository the cluster follows (layer 03). */
    readonly sync?: {
      readonly repository: string;
      readonly branch: string;
      readonly path: string;
      /** A private repository: cloned over SSH with the deploy key of layer 00. */
      readonly private: boolean;
    };
  };
  /** cluster.yaml's tailscale: how the nodes that join the tailnet get in. */
  readonly tailscale?: {
    /** The OpenTofu variable (of layer 01, sensitive) holding the auth key: auth_key_env without TF_VAR_. */
    readonly authKeyVariable: string;
    /** auth_key_env as written, for messages. */
    readonly authKeyEnv: string;
  };
  /**
   * repository_name of a private repository, whether Flux is on or not: layer 00 exports the public half of the
   * deploy key for it (bootstrap prints it), and an output that came and went with flux_enabled would change 00.
   */
  readonly deployKeyRepository?: string;
  /** proxmox_firewall_enabled. */
  readonly firewall?: {
    /** Networks besides the nodes' that may reach the APIs. */
    readonly allowFrom: readonly string[];
  };
}

/** The cluster-wide part of the resolved model: cluster.yaml alone. */
export interface ResolvedSettings {
  readonly name: string;
  readonly talos: {
    readonly version: string;
    /** The version contract of the machine configurations, e.g. "v1.13". */
    readonly contract: string;
    /** Whether cluster.yaml sets the contract (else it follows talos_version's minor). */
    readonly contractPinned: boolean;
    readonly kubernetesVersion: string;
    readonly imageFactoryUrl: string;
    /** Official extensions of the cluster's schematic. */
    readonly extensions: readonly string[];
  };
  readonly network: ResolvedNetwork;
  readonly api: {
    readonly address: string;
    /** Run the address as a layer-2 VIP on the controllers. */
    readonly vip: boolean;
    readonly certSans: readonly string[];
    /** cluster_api_oidc: OIDC login to the API server. */
    readonly oidc?: ResolvedOidc;
  };
  readonly cni: Cni;
  readonly proxmox: ResolvedProxmox;
  readonly features: ResolvedFeatures;
  readonly state: {
    readonly backend: ResolvedStateBackend;
    /** Where the states were before (previous_state_backend): the source of ./bootstrap.sh migrate-state. */
    readonly previousBackend?: ResolvedStateBackend;
    /** OpenTofu state encryption on every layer. */
    readonly encrypted: boolean;
    /** Still read unencrypted state and plans (state_encryption_migrate). */
    readonly migrateFromPlaintext: boolean;
  };
}

/** The API server's OIDC settings, with the issuer's CA read from its file. */
export interface ResolvedOidc {
  readonly issuerUrl: string;
  readonly clientId: string;
  readonly usernameClaim: string;
  readonly usernamePrefix: string;
  readonly groupsClaim: string;
  readonly groupsPrefix: string;
  /** PEM of the issuer's private CA (ca_file); undefined: the system's trust store. */
  readonly caPem?: string;
}

type S3Backend = Extract<StateBackendConfig, { type: "s3" }>;
type PgBackend = Extract<StateBackendConfig, { type: "pg" }>;

/** state_backend with the defaults that depend on the cluster filled in. */
export type ResolvedStateBackend =
  | Exclude<StateBackendConfig, S3Backend | PgBackend>
  | (S3Backend & { readonly key: string })
  | (PgBackend & { readonly schema_name: string });

/** What Talos seals a partition's encryption key to. */
export type DiskEncryptionKey = "tpm" | "nodeID";

export interface ResolvedNode {
  readonly name: string;
  readonly controller: boolean;
  /** Static IPv4 address. */
  readonly address: string;
  /** The address with node_cidr's prefix, e.g. "192.168.1.21/24". */
  readonly addressCidr: string;
  /** Proxmox host of the VM: the node's proxmox_node, else the cluster's. */
  readonly host: string;
  /** undefined: assigned by Proxmox. */
  readonly vmId?: number;
  /** undefined: assigned by Proxmox. */
  readonly macAddress?: string;
  readonly mtu: number;
  /** Where Talos installs itself: disk, else disk_selector, else /dev/sda. */
  readonly installDisk: { readonly path: string } | { readonly selector: NonNullable<NodeConfig["disk_selector"]> };
  /** encrypt_disk: the TPM on secureboot nodes (they have one), else the node's id. undefined: not encrypted. */
  readonly diskEncryption?: DiskEncryptionKey;
  readonly kernelModules: readonly string[];
  readonly sysctls: Readonly<Record<string, string>>;
  /** Extra names in the node's certificates. */
  readonly certSans: readonly string[];
  /** The node's own Kubernetes labels and taints ("[value:]Effect" by key). */
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: Readonly<Record<string, string>>;
  readonly image: {
    /** The node's own schematic; undefined: one built from `extensions`. */
    readonly schematicId?: string;
    /** Official extensions of the schematic built for the node (talos_extensions, and Tailscale's), sorted. */
    readonly extensions: readonly string[];
    readonly secureboot: boolean;
  };
  /** The node is in the tailnet (cluster.yaml's tailscale). undefined: it is not. */
  readonly tailscale?: {
    readonly hostname: string;
    readonly routes: readonly string[];
  };
  /** The node's vm_* sizes, else proxmox_vm_defaults. */
  readonly sizing: {
    readonly cores: number;
    readonly sockets: number;
    readonly memory: number;
    readonly diskSize: number;
  };
  readonly startup: {
    /** vm_startup_order, else controllers (1) before workers (2). */
    readonly order: number;
    readonly upDelay?: number;
    readonly downDelay?: number;
  };
  /** A Proxmox HA resource (layer 03). */
  readonly ha: boolean;
  /** Host PCI devices passed through (pci_devices), in hostpci order. */
  readonly pciDevices: readonly ResolvedPciDevice[];
}

export interface ResolvedPciDevice {
  /** Raw PCI address; undefined: `mapping` names the device. */
  readonly id?: string;
  /** Proxmox PCI resource mapping; undefined: `id` names the device. */
  readonly mapping?: string;
  readonly pcie: boolean;
  readonly rombar: boolean;
  readonly primaryGpu: boolean;
}

export interface ResolvedCluster extends ResolvedSettings {
  readonly nodes: readonly ResolvedNode[];
  /** Workloads may run on the controllers: true when there are no workers. */
  readonly schedulingOnControllers: boolean;
  /** workloads.yaml, when it exists: the guests beside the cluster. */
  readonly workloads?: ResolvedWorkloads;
}

/** PVE storage types whose content every host of the cluster sees. */
const SHARED_STORAGE_TYPES: ReadonlySet<string> = new Set(["nfs", "cifs", "cephfs", "glusterfs"]);

export function resolveCluster(definition: {
  readonly cluster: ClusterConfig;
  readonly nodes: readonly NodeConfig[];
  readonly workloads?: Workloads;
  /** The PEM of cluster_api_oidc.ca_file, read by the loader. */
  readonly oidcCaPem?: string;
}): ResolvedCluster {
  const { cluster } = definition;
  const settings = resolveSettings(cluster, definition.oidcCaPem);
  const nodes = definition.nodes.map((node) => resolveNode(cluster, settings.network.nodes, node));
  const workloads =
    definition.workloads &&
    resolveWorkloads(definition.workloads, { host: cluster.proxmox_node, diskStorage: cluster.proxmox_disk_storage });
  return {
    ...settings,
    nodes,
    schedulingOnControllers: nodes.every((n) => n.controller),
    ...(workloads && { workloads }),
  };
}

export function resolveSettings(cluster: ClusterConfig, oidcCaPem?: string): ResolvedSettings {
  const nodes = parseCidr(cluster.node_cidr);
  const vm = cluster.proxmox_vm_advanced;
  const oidc = cluster.cluster_api_oidc;
  return {
    name: cluster.cluster_name,
    talos: {
      version: cluster.talos_version,
      contract: cluster.talos_config_contract ?? `v${minorOf(cluster.talos_version)}`,
      contractPinned: cluster.talos_config_contract !== undefined,
      kubernetesVersion: cluster.kubernetes_version,
      imageFactoryUrl: cluster.talos_image_factory_url,
      extensions: cluster.talos_extensions,
    },
    network: {
      nodes,
      gateway: cluster.node_default_gateway ?? firstHost(nodes),
      dnsServers: cluster.node_dns_servers,
      ntpServers: cluster.node_ntp_servers,
      vlanId: cluster.node_vlan_tag,
      pods: parseCidr(cluster.cluster_pod_cidr),
      services: parseCidr(cluster.cluster_svc_cidr),
    },
    api: {
      address: cluster.cluster_api_addr,
      vip: cluster.cluster_api_vip,
      certSans: cluster.cluster_api_tls_sans,
      oidc: oidc && {
        issuerUrl: oidc.issuer_url,
        clientId: oidc.client_id,
        usernameClaim: oidc.username_claim,
        usernamePrefix: oidc.username_prefix,
        groupsClaim: oidc.groups_claim,
        groupsPrefix: oidc.groups_prefix,
        ...(oidcCaPem !== undefined && { caPem: oidcCaPem }),
      },
    },
    cni: cluster.cluster_cni,
    proxmox: {
      apiUrl: cluster.proxmox_api_url,
      insecure: cluster.proxmox_api_insecure,
      region: cluster.proxmox_region,
      isoStorage: cluster.proxmox_iso_storage,
      sharedIsoHost:
        (cluster.proxmox_iso_storage_shared ?? SHARED_STORAGE_TYPES.has(cluster.proxmox_iso_storage_type))
          ? cluster.proxmox_node
          : undefined,
      diskStorage: cluster.proxmox_disk_storage,
      vm: {
        hardware: {
          cpuType: vm.cpu_type,
          scsiHardware: vm.scsi_hw,
          balloon: vm.balloon,
          numa: vm.numa,
          qemuAgent: vm.qemu_agent,
          diskDiscard: vm.disk_discard,
          diskSsd: vm.disk_ssd,
        },
        boot: { bios: vm.bios, machine: vm.machine },
        nic: { bridge: vm.network_bridge, queues: vm.net_queues },
        tags: vm.tags,
      },
    },
    features: resolveFeatures(cluster),
    state: {
      backend: resolveStateBackend(cluster, cluster.state_backend),
      previousBackend: cluster.previous_state_backend && resolveStateBackend(cluster, cluster.previous_state_backend),
      encrypted: cluster.state_encryption,
      migrateFromPlaintext: cluster.state_encryption && cluster.state_encryption_migrate,
    },
  };
}

export function resolveStateBackend(cluster: ClusterConfig, backend: StateBackendConfig): ResolvedStateBackend {
  // Defaults named after the cluster, so that two clusters in one bucket or database never share a state.
  if (backend.type === "s3") return { ...backend, key: backend.key ?? `${cluster.cluster_name}/{layer}.tfstate` };
  if (backend.type === "pg") {
    const name = cluster.cluster_name.replaceAll("-", "_");
    // PostgreSQL refuses a schema starting with a digit unquoted, or with "pg_" (its own).
    const usable = /^[a-z_]/.test(name) && !name.startsWith("pg_");
    return { ...backend, schema_name: backend.schema_name ?? (usable ? name : `_${name}`) };
  }
  return backend;
}

function resolveFeatures(cluster: ClusterConfig): ResolvedFeatures {
  const repository = cluster.repository_name;
  return {
    chartMirror: cluster.helm_chart_mirror,
    cilium:
      cluster.cluster_cni === "cilium"
        ? {
            version: cluster.cilium_version,
            loadBalancerMode: cluster.cilium_loadbalancer_mode,
            pool: cluster.cilium_loadbalancer_pool,
          }
        : undefined,
    proxmoxCsi: cluster.proxmox_csi_enabled
      ? { version: cluster.proxmox_csi_version, storage: cluster.proxmox_csi_storage ?? cluster.proxmox_disk_storage }
      : undefined,
    sealedSecrets: cluster.sealed_secrets_enabled ? { version: cluster.sealed_secrets_version } : undefined,
    flux: cluster.flux_enabled
      ? {
          version: cluster.flux_version,
          sync: repository
            ? {
                repository,
                branch: cluster.repository_branch,
                path: cluster.repository_path,
                private: cluster.repository_visibility === "private",
              }
            : undefined,
        }
      : undefined,
    deployKeyRepository: cluster.repository_visibility === "private" ? repository : undefined,
    firewall: cluster.proxmox_firewall_enabled ? { allowFrom: cluster.proxmox_firewall_allow_from } : undefined,
    tailscale: cluster.tailscale && {
      authKeyVariable: cluster.tailscale.auth_key_env.slice("TF_VAR_".length),
      authKeyEnv: cluster.tailscale.auth_key_env,
    },
  };
}

/** One node with the cluster's defaults applied (proxmox_node, proxmox_vm_defaults) in the parsed node_cidr. */
export function resolveNode(cluster: ClusterConfig, nodeNetwork: Ipv4Network, node: NodeConfig): ResolvedNode {
  const sizes = cluster.proxmox_vm_defaults;
  const tailscale = tailscaleOf(cluster, node);
  const extensions = [
    ...new Set([...(cluster.talos_extensions ?? []), ...(tailscale ? [TAILSCALE_EXTENSION] : [])]),
  ].sort();
  return {
    name: node.name,
    controller: node.controller,
    address: node.address,
    addressCidr: `${node.address}/${nodeNetwork.prefix}`,
    host: node.proxmox_node ?? cluster.proxmox_node,
    vmId: node.vm_id,
    macAddress: node.mac_addr,
    mtu: node.mtu,
    installDisk:
      node.disk === undefined && node.disk_selector
        ? { selector: node.disk_selector }
        : { path: node.disk ?? "/dev/sda" },
    diskEncryption: node.encrypt_disk ? (node.secureboot ? "tpm" : "nodeID") : undefined,
    kernelModules: node.kernel_modules,
    sysctls: node.sysctls,
    certSans: node.cert_sans,
    labels: node.labels,
    taints: node.taints,
    image: { schematicId: node.schematic_id, extensions, secureboot: node.secureboot },
    ...(tailscale && { tailscale }),
    sizing: {
      cores: node.vm_cores ?? sizes.cores,
      sockets: node.vm_sockets ?? sizes.sockets,
      memory: node.vm_memory ?? sizes.memory,
      diskSize: node.vm_disk_size ?? sizes.disk_size,
    },
    startup: {
      order: node.vm_startup_order ?? (node.controller ? 1 : 2),
      upDelay: node.vm_startup_delay,
      downDelay: node.vm_shutdown_delay,
    },
    ha: node.vm_ha,
    pciDevices: node.pci_devices.map((d) => ({
      id: d.id,
      mapping: d.mapping,
      pcie: d.pcie,
      rombar: d.rombar,
      primaryGpu: d.primary_gpu,
    })),
  };
}

/** The node's place in the tailnet: its own tailscale key, else cluster.yaml's all_nodes. */
function tailscaleOf(cluster: ClusterConfig, node: NodeConfig): ResolvedNode["tailscale"] {
  const tailnet = cluster.tailscale;
  const own = node.tailscale;
  if (!tailnet || own === false || (own === undefined && !tailnet.all_nodes)) return undefined;
  const options = typeof own === "object" ? own : {};
  return {
    hostname: options.hostname ?? node.name,
    routes: options.advertise_routes ?? tailnet.advertise_routes,
  };
}
