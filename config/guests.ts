// workloads.yaml resolved: the guests with their effective values (host, storage, parsed address, zone, DNS
// name) and the zones with their gateway and DNS, derived once here and read by the checks, the inventory and
// layer 01 (through ResolvedCluster.workloads).
import { firstHost, parseCidr, type Ipv4Network } from "./ipv4";
import type { KeyPath } from "./issues";
import type {
  ContainerConfig,
  ExtraNetworkConfig,
  FirewallConfig,
  FirewallRuleConfig,
  GuestNetworkConfig,
  VmConfig,
  WorkloadsConfig,
  ZoneConfig,
} from "./workloads";

/** The cluster.yaml values guests default to. */
export interface GuestDefaults {
  /** proxmox_node. */
  readonly host: string;
  /** proxmox_disk_storage. */
  readonly diskStorage: string;
}

/** workloads.yaml after validation and resolution. */
export interface ResolvedWorkloads {
  readonly config: WorkloadsConfig;
  /** Content of every `ssh_keys: [{file}]` entry, by the path as written. */
  readonly sshKeyFiles: ReadonlyMap<string, string>;
  /** Containers first, then VMs, in file order. */
  readonly guests: readonly Guest[];
  readonly zones: readonly ResolvedZone[];
}

export function resolveWorkloads(
  workloads: { config: WorkloadsConfig; sshKeyFiles: ReadonlyMap<string, string> },
  defaults: GuestDefaults,
): ResolvedWorkloads {
  return {
    ...workloads,
    guests: resolveGuests(workloads.config, defaults),
    zones: [...resolveZones(workloads.config).values()],
  };
}

export type Guest = ContainerGuest | VmGuest;

interface GuestBase {
  /** Key path of the entry in workloads.yaml, e.g. ["containers", 2]. */
  readonly path: KeyPath;
  /** "containers[2] (proxy)", for messages. */
  readonly ref: string;
  readonly host: string;
  readonly diskStorage: string;
  /** The zone the NIC joins, when it names one that exists. */
  readonly zone?: ResolvedZone;
  /** Static address without prefix; undefined with DHCP. */
  readonly address?: string;
  /** Static address with prefix ("192.168.20.5/24"); undefined with DHCP or without a known prefix. */
  readonly addressCidr?: string;
  /** Gateway of a static address: the guest's own, else its zone's. */
  readonly gateway?: string;
  readonly dnsServers?: readonly string[];
  /** The first NIC's DNS name: <name>.<zone>.<domain>, or <name>.<domain> outside zones. */
  readonly fqdn: string;
  /** The NICs after the first (extra_networks), as net1, net2, ... */
  readonly extraNics: readonly ExtraNic[];
  /** The NIC's `firewall=1`: as written, else whether the guest has a firewall. */
  readonly nicFirewall: boolean;
  /** The guest's firewall (its own and its zone's), when it has one and a NIC of it is filtered. */
  readonly firewall?: GuestFirewall;
}

/** A guest's Proxmox firewall: the options and the rules as the API takes them, in order. */
export interface GuestFirewall {
  readonly policyIn: "ACCEPT" | "DROP" | "REJECT";
  readonly policyOut: "ACCEPT" | "DROP" | "REJECT";
  readonly dhcp: boolean;
  readonly macfilter: boolean;
  readonly ipfilter: boolean;
  readonly logLevelIn?: string;
  readonly logLevelOut?: string;
  readonly rules: readonly GuestFirewallRule[];
}

/** A rule with zone names resolved to their cidr and ports as strings; `path` is where it is written. */
export interface GuestFirewallRule {
  readonly path: KeyPath;
  readonly type: "in" | "out";
  readonly action: "ACCEPT" | "DROP" | "REJECT";
  readonly macro?: string;
  readonly source?: string;
  readonly dest?: string;
  readonly proto?: string;
  readonly dport?: string;
  readonly sport?: string;
  /** The one NIC (net0, net1, ...) the rule filters; every filtered NIC without it. */
  readonly iface?: string;
  readonly comment?: string;
  readonly log?: string;
  readonly enabled: boolean;
}

/** A NIC of extra_networks with its zone and address resolved; it never carries a gateway or DNS servers. */
export interface ExtraNic {
  /** Key path of the entry, e.g. ["vms", 0, "extra_networks", 1]. */
  readonly path: KeyPath;
  readonly config: ExtraNetworkConfig;
  readonly zone?: ResolvedZone;
  readonly address?: string;
  readonly addressCidr?: string;
  /** <name>.<zone>.<domain> in a zone; none outside zones (the guest's <name>.<domain> is its first NIC's). */
  readonly fqdn?: string;
}

export interface ContainerGuest extends GuestBase {
  readonly kind: "lxc";
  readonly config: ContainerConfig;
}

export interface VmGuest extends GuestBase {
  readonly kind: "vm";
  readonly config: VmConfig;
}

export interface ResolvedZone {
  readonly config: ZoneConfig;
  /** The VLAN tag; undefined for the bridge's untagged network (vlan 0), which has no VNet. */
  readonly tag?: number;
  readonly network: Ipv4Network;
  readonly gateway: string;
  readonly dnsServers: readonly string[];
}

export function resolveZones(workloads: WorkloadsConfig): Map<string, ResolvedZone> {
  const zones = new Map<string, ResolvedZone>();
  for (const zone of workloads.zones) {
    if (zones.has(zone.name)) continue;
    const network = parseCidr(zone.cidr);
    const gateway = zone.gateway ?? firstHost(network);
    zones.set(zone.name, {
      config: zone,
      tag: zone.vlan === 0 ? undefined : zone.vlan,
      network,
      gateway,
      dnsServers: zone.dns_servers ?? [gateway],
    });
  }
  return zones;
}

/** Every container and VM, containers first, in file order. */
export function resolveGuests(workloads: WorkloadsConfig, defaults: GuestDefaults): Guest[] {
  const zones = resolveZones(workloads);
  const common = (kind: "containers" | "vms", index: number, config: ContainerConfig | VmConfig) => {
    const net = config.network;
    const { zone, address, addressCidr } = nicAddress(net, zones);
    const zoneFirewall = zone?.config.firewall;
    const nicFirewall = net.firewall ?? (config.firewall !== undefined || zoneFirewall !== undefined);
    const filtered = nicFirewall || config.extra_networks.some((extra) => extra.firewall);
    const hasFirewall = filtered && (config.firewall !== undefined || zoneFirewall !== undefined);
    return {
      path: [kind, index],
      ref: `${kind}[${index}] (${config.name})`,
      host: config.host ?? defaults.host,
      diskStorage: config.disk.storage ?? defaults.diskStorage,
      zone,
      address,
      addressCidr,
      gateway: address ? (net.gateway ?? zone?.gateway) : undefined,
      dnsServers: net.dns_servers ?? zone?.dnsServers,
      fqdn: dnsName(config.name, net.zone, workloads.domain),
      nicFirewall,
      firewall: hasFirewall
        ? guestFirewall(
            { config: config.firewall, path: [kind, index, "firewall"] },
            zone && zoneFirewall
              ? { config: zoneFirewall, path: ["zones", workloads.zones.indexOf(zone.config), "firewall"] }
              : undefined,
            // A lease on the first NIC, or on another the firewall filters.
            net.address === "dhcp" || config.extra_networks.some((extra) => extra.firewall && extra.address === "dhcp"),
            zones,
          )
        : undefined,
      extraNics: config.extra_networks.map(
        (extra, i): ExtraNic => ({
          path: [kind, index, "extra_networks", i],
          config: extra,
          ...nicAddress(extra, zones),
          fqdn: extra.zone === undefined ? undefined : dnsName(config.name, extra.zone, workloads.domain),
        }),
      ),
    };
  };
  return [
    ...workloads.containers.map(
      (config, i): ContainerGuest => ({ kind: "lxc", config, ...common("containers", i, config) }),
    ),
    ...workloads.vms.map((config, i): VmGuest => ({ kind: "vm", config, ...common("vms", i, config) })),
  ];
}

/** <name>.<zone>.<domain>, or <name>.<domain> without a zone. */
function dnsName(name: string, zone: string | undefined, domain: string): string {
  return [name, zone, domain].filter(Boolean).join(".");
}

/** A NIC's zone (when it names one that exists) and its static address, with its prefix when known. */
function nicAddress(
  net: GuestNetworkConfig | ExtraNetworkConfig,
  zones: ReadonlyMap<string, ResolvedZone>,
): { zone?: ResolvedZone; address?: string; addressCidr?: string } {
  const zone = net.zone === undefined ? undefined : zones.get(net.zone);
  if (net.address === "dhcp") return { zone };
  const [address, prefix] = net.address.split("/");
  const knownPrefix = prefix ?? (zone ? String(zone.network.prefix) : undefined);
  return { zone, address, addressCidr: knownPrefix ? `${address}/${knownPrefix}` : undefined };
}

/** A guest's firewall from its own block and its zone's: each option the guest's, else the zone's, else PVE's. */
function guestFirewall(
  own: { config?: FirewallConfig; path: KeyPath },
  zone: { config: FirewallConfig; path: KeyPath } | undefined,
  dhcpAddress: boolean,
  zones: ReadonlyMap<string, ResolvedZone>,
): GuestFirewall {
  const pick = <K extends keyof FirewallConfig>(key: K) => own.config?.[key] ?? zone?.config[key];
  // The guest's rules first: the first match decides, so a guest can make an exception to its zone's.
  const blocks = [own.config && { config: own.config, path: own.path }, zone];
  const rules = blocks.flatMap((block) =>
    block ? block.config.rules.map((rule, i) => firewallRule(rule, [...block.path, "rules", i], zones)) : [],
  );
  return {
    policyIn: pick("policy_in") ?? "DROP",
    policyOut: pick("policy_out") ?? "ACCEPT",
    // PVE's guest firewall drops DHCP leases with dhcp 0 (bpg's default): on for a guest that takes one.
    dhcp: pick("dhcp") ?? dhcpAddress,
    macfilter: pick("macfilter") ?? true,
    ipfilter: pick("ipfilter") ?? false,
    logLevelIn: pick("log_level_in"),
    logLevelOut: pick("log_level_out"),
    rules,
  };
}

/** An address list with each zone name replaced by the zone's cidr. */
function zoneAddresses(spec: string | undefined, zones: ReadonlyMap<string, ResolvedZone>): string | undefined {
  if (spec === undefined) return undefined;
  return spec
    .split(",")
    .map((part) => zones.get(part)?.config.cidr ?? part)
    .join(",");
}

/** One rule of workloads.yaml as the API takes it, written at `path`. */
export function firewallRule(
  rule: FirewallRuleConfig,
  path: KeyPath,
  zones: ReadonlyMap<string, ResolvedZone>,
): GuestFirewallRule {
  return {
    path,
    type: rule.direction,
    action: rule.action,
    macro: rule.macro,
    source: zoneAddresses(rule.source, zones),
    dest: zoneAddresses(rule.dest, zones),
    proto: rule.proto,
    dport: rule.dport === undefined ? undefined : String(rule.dport),
    sport: rule.sport === undefined ? undefined : String(rule.sport),
    iface: rule.iface,
    comment: rule.comment,
    log: rule.log,
    enabled: rule.enabled,
  };
}

/** The guest ids a backup job selects; `nodes` are the Talos VMs with a fixed id. */
export function selectedIds(
  job: WorkloadsConfig["backups"][number],
  guests: readonly Guest[],
  nodes: readonly { id: number; host: string }[],
): number[] {
  const select = job.select;
  const onHost = (g: { host: string }) => job.host === undefined || g.host === job.host;
  if ("all" in select)
    return [...guests.filter(onHost).map((g) => g.config.id), ...nodes.filter(onHost).map((n) => n.id)];
  if ("ids" in select) return select.ids;
  if ("pool" in select) return guests.filter((g) => g.config.pool === select.pool && onHost(g)).map((g) => g.config.id);
  return guests.filter((g) => sharesTag(g.config.tags, select.tags)).map((g) => g.config.id);
}

/** Whether two tag lists have a tag in common, compared as Proxmox compares tags: without case. */
export function sharesTag(a: readonly string[], b: readonly string[]): boolean {
  const lower = new Set(b.map((t) => t.toLowerCase()));
  return a.some((t) => lower.has(t.toLowerCase()));
}
