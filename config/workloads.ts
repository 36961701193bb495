// The schema of workloads.yaml, the optional file beside nodes.yaml that holds everything on the Proxmox
// cluster besides the Talos nodes: LXC containers, VMs cloned from templates, network zones, backups, PCI
// mappings. Same conventions as schema.ts (strict objects, a doc on every key, defaults in the schema);
// cross-field and cross-file rules live in workloads-checks.ts.
import { z } from "zod";
import { isIpv4WithPrefix } from "./ipv4";
import { FIREWALL_ACTIONS, PVE_FIREWALL_MACROS } from "./pve-firewall";
import { tfVarEnv } from "./schema";
import {
  pveBridge,
  pveCalendarEvent,
  pveConfigId,
  pveCpuType,
  pveDiskInterface,
  pveMachineType,
  pveMountPath,
  pveNodeName,
  pveSdnId,
  pveServer,
  pveStorageId,
  pveTag,
  pveTags,
  pveVlanTag,
  pveDevicePath,
  pveVnetAlias,
  pveVolumeId,
  pveZoneVlan,
} from "./pve-fields";

const guestName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    "expected a lower-case DNS label (a-z, 0-9, '-'), at most 63 characters",
  );

const guestId = z
  .number()
  .int("expected a whole number")
  .min(100, "Proxmox guest ids start at 100")
  .max(999999999, "Proxmox guest ids end at 999999999");

const mac = z
  .string()
  .regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'expected a lower-case MAC address like "bc:24:11:00:00:01"')
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, "a multicast MAC address cannot be a guest's NIC address");

const hostName = pveNodeName;
const storageId = pveStorageId;
const sdnId = pveSdnId;

const calendarEvent = pveCalendarEvent;

/** A template or image URL: http(s), without an engine template ("${", "%{"), naming a file. */
const downloadUrl = z
  .url({ protocol: /^https?$/, error: "expected an http(s) URL" })
  .refine(
    (u) => !/[$%]\{/.test(u),
    'a URL cannot contain "${" or "%{" (the engine would evaluate it); percent-encode the brace',
  );

/** A container template file as Proxmox downloads it (vztmpl content). */
export const TEMPLATE_FILE = /^[\w.+-]+\.(tar\.(gz|xz|zst)|tgz)$/;

/** A Proxmox Backup Server id (pbs-api-types PROXMOX_SAFE_ID): datastores and namespace components. */
const PBS_SAFE_ID = "[A-Za-z0-9_][A-Za-z0-9._-]*";

// --------------------------------------------------------------------------------------------- shared parts

export const sshKeySchema = z.union(
  [
    z.strictObject({
      file: z
        .string()
        .min(1)
        .describe("Path of an OpenSSH public key file (relative to the config folder), read at synth time."),
    }),
    z.strictObject({
      env: tfVarEnv.describe(
        "Environment variable holding one or more public keys (one per line), read by OpenTofu at plan time.",
      ),
    }),
  ],
  { error: "expected {file: path/to/key.pub} or {env: TF_VAR_name}; keys are never written inline" },
);

export const guestNetworkSchema = z
  .strictObject({
    zone: sdnId
      .optional()
      .describe(
        "Network zone (an entry of zones) the NIC joins, through the zone's SDN VNet. @default no zone: the bridge below",
      ),
    bridge: pveBridge
      .optional()
      .describe("Bridge of the NIC when the guest is in no zone. @default the top-level bridge"),
    vlan: pveVlanTag
      .optional()
      .describe("VLAN tag on the bridge, when the guest is in no zone (a zone brings its own). @default untagged"),
    address: z
      .string()
      .refine(
        (v) => v === "dhcp" || isIpv4WithPrefix(v),
        'expected "dhcp", an IPv4 address in a zone, or an address with its prefix like "192.168.1.5/24" (no leading zeros)',
      )
      .default("dhcp")
      .describe(
        '"dhcp", or a static IPv4 address: with its prefix ("192.168.1.5/24"), or without it inside a zone (the zone gives the prefix).',
      ),
    gateway: z
      .ipv4("expected an IPv4 address")
      .optional()
      .describe("Default gateway with a static address. @default the zone's gateway; none without a zone"),
    dns_servers: z
      .array(z.ipv4("expected an IPv4 address"))
      .optional()
      .describe("DNS servers. @default the zone's DNS servers; the host's without a zone"),
    mac_addr: mac.optional().describe("MAC address of the NIC. @default assigned by Proxmox"),
    firewall: z
      .boolean()
      .optional()
      .describe(
        "Let the Proxmox firewall filter this NIC (false: the guest is not filtered although its zone has a firewall). @default true when the guest or its zone has a firewall, else false",
      ),
    set_by_guest: z
      .boolean()
      .default(false)
      .describe(
        "VMs only: the guest sets its static address itself (an appliance without cloud-init); the address is checked, inventoried and named in DNS, not given to Proxmox.",
      ),
  })
  .describe("The guest's network interface.");

/** PVE numbers a guest's NICs net0-net31 (qemu-server $MAX_NETS; containers the same): net0 is `network`. */
const MAX_EXTRA_NETWORKS = 31;

export const extraNetworkSchema = z
  .strictObject({
    zone: sdnId
      .optional()
      .describe("Network zone (an entry of zones) the NIC joins. @default no zone: the bridge below"),
    bridge: pveBridge.optional().describe("Bridge of the NIC when it is in no zone. @default the top-level bridge"),
    vlan: pveVlanTag
      .optional()
      .describe("VLAN tag on the bridge, when the NIC is in no zone (a zone brings its own). @default untagged"),
    address: z
      .string()
      .refine(
        (v) => v === "dhcp" || isIpv4WithPrefix(v),
        'expected "dhcp", an IPv4 address in a zone, or an address with its prefix like "192.168.1.5/24" (no leading zeros)',
      )
      .default("dhcp")
      .describe(
        '"dhcp", or a static IPv4 address (with its prefix, or without it inside a zone). The default route stays on network: this NIC gets no gateway.',
      ),
    mac_addr: mac.optional().describe("MAC address of the NIC. @default assigned by Proxmox"),
    firewall: z
      .boolean()
      .default(false)
      .describe(
        "Let the Proxmox firewall filter this NIC with the guest's firewall (a firewall block on the guest or its zone).",
      ),
    set_by_guest: z
      .boolean()
      .default(false)
      .describe("VMs only: the guest sets this NIC's static address itself (no cloud-init), as network.set_by_guest."),
  })
  .describe("A further network interface of the guest (net1, net2, ... in this order).");

export const startupSchema = z
  .strictObject({
    order: z.number().int().min(0).describe("Start order on boot (lower first)."),
    up_delay: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .optional()
      .describe("Seconds to wait after starting this guest before the next. @default Proxmox default"),
    down_delay: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .optional()
      .describe("Seconds to wait for this guest to shut down. @default Proxmox default"),
  })
  .describe("Start and shutdown order.");

export const haSchema = z
  .strictObject({
    state: z
      .enum(["started", "stopped", "ignored", "disabled"])
      .default("started")
      .describe("State the HA manager keeps the guest in."),
    hosts: z
      .record(hostName, z.number().int().min(0).max(1000))
      .optional()
      .describe("Preferred hosts with their priority (higher first), as a node-affinity rule. @default any host"),
    strict: z.boolean().default(false).describe("With hosts: never run on a host not listed."),
  })
  .describe("Make the guest a Proxmox HA resource (restarted or moved when its host fails). @default not HA");

export const replicationSchema = z
  .strictObject({
    target: hostName.describe(
      "Host the guest's disks are replicated to (another host of the cluster; needs ZFS storage on both).",
    ),
    schedule: calendarEvent.default("*/15").describe("How often, as a calendar event."),
    rate: z.number().positive().optional().describe("Rate limit in MB/s. @default unlimited"),
  })
  .describe("Storage replication of the guest's disks to another host. @default none");

// ------------------------------------------------------------------------------------------------ firewall

const firewallPolicy = z.enum(FIREWALL_ACTIONS);
const logLevel = z.enum(["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog"]);
/** A port list as PVE writes it ("22", "80,443", "8000:8100"), or one port as a number. */
const portSpec = z.union([z.number().int().min(0).max(65535), z.string().min(1).max(200)], {
  error: 'expected a port (22), a list ("80,443") or a range ("8000:8100")',
});
/** An address, CIDR, range or comma list, or the name of a zone (its cidr); checked against PVE's rules later. */
const addressSpec = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[\w.:/,-]+$/, "expected an IPv4 address, a CIDR, a range a-b, a comma list of them, or a zone's name");

export const firewallRuleSchema = z
  .strictObject({
    direction: z.enum(["in", "out"]).default("in").describe("Traffic to the guest (in) or from it (out)."),
    action: firewallPolicy.describe("What a matching packet gets (REJECT answers, DROP stays silent)."),
    macro: z
      .string()
      .refine((m) => Object.hasOwn(PVE_FIREWALL_MACROS, m), {
        error: (issue) => {
          const input = String(issue.input);
          const same = Object.keys(PVE_FIREWALL_MACROS).find((k) => k.toLowerCase() === input.toLowerCase());
          return same
            ? `PVE spells this macro ${same}`
            : `not a Proxmox firewall macro (${Object.keys(PVE_FIREWALL_MACROS).join(", ")})`;
        },
      })
      .optional()
      .describe("A Proxmox macro (SSH, HTTPS, DNS, ...) standing for its protocols and ports. @default none"),
    source: addressSpec
      .optional()
      .describe(
        "Where the packets come from: an IPv4 address, CIDR, range a-b or comma list, or a zone's name. @default anywhere",
      ),
    dest: addressSpec.optional().describe("Where the packets go, as source. @default anywhere"),
    proto: z
      .string()
      .regex(/^[a-z0-9-]+$/, "expected a protocol name (tcp, udp, icmp, ...) or number")
      .optional()
      .describe("Protocol (tcp, udp, icmp, ... or its number); needed with ports. @default any"),
    dport: portSpec
      .optional()
      .describe("Destination port(s), or with proto icmp an ICMP type (echo-request). @default any"),
    sport: portSpec.optional().describe("Source port(s). @default any"),
    iface: z
      .string()
      .regex(
        /^net([0-9]|[12][0-9]|3[01])$/,
        "expected a NIC of the guest: net0 (network), net1, net2, ... (extra_networks)",
      )
      .optional()
      .describe(
        "Guests only: the one NIC the rule filters, net0 (network) or net1, net2, ... (extra_networks in order), e.g. a router's WAN. @default every NIC with firewall: true",
      ),
    comment: z
      .string()
      .max(200)
      .regex(/^[^\p{Cc}]*$/u, "a comment is one line without control characters")
      .optional()
      .describe("Shown in Proxmox. @default none"),
    log: logLevel.optional().describe("Log matching packets at this level. @default nolog"),
    enabled: z.boolean().default(true).describe("A disabled rule stays in the list and matches nothing."),
  })
  .describe("A firewall rule, as pve-firewall evaluates it: the first matching rule decides.");

export const firewallSchema = z
  .strictObject({
    policy_in: firewallPolicy
      .optional()
      .describe("What inbound traffic no rule accepts gets. @default the zone's; else DROP"),
    policy_out: firewallPolicy
      .optional()
      .describe("What outbound traffic no rule matches gets. @default the zone's; else ACCEPT"),
    rules: z
      .array(firewallRuleSchema)
      .default([])
      .describe("Rules in order; a guest's come before its zone's, so a guest can make an exception to them."),
    dhcp: z
      .boolean()
      .optional()
      .describe(
        "Let DHCP through (requests out, leases in). @default the zone's; else on for a guest with address: dhcp on network or on an extra NIC with firewall: true",
      ),
    macfilter: z
      .boolean()
      .optional()
      .describe("Drop packets the guest sends with a MAC address not its NIC's. @default the zone's; else on"),
    ipfilter: z
      .boolean()
      .optional()
      .describe(
        "Drop packets the guest sends from an address not its own: containers only (PVE allows a container its configured addresses; a VM only its IPv6 link-local one, so a VM is refused). @default the zone's; else off",
      ),
    log_level_in: logLevel.optional().describe("Log level of the inbound policy. @default the zone's; else nolog"),
    log_level_out: logLevel.optional().describe("Log level of the outbound policy. @default the zone's; else nolog"),
  })
  .describe(
    "The Proxmox firewall of a guest (on a guest) or of every guest in the zone (on a zone): policies and rules; its NIC gets firewall: true unless it says false. Needs the datacenter firewall on (bootstrap checks it).",
  );

const guestCommon = {
  name: guestName.describe("Guest name (hostname); also its resource id and its DNS label."),
  id: guestId.describe(
    "Proxmox guest id (VMID); unique across nodes, VMs and containers, and inside the range of its purpose.",
  ),
  purpose: z
    .string()
    .regex(/^[a-z][a-z0-9_-]*$/)
    .default("production")
    .describe("Which id range the id must be in (a key of id_ranges)."),
  host: hostName.optional().describe("Proxmox host that runs the guest. @default cluster.yaml proxmox_node"),
  description: z.string().max(4000).optional().describe("Free text shown in Proxmox. @default none"),
  cores: z.number().int().min(1).max(512).default(1).describe("CPU cores."),
  memory: z
    .number()
    .int()
    .min(16)
    .max(4 * 1024 * 1024)
    .default(512)
    .describe("Memory in MiB."),
  network: guestNetworkSchema.prefault({}),
  extra_networks: z
    .array(extraNetworkSchema)
    .max(MAX_EXTRA_NETWORKS, `Proxmox gives a guest at most ${MAX_EXTRA_NETWORKS + 1} NICs (net0-net31)`)
    .default([])
    .describe(
      "More NICs after network, as net1, net2, ... (a router VM's WAN, a second zone); a container names them eth1, eth2, ...",
    ),
  started: z.boolean().default(true).describe("Keep the guest running."),
  on_boot: z.boolean().default(true).describe("Start the guest when its host boots."),
  startup: startupSchema.optional().describe("Start and shutdown order. @default Proxmox default"),
  tags: pveTags.default([]).describe("Proxmox tags (also usable to select backups)."),
  pool: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    // The pool's resource is keyed by its name in the stack's JSON, where this one key would vanish.
    .refine((name) => name !== "__proto__", 'a pool named "__proto__" is refused: the engine would never see it')
    .optional()
    .describe(
      "Proxmox resource pool the guest belongs to (created if needed; usable to select backups). @default none",
    ),
  ssh_keys: z
    .array(sshKeySchema)
    .default([])
    .describe(
      "Public SSH keys for root (containers) or the cloud-init user (VMs): from files or TF_VAR_ environment variables, never inline.",
    ),
  ha: haSchema.optional(),
  replication: replicationSchema.optional(),
  firewall: firewallSchema
    .optional()
    .describe(
      "The guest's Proxmox firewall: its own policies and rules, before its zone's. @default its zone's firewall; none without one",
    ),
};

// ----------------------------------------------------------------------------------------------- containers

export const containerTemplateSchema = z.union(
  [
    z.strictObject({
      volume: pveVolumeId
        .regex(
          /^[^:]+:vztmpl\/[^/]+$/,
          'expected a template volume id like "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"',
        )
        .describe("Volume id of a template already on the host's storage."),
    }),
    z.strictObject({
      url: downloadUrl.describe("Where to download the template from (a download-file resource per host)."),
      storage: storageId
        .default("local")
        .describe("Storage the template is downloaded to (must allow container templates)."),
      file_name: z
        .string()
        .regex(TEMPLATE_FILE, 'expected a template file name like "debian-12-standard_12.7-1_amd64.tar.zst"')
        .optional()
        .describe("File name on the storage. @default the last part of the URL"),
      checksum: z
        .string()
        .regex(/^[0-9a-f]{32,128}$/)
        .optional()
        .describe("Expected checksum of the download. @default not checked"),
      checksum_algorithm: z
        .enum(["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
        .default("sha256")
        .describe("Algorithm of checksum."),
    }),
  ],
  { error: "expected {volume: storage:vztmpl/file} or {url: https://...}" },
);

export const mountPointSchema = z
  .strictObject({
    path: pveMountPath("inside the container").describe("Path inside the container."),
    storage: storageId
      .optional()
      .describe("Storage a new volume is allocated on (with size). Exactly one of storage and host_path."),
    size: z.number().int().min(1).max(65536).optional().describe("Size in GiB of a new volume (with storage)."),
    host_path: pveMountPath("from the host")
      .optional()
      .describe(
        "Host directory bind-mounted into the container (Proxmox lets only root@pam, logged in with its password, create bind mounts: no API token).",
      ),
    read_only: z.boolean().default(false).describe("Mount read-only."),
    backup: z.boolean().default(false).describe("Include the volume in backups (volumes only)."),
  })
  .describe("An extra volume or host directory in the container.");

export const containerSchema = z
  .strictObject({
    ...guestCommon,
    template: containerTemplateSchema.describe(
      "OS template: a volume id on the host, or a URL downloaded once per host.",
    ),
    os_type: z
      .enum([
        "alpine",
        "archlinux",
        "centos",
        "debian",
        "devuan",
        "fedora",
        "gentoo",
        "nixos",
        "opensuse",
        "ubuntu",
        "unmanaged",
      ])
      .default("unmanaged")
      .describe("Distribution of the template; Proxmox configures network and hostname for the managed ones."),
    swap: z
      .number()
      .int()
      .min(0)
      .max(4 * 1024 * 1024)
      .default(512)
      .describe("Swap in MiB."),
    disk: z
      .strictObject({
        storage: storageId
          .optional()
          .describe("Storage of the root volume. @default cluster.yaml proxmox_disk_storage"),
        size: z.number().int().min(1).max(65536).default(8).describe("Root volume size in GiB."),
      })
      .prefault({})
      .describe("Root file system."),
    mount_points: z.array(mountPointSchema).default([]).describe("Extra volumes and bind mounts."),
    devices: z
      .array(
        z.strictObject({
          path: pveDevicePath.describe('Host device node passed into the container, like "/dev/net/tun".'),
          uid: z.number().int().min(0).optional().describe("Owner of the device node in the container. @default 0"),
          gid: z.number().int().min(0).optional().describe("Group of the device node in the container. @default 0"),
          mode: z
            .string()
            .regex(/^0[0-7]{3}$/, 'expected an octal access mode like "0660"')
            .default("0660")
            .describe("Access mode of the device node in the container."),
          read_only: z.boolean().default(false).describe("Deny the container writing to the device (deny-write)."),
        }),
      )
      .max(128, "the provider passes at most 128 devices into a container")
      .default([])
      .describe(
        "Host devices passed into the container (PVE's dev0, dev1, ...; e.g. /dev/net/tun for a VPN). Proxmox lets only root@pam itself, logged in with its password, configure device passthrough: no API token.",
      ),
    privileged: z
      .strictObject({
        reason: z
          .string()
          .min(10, "say why in a sentence: the reason goes into the container's description")
          .describe("Why this container cannot run unprivileged; written into its description."),
      })
      .optional()
      .describe("Run the container privileged (root in the container is root on the host). @default unprivileged"),
    features: z
      .strictObject({
        nesting: z.boolean().default(false).describe("Allow nested containers (Docker, systemd features)."),
        keyctl: z
          .boolean()
          .default(false)
          .describe("Allow the keyctl() system call (Docker in unprivileged containers); unprivileged only."),
        fuse: z.boolean().default(false).describe("Allow FUSE mounts."),
      })
      .prefault({})
      .describe(
        "LXC features. Proxmox lets only root@pam itself set any but nesting (and any feature of a privileged container): keyctl and fuse need PROXMOX_VE_USERNAME=root@pam with its password, as no API token is root@pam.",
      ),
  })
  .describe("An LXC container.");

// ---------------------------------------------------------------------------------------------------- VMs

export const vmSchema = z
  .strictObject({
    ...guestCommon,
    clone: z
      .strictObject({
        template: guestId.describe("VMID of the golden template to clone (in the template id range)."),
        host: hostName.optional().describe("Host holding the template. @default the VM's host"),
        full: z
          .boolean()
          .default(true)
          .describe("Full clone (false: a linked clone, which needs the template's storage to support it)."),
      })
      .describe("The template the VM is cloned from."),
    sockets: z.number().int().min(1).max(8).default(1).describe("CPU sockets."),
    cpu_type: pveCpuType.default("host").describe("QEMU CPU type."),
    disk: z
      .strictObject({
        storage: storageId
          .optional()
          .describe("Storage of the cloned system disk. @default cluster.yaml proxmox_disk_storage"),
        size: z
          .number()
          .int()
          .min(1)
          .max(65536)
          .optional()
          .describe("Grow the template's disk to this size in GiB (never shrinks). @default the template's size"),
        interface: pveDiskInterface.default("scsi0").describe("Disk slot of the template's system disk."),
      })
      .prefault({})
      .describe("System disk."),
    cloud_init: z
      .strictObject({
        user: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*$/)
          .optional()
          .describe("User created by cloud-init (with ssh_keys). @default the template's"),
        storage: storageId.optional().describe("Storage of the cloud-init drive. @default the disk's storage"),
      })
      .optional()
      .describe(
        "Configure the clone with cloud-init (network, user, SSH keys). @default the template's own configuration",
      ),
    pci: z
      .array(
        z.strictObject({
          mapping: pveConfigId.describe("Name of a PCI mapping (pci_mappings) with an entry for the VM's host."),
          pcie: z.boolean().default(true).describe("Attach as PCI Express (needs the q35 machine type)."),
          primary_gpu: z.boolean().default(false).describe("Use as the VM's primary GPU (x-vga)."),
          rombar: z.boolean().default(true).describe("Expose the device's ROM."),
        }),
      )
      .default([])
      .describe("PCI devices passed through, by hardware mapping."),
    machine: pveMachineType.default("q35").describe("QEMU machine type."),
    bios: z
      .enum(["ovmf", "seabios"])
      .optional()
      .describe(
        "Firmware: ovmf switches a SeaBIOS template's clone to UEFI; seabios is refused (the provider never sends it for a clone). @default the template's",
      ),
    qemu_agent: z.boolean().default(true).describe("Enable the QEMU guest agent (the template must run it)."),
  })
  .describe("A VM cloned from a golden template.");

// ---------------------------------------------------------------------------------------------- the rest

export const zoneSchema = z
  .strictObject({
    name: sdnId.describe(
      "Zone name: the SDN VNet id guests of a tagged zone attach to, and the middle of their DNS names (<guest>.<zone>.<domain>).",
    ),
    vlan: pveZoneVlan
      .default(0)
      .describe(
        "VLAN tag of the zone; 0 for the untagged network of the bridge (the management network), whose guests attach to the bridge itself with no tag and no SDN VNet.",
      ),
    cidr: z
      .cidrv4("expected an IPv4 network in CIDR notation")
      .describe("Subnet of the zone; static addresses of its guests must be inside it."),
    gateway: z
      .ipv4("expected an IPv4 address")
      .optional()
      .describe("Gateway of the subnet. @default the first address in cidr"),
    dns_servers: z
      .array(z.ipv4("expected an IPv4 address"))
      .optional()
      .describe("DNS servers given to the zone's guests. @default the gateway"),
    description: pveVnetAlias.max(200).optional().describe("Alias of the VNet in Proxmox. @default none"),
    firewall: firewallSchema
      .optional()
      .describe(
        "The Proxmox firewall of every guest in the zone (a guest adds its own rules before these). @default none",
      ),
  })
  .describe(
    "A network zone: a VLAN as an SDN VNet with its subnet, or (vlan 0) the bridge's untagged network with its subnet.",
  );

export const idRangeSchema = z
  .strictObject({
    from: guestId.describe("First id of the range."),
    to: guestId.optional().describe("Last id of the range. @default unbounded"),
  })
  .describe("A range of guest ids.");

const ID_RANGE_DEFAULTS = {
  production: { from: 100, to: 199 },
  development: { from: 200, to: 8999 },
  template: { from: 9000 },
} as const;

export const pbsStorageSchema = z
  .strictObject({
    name: storageId.describe("Storage id in Proxmox (a backup job's storage)."),
    server: pveServer.describe("Address or DNS name of the Proxmox Backup Server."),
    datastore: z
      .string()
      .regex(
        new RegExp(`^(?=.{3,32}$)${PBS_SAFE_ID}$`),
        "expected a PBS datastore name (3 to 32 letters, digits, '_', '.', '-', not starting with '.' or '-')",
      )
      .describe("Datastore on the server."),
    username: z
      .string()
      .regex(/^[A-Za-z0-9._+-]+@[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'expected a PBS user like "backup@pbs"')
      .describe("PBS user (user@realm)."),
    password_env: tfVarEnv.describe(
      "Environment variable holding the PBS password (never in the file); OpenTofu reads it as a sensitive variable.",
    ),
    fingerprint: z
      .string()
      .regex(
        /^([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}$/,
        "expected the SHA-256 fingerprint of the server's certificate (32 hex pairs separated by colons)",
      )
      .optional()
      .describe(
        "Fingerprint of the server's certificate (needed for a self-signed one). @default the system's trust store",
      ),
    namespace: z
      .string()
      .max(256)
      .regex(
        new RegExp(`^${PBS_SAFE_ID}(/${PBS_SAFE_ID}){0,6}$`),
        'expected a PBS namespace like "homelab" or "homelab/pve" (at most 7 levels of letters, digits, _ . -)',
      )
      .optional()
      .describe("Namespace on the datastore. @default the root namespace"),
  })
  .describe("A Proxmox Backup Server datastore added as storage.");

export const backupJobSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,49}$/, "expected a job id: lower-case letter, then letters, digits, '-'")
      .describe("Job id."),
    schedule: calendarEvent.describe('When it runs, as a calendar event ("02:30", "sun 01:00").'),
    storage: storageId.describe("Target storage (a pbs_storages name for Proxmox Backup Server)."),
    mode: z.enum(["snapshot", "suspend", "stop"]).default("snapshot").describe("vzdump mode."),
    compress: z
      .enum(["zstd", "lzo", "gzip", "0"])
      .default("zstd")
      .describe("Compression (ignored by PBS, which always compresses)."),
    keep: z
      .strictObject({
        last: z.number().int().min(1).optional().describe("Keep the last n backups."),
        daily: z.number().int().min(1).optional().describe("Keep one a day for n days."),
        weekly: z.number().int().min(1).optional().describe("Keep one a week for n weeks."),
        monthly: z.number().int().min(1).optional().describe("Keep one a month for n months."),
        yearly: z.number().int().min(1).optional().describe("Keep one a year for n years."),
      })
      .refine(
        (k) => Object.values(k).some((v) => v !== undefined),
        "give at least one of last, daily, weekly, monthly, yearly",
      )
      .describe("Retention (prune) policy."),
    select: z
      .union(
        [
          z.strictObject({ all: z.literal(true).describe("Every guest.") }),
          z.strictObject({ ids: z.array(guestId).min(1).describe("These guest ids.") }),
          z.strictObject({
            pool: z
              .string()
              .regex(/^[A-Za-z0-9_-]+$/)
              .describe("Every guest of this pool."),
          }),
          z.strictObject({
            tags: z
              .array(pveTag)
              .min(1)
              .describe("Every guest in this file with one of these tags (resolved to ids at synth time)."),
          }),
        ],
        { error: "expected exactly one of {all: true}, {ids: [...]}, {pool: name}, {tags: [...]}" },
      )
      .describe("Which guests: all, ids, a pool or tags."),
    host: hostName.optional().describe("Run only on this host. @default every host"),
    enabled: z.boolean().default(true).describe("Whether the job runs."),
  })
  .describe("A vzdump backup job.");

export const pciMappingSchema = z
  .strictObject({
    name: pveConfigId.describe("Mapping name, referenced by a VM's pci.mapping."),
    description: z.string().max(200).optional().describe("Comment in Proxmox. @default none"),
    devices: z
      .array(
        z.strictObject({
          host: hostName.describe("Host of the device."),
          path: z
            .string()
            .regex(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/, 'expected a PCI address like "0000:01:00.0"')
            .describe("PCI address on the host."),
          id: z
            .string()
            .regex(/^[0-9a-f]{4}:[0-9a-f]{4}$/i, 'expected vendor:device like "10de:2204"')
            .describe("Vendor and device id."),
          subsystem_id: z
            .string()
            .regex(/^[0-9a-f]{4}:[0-9a-f]{4}$/i, 'expected subsystem vendor:device like "1458:403b"')
            .optional()
            .describe("Subsystem vendor and device id. @default not checked"),
          iommu_group: z.number().int().min(0).optional().describe("IOMMU group. @default not checked"),
        }),
      )
      .min(1)
      .describe("The device on each host."),
  })
  .describe("A PCI hardware mapping: a name for a device, per host.");

export const workloadsFileSchema = z
  .strictObject({
    hosts: z
      .array(hostName)
      .optional()
      .describe(
        "Every Proxmox host of the cluster (HA, replication and placement are checked against it). @default the hosts cluster.yaml and nodes.yaml use",
      ),
    domain: z
      .string()
      .regex(
        /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
        'expected a DNS domain like "internal"',
      )
      .default("internal")
      .describe("DNS domain of the guests: <guest>.<zone>.<domain>."),
    id_ranges: z
      .record(z.string().regex(/^[a-z][a-z0-9_-]*$/), idRangeSchema)
      .default(ID_RANGE_DEFAULTS)
      .describe(
        "Guest id ranges by purpose; a guest's id must be in the range of its purpose, a clone's template in the range named template.",
      ),
    sdn_zone: sdnId.default("homelab").describe("Id of the SDN VLAN zone holding the zones' VNets."),
    bridge: pveBridge.default("vmbr0").describe("Bridge of the SDN VLAN zone, and of guests in no zone."),
    zones: z.array(zoneSchema).default([]).describe("Network zones (VLANs)."),
    pci_mappings: z.array(pciMappingSchema).default([]).describe("PCI hardware mappings VMs can use."),
    pbs_storages: z
      .array(pbsStorageSchema)
      .default([])
      .describe("Proxmox Backup Server datastores, as backup targets."),
    backups: z.array(backupJobSchema).default([]).describe("Backup jobs."),
    containers: z.array(containerSchema).default([]).describe("LXC containers."),
    vms: z.array(vmSchema).default([]).describe("VMs cloned from templates."),
  })
  .describe("workloads.yaml: the guests beside the Talos cluster, their network zones and backups.");

export type WorkloadsConfig = z.output<typeof workloadsFileSchema>;
export type ContainerConfig = z.output<typeof containerSchema>;
export type VmConfig = z.output<typeof vmSchema>;
export type ZoneConfig = z.output<typeof zoneSchema>;
export type FirewallConfig = z.output<typeof firewallSchema>;
export type FirewallRuleConfig = z.output<typeof firewallRuleSchema>;
export type GuestNetworkConfig = z.output<typeof guestNetworkSchema>;
export type ExtraNetworkConfig = z.output<typeof extraNetworkSchema>;
