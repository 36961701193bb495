// Proxmox VE's own value formats, in one place: the config checks (schema.ts, workloads.ts) refuse what PVE would
// refuse, and the Proxmox simulator (judges/pve-sim) judges API requests with this very module, so a value the
// config lets through is one the simulator accepts.
//
// The PVE 9.1 API schema names a format ("format": "pve-storage-id") without defining it: each check here follows
// the Perl (or Rust) code that registers the format, named beside it (PVE::JSONSchema in pve-common, qemu-server,
// pve-container, pve-storage, pve-network, proxmox-time). The patterns the schema does publish are copied into
// PVE_SCHEMA below (a test compares them with judges/pve-sim/pve-api/pve-api-schema.json).

/** Checks one value; returns an error message (PVE's wording where it has one) or undefined. */
export type FormatCheck = (value: string) => string | undefined;

const test =
  (re: RegExp, message: string): FormatCheck =>
  (value) =>
    re.test(value) ? undefined : message;

const orEmpty =
  (check: FormatCheck): FormatCheck =>
  (value) =>
    value === "" ? undefined : check(value);

/**
 * The formats that are one regular expression, for the config's fields too (a JSON Schema keeps the pattern,
 * not the case-insensitive flag: PVE's `/i` patterns are spelled out).
 * pve-node: PVE::JSONSchema pve_verify_node_name; pve-storage-id: parse_storage_id; pve-configid: $CONFIGID_RE;
 * pve-tag: $PVE_TAG_RE, without case; SDN zone and VNet ids: pve-network parse_sdn_zone_id/parse_sdn_vnet_id (at
 * most 8 characters besides the pattern); ipv4: $IPV4RE (no leading zeros).
 */
export const PVE_PATTERNS = {
  node: /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/,
  storageId: /^[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]$/,
  configId: /^[a-zA-Z][a-zA-Z0-9_-]+$/,
  tag: /^[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*$/,
  sdnId: /^[a-zA-Z][a-zA-Z0-9]*[a-zA-Z0-9]$/,
  ipv4: /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/,
} as const;

/** SDN zone and VNet ids have at most 8 characters. */
export const SDN_ID_MAX_LENGTH = 8;

const IPV4 = PVE_PATTERNS.ipv4;
const IPV6 = /^(?=.*:)[0-9a-f:.]+$/i; // coarse, as no stack of ours emits IPv6
const isIp = (v: string) => IPV4.test(v) || IPV6.test(v);
const cidr = (ip: (v: string) => boolean, max: number) => (v: string) => {
  const [addr, prefix, ...rest] = v.split("/");
  return rest.length === 0 && prefix !== undefined && /^\d+$/.test(prefix) && Number(prefix) <= max && ip(addr);
};
const isCidr4 = cidr((v) => IPV4.test(v), 32);
const isCidr6 = cidr((v) => IPV6.test(v), 128);
const DNS_NAME = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)$/;
const NODE = PVE_PATTERNS.node;
const STORAGE_ID = PVE_PATTERNS.storageId;
const CONFIG_ID = PVE_PATTERNS.configId;
const TAG = PVE_PATTERNS.tag;
const VOLUME_ID = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i;
const list =
  (item: FormatCheck, separators = /[,; ]+/): FormatCheck =>
  (value) => {
    for (const part of value.split(separators).filter(Boolean)) {
      const problem = item(part);
      if (problem) return problem;
    }
    return undefined;
  };

const sdnId: FormatCheck = (v) =>
  PVE_PATTERNS.sdnId.test(v) && v.length <= SDN_ID_MAX_LENGTH
    ? undefined
    : "value does not match the regex pattern (2-8 letters and digits)";

/** Named formats that are plain values. */
export const PVE_FORMATS: Readonly<Record<string, FormatCheck>> = {
  // pve-common PVE::JSONSchema
  "pve-node": test(NODE, "value does not look like a valid node name"),
  "pve-vmid": test(/^[1-9][0-9]{2,8}$/, "value does not look like a valid VM ID"),
  "pve-vmid-list": list(test(/^[1-9][0-9]{2,8}$/, "value does not look like a valid VM ID")),
  "pve-node-list": list(test(NODE, "value does not look like a valid node name")),
  "pve-storage-id-list": list(test(STORAGE_ID, "storage ID contains illegal characters")),
  "pve-configid": test(CONFIG_ID, "invalid configuration ID"),
  "pve-configid-list": list(test(CONFIG_ID, "invalid configuration ID")),
  "pve-storage-id": test(STORAGE_ID, "storage ID contains illegal characters"),
  // PVE::JSONSchema verify_storagepair over a list (parse_idmap): `<source>:<target>` pairs, or one storage
  // for all, `1` each onto itself
  "storage-pair-list": list((v) =>
    v === "1" || v.split(":").every((id) => STORAGE_ID.test(id)) ? undefined : "invalid storage ID pair",
  ),
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
  "pve-tag": test(TAG, "invalid tag"),
  "pve-tag-list": list(test(TAG, "invalid tag"), /[;, ]+/),
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

/**
 * The `pve-calendar-event` format: proxmox-time's CalendarEvent parser (Rust, called by PVE::CalendarEvent after a
 * trim). A special word (`daily`, exactly so), or `[WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE[:SECOND]]` with
 * at least one part, an optional trailing `UTC`; each time component a `*`, `*\/step` or a comma list of
 * `n`, `a..b`, `n/step`, `a..b/step`, every number below its maximum (hour 24, minute and second 60, month 13,
 * day 32, year 2200). A lone time component is the minute (`*\/15` every quarter hour).
 */
export function calendarEvent(value: string): string | undefined {
  const bad = `unable to parse calendar event '${value}'`;
  let rest = value.trim();
  if (rest === "") return "unable to parse calendar event - event is empty";
  if (rest.endsWith("UTC")) rest = rest.slice(0, -3).replace(/ +$/, "");
  if (/^[a-z]/i.test(rest)) {
    if (CALENDAR_WORDS.has(rest)) return undefined;
    const days = /^([a-z]+(?:\.\.[a-z]+)?)(?:,([a-z]+(?:\.\.[a-z]+)?))*/i.exec(rest);
    const list = days?.[0] ?? "";
    const names = list.split(/,|\.\./);
    if (!names.every((n) => WEEKDAYS.has(n.toLowerCase()))) return bad;
    rest = rest.slice(list.length).replace(/^[ \t]*/, "");
    const date = dateSpec(rest);
    if (date !== undefined) rest = date.replace(/^[ \t]*/, "");
    const time = timeSpec(rest);
    return (time ?? rest) === "" ? undefined : bad;
  }
  const date = dateSpec(rest);
  if (date !== undefined) rest = date.replace(/^[ \t]*/, "");
  const time = timeSpec(rest);
  if (time !== undefined) rest = time;
  return (date !== undefined || time !== undefined) && rest === "" ? undefined : bad;
}

const CALENDAR_WORDS = new Set([
  "minutely",
  "hourly",
  "daily",
  "weekly",
  "monthly",
  "yearly",
  "annually",
  "quarterly",
  "semiannually",
  "semi-annually",
]);
const WEEKDAYS = new Set(
  ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].flatMap((d) => [
    d,
    { mon: "monday", tue: "tuesday", wed: "wednesday", thu: "thursday", fri: "friday", sat: "saturday", sun: "sunday" }[
      d
    ]!,
  ]),
);

/** True when `s` is one whole calendar component list (`*`, `n`, `a..b`, `/step`, lists) below `max`. */
export function isCalendarComponentList(s: string, max: number): boolean {
  return componentList(s, max) === "";
}

/** One number below `max` at the start of `s`: the rest, or undefined. */
function number(s: string, max: number): { value: number; rest: string } | undefined {
  const m = /^\d+/.exec(s);
  if (!m || m[0].length > 9 || Number(m[0]) >= max) return undefined;
  return { value: Number(m[0]), rest: s.slice(m[0].length) };
}

/** `n`, `a..b` (a <= b), each with an optional `/step`: the rest, or undefined. */
function component(s: string, max: number): string | undefined {
  const first = number(s, max);
  if (!first) return undefined;
  let rest = first.rest;
  if (rest.startsWith("..")) {
    const end = number(rest.slice(2), max);
    if (end) {
      if (first.value > end.value) return undefined;
      rest = end.rest;
    }
  }
  if (rest.startsWith("/")) return number(rest.slice(1), max)?.rest;
  return rest;
}

/** `*`, `*\/step` (step > 0), or a comma list of components: the rest, or undefined. */
function componentList(s: string, max: number): string | undefined {
  if (s.startsWith("*")) {
    if (!s.startsWith("*/")) return s.slice(1);
    const step = number(s.slice(2), max);
    if (!step) return undefined;
    return step.value > 0 ? step.rest : s.slice(1);
  }
  let rest = component(s, max);
  while (rest?.startsWith(",")) {
    const next = component(rest.slice(1), max);
    if (next === undefined) break;
    rest = next;
  }
  return rest;
}

/** `YEAR-MONTH-DAY` or `MONTH-DAY`: the rest, or undefined. */
function dateSpec(s: string): string | undefined {
  const full = componentList(s, 2200);
  if (full?.startsWith("-")) {
    const month = componentList(full.slice(1), 13);
    if (month?.startsWith("-")) {
      const day = componentList(month.slice(1), 32);
      if (day !== undefined) return day;
    }
  }
  const month = componentList(s, 13);
  return month?.startsWith("-") ? componentList(month.slice(1), 32) : undefined;
}

/** `[HOUR:]MINUTE[:SECOND]`: the rest, or undefined. */
function timeSpec(s: string): string | undefined {
  const hour = componentList(s, 24);
  const minuteFrom = hour?.startsWith(":") ? hour.slice(1) : s;
  const minute = componentList(minuteFrom, 60);
  if (minute === undefined) return undefined;
  if (minute.startsWith(":")) {
    const second = componentList(minute.slice(1), 60);
    if (second !== undefined) return second;
  }
  return minute;
}

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

/**
 * Patterns and limits the PVE 9.1 API schema publishes for values the config writes, copied from
 * pve-api-schema.json (the method and parameter named beside each; __tests__/pve-formats.test.ts compares them).
 */
export const PVE_SCHEMA = {
  /** POST /nodes/{node}/lxc net[n] `bridge` (qemu's net[n] uses the format pve-bridge-id, the same rule). */
  bridge: { pattern: "[-_.\\w\\d]+" },
  /** POST /nodes/{node}/qemu net[n] `tag`. */
  vlanTag: { minimum: 1, maximum: 4094 },
  /** POST /nodes/{node}/qemu `machine`, key `type`. */
  machineType: {
    pattern:
      "(pc|pc(-i440fx)?-\\d+(\\.\\d+)+(\\+pve\\d+)?(\\.pxe)?|q35|pc-q35-\\d+(\\.\\d+)+(\\+pve\\d+)?(\\.pxe)?|virt(?:-\\d+(\\.\\d+)+)?(\\+pve\\d+)?)",
    maxLength: 40,
  },
  /** POST /cluster/backup `schedule` (and /cluster/replication `schedule`). */
  schedule: { maxLength: 128 },
  /** POST /cluster/sdn/vnets `alias`. */
  vnetAlias: { pattern: "(?^i:[\\(\\)-_.\\w\\d\\s]{0,256})", maxLength: 256 },
  /** POST /storage `fingerprint`. */
  fingerprint: { pattern: "([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}" },
  /** POST /nodes/{node}/lxc `hostname`. */
  hostname: { maxLength: 255 },
} as const;

/**
 * A CPU model as the `cputype` key of `pve-vm-cpu-conf` (qemu-server PVE::QemuServer::CPUConfig): PVE checks it
 * against its built-in models or `custom-<name>` of cpu-models.conf; this is the shape of those names.
 */
export const CPU_TYPE_PATTERN = "(?:custom-)?[a-zA-Z0-9][a-zA-Z0-9._-]*";

/** A schema pattern as PVE applies it: anchored, `(?^i:...)` case-insensitive. */
export function schemaPattern(pattern: string): RegExp {
  const m = /^\(\?\^([a-z]*):([\s\S]*)\)$/.exec(pattern);
  const [body, flags] = m ? [m[2], m[1]] : [pattern, ""];
  return new RegExp(`^(?:${body})$`, flags.includes("i") ? "i" : "");
}
