// A guest firewall rule as pve-firewall takes it (src/PVE/Firewall.pm of proxmox/pve-firewall): the macros with the
// protocols and ports each stands for (`$pve_fw_macros`, the IPv6-only ones `$pve_ipv6fw_macros`), the ICMP type
// names (`$icmp_type_names`), the protocols that have ports (`$PROTOCOLS_WITH_PORTS`), and the checks of
// `verify_rule`, `parse_address_list` and `parse_port_name_number_or_range` for the rules this project writes
// (IPv4 addresses, no aliases, ipsets or security groups, port numbers rather than /etc/services names). The config
// checks refuse what these refuse, and the Proxmox simulator and the flow judge (judges/) read the same table.

/** One rule a macro stands for: its action is the rule's own (`PARAM`), source and dest the rule's. */
export interface MacroRule {
  readonly proto: string;
  readonly dport?: string;
  readonly sport?: string;
}

const m = (proto: string, dport?: string, sport?: string): MacroRule => ({ proto, dport, sport });

/** PVE's macros, by the name PVE spells them (a rule naming one in another case is stored under this name). */
export const PVE_FIREWALL_MACROS: Readonly<Record<string, readonly MacroRule[]>> = {
  Amanda: [m("udp", "10080"), m("tcp", "10080")],
  Auth: [m("tcp", "113")],
  BGP: [m("tcp", "179")],
  BitTorrent: [m("tcp", "6881:6889"), m("udp", "6881")],
  BitTorrent32: [m("tcp", "6881:6999"), m("udp", "6881")],
  Ceph: [m("tcp", "6789"), m("tcp", "3300"), m("tcp", "6800:7300")],
  CVS: [m("tcp", "2401")],
  Citrix: [m("tcp", "1494"), m("udp", "1604"), m("tcp", "2598")],
  DAAP: [m("tcp", "3689"), m("udp", "3689")],
  DCC: [m("tcp", "6277")],
  DHCPfwd: [m("udp", "67:68", "67:68")],
  DNS: [m("udp", "53"), m("tcp", "53")],
  Distcc: [m("tcp", "3632")],
  FTP: [m("tcp", "21")],
  Finger: [m("tcp", "79")],
  GNUnet: [m("tcp", "2086"), m("udp", "2086"), m("tcp", "1080"), m("udp", "1080")],
  GRE: [m("47")],
  Git: [m("tcp", "9418")],
  HKP: [m("tcp", "11371")],
  HTTP: [m("tcp", "80")],
  HTTPS: [m("tcp", "443")],
  ICPV2: [m("udp", "3130")],
  ICQ: [m("tcp", "5190")],
  IMAP: [m("tcp", "143")],
  IMAPS: [m("tcp", "993")],
  IPIP: [m("94")],
  IPsec: [m("udp", "500", "500"), m("50")],
  IPsecah: [m("udp", "500", "500"), m("51")],
  IPsecnat: [m("udp", "500"), m("udp", "4500"), m("50")],
  IRC: [m("tcp", "6667")],
  Jetdirect: [m("tcp", "9100")],
  L2TP: [m("udp", "1701")],
  LDAP: [m("tcp", "389")],
  LDAPS: [m("tcp", "636")],
  MSNP: [m("tcp", "1863")],
  MSSQL: [m("tcp", "1433")],
  Mail: [m("tcp", "25"), m("tcp", "465"), m("tcp", "587")],
  MDNS: [m("udp", "5353")],
  Munin: [m("tcp", "4949")],
  MySQL: [m("tcp", "3306")],
  NNTP: [m("tcp", "119")],
  NNTPS: [m("tcp", "563")],
  NTP: [m("udp", "123")],
  OSPF: [m("89")],
  OpenVPN: [m("udp", "1194")],
  PCA: [m("udp", "5632"), m("tcp", "5631")],
  PMG: [m("tcp", "8006")],
  POP3: [m("tcp", "110")],
  POP3S: [m("tcp", "995")],
  PPtP: [m("47"), m("tcp", "1723")],
  Ping: [m("icmp", "echo-request")],
  PostgreSQL: [m("tcp", "5432")],
  Printer: [m("tcp", "515")],
  RDP: [m("tcp", "3389")],
  RIP: [m("udp", "520")],
  RNDC: [m("tcp", "953")],
  Razor: [m("tcp", "2703")],
  Rdate: [m("tcp", "37")],
  Rsync: [m("tcp", "873")],
  SANE: [m("tcp", "6566")],
  SMB: [m("udp", "135,445"), m("udp", "137:139"), m("udp", "1024:65535", "137"), m("tcp", "135,139,445")],
  SMBswat: [m("tcp", "901")],
  SMTP: [m("tcp", "25")],
  SMTPS: [m("tcp", "465")],
  SNMP: [m("udp", "161:162"), m("tcp", "161")],
  SPAMD: [m("tcp", "783")],
  SSH: [m("tcp", "22")],
  SVN: [m("tcp", "3690")],
  SixXS: [m("tcp", "3874"), m("udp", "3740"), m("41"), m("udp", "5072,8374")],
  SPICEproxy: [m("tcp", "3128")],
  Squid: [m("tcp", "3128")],
  Submission: [m("tcp", "587")],
  Syslog: [m("udp", "514"), m("tcp", "514")],
  TFTP: [m("udp", "69")],
  Telnet: [m("tcp", "23")],
  Telnets: [m("tcp", "992")],
  Time: [m("tcp", "37")],
  Trcrt: [m("udp", "33434:33524"), m("icmp", "echo-request")],
  VNC: [m("tcp", "5900:5999")],
  VNCL: [m("tcp", "5500")],
  Web: [m("tcp", "80"), m("tcp", "443")],
  Webcache: [m("tcp", "8080")],
  Webmin: [m("tcp", "10000")],
  Whois: [m("tcp", "43")],
  // IPv6 only (`$pve_ipv6fw_macros` without an IPv4 entry): nothing on IPv4.
  NeighborDiscovery: [],
  DHCPv6: [],
};

/** `$icmp_type_names`: the ICMP types an `icmp` rule's dport may name. */
export const PVE_ICMP_TYPES: ReadonlySet<string> = new Set([
  "any",
  "echo-reply",
  "destination-unreachable",
  "network-unreachable",
  "host-unreachable",
  "protocol-unreachable",
  "port-unreachable",
  "fragmentation-needed",
  "source-route-failed",
  "network-unknown",
  "host-unknown",
  "network-prohibited",
  "host-prohibited",
  "TOS-network-unreachable",
  "TOS-host-unreachable",
  "communication-prohibited",
  "host-precedence-violation",
  "precedence-cutoff",
  "source-quench",
  "redirect",
  "network-redirect",
  "host-redirect",
  "TOS-network-redirect",
  "TOS-host-redirect",
  "echo-request",
  "router-advertisement",
  "router-solicitation",
  "time-exceeded",
  "ttl-zero-during-transit",
  "ttl-zero-during-reassembly",
  "parameter-problem",
  "ip-header-bad",
  "required-option-missing",
  "timestamp-request",
  "timestamp-reply",
  "address-mask-request",
  "address-mask-reply",
]);

/** `$PROTOCOLS_WITH_PORTS`, by name and number. */
const PROTOCOLS_WITH_PORTS = new Set(["udp", "17", "udplite", "136", "tcp", "6", "dccp", "33", "sctp", "132"]);

/**
 * Protocols a rule may name: those of a Debian host's /etc/protocols that IPv4 rules use, or a protocol number
 * (PVE reads the host's file; a number is always in it).
 */
const PROTOCOLS = new Set([
  "tcp",
  "udp",
  "icmp",
  "udplite",
  "dccp",
  "sctp",
  "gre",
  "esp",
  "ah",
  "igmp",
  "ipencap",
  "ospf",
  "vrrp",
]);

export const FIREWALL_ACTIONS = ["ACCEPT", "DROP", "REJECT"] as const;

/** A rule as the API takes it (PVE's field names). */
export interface PveFirewallRule {
  readonly type: string;
  readonly action: string;
  readonly macro?: string;
  readonly source?: string;
  readonly dest?: string;
  readonly proto?: string;
  readonly dport?: string;
  readonly sport?: string;
  readonly iface?: string;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * parse_address_list for IPv4: an address, a CIDR, a range `a-b` (alone), or a comma list of addresses and
 * CIDRs; an alias or an ipset (`+name`) is a name this project never writes. Returns the problem or undefined.
 */
export function addressListProblem(spec: string): string | undefined {
  if (spec.startsWith("+") || /^(dc\/|guest\/)?[A-Za-z][A-Za-z0-9_-]+$/.test(spec))
    return `${spec} names an alias or ipset, which this project does not create: give addresses, CIDRs or a range`;
  const elements = spec.split(",");
  if (elements.some((e) => e === "")) return "extraneous commas in list";
  for (const element of elements) {
    const range = element.split("-");
    if (range.length === 2) {
      if (!IPV4.test(range[0]) || !IPV4.test(range[1])) return `invalid IP address: ${element}`;
      if (elements.length > 1) return "you can't use a range in a list";
      const [from, to] = range.map(ipv4Number);
      if (from > to) return `invalid IP address: ${element} (the range ends before it starts)`;
      continue;
    }
    const [address, prefix, ...rest] = element.split("/");
    if (rest.length || !IPV4.test(address)) return `invalid IP address: ${element} (IPv4 addresses only)`;
    if (prefix !== undefined && !(/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32))
      return `invalid IP address: ${element}`;
  }
  return undefined;
}

function ipv4Number(address: string): number {
  return address.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

/**
 * parse_port_name_number_or_range: numbers and `a:b` ranges (each range counting 2, at most 15 in all), or, as a
 * dport with ICMP, one ICMP type name. Service names are refused: PVE resolves them from each host's /etc/services.
 */
export function portListProblem(spec: string, icmp: boolean): string | undefined {
  if (icmp) return PVE_ICMP_TYPES.has(spec) ? undefined : `unknown icmp-type '${spec}'`;
  const elements = spec.split(",");
  if (elements.some((e) => e === "")) return "extraneous commas in list";
  let count = 0;
  for (const item of elements) {
    const range = /^(\d+):(\d+)$/.exec(item);
    if (range) {
      count += 2;
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (a > 65535 || b > 65535) return `invalid port '${a > 65535 ? a : b}'`;
      if (a > b) return `backwards range '${a}:${b}' not allowed, did you mean '${b}:${a}'?`;
    } else if (/^\d+$/.test(item)) {
      count += 1;
      if (Number(item) > 65535) return `invalid port '${item}'`;
    } else {
      return `'${item}' is not a port number or a range a:b (service names depend on each host's /etc/services)`;
    }
  }
  return count > 15 ? "too many entries in port list (> 15 numbers)" : undefined;
}

const isIcmp = (proto: string | undefined) => proto === "icmp";

/**
 * verify_rule for a VM's or container's rule: each problem with the API parameter it concerns (PVE's
 * `raise_param_exc` keys), PVE's wording where it has one.
 */
export function firewallRuleProblems(rule: PveFirewallRule): Array<{ param: string; message: string }> {
  const problems: Array<{ param: string; message: string }> = [];
  const add = (param: string, message: string) => problems.push({ param, message });
  if (!["in", "out", "group"].includes(rule.type)) add("type", `invalid rule type '${rule.type}' for rule_env 'vm'`);
  if (rule.type === "group") add("type", "security groups are not modelled");
  else if (!(FIREWALL_ACTIONS as readonly string[]).includes(rule.action))
    add("action", `unknown action '${rule.action}'`);
  if (rule.iface && !/^net\d+$/.test(rule.iface)) add("iface", "value does not match the regex pattern 'net\\d+'");
  if (rule.macro && !Object.hasOwn(PVE_FIREWALL_MACROS, rule.macro)) {
    const preferred = Object.keys(PVE_FIREWALL_MACROS).find((k) => k.toLowerCase() === rule.macro!.toLowerCase());
    add(
      "macro",
      preferred ? `PVE stores macro '${rule.macro}' as '${preferred}': write it so` : `unknown macro '${rule.macro}'`,
    );
  }
  if (rule.proto && !PROTOCOLS.has(rule.proto) && !(/^\d+$/.test(rule.proto) && Number(rule.proto) <= 255))
    add("proto", `unknown protocol '${rule.proto}'`);
  const icmp = isIcmp(rule.proto);
  if (rule.dport) {
    const problem = portListProblem(rule.dport, icmp);
    if (problem) add("dport", problem);
    if (!rule.proto) add("proto", "missing property - 'dport' requires this property");
    else if (!PROTOCOLS_WITH_PORTS.has(rule.proto) && !icmp)
      add("dport", `protocol '${rule.proto}' does not support ports`);
  }
  if (rule.sport) {
    const problem = portListProblem(rule.sport, false);
    if (problem) add("sport", problem);
    if (!rule.proto) add("proto", "missing property - 'sport' requires this property");
    else if (!PROTOCOLS_WITH_PORTS.has(rule.proto)) add("sport", `protocol '${rule.proto}' does not support ports`);
  }
  for (const key of ["source", "dest"] as const) {
    const value = rule[key];
    const problem = value ? addressListProblem(value) : undefined;
    if (problem) add(key, problem);
  }
  if (problems.length === 0 && rule.macro) {
    // apply_macro: a field the macro sets may be given only with the same value.
    for (const expanded of PVE_FIREWALL_MACROS[rule.macro])
      for (const key of ["proto", "dport", "sport"] as const) {
        const own = rule[key];
        const macro = expanded[key];
        if (own && macro !== undefined && own !== macro)
          add(key, `parameter '${key}' already define in macro (value = '${macro}')`);
      }
  }
  return problems.filter((p, i) => problems.findIndex((q) => q.param === p.param && q.message === p.message) === i);
}
