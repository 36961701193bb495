// The one source of truth for cluster.yaml and nodes.yaml: types (z.infer), defaults, per-key docs (they
// become the generated JSON Schema and the reference table in docs/configuration.md). Cross-field rules live in checks.ts.
import { z } from "zod";
import { isCanonicalCidr, isUsableHostAddress } from "./ipv4";
import {
  pveBridge,
  pveConfigId,
  pveCpuType,
  pveMachineType,
  pveNodeName,
  pveStorageId,
  pveTags,
  pveVlanTag,
} from "./pve-fields";
import {
  CILIUM_RELEASES,
  describeMinors,
  TALOS_RELEASES,
  TESTED_KUBERNETES_VERSION,
  TESTED_TALOS_VERSION,
  type KubernetesRange,
} from "./versions";

const dnsLabel = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    "expected a lower-case DNS label (a-z, 0-9, '-'), at most 63 characters",
  );

const semver = (what: string, example: string) =>
  z.string().regex(/^v\d+\.\d+\.\d+$/, `expected a ${what} version like "${example}" (with the leading v)`);

/** An integer that may also be written as a string of digits, as cluster-template's samples do ("20"). */
const integerOrDigits = (schema: z.ZodNumber) =>
  z.union([
    schema,
    z
      .string()
      .regex(/^\d{1,9}$/, "expected a whole number")
      .transform(Number)
      .pipe(schema),
  ]);

/** A host name per RFC 1123: dot-separated labels of letters, digits and '-', at most 253 characters. */
const HOST_NAME = /^(?=.{1,253}$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)(\.(?!-)[a-zA-Z0-9-]{1,63}(?<!-))*$/;

/** A server by host name (RFC 1123) or by IPv4 address. */
const hostOrAddress = z
  .string()
  .refine(
    (v) => (/^[\d.]+$/.test(v) ? z.regexes.ipv4.test(v) && isUsableHostAddress(v) : HOST_NAME.test(v)),
    "expected a host name (RFC 1123: letters, digits, '-' and dots, at most 253 characters) or a server's IPv4 address",
  );

/** An IPv4 address a node can talk to: not 0.0.0.0/8, multicast, reserved or broadcast. */
const hostAddress = z
  .ipv4("expected an IPv4 address")
  .refine(isUsableHostAddress, "not a server's address (0.0.0.0/8, multicast, reserved or broadcast)");

/** A Kubernetes label value (k8s.io/apimachinery validation.IsValidLabelValue). */
const LABEL_VALUE = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** An http(s) URL; "${" and "%{" are refused (Terraform would evaluate them; a URL percent-encodes braces). */
const httpUrl = (protocol: RegExp, error: string) =>
  z
    .url({ protocol, error })
    .refine(
      (u) => !/[$%]\{/.test(u),
      'a URL cannot contain "${" or "%{" (Terraform would evaluate it); percent-encode the brace',
    );

// Only the Talos minors whose machine configurations Talos' own machinery judges in the engine tests.
const supportedTalos = new RegExp(
  `^v(${Object.keys(TALOS_RELEASES)
    .map((m) => m.replace(".", "\\."))
    .join("|")})\\.\\d+$`,
);
const talosVersion = z
  .string()
  .regex(/^v\d+\.\d+\.\d+$/, { message: 'expected a Talos version like "v1.12.7" (with the leading v)', abort: true })
  .regex(
    supportedTalos,
    `only Talos ${describeMinors(TALOS_RELEASES)} is supported: the machine configurations are checked with Talos' own machinery of each of these minors`,
  );

const ranges = (releases: Readonly<Record<string, { kubernetes: KubernetesRange }>>) =>
  Object.entries(releases)
    .map(([minor, { kubernetes }]) => `${minor}: ${kubernetes.min}-${kubernetes.max}`)
    .join(", ");

// Kubernetes label keys and values, and Talos' taint values ("[value:]Effect").
const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    'expected a Kubernetes label key like "example.com/role" or "role"',
  );
const labelValue = z
  .string()
  .regex(
    /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/,
    "expected a Kubernetes label value (at most 63 letters, digits, '-', '_', '.')",
  );
const taintValue = z
  .string()
  .regex(
    /^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?:)?(NoSchedule|PreferNoSchedule|NoExecute)$/,
    'expected "[value:]Effect" with Effect NoSchedule, PreferNoSchedule or NoExecute, e.g. "gpu:NoSchedule"',
  );

const boundedInt = (min: number, minMessage: string, max: number, unit: string) =>
  z
    .number()
    .int("expected a whole number")
    .min(min, minMessage)
    .max(max, `more than ${max} ${unit} is not a sane VM size`);
const positiveInt = (max: number, unit: string) => boundedInt(1, "expected a positive number", max, unit);
const memoryMiB = () => boundedInt(2048, "Talos needs at least 2048 MiB of memory", 4 * 1024 * 1024, "MiB");
const diskGiB = () => boundedInt(10, "Talos needs a disk of at least 10 GiB", 65536, "GiB");

const mac = z
  .string()
  .regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'expected a lower-case MAC address like "bc:24:11:00:00:01"')
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, "a multicast MAC address cannot be a VM's NIC address")
  .refine((m) => m !== "00:00:00:00:00:00", "the all-zero MAC address cannot be a VM's NIC address");

const chartVersion = (chart: string, example: string) =>
  z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, `expected a chart version like "${example}"`)
    .default(example)
    .describe(`Helm chart version of ${chart}.`);

// ----------------------------------------------------------------------------------------------- cluster.yaml

/** An environment variable OpenTofu reads as a variable of the stack: TF_VAR_<name> is the variable <name>. */
export const tfVarEnv = z
  .string()
  .regex(
    /^TF_VAR_[a-zA-Z_][a-zA-Z0-9_]*$/,
    'expected an environment variable named TF_VAR_<name> (OpenTofu reads it as the variable <name>), e.g. "TF_VAR_admin_ssh_key"',
  );

/** Networks a Tailscale node advertises to the tailnet (subnet routes), written canonically. */
const tailscaleRoutes = z
  .array(
    z
      .cidrv4("expected an IPv4 network in CIDR notation, e.g. 192.168.1.0/24")
      .refine(isCanonicalCidr, "has host bits set; write the network itself (Tailscale refuses it otherwise)"),
  )
  .max(64);

/** An OIDC claim name: a word or a URL-like name ("https://example.com/groups"). */
const oidcClaim = z
  .string()
  .regex(/^[A-Za-z0-9_.:/-]{1,256}$/, "expected a claim name (letters, digits, '_', '.', ':', '/', '-')");
/** What Kubernetes puts before the claim's value, so that OIDC users and groups never collide with others. */
const oidcPrefix = z
  .string()
  .regex(
    /^[A-Za-z0-9_.:/#@-]{0,64}$/,
    "expected a prefix (letters, digits, '_', '.', ':', '/', '#', '@', '-'), \"\" for none",
  );

export const vmDefaultsSchema = z
  .strictObject({
    cores: positiveInt(512, "cores").default(4).describe("CPU cores per socket."),
    sockets: positiveInt(8, "sockets").default(1).describe("CPU sockets."),
    memory: memoryMiB().default(8192).describe("Memory in MiB."),
    disk_size: diskGiB().default(128).describe("System disk size in GiB."),
  })
  .describe(
    "VM sizing used for every node that does not override it with vm_cores, vm_sockets, vm_memory, vm_disk_size.",
  );

export const vmAdvancedSchema = z
  .strictObject({
    bios: z
      .enum(["ovmf", "seabios"])
      .default("ovmf")
      .describe("Firmware. Talos on Proxmox wants UEFI (ovmf); secureboot nodes require it."),
    machine: pveMachineType.default("q35").describe("QEMU machine type."),
    cpu_type: pveCpuType.default("host").describe("QEMU CPU type."),
    scsi_hw: z
      .enum(["virtio-scsi-pci", "virtio-scsi-single", "lsi", "lsi53c810", "megasas", "pvscsi"])
      .default("virtio-scsi-single")
      .describe("SCSI controller. virtio-scsi-single gives the disk its own I/O thread (iothread is set with it)."),
    balloon: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe("Minimum memory in MiB for the balloon device; 0 disables ballooning (Kubernetes wants fixed memory)."),
    numa: z.boolean().default(true).describe("Enable NUMA."),
    qemu_agent: z
      .boolean()
      .default(true)
      .describe("Enable the QEMU guest agent (needs the qemu-guest-agent extension, included by default)."),
    net_queues: z.number().int().min(0).max(64).default(4).describe("virtio-net multiqueue count; 0 disables it."),
    disk_discard: z.boolean().default(true).describe("Pass TRIM/discard through to the storage."),
    disk_ssd: z.boolean().default(true).describe("Present the disk to the guest as an SSD."),
    tags: pveTags.default(["kubernetes", "linux", "talos"]).describe("Proxmox tags on every VM."),
    network_bridge: pveBridge.default("vmbr0").describe("Proxmox bridge the VMs' NIC is attached to."),
  })
  .describe("Hardware settings shared by every VM.");

const httpBackendSchema = z
  .strictObject({
    type: z.literal("http"),
    address: httpUrl(/^https?$/, "expected an http(s) URL")
      .refine((a) => a.includes("{layer}"), 'the address must contain "{layer}" so that each layer has its own state')
      .describe(
        'State URL; "{layer}" is replaced by the layer name, e.g. https://tfstate.example.com/state/homelab/{layer}.',
      ),
    lock_address: httpUrl(/^https?$/, "expected an http(s) URL")
      .optional()
      .describe('Lock URL ("{layer}" replaced). @default the state address'),
    unlock_address: httpUrl(/^https?$/, "expected an http(s) URL")
      .optional()
      .describe('Unlock URL ("{layer}" replaced). @default the state address'),
    lock_method: z
      .string()
      .regex(/^[A-Z]+$/)
      .default("LOCK")
      .describe("HTTP method used to lock."),
    unlock_method: z
      .string()
      .regex(/^[A-Z]+$/)
      .default("UNLOCK")
      .describe("HTTP method used to unlock."),
    skip_cert_verification: z
      .boolean()
      .default(false)
      .describe("Accept a self-signed certificate on the state server."),
  })
  .describe(
    "HTTP state backend with locking. Credentials come only from TF_HTTP_USERNAME / TF_HTTP_PASSWORD in the environment.",
  );

/** An S3 object key with "{layer}" in it: no leading "/", no empty or ".." segment, nothing Terraform would evaluate. */
const s3Key = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9_.-]|\{layer\})+(?:\/(?:[A-Za-z0-9_.-]|\{layer\})+)*$/,
    'expected an object key of letters, digits, "_", "." and "-" in "/"-separated parts, with "{layer}"',
  )
  .refine((k) => !k.split("/").includes(".."), 'a key has no ".." part')
  .refine((k) => k.includes("{layer}"), 'the key must contain "{layer}" so that each layer has its own state');

const s3BackendSchema = z
  .strictObject({
    type: z.literal("s3"),
    bucket: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        "expected a bucket name (3 to 63 lower-case letters, digits, '.' and '-')",
      )
      .describe("Bucket holding the state; it must exist."),
    key: s3Key
      .optional()
      .describe(
        'Object key of each layer\'s state; "{layer}" is replaced by the layer name. The lock file is the key with ".tflock" appended. @default <cluster_name>/{layer}.tfstate',
      ),
    region: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/, "expected a region name (lower-case letters, digits and '-')")
      .default("us-east-1")
      .describe("Region of the bucket (S3-compatible stores accept any; Ceph's gateway uses its zonegroup name)."),
    endpoint: httpUrl(/^https?$/, "expected an http(s) URL")
      .optional()
      .describe(
        "URL of an S3-compatible store (Ceph RGW, MinIO, Garage, ...). With it, the engine skips the AWS-only checks (STS, account id, region names). @default AWS S3",
      ),
    use_path_style: z
      .boolean()
      .default(false)
      .describe(
        "Address the bucket in the path (https://host/bucket/key) rather than the host name: most S3-compatible stores need it.",
      ),
  })
  .describe(
    "S3 state backend, locked by OpenTofu's lock file (use_lockfile: a conditional write, If-None-Match, of <key>.tflock; no DynamoDB). Credentials come only from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment. Preflight refuses a store that ignores conditional writes.",
  );

/** A PostgreSQL identifier OpenTofu can create unquoted: lower-case, starting with a letter. */
const pgSchemaName = z
  .string()
  .regex(
    /^[a-z_][a-z0-9_]{0,62}$/,
    "expected a PostgreSQL schema name (lower-case letters, digits and '_', at most 63)",
  )
  .refine((n) => !n.startsWith("pg_"), 'PostgreSQL keeps schema names starting with "pg_" for itself');

const pgBackendSchema = z
  .strictObject({
    type: z.literal("pg"),
    schema_name: pgSchemaName
      .optional()
      .describe(
        "Schema holding this cluster's state, one table per layer; give each cluster its own. @default cluster_name with '-' as '_'",
      ),
  })
  .describe(
    "PostgreSQL state backend, locked by PostgreSQL advisory locks (released when the holder's connection ends). The connection string comes only from PG_CONN_STR in the environment.",
  );

const localBackendSchema = z
  .strictObject({ type: z.literal("local") })
  .describe("Local state files in state/<layer>.tfstate next to cluster.yaml (gitignored).");

export const stateBackendSchema = z.discriminatedUnion("type", [
  localBackendSchema,
  httpBackendSchema,
  s3BackendSchema,
  pgBackendSchema,
]);

export const clusterSchema = z
  .strictObject({
    cluster_name: dnsLabel
      .default("kubernetes")
      .describe("Name of the Kubernetes/Talos cluster; also prefixes the Proxmox CSI user and role."),
    node_cidr: z
      .cidrv4("expected an IPv4 network in CIDR notation, e.g. 192.168.1.0/24")
      .describe("Network the nodes live in, e.g. 192.168.1.0/24."),
    node_default_gateway: z
      .ipv4("expected an IPv4 address")
      .optional()
      .describe("Default gateway of the nodes. @default the first address in node_cidr"),
    node_dns_servers: z.array(hostAddress).min(1).default(["1.1.1.1", "1.0.0.1"]).describe("DNS servers of the nodes."),
    node_ntp_servers: z
      .array(hostOrAddress)
      .min(1)
      .default(["162.159.200.1", "162.159.200.123"])
      .describe("NTP servers of the nodes."),
    node_vlan_tag: integerOrDigits(pveVlanTag)
      .optional()
      .describe("VLAN tag set on the VMs' NIC on the Proxmox bridge. @default untagged"),
    cluster_api_addr: z
      .ipv4("expected an IPv4 address")
      .describe("Address of the Kubernetes API: the virtual IP the control planes share (see cluster_api_vip)."),
    cluster_api_vip: z
      .boolean()
      .default(true)
      .describe(
        "Let Talos run cluster_api_addr as a shared layer-2 VIP on the controllers. Turn off when cluster_api_addr is an external load balancer.",
      ),
    cluster_api_tls_sans: z
      .array(hostOrAddress)
      .default([])
      .describe("Extra names/addresses in the API server certificate."),
    cluster_pod_cidr: z
      .cidrv4("expected an IPv4 network in CIDR notation")
      .default("10.42.0.0/16")
      .describe("Pod network."),
    cluster_svc_cidr: z
      .cidrv4("expected an IPv4 network in CIDR notation")
      .default("10.43.0.0/16")
      .describe("Service network."),
    cluster_cni: z
      .enum(["cilium", "flannel", "none"])
      .default("cilium")
      .describe("CNI. With cilium, Talos' own CNI and kube-proxy are turned off (Cilium replaces them)."),
    talos_version: talosVersion
      .default(TESTED_TALOS_VERSION)
      .describe(
        `Talos version to install, ${describeMinors(TALOS_RELEASES)} (each checked by Talos' own machinery of that minor).`,
      ),
    talos_config_contract: z
      .string()
      .regex(/^v\d+\.\d+$/, 'expected a Talos minor like "v1.13" (with the leading v)')
      .optional()
      .describe(
        "Talos version contract of the machine configurations: the Talos minor whose defaults and documents they are generated with. Keep the one the cluster was created with across Talos upgrades (Talos' advice), move it on purpose; at most talos_version's minor. @default talos_version's minor",
      ),
    kubernetes_version: semver("Kubernetes", TESTED_KUBERNETES_VERSION)
      .default(TESTED_KUBERNETES_VERSION)
      .describe(`Kubernetes version; one the Talos version supports (Talos ${ranges(TALOS_RELEASES)}).`),
    talos_extensions: z
      .array(
        z
          .string()
          .regex(/^[a-z0-9-]+\/[a-z0-9._-]+$/, 'expected an official extension like "siderolabs/qemu-guest-agent"'),
      )
      .default(["siderolabs/qemu-guest-agent"])
      .describe("Official Talos system extensions baked into the image-factory schematic."),
    tailscale: z
      .strictObject({
        auth_key_env: tfVarEnv
          .default("TF_VAR_tailscale_auth_key")
          .describe(
            "Environment variable holding the Tailscale auth key (a reusable, pre-approved key of your tailnet, or a Headscale pre-auth key). OpenTofu reads it as a sensitive variable of layer 01; it never goes into the config or the synthesized files.",
          ),
        all_nodes: z
          .boolean()
          .default(false)
          .describe(
            "Every node joins the tailnet (a node opts out with tailscale: false in nodes.yaml). @default only the nodes with tailscale in nodes.yaml",
          ),
        advertise_routes: tailscaleRoutes
          .default([])
          .describe("Subnet routes every Tailscale node advertises (a node's own advertise_routes replace them)."),
      })
      .optional()
      .describe(
        "Tailscale on the nodes: the siderolabs/tailscale extension in their image-factory schematic and its ExtensionServiceConfig (auth key, hostname, routes). The tailnet's ACLs, route approval and DNS stay in the Tailscale admin console. @default no Tailscale",
      ),
    cluster_api_oidc: z
      .strictObject({
        issuer_url: httpUrl(/^https$/, "expected the issuer's https URL, e.g. https://auth.example.com/realms/home")
          .refine((u) => !u.includes("?") && !u.includes("#"), "an issuer URL has no query or fragment")
          .describe(
            "The OIDC issuer (its iss claim exactly; kube-apiserver reads <issuer>/.well-known/openid-configuration).",
          ),
        client_id: z
          .string()
          .regex(/^[A-Za-z0-9_.:@/-]{1,256}$/, "expected a client id (letters, digits, '_', '.', ':', '@', '/', '-')")
          .describe("The client id the tokens are issued to (their aud claim)."),
        username_claim: oidcClaim.default("sub").describe("Claim whose value is the Kubernetes user name."),
        username_prefix: oidcPrefix.default("oidc:").describe("Put before every OIDC user name."),
        groups_claim: oidcClaim.default("groups").describe("Claim holding the user's groups."),
        groups_prefix: oidcPrefix.default("oidc:").describe("Put before every OIDC group name."),
        ca_file: z
          .string()
          .min(1)
          .optional()
          .describe(
            "PEM file (relative to cluster.yaml's folder, inside it) of the CA that signed the issuer's certificate, when it is a private one. @default the system's trust store",
          ),
      })
      .optional()
      .describe(
        "Login to the Kubernetes API with an OIDC provider, besides the admin client certificate. Layer 01 writes credentials/kubeconfig-oidc for kubectl oidc-login users. The provider's own configuration (the client, its redirect URLs, who is in which group) and the RBAC bindings of the groups stay out of this project. @default client certificates only",
      ),
    talos_image_factory_url: httpUrl(/^https?$/, "expected an http(s) URL")
      .default("https://factory.talos.dev")
      .describe("Talos image factory."),
    helm_chart_mirror: httpUrl(/^https?$/, "expected an http(s) URL")
      .optional()
      .describe(
        "A Helm chart repository (its index.yaml over http(s)) serving every chart the cluster installs at its pinned version (cilium, sealed-secrets, proxmox-csi-plugin, flux2); each is then installed from it instead of its upstream repository, for a network that reaches none of them. @default each chart's upstream repository",
      ),
    proxmox_api_url: httpUrl(/^https$/, 'expected the Proxmox API URL, e.g. "https://pve.example.com:8006/"').describe(
      "Proxmox VE API endpoint. The token comes from PROXMOX_VE_API_TOKEN in the environment.",
    ),
    proxmox_api_insecure: z.boolean().default(false).describe("Accept a self-signed certificate on the Proxmox API."),
    proxmox_node: pveNodeName.describe("Proxmox host that runs the VMs unless a node says otherwise."),
    proxmox_iso_storage: pveStorageId
      .default("local")
      .describe("Proxmox storage for the Talos ISO (must allow ISO images)."),
    proxmox_iso_storage_type: z
      .enum(["dir", "btrfs", "nfs", "cifs", "cephfs", "glusterfs"])
      .default("dir")
      .describe("PVE type of proxmox_iso_storage; cephfs, nfs, cifs and glusterfs are shared by every host."),
    proxmox_iso_storage_shared: z
      .boolean()
      .optional()
      .describe(
        "One copy of each ISO serves every host (a shared storage): downloaded once, from proxmox_node, instead of once per host. @default true for the shared types of proxmox_iso_storage_type, else false",
      ),
    proxmox_disk_storage: pveStorageId.default("local-lvm").describe("Proxmox storage for VM disks."),
    proxmox_vm_defaults: vmDefaultsSchema.prefault({}),
    proxmox_vm_advanced: vmAdvancedSchema.prefault({}),
    proxmox_csi_enabled: z
      .boolean()
      .default(true)
      .describe(
        "Proxmox CSI driver: its Proxmox role, user, API token and ACL in layer 00, the driver and a StorageClass in layer 02. Turned off, layer 00 forgets the token without deleting it from Proxmox.",
      ),
    proxmox_csi_storage: pveStorageId
      .optional()
      .describe("Proxmox storage the CSI driver creates volumes on. @default proxmox_disk_storage"),
    // renovate: datasource=docker depName=ghcr.io/sergelogvinov/charts/proxmox-csi-plugin
    proxmox_csi_version: chartVersion("proxmox-csi-plugin", "0.3.5"),
    proxmox_region: z
      .string()
      .regex(
        LABEL_VALUE,
        "expected a Kubernetes label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
      )
      .default("pve")
      .describe(
        "Name of the Proxmox cluster, the CSI driver's region (nodes get topology.kubernetes.io/region, and zone = their Proxmox host).",
      ),
    proxmox_firewall_enabled: z
      .boolean()
      .default(false)
      .describe(
        "Layer 01 puts every VM behind the Proxmox firewall. From node_cidr: the Talos API, kubelet and the CNI's ports (Cilium's health checks, flannel's VXLAN), on controllers trustd and the Kubernetes API, etcd from the controllers only, and traffic to pods on any port (host-network pods, webhooks); from the pods: anything. NodePorts from anywhere (with proxmox_firewall_allow_from: from node_cidr and those networks), the cilium_loadbalancer_pool addresses from anywhere, and with cilium_loadbalancer_mode dsr the clients Cilium forwards to pods; everything else dropped. Needs the datacenter firewall on, and with dsr each host's nf_conntrack_allow_invalid: bootstrap reads both from the Proxmox API and refuses without them.",
      ),
    proxmox_firewall_allow_from: z
      .array(z.cidrv4("expected an IPv4 network in CIDR notation"))
      .default([])
      .describe(
        "Networks besides node_cidr (your workstation's) allowed to reach the Kubernetes API and the Talos API through the firewall; given, they also narrow NodePorts to node_cidr and these networks.",
      ),
    // renovate: datasource=helm depName=cilium registryUrl=https://helm.cilium.io
    cilium_version: chartVersion("cilium", "1.19.3").describe(
      `Helm chart version of cilium; its minor must be tested with kubernetes_version (Cilium ${ranges(CILIUM_RELEASES)}, from Cilium's compatibility documentation).`,
    ),
    cilium_loadbalancer_mode: z
      .enum(["dsr", "snat"])
      .default("dsr")
      .describe("How Cilium's load balancer forwards (cluster-template's key)."),
    cilium_loadbalancer_pool: z
      .strictObject({
        start: z.ipv4("expected an IPv4 address"),
        stop: z.ipv4("expected an IPv4 address"),
      })
      .optional()
      .describe(
        "Addresses in node_cidr that Cilium hands to LoadBalancer services and announces on layer 2 (layer 03). @default no pool",
      ),
    sealed_secrets_enabled: z
      .boolean()
      .default(true)
      .describe(
        "sealed-secrets: the controller in layer 02, started with the keypair of layer 00 (so secrets sealed before a rebuild still decrypt). Layer 00 keeps the keypair when this is off, so turning it on again finds the same key.",
      ),
    // renovate: datasource=helm depName=sealed-secrets registryUrl=https://bitnami-labs.github.io/sealed-secrets
    sealed_secrets_version: chartVersion("sealed-secrets", "2.17.1"),
    flux_enabled: z
      .boolean()
      .default(true)
      .describe("Flux controllers in layer 02; with repository_name, layer 03 syncs the repository."),
    // renovate: datasource=helm depName=flux2 registryUrl=https://fluxcd-community.github.io/helm-charts
    flux_version: chartVersion("flux2 (fluxcd-community)", "2.15.0"),
    repository_name: z
      .string()
      .regex(/^[\w.-]+\/[\w.-]+$/, 'expected a GitHub repository like "owner/home-ops"')
      .optional()
      .describe("GitHub repository Flux syncs (cluster-template's key). @default no sync"),
    repository_branch: z.string().min(1).default("main").describe("Branch Flux follows."),
    repository_path: z
      .string()
      .min(1)
      .default("./kubernetes/flux/cluster")
      .describe("Path in the repository of the Flux Kustomization."),
    repository_visibility: z
      .enum(["public", "private"])
      .default("public")
      .describe(
        "public: Flux clones over HTTPS. private: layer 00 keeps an SSH deploy key (ed25519, guarded like the other keys), bootstrap prints its public key for you to add to the repository's deploy keys (read-only), and Flux clones over SSH with it.",
      ),
    state_backend: stateBackendSchema.default({ type: "local" }).describe("Where OpenTofu keeps each layer's state."),
    previous_state_backend: stateBackendSchema
      .optional()
      .describe(
        "Where the states were before state_backend changed: ./bootstrap.sh migrate-state copies each layer's state from here to state_backend (a backup of each first, then a plan with no changes). While it is set, every other run is refused; remove it once the migration is done. @default - (no migration)",
      ),
    state_encryption: z
      .boolean()
      .default(false)
      .describe(
        "Encrypt every layer's state and plans at rest (OpenTofu only: pbkdf2 + AES-GCM). The passphrase comes from TF_VAR_state_passphrase in the environment.",
      ),
    state_encryption_migrate: z
      .boolean()
      .default(false)
      .describe(
        "With state_encryption: also read state and plans that are not encrypted yet (OpenTofu's unencrypted fallback), to turn encryption on for existing state. Apply every layer once with it, then remove it: without it, unencrypted state is refused.",
      ),
  })
  .describe("cluster.yaml: cluster-wide settings.");

// ------------------------------------------------------------------------------------------------- nodes.yaml

export const pciDeviceSchema = z
  .strictObject({
    id: z
      .string()
      .regex(
        /^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}(\.[0-7])?$/,
        'expected a PCI address like "0000:01:00.0" (lower-case; without ".<function>" for every function)',
      )
      .optional()
      .describe("Raw PCI address on the VM's Proxmox host. @default - (one of id or mapping)"),
    mapping: pveConfigId
      .optional()
      .describe(
        "Name of a Proxmox PCI resource mapping (Datacenter > Resource Mappings), which names the device on each host. @default - (one of id or mapping)",
      ),
    pcie: z.boolean().default(true).describe("Attach as PCI Express (needs the q35 machine type)."),
    rombar: z.boolean().default(true).describe("Expose the device's ROM to the guest."),
    primary_gpu: z
      .boolean()
      .default(false)
      .describe("Make it the VM's primary display (x-vga); for a GPU the guest shows its console on."),
  })
  .refine(
    (d) => (d.id === undefined) !== (d.mapping === undefined),
    "set exactly one of id (a raw PCI address) or mapping (a resource mapping name)",
  )
  .describe("One host PCI device for a node's VM.");

export const nodeSchema = z
  .strictObject({
    name: dnsLabel.describe("Hostname of the node; also the VM name and the id of its resources."),
    address: z.ipv4("expected an IPv4 address").describe("Static IPv4 address, inside node_cidr."),
    controller: z.boolean().describe("true for a control-plane node, false for a worker."),
    disk: z
      .string()
      .regex(
        /^\/dev(\/(?!\.\.?(\/|$))[\w.:+@-]+)+$/,
        'expected a device path like "/dev/sda" or "/dev/disk/by-id/..." (no "." or ".." segments)',
      )
      .optional()
      .describe("Disk Talos installs to. @default /dev/sda, unless disk_selector is set"),
    disk_selector: z
      .strictObject({
        size: z
          .string()
          .regex(
            /^(<=|>=|<|>|==)?\s*\d+(\.\d+)?\s*([KMGTP]i?B|B)?$/,
            'expected a size with an optional comparison, e.g. ">= 100GB" or "64GiB"',
          )
          .optional()
          .describe('Size, e.g. ">= 100GB".'),
        model: z.string().min(1).optional().describe('Model, a glob, e.g. "QEMU HARDDISK*".'),
        serial: z.string().min(1).optional().describe("Serial number, a glob."),
      })
      .refine((s) => Object.keys(s).length > 0, "give at least one of size, model, serial")
      .optional()
      .describe(
        "Let Talos pick its install disk by size, model and/or serial (every given field must match) instead of a fixed disk path. @default the disk path",
      ),
    mac_addr: mac.optional().describe("MAC address of the VM's NIC. @default assigned by Proxmox"),
    schematic_id: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "expected a 64-character lower-case hex image-factory schematic id")
      .optional()
      .describe("Image-factory schematic for this node. @default the schematic built from talos_extensions"),
    mtu: integerOrDigits(z.number().int("expected a whole number").min(1450).max(9000))
      .default(1500)
      // The JSON Schema drops the default of a union with a transform: the reference takes it from here.
      .describe("MTU of the node's NIC. @default 1500"),
    secureboot: z
      .boolean()
      .default(false)
      .describe("Boot the SecureBoot Talos image (UEFI keys enrolled by Talos, TPM 2.0 added)."),
    vm_id: z.number().int().min(100).max(999999999).optional().describe("Proxmox VM id. @default assigned by Proxmox"),
    vm_cores: positiveInt(512, "cores").optional().describe("Overrides proxmox_vm_defaults.cores."),
    vm_sockets: positiveInt(8, "sockets").optional().describe("Overrides proxmox_vm_defaults.sockets."),
    vm_memory: memoryMiB().optional().describe("Overrides proxmox_vm_defaults.memory (MiB)."),
    vm_disk_size: diskGiB().optional().describe("Overrides proxmox_vm_defaults.disk_size (GiB)."),
    vm_startup_order: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("Proxmox start order. @default controllers before workers"),
    vm_startup_delay: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .optional()
      .describe("Seconds Proxmox waits after starting this VM before the next one."),
    vm_shutdown_delay: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .optional()
      .describe("Seconds Proxmox waits for this VM to shut down."),
    kernel_modules: z
      .array(z.string().regex(/^[a-z0-9_-]+$/, "expected a kernel module name"))
      .default([])
      .describe("Extra kernel modules Talos loads (the module must be in the image, e.g. through an extension)."),
    sysctls: z
      .record(
        z.string().regex(/^[a-z0-9_]+([./][a-z0-9_-]+)+$/, 'expected a kernel parameter like "vm.max_map_count"'),
        z.string({ error: 'expected the value as a string, e.g. "262144"' }),
      )
      .default({})
      .describe('Kernel parameters Talos sets, e.g. {"vm.max_map_count": "262144"} (values as strings).'),
    cert_sans: z
      .array(z.string().min(1))
      .default([])
      .describe(
        "Extra names/addresses in this node's Talos API certificate, and on a controller in the Kubernetes API server certificate.",
      ),
    labels: z.record(labelKey, labelValue).default({}).describe("Kubernetes labels of the node."),
    taints: z
      .record(labelKey, taintValue)
      .default({})
      .describe('Kubernetes taints of the node, key to "[value:]Effect", e.g. {"dedicated": "gpu:NoSchedule"}.'),
    proxmox_node: pveNodeName.optional().describe("Proxmox host that runs this VM. @default cluster.yaml proxmox_node"),
    pci_devices: z
      .array(pciDeviceSchema)
      .max(16, "Proxmox has 16 hostpci slots")
      .default([])
      .describe(
        "Host PCI devices passed through to the VM (a GPU for workloads, ...), each at most once per Proxmox host: {id: raw PCI address | mapping: resource mapping name, pcie (default true), rombar (default true), primary_gpu (default false)}.",
      ),
    encrypt_disk: z
      .boolean()
      .default(false)
      .describe(
        "Encrypt Talos' STATE and EPHEMERAL partitions (LUKS2). The key is sealed to the VM's TPM on secureboot nodes; on the others it is derived from the node's id, which protects a disk taken away from its VM, not a copied VM (cluster-template's key).",
      ),
    tailscale: z
      .union([
        z.boolean(),
        z.strictObject({
          hostname: dnsLabel.optional().describe("Name of the node in the tailnet. @default the node's name"),
          advertise_routes: tailscaleRoutes
            .optional()
            .describe("Subnet routes this node advertises. @default cluster.yaml tailscale.advertise_routes"),
        }),
      ])
      .optional()
      .describe(
        "Join the tailnet of cluster.yaml's tailscale (true, or the node's own hostname and advertise_routes); false keeps the node out when tailscale.all_nodes is on. @default tailscale.all_nodes",
      ),
    vm_ha: z
      .boolean()
      .default(false)
      .describe("Layer 01 makes the VM a Proxmox HA resource (restarted or moved when its host fails)."),
  })
  .describe("One machine of the cluster.");

export const nodesFileSchema = z
  .strictObject({
    nodes: z.array(nodeSchema).min(1, "expected at least one node"),
  })
  .describe("nodes.yaml: one entry per machine.");

export type ClusterInput = z.input<typeof clusterSchema>;
export type ClusterConfig = z.output<typeof clusterSchema>;
export type NodeConfig = z.output<typeof nodeSchema>;
export type NodesFile = z.output<typeof nodesFileSchema>;
export type StateBackendConfig = z.output<typeof stateBackendSchema>;
export type VmAdvanced = z.output<typeof vmAdvancedSchema>;
