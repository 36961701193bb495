/**
 * The named formats of the PVE API schema ("format": "pve-volume-id"). The schema names them but does not
 * define them: each check here is transcribed from the Perl module that registers the format (named in the
 * comment: PVE::JSONSchema in pve-common, PVE::QemuServer and friends in qemu-server, PVE::Storage in
 * pve-storage). Property-string formats (`pve-qm-ipconfig`, `pve-qm-hostpci`, ...) are given as key specs
 * like the schema's own inline ones. A format not listed here is not modelled: the request is answered 501.
 */
import type { ParamSpec } from "./schema";

/** Checks one value; returns an error message (PVE's wording where it has one) or undefined. */
type Check = (value: string) => string | undefined;

const test =
  (re: RegExp, message: string): Check =>
  (value) =>
    re.test(value) ? undefined : message;

const orEmpty =
  (check: Check): Check =>
  (value) =>
    value === "" ? undefined : check(value);

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^(?=.*:)[0-9a-f:.]+$/i; // coarse, as no stack of ours emits IPv6
const isIp = (v: string) => IPV4.test(v) || IPV6.test(v);
const cidr = (ip: (v: string) => boolean, max: number) => (v: string) => {
  const [addr, prefix, ...rest] = v.split("/");
  return rest.length === 0 && prefix !== undefined && /^\d+$/.test(prefix) && Number(prefix) <= max && ip(addr);
};
const isCidr4 = cidr((v) => IPV4.test(v), 32);
const isCidr6 = cidr((v) => IPV6.test(v), 128);
const DNS_NAME = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)$/;
const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const CONFIG_ID = /^[a-z][a-z0-9_-]+$/i; // $CONFIGID_RE
const VOLUME_ID = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i;
const list =
  (item: Check, separators = /[,; ]+/): Check =>
  (value) => {
    for (const part of value.split(separators).filter(Boolean)) {
      const problem = item(part);
      if (problem) return problem;
    }
    return undefined;
  };

const SDN_ID = /^[a-zA-Z][a-zA-Z0-9]*[a-zA-Z0-9]$/;
const sdnId: Check = (v) =>
  SDN_ID.test(v) && v.length <= 8 ? undefined : "value does not match the regex pattern (2-8 letters and digits)";
const WEEKDAY = "(?:mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?";
const WEEKDAYS = new RegExp(`^${WEEKDAY}(?:\\.\\.${WEEKDAY})?(?:,${WEEKDAY}(?:\\.\\.${WEEKDAY})?)*$`, "i");
const CALENDAR_WORDS =
  /^(?:minutely|hourly|daily|weekly|monthly|yearly|annually|quarterly|semiannually|semi-annually)$/i;
/** One calendar-event component: `*`, a number or range `a..b`, with an optional `/step`, as a list. */
const calendarComponent = (max: number) => (part: string) =>
  part.split(",").every((item) => {
    const m = /^(\*|\d+(?:\.\.\d+)?)(?:\/(\d+))?$/.exec(item);
    return m !== null && (m[1] === "*" || m[1].split("..").every((n) => Number(n) <= max));
  });

/**
 * proxmox-time CalendarEvent (the `pve-calendar-event` format, parsed by Proxmox::RS::CalendarEvent): a
 * special word, or `[WEEKDAY] [[YEAR-]MONTH-DAY] [HOUR:]MINUTE[:SECOND]` with `*`, ranges `a..b`, steps
 * `/n` and lists; a lone time component is the minute (`*\/15` every quarter hour).
 */
export function calendarEvent(value: string): string | undefined {
  const bad = `unable to parse calendar event '${value}'`;
  const tokens = value.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return bad;
  if (tokens.length === 1 && CALENDAR_WORDS.test(tokens[0])) return undefined;
  if (WEEKDAYS.test(tokens[0])) tokens.shift();
  if (tokens[0]?.includes("-")) {
    const date = tokens.shift()!.split("-");
    if (date.length > 3 || !date.every(calendarComponent(9999))) return bad;
  }
  if (tokens.length > 1) return bad;
  if (tokens.length === 1) {
    const time = tokens[0].split(":");
    const maxima = time.length === 1 ? [59] : [23, 59, 59];
    if (time.length > 3 || !time.every((t, i) => calendarComponent(maxima[i])(t))) return bad;
  }
  return undefined;
}

/** Named formats that are plain values. */
export const NAMED_FORMATS: Readonly<Record<string, Check>> = {
  // pve-common PVE::JSONSchema
  "pve-node": test(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, "value does not look like a valid node name"),
  "pve-vmid": test(/^[1-9][0-9]{2,8}$/, "value does not look like a valid VM ID"),
  "pve-vmid-list": list(test(/^[1-9][0-9]{2,8}$/, "value does not look like a valid VM ID")),
  "pve-node-list": list(test(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, "value does not look like a valid node name")),
  "pve-storage-id-list": list(test(STORAGE_ID, "storage ID contains illegal characters")),
  "pve-configid": test(CONFIG_ID, "invalid configuration ID"),
  "pve-configid-list": list(test(CONFIG_ID, "invalid configuration ID")),
  "pve-storage-id": test(STORAGE_ID, "storage ID contains illegal characters"),
  "pve-bridge-id": test(/^[-_.\w\d]+$/, "invalid bridge ID"),
  "pve-iface": test(/^[a-zA-Z][a-zA-Z0-9_]{1,20}([:.]\d+)?$/, "invalid network interface name"),
  "mac-addr": test(/^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i, "value does not look like a valid unicast MAC address"),
  ipv4: test(IPV4, "value does not look like a valid IPv4 address"),
  ipv6: test(IPV6, "value does not look like a valid IPv6 address"),
  ip: (v) => (isIp(v) ? undefined : "value does not look like a valid IP address"),
  CIDR: (v) => (isCidr4(v) || isCidr6(v) ? undefined : "value does not look like a valid CIDR network"),
  CIDRv4: (v) => (isCidr4(v) ? undefined : "value does not look like a valid IPv4 CIDR network"),
  CIDRv6: (v) => (isCidr6(v) ? undefined : "value does not look like a valid IPv6 CIDR network"),
  "pve-ipv4-config": (v) =>
    v === "dhcp" || v === "manual" || isCidr4(v)
      ? undefined
      : "value does not look like a valid IPv4 network configuration",
  "pve-ipv6-config": (v) =>
    ["dhcp", "auto", "manual"].includes(v) || isCidr6(v)
      ? undefined
      : "value does not look like a valid IPv6 network configuration",
  "dns-name": test(DNS_NAME, "value does not look like a valid DNS name"),
  "dns-name-list": list(test(DNS_NAME, "value does not look like a valid DNS name")),
  address: (v) => (isIp(v) || DNS_NAME.test(v) ? undefined : "value does not look like a valid address"),
  "address-list": list((v) => (isIp(v) || DNS_NAME.test(v) ? undefined : "value does not look like a valid address")),
  "disk-size": test(/^\d+(\.\d+)?[KMGT]?$/, "unable to parse size"),
  urlencoded: (v) => {
    try {
      decodeURIComponent(v);
      return undefined;
    } catch {
      return "value is not url-encoded";
    }
  },
  "pve-startup-order": (v) => startupOrder(v),
  "pve-tag-list": list(test(/^[a-z0-9_][a-z0-9_\-+.]*$/i, "invalid tag"), /[;, ]+/),
  "pve-cpuset": test(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, "invalid cpuset"),
  // pve-common PVE::JSONSchema (access control formats registered there)
  "pve-userid": test(/^[^\s:/@]+@[A-Za-z][A-Za-z0-9.\-_]+$/, "value does not look like a valid user name"),
  "pve-userid-list": list(test(/^[^\s:/@]+@[A-Za-z][A-Za-z0-9.\-_]+$/, "value does not look like a valid user name")),
  "pve-tokenid-list": list(
    test(/^[^\s:/@]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/, "value does not look like a valid token ID"),
  ),
  "email-opt": test(/^(|[\w+\-~.]+@[A-Za-z0-9.-]+)$/, "value does not look like a valid email address"),
  "pve-realm": test(/^[A-Za-z][A-Za-z0-9.\-_]+$/, "value does not look like a valid realm"),
  "pve-groupid": test(/^[A-Za-z0-9.\-_]+$/, "invalid group ID"),
  "pve-groupid-list": list(test(/^[A-Za-z0-9.\-_]+$/, "invalid group ID")),
  "pve-roleid": test(/^[A-Za-z0-9.\-_]+$/, "invalid role ID"),
  "pve-roleid-list": list(test(/^[A-Za-z0-9.\-_]+$/, "invalid role ID")),
  "pve-priv-list": list(test(/^[A-Z][A-Za-z]*(\.[A-Za-z]+)*$/, "invalid privilege name")),
  "pve-poolid": test(/^[A-Za-z0-9_][A-Za-z0-9._\-/]*$/, "invalid pool ID"),
  // pve-storage PVE::Storage
  "pve-volume-id": (v) => (VOLUME_ID.test(v) ? undefined : `unable to parse volume ID '${v}'`),
  "pve-volume-id-or-absolute-path": (v) =>
    v.startsWith("/") || VOLUME_ID.test(v) ? undefined : `unable to parse volume ID '${v}'`,
  "pve-storage-content": test(/^(images|rootdir|vztmpl|iso|backup|snippets|import)$/, "invalid content type"),
  "pve-storage-content-list": list(
    test(/^(images|rootdir|vztmpl|iso|backup|snippets|import|none)$/, "invalid content type"),
  ),
  // qemu-server PVE::QemuServer::Drive: a volume, a path, or the special values of a CD-ROM
  "pve-volume-id-or-qm-path": (v) =>
    v === "none" || v === "cdrom" || v.startsWith("/") || VOLUME_ID.test(v)
      ? undefined
      : `unable to parse volume ID '${v}'`,
  // qemu-server PVE::QemuServer
  "pve-hotplug-features": test(
    /^(0|1|((network|disk|cpu|memory|usb|cloudinit)(,(network|disk|cpu|memory|usb|cloudinit))*))$/,
    "invalid hotplug feature",
  ),
  "pve-qm-bootdisk": test(/^(ide|sata|scsi|virtio|efidisk|tpmstate)\d+$/, "invalid drive name"),
  "pve-qm-cicustom": (v) => propertyKeys(v, ["meta", "network", "user", "vendor"]),
  // pve-container PVE::LXC::Config: no `/./`, `/../` or a trailing `/.`/`/..`, no leading `../`
  "pve-lxc-mp-string": (v) =>
    /\/\.\.?\//.test(v) || /\/\.\.?$/.test(v) || v.startsWith("../")
      ? `${v} contains illegal character sequences`
      : undefined,
  "pve-lxc-dev-string": (v) =>
    v.startsWith("/dev/") && !/\/\.\.?(\/|$)/.test(v) ? undefined : `${v} is not a valid device path`,
  "pve-ct-timezone": test(/^(host|[A-Za-z][A-Za-z0-9_+\-/]*)$/, "invalid time zone"),
  "lxc-ip-with-ll-iface-list": list((v) => {
    const [ip, iface] = v.split("%");
    return isIp(ip) && (iface === undefined || /^fe80:/i.test(ip))
      ? undefined
      : "value does not look like a valid IP address";
  }),
  // pve-ha-manager PVE::HA::Config
  "pve-ha-resource-or-vm-id": test(/^((vm|ct):)?\d+$/, "invalid HA resource ID"),
  "pve-ha-resource-id-list": list(test(/^((vm|ct):)?\d+$/, "invalid HA resource ID")),
  "pve-ha-node-list": list(test(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(:\d+)?$/, "invalid node list")),
  // pve-firewall PVE::Firewall
  // An empty address, port list, protocol or ICMP type is none (parse_address_list, parse_port_name_number_or_range
  // and the protocol checks accept it, copy_rule_data deletes the key): bpg sends every unset rule field empty.
  "pve-fw-addr-spec": orEmpty(test(/^[!]?[\w.:/\-,+]+$/, "invalid address specification")),
  "pve-fw-dport-spec": orEmpty(test(/^[\w:,-]+$/, "invalid port specification")),
  "pve-fw-sport-spec": orEmpty(test(/^[\w:,-]+$/, "invalid port specification")),
  "pve-fw-protocol-spec": orEmpty(test(/^[\w-]+$/, "invalid protocol")),
  "pve-fw-icmp-type-spec": orEmpty(test(/^[\w-]+$/, "invalid icmp type")),
  IPorCIDRorAlias: test(/^[\w.:/\-+]+$/, "invalid address"),
  IPorCIDR: (v) =>
    isIp(v) || isCidr4(v) || isCidr6(v) ? undefined : "value does not look like a valid IP address or CIDR network",
  "email-or-username-list": list(
    test(
      /^(?:[\w+\-~.]+@[A-Za-z0-9.-]+|[^\s:/@]+@[A-Za-z][A-Za-z0-9.\-_]+|[^\s:/@,;]+)$/,
      "invalid email or user name",
    ),
  ),
  // proxmox-time (via pve-rs), used by vzdump jobs and replication
  "pve-calendar-event": calendarEvent,
  // pve-manager PVE::API2::Backup verify_day_of_week
  "pve-day-of-week-list": list(test(/^(mon|tue|wed|thu|fri|sat|sun)$/, "invalid day")),
  // pve-guest-common PVE::ReplicationConfig parse_replication_job_id
  "pve-replication-job-id": (v) => {
    const m = /^(\d+)-(\d+)$/.exec(v);
    if (!m) return `invalid replication job id '${v}'`;
    return Number(m[1]) < 100 ? `invalid replication job id '${v}' (guest IDs < 100 are reserved)` : undefined;
  },
  // pve-network: the zone and VNet id options (2-8 characters, a letter first), SubnetPlugin parse_sdn_subnet_id
  "pve-sdn-zone-id": sdnId,
  "pve-sdn-vnet-id": sdnId,
  "pve-sdn-subnet-id": (v) => {
    const cidrOf = v.includes("/") ? v : v.split("-").slice(1, 3).join("/");
    return isCidr4(cidrOf) || isCidr6(cidrOf) ? undefined : "value does not look like a valid CIDR network";
  },
  // pve-storage PVE::Storage::Plugin verify_server
  "pve-storage-server": (v) =>
    isIp(v) || DNS_NAME.test(v) ? undefined : "value does not look like a valid server name or IP address",
};

function startupOrder(value: string): string | undefined {
  for (const part of value.split(",")) {
    const m = /^(?:(order|up|down)=)?(\d+)$/.exec(part);
    if (!m) return `invalid startup order '${part}'`;
  }
  return undefined;
}

function propertyKeys(value: string, keys: readonly string[]): string | undefined {
  for (const part of value.split(",")) {
    const key = part.split("=")[0];
    if (!keys.includes(key)) return `invalid key '${key}'`;
  }
  return undefined;
}

const optional = 1 as const;
const bool: ParamSpec = { type: "boolean", optional };

const keep: ParamSpec = { type: "integer", minimum: 0, optional };

/** Named formats that are property strings, with their keys as the schema writes inline ones. */
export const PROPERTY_FORMATS: Readonly<Record<string, Readonly<Record<string, ParamSpec>>>> = {
  // pve-storage PVE::Storage::Plugin $prune_backups_format (keep-all with others: checked where it is used)
  "prune-backups": {
    "keep-all": bool,
    "keep-last": keep,
    "keep-hourly": keep,
    "keep-daily": keep,
    "keep-weekly": keep,
    "keep-monthly": keep,
    "keep-yearly": keep,
  },
  // pve-guest-common PVE::VZDump::Common
  "backup-fleecing": {
    enabled: { type: "boolean", default_key: 1, optional },
    storage: { type: "string", format: "pve-storage-id", optional },
  },
  "backup-performance": {
    "max-workers": { type: "integer", minimum: 1, maximum: 256, optional },
    "pbs-entries-max": { type: "integer", minimum: 1, optional },
  },
  // pve-network SubnetPlugin $dhcp_range_fmt
  "pve-sdn-dhcp-range": {
    "start-address": { type: "string", format: "ip" },
    "end-address": { type: "string", format: "ip" },
  },
  // qemu-server PVE::QemuServer $ipconfig_fmt (ipconfig[n])
  "pve-qm-ipconfig": {
    ip: { type: "string", format: "pve-ipv4-config", optional },
    gw: { type: "string", format: "ipv4", optional },
    ip6: { type: "string", format: "pve-ipv6-config", optional },
    gw6: { type: "string", format: "ipv6", optional },
  },
  // qemu-server PVE::QemuServer $boot_fmt (boot): `order=<dev>;<dev>` or the legacy `[acdn]{1,4}`
  "pve-qm-boot": {
    legacy: { type: "string", pattern: "[acdn]{1,4}", default_key: 1, optional },
    order: { type: "string", pattern: "(?:[a-z]+\\d+)(?:;[a-z]+\\d+)*", optional },
  },
  // qemu-server PVE::QemuServer::PCI $hostpci_fmt (hostpci[n]); host or mapping, checked in qemu.ts
  "pve-qm-hostpci": {
    host: {
      type: "string",
      pattern:
        "(?:(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?)(?:;(?:(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?))*",
      default_key: 1,
      optional,
    },
    mapping: { type: "string", format: "pve-configid", optional },
    pcie: bool,
    rombar: bool,
    romfile: { type: "string", optional },
    "x-vga": bool,
    "legacy-igd": bool,
    mdev: { type: "string", optional },
    "vendor-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
    "device-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
    "sub-vendor-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
    "sub-device-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
  },
  // qemu-server PVE::QemuServer::CPUConfig $cpu_fmt (cpu)
  "pve-vm-cpu-conf": {
    cputype: { type: "string", pattern: "(?:custom-)?[a-zA-Z0-9._-]+", default_key: 1, optional },
    "reported-model": { type: "string", optional },
    hidden: bool,
    "hv-vendor-id": { type: "string", pattern: "[a-zA-Z0-9]{1,12}", optional },
    flags: { type: "string", pattern: "[+-][a-zA-Z0-9\\-_.]+(?:;[+-][a-zA-Z0-9\\-_.]+)*", optional },
    "phys-bits": { type: "string", pattern: "(?:[1-9]\\d*|host)", optional },
    "guest-phys-bits": { type: "integer", minimum: 32, maximum: 64, optional },
  },
  // qemu-server PVE::QemuServer $rng_fmt (rng0)
  "pve-qm-rng": {
    source: { type: "string", enum: ["/dev/urandom", "/dev/random", "/dev/hwrng"], default_key: 1 },
    max_bytes: { type: "integer", optional },
    period: { type: "integer", optional },
  },
  // qemu-server PVE::QemuServer $watchdog_fmt (watchdog)
  "pve-qm-watchdog": {
    model: { type: "string", enum: ["i6300esb", "ib700"], default_key: 1, optional },
    action: { type: "string", enum: ["reset", "shutdown", "poweroff", "pause", "debug", "none"], optional },
  },
  // qemu-server PVE::QemuServer $smbios1_fmt (smbios1)
  "pve-qm-smbios1": {
    uuid: { type: "string", pattern: "[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}", optional },
    version: { type: "string", optional },
    serial: { type: "string", optional },
    manufacturer: { type: "string", optional },
    product: { type: "string", optional },
    sku: { type: "string", optional },
    family: { type: "string", optional },
    base64: bool,
  },
};

/** The device slots of a VM config and how many of each PVE allows (qemu-server's MAX_* constants). */
export const SLOT_COUNTS: Readonly<Record<string, number>> = {
  ide: 4, // PVE::QemuServer::Drive $MAX_IDE_DISKS
  sata: 6,
  scsi: 31,
  virtio: 16,
  net: 32, // PVE::QemuServer $MAX_NETS
  ipconfig: 32,
  hostpci: 16,
  usb: 14,
  serial: 4,
  parallel: 3,
  unused: 256,
  numa: 8,
  virtiofs: 10,
  mp: 256, // LXC
};
