/**
 * What pve-firewall (the iptables one PVE runs by default) does with one packet crossing a Proxmox host's bridge,
 * read from PVE::Firewall (src/PVE/Firewall.pm of proxmox/pve-firewall): `compile` (nothing at all without the
 * datacenter's `enable`), `compile_iptables_filter` (PVEFW-FORWARD: conntrack INVALID dropped unless the host's
 * `nf_conntrack_allow_invalid`, RELATED/ESTABLISHED accepted, then the bridge chains; a VM's chains only when its
 * options say `enable`, one per NIC with `firewall=1`), `ruleset_create_vm_chain` (DHCP, the MAC filter),
 * `ruleset_generate_vm_rules` (rules in file order, first match, `enable`, `iface` naming another NIC skipped,
 * `type`), `ipt_rule_to_cmds` (source/dest, proto, dport/sport), `apply_macro` (a macro's rules with the rule's
 * action, source and dest) and `ruleset_add_chain_policy` with the standard chain PVEFW-Drop. The macro table is
 * PVE's `$pve_fw_macros` (config/pve-firewall.ts, which the config checks read too). What it does not model
 * (security groups, ipsets, aliases, service names, IPv6) throws NotModelled.
 */
import { PVE_FIREWALL_MACROS } from "../../config/pve-firewall";
import type { ConntrackState } from "./conntrack";

export class NotModelled extends Error {}

/** A rule as the API and the .fw file hold it. */
export interface FirewallRule {
  readonly type: string;
  readonly action: string;
  /** PVE skips a rule without it (`next if !$rule->{enable}`). */
  readonly enable?: boolean;
  readonly iface?: string;
  readonly source?: string;
  readonly dest?: string;
  readonly proto?: string;
  readonly dport?: string;
  readonly sport?: string;
  readonly macro?: string;
}

/** A VM's firewall options (PVE::Firewall $vm_option_properties); unset keys take PVE's defaults. */
export interface VmFirewallOptions {
  readonly enable?: boolean;
  readonly policy_in?: "ACCEPT" | "DROP" | "REJECT";
  readonly policy_out?: "ACCEPT" | "DROP" | "REJECT";
  readonly dhcp?: boolean;
  readonly macfilter?: boolean;
}

/**
 * One NIC of a VM or container on a host. pve-firewall compiles a tap chain per NIC with `firewall=1`, each from
 * the guest's one rule list and options (a rule with `iface` only into its NIC's chain).
 */
export interface VmNic {
  readonly vm: string;
  readonly host: string;
  /** `net0`, ... */
  readonly netid: string;
  /** The NIC's `firewall=1`: without it the tap is not behind a firewall bridge. */
  readonly firewall: boolean;
  /** Its static IPv4 address as Proxmox holds it (ipconfig<n>, a container's ip=), without prefix; none on DHCP. */
  readonly address?: string;
  readonly options: VmFirewallOptions;
  readonly rules: readonly FirewallRule[];
}

export interface Packet {
  readonly proto: "tcp" | "udp" | "icmp";
  readonly src: string;
  readonly dst: string;
  readonly sport?: number;
  readonly dport?: number;
  /** ICMP: echo-request, echo-reply, fragmentation-needed, ... */
  readonly icmpType?: string;
}

export type Verdict = { readonly accepted: true } | { readonly accepted: false; readonly why: string };

const ACCEPTED: Verdict = { accepted: true };

/** The PVEFW-FORWARD conntrack rules: INVALID dropped unless allowed, RELATED/ESTABLISHED accepted at once. */
export function forwardChain(state: ConntrackState, allowInvalid: boolean): "drop" | "accept" | "continue" {
  if (state === "INVALID" && !allowInvalid) return "drop";
  if (state === "ESTABLISHED" || state === "RELATED") return "accept";
  return "continue";
}

/**
 * The tap chain of `nic` in `direction` for a packet that reached it (a NEW packet, or an INVALID one on a host
 * that allows them). The VM's firewall is off (`enable` unset or 0, or no `firewall=1` on the NIC): accepted.
 */
export function tapChain(nic: VmNic, direction: "in" | "out", packet: Packet, state: ConntrackState): Verdict {
  if (!nic.firewall || !nic.options.enable) return ACCEPTED;
  const where = `${nic.vm} ${nic.netid} ${direction.toUpperCase()}`;
  // The MAC filter concerns the packets a VM sends with a MAC not its own, which none of ours does.
  // ruleset_create_vm_chain: DHCP requests out (udp 68 -> 67) and replies in (67 -> 68) unless dhcp is 0.
  if (nic.options.dhcp !== false && packet.proto === "udp") {
    const [sport, dport] = direction === "in" ? [67, 68] : [68, 67];
    if (packet.sport === sport && packet.dport === dport) return ACCEPTED;
  }
  for (const [index, rule] of nic.rules.entries()) {
    if (rule.iface && rule.iface !== nic.netid) continue;
    if (!rule.enable) continue;
    if (rule.type === "group") throw new NotModelled(`${where}: security group ${rule.action}`);
    if (rule.type !== direction) continue;
    if (!expand(rule).some((r) => matches(r, packet))) continue;
    if (rule.action === "ACCEPT") return ACCEPTED;
    if (rule.action === "DROP" || rule.action === "REJECT")
      return { accepted: false, why: `${where}: rule ${index} (${describe(rule)}) ${rule.action}` };
    throw new NotModelled(`${where}: action ${rule.action}`);
  }
  const policy =
    (direction === "in" ? nic.options.policy_in : nic.options.policy_out) ?? (direction === "in" ? "DROP" : "ACCEPT");
  if (policy === "ACCEPT") return ACCEPTED;
  // PVEFW-Drop / PVEFW-Reject first accept the ICMP errors a connection needs, then drop the rest.
  if (packet.proto === "icmp" && (packet.icmpType === "fragmentation-needed" || packet.icmpType === "time-exceeded"))
    return ACCEPTED;
  return {
    accepted: false,
    why: `${where}: no rule matches, policy ${policy}${state === "INVALID" ? " (INVALID)" : ""}`,
  };
}

/**
 * apply_macro: each rule of the macro, its `PARAM` action the rule's, with the rule's fields the macro does not
 * set (source, dest, and ports or a protocol it leaves open); a field set by both must agree (PVE refuses the
 * rule otherwise). A rule without a macro is itself.
 */
export function expand(rule: FirewallRule): FirewallRule[] {
  if (!rule.macro) return [rule];
  const macro = PVE_FIREWALL_MACROS[rule.macro];
  if (!macro) throw new NotModelled(`macro ${rule.macro} (PVE refuses an unknown one)`);
  return macro.map((m) => {
    for (const key of ["proto", "dport", "sport"] as const)
      if (rule[key] && m[key] !== undefined && rule[key] !== m[key])
        throw new NotModelled(`macro ${rule.macro}: ${key} ${rule[key]} against the macro's ${m[key]}`);
    const { macro: _, ...own } = rule;
    return { ...own, proto: m.proto, dport: m.dport ?? rule.dport, sport: m.sport ?? rule.sport };
  });
}

/** Protocol numbers of the packets we send, as /etc/protocols names them. */
const PROTOCOL_NUMBERS: Readonly<Record<string, string>> = { "1": "icmp", "6": "tcp", "17": "udp" };

function describe(rule: FirewallRule): string {
  return [
    rule.macro,
    rule.proto,
    rule.dport && `dport ${rule.dport}`,
    rule.source && `from ${rule.source}`,
    rule.dest && `to ${rule.dest}`,
  ]
    .filter(Boolean)
    .join(" ");
}

/** ipt_rule_to_cmds: every field given must match; a port without a protocol is an error in PVE too. */
function matches(rule: FirewallRule, packet: Packet): boolean {
  if (rule.source && !addressMatches(rule.source, packet.src)) return false;
  if (rule.dest && !addressMatches(rule.dest, packet.dst)) return false;
  if (!rule.proto) {
    if (rule.dport || rule.sport) throw new NotModelled(`a port without a protocol: ${describe(rule)}`);
    return true;
  }
  if ((PROTOCOL_NUMBERS[rule.proto] ?? rule.proto) !== packet.proto) return false;
  if (packet.proto === "icmp") return !rule.dport || rule.dport === "any" || rule.dport === packet.icmpType;
  if (rule.dport && (packet.dport === undefined || !portMatches(rule.dport, packet.dport))) return false;
  if (rule.sport && (packet.sport === undefined || !portMatches(rule.sport, packet.sport))) return false;
  return true;
}

/** parse_address_list / ipt_gen_src_or_dst_match: an address, a CIDR, a range `a-b`, or a comma list of the first two. */
export function addressMatches(spec: string, address: string): boolean {
  if (spec.startsWith("+") || /^(dc\/|guest\/)?[A-Za-z][A-Za-z0-9_-]*$/.test(spec))
    throw new NotModelled(`ipset or alias ${spec}`);
  if (spec.includes(":")) throw new NotModelled(`IPv6 ${spec}`);
  const ip = ipv4(address);
  if (spec.includes("-")) {
    const [from, to] = spec.split("-").map(ipv4);
    return ip >= from && ip <= to;
  }
  return spec.split(",").some((element) => {
    const [base, prefix = "32"] = element.split("/");
    const size = 2 ** (32 - Number(prefix));
    return Math.floor(ip / size) === Math.floor(ipv4(base) / size);
  });
}

export function ipv4(address: string): number {
  const octets = address.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
    throw new NotModelled(`not an IPv4 address: ${address}`);
  return octets.reduce((acc, octet) => acc * 256 + octet, 0);
}

/** parse_port_name_number_or_range: `n`, `a:b`, or a comma list of them (service names not modelled). */
export function portMatches(spec: string, port: number): boolean {
  return spec.split(",").some((item) => {
    const range = /^(\d+):(\d+)$/.exec(item);
    if (range) return port >= Number(range[1]) && port <= Number(range[2]);
    if (/^\d+$/.test(item)) return port === Number(item);
    throw new NotModelled(`service name ${item}`);
  });
}
