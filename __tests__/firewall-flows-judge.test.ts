// The flow judge itself, held to pve-firewall's behaviour (judges/firewall-flows/README.md names the source of
// each rule) on small hand-made firewalls: first match, what is skipped, the policies, what turns filtering off,
// and the hosts' conntrack.
import { describe, expect, it } from "vitest";
import { clusterFlows, ping, tcp, udp, type ClusterShape } from "../judges/firewall-flows/flows";
import { vmNics } from "../judges/firewall-flows/from-stack";
import { nicKey, sendFlow, type Hop, type ProxmoxFirewalls } from "../judges/firewall-flows/network";
import { NotModelled, type FirewallRule, type VmNic } from "../judges/firewall-flows/pve-firewall";

const nic = (vm: string, host: string, rules: FirewallRule[], extra: Partial<VmNic> = {}): VmNic => ({
  vm,
  host,
  netid: "net0",
  firewall: true,
  options: { enable: true, policy_in: "DROP", policy_out: "ACCEPT" },
  rules,
  ...extra,
});
const accept = (rule: Partial<FirewallRule>): FirewallRule => ({ type: "in", action: "ACCEPT", enable: true, ...rule });
const world = (nics: VmNic[], extra: Partial<ProxmoxFirewalls> = {}): ProxmoxFirewalls => ({
  datacenterEnabled: true,
  allowInvalid: {},
  nics: Object.fromEntries(nics.map((n) => [nicKey(n.vm, n.netid), n])),
  ...extra,
});

/** A TCP handshake from outside to `vm` at 10.0.0.2 on `port`. */
const handshake = (port: number, to = "b"): Hop[] => {
  const out = { proto: "tcp", src: "10.0.0.9", dst: "10.0.0.2", sport: 40000, dport: port } as const;
  const back = { proto: "tcp", src: "10.0.0.2", dst: "10.0.0.9", sport: port, dport: 40000 } as const;
  return [
    { to, packet: { ...out, flags: "SYN" } },
    { from: to, packet: { ...back, flags: "SYN-ACK" } },
    { to, packet: { ...out, flags: "ACK" } },
  ];
};

describe("rules, as ruleset_generate_vm_rules and ipt_rule_to_cmds make them", () => {
  it("the first matching rule decides", () => {
    const drop: FirewallRule = { type: "in", action: "DROP", enable: true, proto: "tcp", dport: "22" };
    const allow = accept({ proto: "tcp", dport: "22" });
    expect(sendFlow(world([nic("b", "h", [drop, allow])]), handshake(22))).toMatchObject({ accepted: false });
    expect(sendFlow(world([nic("b", "h", [allow, drop])]), handshake(22))).toEqual({ accepted: true });
  });

  it("skips a disabled rule, a rule of another NIC, an outbound rule, and one whose fields do not all match", () => {
    for (const rule of [
      accept({ proto: "tcp", dport: "22", enable: false }),
      accept({ proto: "tcp", dport: "22", iface: "net1" }),
      accept({ proto: "tcp", dport: "22", type: "out" }),
      accept({ proto: "udp", dport: "22" }),
      accept({ proto: "tcp", dport: "1:21,23:30" }),
      accept({ proto: "tcp", source: "10.0.1.0/24" }),
      accept({ proto: "tcp", dest: "10.0.0.3-10.0.0.9" }),
    ])
      expect(sendFlow(world([nic("b", "h", [rule])]), handshake(22))).toMatchObject({ accepted: false });
    for (const rule of [
      accept({ proto: "tcp", dport: "20:25" }),
      accept({ source: "10.0.0.0/24" }),
      accept({ proto: "tcp", source: "10.0.0.8,10.0.0.9", dest: "10.0.0.1-10.0.0.2" }),
    ])
      expect(sendFlow(world([nic("b", "h", [rule])]), handshake(22))).toEqual({ accepted: true });
  });

  it("expands a macro as apply_macro does: its protocols and ports, the rule's action, source and dest", () => {
    const allowed = (rule: FirewallRule, port = 22) =>
      sendFlow(world([nic("b", "h", [rule])]), handshake(port)).accepted;
    expect(allowed(accept({ macro: "SSH" }))).toBe(true);
    expect(allowed(accept({ macro: "SSH" }), 23)).toBe(false);
    expect(allowed(accept({ macro: "SSH", source: "10.0.1.0/24" }))).toBe(false);
    expect(allowed(accept({ macro: "SSH", proto: "tcp" }))).toBe(true);
    expect(allowed(accept({ macro: "Web" }), 443)).toBe(true);
    expect(allowed(accept({ macro: "Web" }), 80)).toBe(true);
    expect(allowed(accept({ macro: "DNS" }), 53)).toBe(true);
    expect(allowed({ type: "in", action: "DROP", enable: true, macro: "SSH" })).toBe(false);
    // Macros PVE refuses the rule of (another port than the macro's, an unknown name) are not guessed at.
    expect(() => allowed(accept({ macro: "SSH", dport: "2222" }))).toThrow(NotModelled);
    expect(() => allowed(accept({ macro: "Nope" }))).toThrow(NotModelled);
  });

  it("lets DHCP leases in unless the options say dhcp 0 (ruleset_create_vm_chain)", () => {
    const lease: Hop[] = [
      { to: "b", packet: { proto: "udp", src: "10.0.0.1", dst: "10.0.0.2", sport: 67, dport: 68 } },
    ];
    expect(sendFlow(world([nic("b", "h", [])]), lease)).toEqual({ accepted: true });
    const off = nic("b", "h", [], { options: { enable: true, policy_in: "DROP", dhcp: false } });
    expect(sendFlow(world([off]), lease)).toMatchObject({ accepted: false });
  });

  it("refuses to guess what it does not model: security groups, ipsets and aliases", () => {
    for (const rule of [
      { type: "group", action: "k8s", enable: true },
      accept({ source: "+trusted" }),
      accept({ source: "lan" }),
      accept({ proto: "tcp", dport: "ssh" }),
    ])
      expect(() => sendFlow(world([nic("b", "h", [rule])]), handshake(22))).toThrow(NotModelled);
  });
});

describe("policies and switches", () => {
  it("policy DROP drops what no rule accepts but lets ICMP errors through (PVEFW-Drop); ACCEPT lets all in", () => {
    const frag: Hop[] = [
      { to: "b", packet: { proto: "icmp", src: "10.0.0.9", dst: "10.0.0.2", icmpType: "fragmentation-needed" } },
    ];
    // An ICMP error of no connection the host knows is INVALID (nf_conntrack's icmp_error_message): only a host
    // that lets INVALID packets on takes it to the VM's chain, whose policy accepts it.
    const dropping = world([nic("b", "h", [])], { allowInvalid: { h: true } });
    expect(sendFlow(dropping, handshake(22))).toMatchObject({ accepted: false });
    expect(sendFlow(dropping, frag)).toEqual({ accepted: true });
    expect(sendFlow(world([nic("b", "h", [])]), frag)).toMatchObject({ accepted: false });
    const accepting = world([nic("b", "h", [], { options: { enable: true, policy_in: "ACCEPT" } })]);
    expect(sendFlow(accepting, handshake(22))).toEqual({ accepted: true });
  });

  it("filters nothing without the VM's enable, without the NIC's firewall=1, or without the datacenter's enable", () => {
    expect(sendFlow(world([nic("b", "h", [], { options: { policy_in: "DROP" } })]), handshake(22))).toEqual({
      accepted: true,
    });
    expect(sendFlow(world([nic("b", "h", [], { firewall: false })]), handshake(22))).toEqual({ accepted: true });
    expect(sendFlow(world([nic("b", "h", [])], { datacenterEnabled: false }), handshake(22))).toEqual({
      accepted: true,
    });
  });
});

describe("a guest's NICs: a tap chain each (compile_iptables_filter: every netN with firewall=1)", () => {
  // A router: LAN on net0, WAN on net1; one rule list and one set of options for both, as in the guest's .fw.
  const rules: FirewallRule[] = [
    accept({ proto: "udp", dport: "51820", iface: "net1" }),
    accept({ proto: "tcp", dport: "22", iface: "net0" }),
    accept({ proto: "icmp" }),
    { type: "out", action: "DROP", enable: true, proto: "tcp", dport: "25", iface: "net1" },
  ];
  const lan = { vm: "r", address: "10.0.0.2" };
  const wan = { vm: nicKey("r", "net1"), address: "198.51.100.2" };
  const client = { address: "10.0.0.9" };
  const outside = { address: "203.0.113.7" };
  const router = (net0: Partial<VmNic> = {}, net1: Partial<VmNic> = {}) =>
    world([nic("r", "h", rules, net0), nic("r", "h", rules, { netid: "net1", ...net1 })]);
  const open = (firewalls: ProxmoxFirewalls, hops: Hop[]) => sendFlow(firewalls, hops).accepted;

  it("a rule with iface filters only its NIC (ruleset_generate_vm_rules skips another's); one without, every NIC", () => {
    expect(open(router(), udp(outside, wan, 51820))).toBe(true);
    expect(open(router(), udp(client, lan, 51820))).toBe(false);
    expect(open(router(), tcp(client, lan, 22))).toBe(true);
    expect(open(router(), tcp(outside, wan, 22))).toBe(false);
    expect(open(router(), ping(client, lan))).toBe(true);
    expect(open(router(), ping(outside, wan))).toBe(true);
    // Out of the NIC a packet leaves by: SMTP out through the WAN dropped, through the LAN let go.
    expect(open(router(), tcp(wan, outside, 25))).toBe(false);
    expect(open(router(), tcp(lan, client, 25))).toBe(true);
  });

  it("each NIC's firewall=1 on its own: an unfiltered NIC lets everything through while the other filters", () => {
    expect(open(router({}, { firewall: false }), tcp(outside, wan, 22))).toBe(true);
    expect(open(router({}, { firewall: false }), udp(client, lan, 51820))).toBe(false);
    expect(open(router({ firewall: false }), udp(client, lan, 51820))).toBe(true);
    expect(open(router({ firewall: false }), tcp(outside, wan, 22))).toBe(false);
  });

  it("reads every NIC of a synthesized guest: net<n> from the nth network_device, its firewall and ip_config", () => {
    const vm = {
      node_name: "h",
      network_device: [{ firewall: true }, { firewall: false }, { firewall: true }],
      initialization: {
        ip_config: [
          { ipv4: { address: "10.0.0.2/24" } },
          { ipv4: { address: "dhcp" } },
          { ipv4: { address: "198.51.100.2/24" } },
        ],
      },
    };
    const ct = { node_name: "h", network_interface: [{ firewall: false }, { firewall: true }] };
    const nics = vmNics({
      resource: { proxmox_virtual_environment_vm: { r: vm }, proxmox_virtual_environment_container: { c: ct } },
    });
    expect(Object.entries(nics).map(([key, n]) => [key, n.vm, n.netid, n.firewall, n.address])).toEqual([
      ["r", "r", "net0", true, "10.0.0.2"],
      ["r/net1", "r", "net1", false, undefined],
      ["r/net2", "r", "net2", true, "198.51.100.2"],
      ["c", "c", "net0", false, undefined],
      ["c/net1", "c", "net1", true, undefined],
    ]);
  });
});

describe("the hosts' conntrack", () => {
  it("judges only the first packet: the replies and the rest of a connection are ESTABLISHED", () => {
    // The client VM drops everything in, yet gets its answers.
    const firewalls = world([nic("a", "h1", []), nic("b", "h2", [accept({ proto: "tcp", dport: "22" })])]);
    const hops = handshake(22).map((h) => (h.to ? { ...h, from: "a" } : { ...h, to: "a" }));
    expect(sendFlow(firewalls, hops)).toEqual({ accepted: true });
  });

  it("a connection whose directions take different paths (Cilium DSR) is INVALID to each host unless it allows them", () => {
    // Client -> a (frontend 10.0.0.1:30080) -> b (backend pod 10.42.1.10:8080, client address kept); b answers
    // the client directly as the frontend.
    const toFrontend = { proto: "tcp", src: "10.0.0.9", dst: "10.0.0.1", sport: 40000, dport: 30080 } as const;
    const forwarded = { proto: "tcp", src: "10.0.0.9", dst: "10.42.1.10", sport: 40000, dport: 8080 } as const;
    const answer = { proto: "tcp", src: "10.0.0.1", dst: "10.0.0.9", sport: 30080, dport: 40000 } as const;
    const hops: Hop[] = [
      { to: "a", packet: { ...toFrontend, flags: "SYN" } },
      { from: "a", to: "b", packet: { ...forwarded, flags: "SYN" } },
      { from: "b", packet: { ...answer, flags: "SYN-ACK" } },
      { to: "a", packet: { ...toFrontend, flags: "ACK" } },
      { from: "a", to: "b", packet: { ...forwarded, flags: "ACK" } },
    ];
    const nics = [
      nic("a", "h1", [accept({ proto: "tcp", dport: "30080" })]),
      nic("b", "h2", [accept({ dest: "10.42.0.0/16" })]),
    ];
    expect(sendFlow(world(nics), hops)).toEqual({
      accepted: false,
      why: "packet 3 of 5: h2: conntrack INVALID, dropped by PVEFW-FORWARD",
    });
    expect(sendFlow(world(nics, { allowInvalid: { h1: true } }), hops)).toMatchObject({ accepted: false });
    expect(sendFlow(world(nics, { allowInvalid: { h1: true, h2: true } }), hops)).toEqual({ accepted: true });
    // On one host too: the forwarded ACK finds its connection still waiting for an answer.
    const oneHost = [nics[0], { ...nics[1], host: "h1" }];
    expect(sendFlow(world(oneHost), hops)).toMatchObject({
      accepted: false,
      why: expect.stringMatching(/^packet 5 of 5: h1: conntrack INVALID/),
    });
  });
});

describe("the flow matrix", () => {
  const shape = (cilium: NonNullable<ClusterShape["cilium"]>): ClusterShape => ({
    nodes: [
      { name: "cp", address: "10.0.0.1", controller: true },
      { name: "w", address: "10.0.0.2", controller: false },
    ],
    nodeCidr: "10.0.0.0/24",
    podCidr: "10.42.0.0/16",
    adminCidrs: [],
    cilium,
  });
  const openness = (s: ClusterShape, prefix: string) =>
    clusterFlows(s)
      .filter((f) => f.name.startsWith(prefix))
      .map((f) => f.open);

  it("wants VXLAN only with tunnel routing and WireGuard only when it is on", () => {
    const base = { loadBalancer: "snat", wireguard: false, routing: "native" } as const;
    expect(openness(shape(base), "VXLAN")).toEqual([false, false]);
    expect(openness(shape({ ...base, routing: "tunnel" }), "VXLAN")).toEqual([true, true]);
    expect(openness(shape(base), "WireGuard")).toEqual([false, false]);
    expect(openness(shape({ ...base, wireguard: true }), "WireGuard")).toEqual([true, true]);
  });

  it("wants etcd between controllers only, trustd and the API on controllers only", () => {
    const flows = clusterFlows(shape({ loadBalancer: "snat", wireguard: false, routing: "native" }));
    const open = (name: string) => flows.find((f) => f.name === name)?.open;
    expect(open("etcd 2379 w -> cp (worker to controller)")).toBe(false);
    expect(open("trustd w -> cp (controller)")).toBe(true);
    expect(open("trustd cp -> w (worker)")).toBe(false);
    expect(open("Kubernetes API cp -> w (worker)")).toBe(false);
  });
});
