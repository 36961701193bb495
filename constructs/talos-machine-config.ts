// The per-node Talos machine-configuration patches, as plain typed data (unit-tested on its own, judged by
// Talos' own machinery in the engine tests: __tests__/engine/talos-config.test.ts).
import type { ResolvedOidc } from "../config/resolve";
import { talosHasEtcFileConfig, talosHasHostnameConfig, talosHasKubernetesDocuments } from "../config/versions";

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
  /** Log users in to the API server with an OIDC provider. @default - client certificates only */
  readonly oidc?: ApiServerOidc;
}

/** The API server's OIDC settings (kube-apiserver's --oidc-* flags, or a jwt authenticator of its own). */
export type ApiServerOidc = ResolvedOidc;

/** A node in a tailnet: the siderolabs/tailscale extension's settings. */
export interface TailscaleNode {
  /** The auth key: a reference to a sensitive variable, never a literal of the config. */
  readonly authKey: string;
  readonly hostname: string;
  /** Subnet routes it advertises. */
  readonly routes: readonly string[];
}

/** Talos' install disk selector (`machine.install.diskSelector`): every given field must match. */
export interface InstallDiskSelector {
  /** Size with an optional comparison, e.g. ">= 100GB". @default - any size */
  readonly size?: string;
  /** Disk model, a glob, e.g. "QEMU HARDDISK". @default - any model */
  readonly model?: string;
  /** Disk serial number, a glob. @default - any serial */
  readonly serial?: string;
}

export interface TalosNodeSpec {
  readonly name: string;
  readonly address: string;
  readonly controller: boolean;
  /** Where Talos installs itself: a device path, or a selector. */
  readonly installDisk: { readonly path: string } | { readonly selector: InstallDiskSelector };
  /** Installer image from the image factory, for the node's schematic and SecureBoot variant. */
  readonly installImage: string;
  /** @default - the VM's only physical NIC */
  readonly macAddress?: string;
  readonly mtu: number;
  /** @default - none */
  readonly kernelModules?: readonly string[];
  /** Kernel parameters, e.g. { "vm.max_map_count": "262144" }. @default - none */
  readonly sysctls?: Readonly<Record<string, string>>;
  /** Encrypt STATE and EPHEMERAL with a key sealed to the TPM or derived from the node's id. @default - not encrypted */
  readonly diskEncryption?: DiskEncryptionKey;
  /** Extra names/addresses in the node's certificates (Talos API; on controllers the Kubernetes API too). @default - none */
  readonly certSans?: readonly string[];
  /** @default - none */
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** Taint key to "[value:]Effect", as Talos spells them, e.g. { dedicated: "gpu:NoSchedule" }. @default - none */
  readonly nodeTaints?: Readonly<Record<string, string>>;
  /** Join a tailnet (the node's image must carry the siderolabs/tailscale extension). @default - not in a tailnet */
  readonly tailscale?: TailscaleNode;
}

/** KubePrism: an in-node load balancer for the API on localhost, used by Cilium and host-network pods. */
export const KUBEPRISM_PORT = 7445;

// ---------------------------------------------------------------------------------------- the patch model
// The part of Talos' machine configuration we write, with Talos' field names (reference:
// https://www.talos.dev/v1.12/reference/configuration/). Field presence is what Talos merges: an absent field
// keeps what Talos generated.

/** What a node's system disks are encrypted with: a key sealed to the TPM, or one derived from the node's id. */
export type DiskEncryptionKey = "tpm" | "nodeID";

/** Talos' v1alpha1 EncryptionConfig of one system volume. */
export interface DiskEncryption {
  readonly provider: "luks2";
  readonly keys: readonly ({ readonly slot: number } & Partial<Record<DiskEncryptionKey, Record<string, never>>>)[];
}

/** `$patch: delete` removes the field from what Talos generated (its strategic merge). */
export interface DeleteField {
  readonly $patch: "delete";
}

export interface NetworkInterface {
  readonly deviceSelector: { readonly hardwareAddr: string } | { readonly physical: true };
  readonly dhcp: false;
  readonly addresses: readonly string[];
  readonly routes: readonly { readonly network: string; readonly gateway: string }[];
  readonly mtu: number;
  readonly vip?: { readonly ip: string };
}

export interface MachinePatch {
  readonly install: {
    readonly disk: string | DeleteField;
    readonly diskSelector?: InstallDiskSelector;
    readonly image: string;
  };
  readonly network: {
    readonly hostname: string;
    readonly nameservers: readonly string[];
    readonly interfaces: readonly NetworkInterface[];
  };
  readonly time: { readonly servers: readonly string[] };
  readonly kubelet: { readonly nodeIP: { readonly validSubnets: readonly string[] } };
  readonly features: { readonly kubePrism: { readonly enabled: boolean; readonly port: number } };
  readonly certSANs?: readonly string[];
  readonly nodeLabels?: Readonly<Record<string, string>>;
  readonly nodeTaints?: Readonly<Record<string, string>>;
  readonly kernel?: { readonly modules: readonly { readonly name: string }[] };
  readonly sysctls?: Readonly<Record<string, string>>;
  readonly systemDiskEncryption?: { readonly state: DiskEncryption; readonly ephemeral: DiskEncryption };
  /** Files Talos writes under /var at boot (the OIDC issuer's CA, for the API server to read). */
  readonly files?: readonly MachineFile[];
}

export interface MachineFile {
  readonly content: string;
  /** Octal mode as a number (JSON has no octal), e.g. 0o644. */
  readonly permissions: number;
  readonly path: string;
  readonly op: "create";
}

export interface ClusterPatch {
  readonly network: {
    readonly podSubnets: readonly string[];
    readonly serviceSubnets: readonly string[];
    readonly cni?: { readonly name: "none" };
  };
  readonly proxy?: { readonly disabled: true };
  readonly apiServer?: {
    readonly certSANs: readonly string[];
    readonly extraArgs?: Readonly<Record<string, string>>;
    readonly extraVolumes?: readonly {
      readonly hostPath: string;
      readonly mountPath: string;
      readonly readonly: true;
    }[];
  };
  readonly allowSchedulingOnControlPlanes?: true;
}

/** The v1alpha1 document (the one without `kind`). */
export interface V1Alpha1Patch {
  readonly machine: MachinePatch;
  readonly cluster: ClusterPatch;
}

/**
 * Talos 1.12+ generates a HostnameConfig document (`auto: stable`), which conflicts with the static
 * `machine.network.hostname`; this patch removes it. (Setting the name in that document instead is what Talos
 * 1.12 prefers, but the talos provider built for the engine tests, 0.8.0, embeds Talos 1.10's machinery, which
 * cannot parse a HostnameConfig patch at all; a delete patch it parses.)
 */
export interface DeleteHostnameConfigPatch {
  readonly apiVersion: "v1alpha1";
  readonly kind: "HostnameConfig";
  readonly $patch: "delete";
}

// ------------------------------------------------------------------- Talos 1.14's documents of their own
// From the 1.14 contract on, Talos generates these settings as documents of their own and refuses them in
// v1alpha1 ("already set in v1alpha1 config"); a patch of the same kind merges into the generated document.
// Fields as in github.com/siderolabs/talos/pkg/machinery v1.14 config/types (k8s, network, runtime).

/** The settings 1.14 still reads from v1alpha1: the node's links, time servers, certificates, kernel, disks. */
export interface V1Alpha1MachinePatch {
  readonly machine: Pick<MachinePatch, "time" | "certSANs" | "kernel" | "sysctls" | "systemDiskEncryption"> & {
    readonly network: { readonly interfaces: readonly NetworkInterface[] };
  };
}

interface Document<Kind extends string> {
  readonly apiVersion: "v1alpha1";
  readonly kind: Kind;
}

/** The node's name; Talos' generated `auto: stable` removed. */
export interface HostnameConfigPatch extends Document<"HostnameConfig"> {
  readonly auto: DeleteField;
  readonly hostname: string;
}

export interface ResolverConfigPatch extends Document<"ResolverConfig"> {
  readonly nameservers: readonly { readonly address: string }[];
}

/** Where Talos installs itself: the installer image and a CEL expression over the disks it sees. */
export interface UnattendedInstallConfigPatch extends Document<"UnattendedInstallConfig"> {
  readonly installer: { readonly image: string };
  readonly provisioning: { readonly diskSelector: { readonly match: string } };
}

export interface KubeNodeConfigPatch extends Document<"KubeNodeConfig"> {
  readonly nodeIP: { readonly validSubnets: readonly string[] };
  readonly labels?: Readonly<Record<string, string>>;
  /** A key set to `$patch: delete` removes the taint Talos generated (the controllers' NoSchedule). */
  readonly taints?: Readonly<Record<string, string | DeleteField>>;
}

export interface KubePrismConfigPatch extends Document<"KubePrismConfig"> {
  readonly port: number;
}

export interface KubeNetworkConfigPatch extends Document<"KubeNetworkConfig"> {
  readonly podSubnets: readonly string[];
  readonly serviceSubnets: readonly string[];
}

export interface KubeAPIServerConfigPatch extends Document<"KubeAPIServerConfig"> {
  readonly certExtraSANs: readonly string[];
}

export interface KubeProxyConfigPatch extends Document<"KubeProxyConfig"> {
  readonly enabled: false;
}

/**
 * The API server's authentication (Kubernetes' AuthenticationConfiguration, without apiVersion and kind, as
 * Talos generates it); the document replaces the generated one whole (`merge: replace`), so it carries the
 * anonymous health checks Talos allows by default.
 */
export interface KubeAuthenticationConfigPatch extends Document<"KubeAuthenticationConfig"> {
  readonly configuration: {
    readonly anonymous: { readonly enabled: true; readonly conditions: readonly { readonly path: string }[] };
    readonly jwt: readonly JwtAuthenticator[];
  };
}

interface JwtAuthenticator {
  readonly issuer: {
    readonly url: string;
    readonly audiences: readonly string[];
    readonly certificateAuthority?: string;
  };
  readonly claimMappings: {
    readonly username: { readonly claim: string; readonly prefix: string };
    readonly groups: { readonly claim: string; readonly prefix: string };
  };
}

/** The siderolabs/tailscale extension's service settings (containerboot reads them from its environment). */
export interface ExtensionServiceConfigPatch {
  readonly apiVersion: "v1alpha1";
  readonly kind: "ExtensionServiceConfig";
  readonly name: "tailscale";
  readonly environment: readonly string[];
}

/** A file Talos (1.14 on) writes under /etc: where the issuer's CA goes when machine.files is deprecated. */
export interface EtcFileConfigPatch extends Document<"EtcFileConfig"> {
  /** The path relative to /etc. */
  readonly name: string;
  readonly mode: number;
  readonly contents: string;
}

/** Flannel is Talos' CNI: without this document, Talos deploys none. */
export interface DeleteKubeFlannelCNIConfigPatch extends Document<"KubeFlannelCNIConfig"> {
  readonly $patch: "delete";
}

export type TalosConfigPatch =
  | V1Alpha1Patch
  | DeleteHostnameConfigPatch
  | V1Alpha1MachinePatch
  | HostnameConfigPatch
  | ResolverConfigPatch
  | UnattendedInstallConfigPatch
  | KubeNodeConfigPatch
  | KubePrismConfigPatch
  | KubeNetworkConfigPatch
  | KubeAPIServerConfigPatch
  | KubeProxyConfigPatch
  | KubeAuthenticationConfigPatch
  | ExtensionServiceConfigPatch
  | EtcFileConfigPatch
  | DeleteKubeFlannelCNIConfigPatch;

/**
 * The patches of one node's configuration for the Talos version contract `contract` (the data source's
 * `talos_version`), one document each (the provider's `config_patches` takes one patch per string; JSON is
 * YAML): the v1alpha1 form up to 1.13, the documents of their own from 1.14. `talos` is the Talos the node
 * runs (a contract kept behind across an upgrade): where they differ, it decides how files are written.
 */
export function machineConfigPatches(
  node: TalosNodeSpec,
  cluster: TalosClusterNetwork,
  contract: string,
  talos: string = contract,
): TalosConfigPatch[] {
  const iface: NetworkInterface = {
    deviceSelector: node.macAddress ? { hardwareAddr: node.macAddress } : { physical: true },
    dhcp: false,
    addresses: [`${node.address}/${cluster.nodePrefix}`],
    routes: [{ network: "0.0.0.0/0", gateway: cluster.gateway }],
    mtu: node.mtu,
    ...(node.controller && cluster.apiVip ? { vip: { ip: cluster.apiAddress } } : {}),
  };
  const apiCertSans = [...new Set([cluster.apiAddress, ...cluster.certSans, ...(node.certSans ?? [])])];
  const machine = {
    time: { servers: [...cluster.ntpServers] },
    ...(node.certSans?.length ? { certSANs: [...node.certSans] } : {}),
    ...(node.kernelModules?.length ? { kernel: { modules: node.kernelModules.map((name) => ({ name })) } } : {}),
    ...(nonEmpty(node.sysctls) ? { sysctls: { ...node.sysctls } } : {}),
    ...(node.diskEncryption ? { systemDiskEncryption: luks2(node.diskEncryption) } : {}),
  };
  const tailscale = node.tailscale ? [tailscalePatch(node.tailscale)] : [];
  if (talosHasKubernetesDocuments(contract))
    return [...documentPatches(node, cluster, iface, machine, apiCertSans), ...tailscale];
  const oidc = node.controller ? cluster.oidc : undefined;
  const etcFiles = talosHasEtcFileConfig(talos);

  // Talos generates `disk: /dev/sda`; with a selector that default has to go, or it would win.
  const install =
    "path" in node.installDisk
      ? { disk: node.installDisk.path, image: node.installImage }
      : {
          disk: { $patch: "delete" as const },
          diskSelector: { ...node.installDisk.selector },
          image: node.installImage,
        };
  const v1alpha1: V1Alpha1Patch = {
    machine: {
      install,
      network: { hostname: node.name, nameservers: [...cluster.dnsServers], interfaces: [iface] },
      ...machine,
      kubelet: { nodeIP: { validSubnets: [cluster.nodeCidr] } },
      features: { kubePrism: { enabled: true, port: KUBEPRISM_PORT } },
      ...(nonEmpty(node.nodeLabels) ? { nodeLabels: { ...node.nodeLabels } } : {}),
      ...(nonEmpty(node.nodeTaints) ? { nodeTaints: { ...node.nodeTaints } } : {}),
      ...(oidc?.caPem === undefined || etcFiles
        ? {}
        : {
            files: [
              { content: oidc.caPem, permissions: 0o644, path: `${OIDC_CA_VAR_DIR}/ca.pem`, op: "create" as const },
            ],
          }),
    },
    cluster: {
      network: {
        podSubnets: [cluster.podCidr],
        serviceSubnets: [cluster.serviceCidr],
        ...(cluster.cni === "flannel" ? {} : { cni: { name: "none" as const } }),
      },
      ...(cluster.cni === "cilium" ? { proxy: { disabled: true as const } } : {}),
      ...(node.controller
        ? {
            apiServer: {
              certSANs: apiCertSans,
              ...(oidc && oidcFlags(oidc, etcFiles ? OIDC_CA_ETC_DIR : OIDC_CA_VAR_DIR)),
            },
          }
        : {}),
      ...(node.controller && cluster.schedulingOnControllers ? { allowSchedulingOnControlPlanes: true as const } : {}),
    },
  };
  const patches: TalosConfigPatch[] = [v1alpha1];
  if (talosHasHostnameConfig(contract))
    patches.push({ apiVersion: "v1alpha1", kind: "HostnameConfig", $patch: "delete" });
  if (oidc?.caPem !== undefined && etcFiles)
    patches.push({
      apiVersion: "v1alpha1",
      kind: "EtcFileConfig",
      name: OIDC_CA_ETC_NAME,
      mode: 0o644,
      contents: oidc.caPem,
    });
  return [...patches, ...tailscale];
}

/**
 * The extension's service environment: containerboot logs in with the key once (TS_AUTH_ONCE: a node already in
 * the tailnet keeps its identity across reboots, even after the key expired), as the node's hostname, with its
 * routes.
 */
function tailscalePatch(node: TailscaleNode): ExtensionServiceConfigPatch {
  return {
    apiVersion: "v1alpha1",
    kind: "ExtensionServiceConfig",
    name: "tailscale",
    environment: [
      `TS_AUTHKEY=${node.authKey}`,
      `TS_HOSTNAME=${node.hostname}`,
      ...(node.routes.length ? [`TS_ROUTES=${node.routes.join(",")}`] : []),
      "TS_AUTH_ONCE=true",
    ],
  };
}

/**
 * Where Talos writes the issuer's CA on controllers for the --oidc-* flags: under /var with machine.files up to
 * Talos 1.13, under /etc with an EtcFileConfig from 1.14 (machine.files is deprecated there); and where the API
 * server's pod sees it.
 */
const OIDC_CA_VAR_DIR = "/var/etc/oidc";
const OIDC_CA_ETC_NAME = "oidc/ca.pem";
const OIDC_CA_ETC_DIR = "/etc/oidc";
const OIDC_CA_POD_DIR = "/etc/oidc";

/**
 * kube-apiserver's --oidc-* flags (the contracts up to 1.13), the CA mounted from `caHostDir`. An empty user
 * name prefix is "-" there (unset, the issuer's URL would be put before every name but an email).
 */
function oidcFlags(oidc: ApiServerOidc, caHostDir: string) {
  return {
    extraArgs: {
      "oidc-issuer-url": oidc.issuerUrl,
      "oidc-client-id": oidc.clientId,
      "oidc-username-claim": oidc.usernameClaim,
      "oidc-username-prefix": oidc.usernamePrefix === "" ? "-" : oidc.usernamePrefix,
      "oidc-groups-claim": oidc.groupsClaim,
      ...(oidc.groupsPrefix === "" ? {} : { "oidc-groups-prefix": oidc.groupsPrefix }),
      ...(oidc.caPem === undefined ? {} : { "oidc-ca-file": `${OIDC_CA_POD_DIR}/ca.pem` }),
    },
    ...(oidc.caPem === undefined
      ? {}
      : { extraVolumes: [{ hostPath: caHostDir, mountPath: OIDC_CA_POD_DIR, readonly: true as const }] }),
  };
}

/** The same as one jwt authenticator of Talos 1.14's KubeAuthenticationConfig, the CA inline. */
function oidcAuthentication(oidc: ApiServerOidc): KubeAuthenticationConfigPatch {
  return {
    apiVersion: "v1alpha1",
    kind: "KubeAuthenticationConfig",
    configuration: {
      // What Talos generates: the health endpoints answer without credentials (load balancers, probes).
      anonymous: { enabled: true, conditions: ["/livez", "/readyz", "/healthz"].map((path) => ({ path })) },
      jwt: [
        {
          issuer: {
            url: oidc.issuerUrl,
            audiences: [oidc.clientId],
            ...(oidc.caPem === undefined ? {} : { certificateAuthority: oidc.caPem }),
          },
          claimMappings: {
            username: { claim: oidc.usernameClaim, prefix: oidc.usernamePrefix },
            groups: { claim: oidc.groupsClaim, prefix: oidc.groupsPrefix },
          },
        },
      ],
    },
  };
}

/** The same settings in the documents Talos 1.14 generates them in. */
function documentPatches(
  node: TalosNodeSpec,
  cluster: TalosClusterNetwork,
  iface: NetworkInterface,
  machine: Omit<V1Alpha1MachinePatch["machine"], "network">,
  apiCertSans: readonly string[],
): TalosConfigPatch[] {
  const doc = <Kind extends string>(kind: Kind) => ({ apiVersion: "v1alpha1" as const, kind });
  const taints = {
    ...node.nodeTaints,
    // What v1alpha1's allowSchedulingOnControlPlanes did: no NoSchedule taint on the controllers.
    ...(node.controller && cluster.schedulingOnControllers ? { [CONTROL_PLANE_TAINT]: DELETE } : {}),
  };
  const patches: TalosConfigPatch[] = [
    { machine: { network: { interfaces: [iface] }, ...machine } },
    { ...doc("HostnameConfig"), auto: DELETE, hostname: node.name },
    { ...doc("ResolverConfig"), nameservers: cluster.dnsServers.map((address) => ({ address })) },
    {
      ...doc("UnattendedInstallConfig"),
      installer: { image: node.installImage },
      provisioning: { diskSelector: { match: diskMatch(node.installDisk) } },
    },
    {
      ...doc("KubeNodeConfig"),
      nodeIP: { validSubnets: [cluster.nodeCidr] },
      ...(nonEmpty(node.nodeLabels) ? { labels: { ...node.nodeLabels } } : {}),
      ...(nonEmpty(taints) ? { taints } : {}),
    },
    { ...doc("KubePrismConfig"), port: KUBEPRISM_PORT },
    { ...doc("KubeNetworkConfig"), podSubnets: [cluster.podCidr], serviceSubnets: [cluster.serviceCidr] },
  ];
  // The control plane's own documents (Talos generates them on controllers only).
  if (node.controller) {
    patches.push({ ...doc("KubeAPIServerConfig"), certExtraSANs: [...apiCertSans] });
    if (cluster.oidc) patches.push(oidcAuthentication(cluster.oidc));
    if (cluster.cni !== "flannel") patches.push({ ...doc("KubeFlannelCNIConfig"), $patch: "delete" });
    if (cluster.cni === "cilium") patches.push({ ...doc("KubeProxyConfig"), enabled: false });
  }
  return patches;
}

const DELETE: DeleteField = { $patch: "delete" };
/** The taint Talos puts on controllers unless workloads may run there. */
const CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane";

/** Bytes per unit of a disk size, as Talos reads them (powers of 1000, and of 1024 with an "i"). */
const UNITS: Readonly<Record<string, bigint>> = Object.fromEntries(
  ["K", "M", "G", "T", "P"].flatMap((prefix, i) => [
    [`${prefix}B`, 1000n ** BigInt(i + 1)],
    [`${prefix}iB`, 1024n ** BigInt(i + 1)],
  ]),
);

/**
 * The install disk as a CEL expression over Talos' disk (UnattendedInstallConfig): a path, or every field of
 * the selector v1alpha1 took (a size with an optional comparison, model and serial globs).
 */
export function diskMatch(disk: TalosNodeSpec["installDisk"]): string {
  if ("path" in disk) return `disk.dev_path == ${JSON.stringify(disk.path)}`;
  const terms: string[] = [];
  const { size, model, serial } = disk.selector;
  if (size !== undefined) {
    const [, op = "==", number, unit = "B"] =
      /^(<=|>=|<|>|==)?\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?B|B)?$/.exec(size.trim()) ?? [];
    if (number === undefined) throw new Error(`disk size ${JSON.stringify(size)} is not a size`);
    const [whole, fraction = ""] = number.split(".");
    const bytes = (BigInt(whole + fraction) * (UNITS[unit] ?? 1n)) / 10n ** BigInt(fraction.length);
    terms.push(`disk.size ${op} ${bytes}u`);
  }
  if (model !== undefined) terms.push(`glob(${JSON.stringify(model)}, disk.model)`);
  if (serial !== undefined) terms.push(`glob(${JSON.stringify(serial)}, disk.serial)`);
  return terms.join(" && ");
}

function nonEmpty<T extends object>(value: T | undefined): T | undefined {
  return value && Object.keys(value).length > 0 ? value : undefined;
}

/** STATE and EPHEMERAL encrypted alike, with one key in slot 0. */
function luks2(key: DiskEncryptionKey): { state: DiskEncryption; ephemeral: DiskEncryption } {
  const volume: DiskEncryption = { provider: "luks2", keys: [{ slot: 0, [key]: {} }] };
  return { state: volume, ephemeral: volume };
}
