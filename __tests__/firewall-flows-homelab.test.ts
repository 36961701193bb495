// The flow judge (judges/firewall-flows) on the guests of the example homelabs and of a router fixture: their
// firewalls as layer 01 synthesizes them from workloads.yaml (zone and guest rules, macros, policies, DHCP, rules
// for one NIC), against the flows each homelab is written to allow and those it must drop, through every NIC a
// guest has. The matrices below are what each config's comments promise, written by hand: the judge, not the
// synthesized rules, says whether each holds.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { vmNics, type StackJson } from "../judges/firewall-flows/from-stack";
import { dhcp, ping, tcp, udp, type Endpoint } from "../judges/firewall-flows/flows";
import { nicKey, sendFlow, type Hop, type ProxmoxFirewalls } from "../judges/firewall-flows/network";
import { REPO } from "./support/synth";

const run = promisify(execFile);

interface Flow {
  readonly name: string;
  readonly open: boolean;
  readonly hops: readonly Hop[];
}

const OUTSIDE: Endpoint = { address: "203.0.113.7" };

/** examples/zoned-ha: every zone firewalled, SSH from mgmt only, services per guest, IoT limited outbound. */
function zonedHaFlows(): Flow[] {
  const guest = (vm: string, address: string): Endpoint => ({ vm, address });
  const router = guest("firewall", "10.10.10.2");
  const dns = guest("dns", "10.10.10.53");
  const nextcloud = guest("nextcloud", "10.10.50.10");
  const devBox = guest("dev-box", "10.10.20.50");
  const mqtt = guest("mqtt", "10.10.30.5");
  const mgmt: Endpoint = { address: "10.10.10.100" };
  const lan: Endpoint = { address: "10.10.20.100" };
  const iot: Endpoint = { address: "10.10.30.100" };
  return [
    { name: "HTTPS to nextcloud from outside", open: true, hops: tcp(OUTSIDE, nextcloud, 443) },
    { name: "HTTP to nextcloud from lan", open: true, hops: tcp(lan, nextcloud, 80) },
    { name: "SSH to nextcloud from mgmt", open: true, hops: tcp(mgmt, nextcloud, 22) },
    { name: "SSH to nextcloud from lan", open: false, hops: tcp(lan, nextcloud, 22) },
    { name: "SSH to nextcloud from outside", open: false, hops: tcp(OUTSIDE, nextcloud, 22) },
    { name: "8080 on nextcloud from lan", open: false, hops: tcp(lan, nextcloud, 8080) },
    { name: "DNS (udp) to dns from lan", open: true, hops: udp(lan, dns, 53) },
    { name: "DNS (tcp) to dns from nextcloud (dmz)", open: true, hops: tcp(nextcloud, dns, 53) },
    { name: "DNS to dns from outside", open: false, hops: udp(OUTSIDE, dns, 53) },
    { name: "ping to dns from mgmt", open: true, hops: ping(mgmt, dns) },
    { name: "ping to dns from lan", open: false, hops: ping(lan, dns) },
    { name: "SSH to dns from dev-box (lan)", open: false, hops: tcp(devBox, dns, 22) },
    { name: "MQTT to mqtt from an IoT device", open: true, hops: tcp(iot, mqtt, 1883) },
    { name: "MQTT to mqtt from lan", open: true, hops: tcp(lan, mqtt, 1883) },
    { name: "MQTT to mqtt from nextcloud (dmz)", open: false, hops: tcp(nextcloud, mqtt, 1883) },
    { name: "SSH to mqtt from mgmt", open: true, hops: tcp(mgmt, mqtt, 22) },
    { name: "SSH to mqtt from lan", open: false, hops: tcp(lan, mqtt, 22) },
    { name: "mqtt resolves through dns", open: true, hops: udp(mqtt, dns, 53) },
    { name: "mqtt resolves through another server", open: false, hops: udp(mqtt, { address: "1.1.1.1" }, 53) },
    { name: "mqtt sets its clock (NTP)", open: true, hops: udp(mqtt, OUTSIDE, 123) },
    { name: "mqtt calls out on HTTPS", open: false, hops: tcp(mqtt, OUTSIDE, 443) },
    { name: "SSH to dev-box from lan", open: true, hops: tcp(lan, devBox, 22) },
    { name: "SSH to dev-box from mgmt", open: true, hops: tcp(mgmt, devBox, 22) },
    { name: "SSH to dev-box from an IoT device", open: false, hops: tcp(iot, devBox, 22) },
    { name: "ping to dev-box from lan", open: true, hops: ping(lan, devBox) },
    { name: "ping to dev-box from outside", open: false, hops: ping(OUTSIDE, devBox) },
    { name: "dev-box calls nextcloud on HTTPS", open: true, hops: tcp(devBox, nextcloud, 443) },
    { name: "dev-box calls out (the answers come back)", open: true, hops: tcp(devBox, OUTSIDE, 443) },
    { name: "SSH to the router VM from outside (it filters for itself)", open: true, hops: tcp(OUTSIDE, router, 22) },
  ];
}

/** examples/lxc-homelab: the proxy, the DNS filter and the uptime monitor firewalled; the rest not. */
function lxcHomelabFlows(): Flow[] {
  const proxy: Endpoint = { vm: "proxy", address: "192.168.1.10" };
  const dns: Endpoint = { vm: "dns", address: "192.168.1.53" };
  const apps: Endpoint = { vm: "apps", address: "192.168.1.11" };
  // uptime takes its address by DHCP: one the LAN's server would give it.
  const uptime: Endpoint = { vm: "uptime", address: "192.168.1.120" };
  const lan: Endpoint = { address: "192.168.1.100" };
  const router: Endpoint = { address: "192.168.1.1" };
  return [
    { name: "HTTPS to proxy from outside", open: true, hops: tcp(OUTSIDE, proxy, 443) },
    { name: "HTTP to proxy from lan", open: true, hops: tcp(lan, proxy, 80) },
    { name: "SSH to proxy from lan", open: true, hops: tcp(lan, proxy, 22) },
    { name: "SSH to proxy from outside", open: false, hops: tcp(OUTSIDE, proxy, 22) },
    { name: "DNS to dns from lan", open: true, hops: udp(lan, dns, 53) },
    { name: "DNS to dns from the proxy", open: true, hops: udp(proxy, dns, 53) },
    { name: "DNS to dns from outside", open: false, hops: udp(OUTSIDE, dns, 53) },
    { name: "the dns web interface from lan", open: false, hops: tcp(lan, dns, 80) },
    { name: "uptime gets its DHCP lease", open: true, hops: dhcp(uptime, router) },
    { name: "Uptime Kuma from lan", open: true, hops: tcp(lan, uptime, 3001) },
    { name: "Uptime Kuma from outside", open: false, hops: tcp(OUTSIDE, uptime, 3001) },
    { name: "uptime checks the proxy", open: true, hops: tcp(uptime, proxy, 443) },
    { name: "apps (no firewall) from outside", open: true, hops: tcp(OUTSIDE, apps, 8080) },
  ];
}

/**
 * __tests__/fixtures/router-homelab: the router's LAN (net0), management network (net1) and WAN (net2) each
 * filtered, its own rules for one NIC each, the LAN zone's on all three; the VPN container's LAN NIC on DHCP and
 * a second management NIC left unfiltered.
 */
function routerHomelabFlows(): Flow[] {
  const router = { vm: "router", address: "10.20.20.2" };
  const routerMgmt = { vm: nicKey("router", "net1"), address: "10.20.10.2" };
  const routerWan = { vm: nicKey("router", "net2"), address: "198.51.100.2" };
  const vpn = { vm: "vpn", address: "10.20.10.3" };
  // vpn takes its LAN address by DHCP: one the LAN's server would give it.
  const vpnLan = { vm: nicKey("vpn", "net1"), address: "10.20.20.150" };
  const vpnUnfiltered = { vm: nicKey("vpn", "net2"), address: "10.20.10.4" };
  const mgmt: Endpoint = { address: "10.20.10.100" };
  const lan: Endpoint = { address: "10.20.20.100" };
  const lanDhcp: Endpoint = { address: "10.20.20.1" };
  return [
    { name: "WireGuard to the router's WAN from outside", open: true, hops: udp(OUTSIDE, routerWan, 51820) },
    { name: "WireGuard to the router's LAN address (WAN only)", open: false, hops: udp(lan, router, 51820) },
    { name: "WireGuard to the router's management address", open: false, hops: udp(mgmt, routerMgmt, 51820) },
    { name: "SSH to the router's WAN from outside", open: false, hops: tcp(OUTSIDE, routerWan, 22) },
    { name: "ping to the router's WAN from outside", open: false, hops: ping(OUTSIDE, routerWan) },
    { name: "DNS to the router from lan", open: true, hops: udp(lan, router, 53) },
    {
      name: "DNS to the router's management address from lan (LAN NIC only)",
      open: false,
      hops: udp(lan, routerMgmt, 53),
    },
    { name: "DNS to the router's WAN with a LAN source (LAN NIC only)", open: false, hops: udp(lan, routerWan, 53) },
    {
      name: "SSH to the router's management address from mgmt (lan zone's rule, every NIC)",
      open: true,
      hops: tcp(mgmt, routerMgmt, 22),
    },
    { name: "SSH to the router's LAN address from mgmt (lan zone's rule)", open: true, hops: tcp(mgmt, router, 22) },
    { name: "SSH to the router's LAN address from lan", open: false, hops: tcp(lan, router, 22) },
    { name: "ping to the router from lan", open: true, hops: ping(lan, router) },
    { name: "the router calls out through its WAN", open: true, hops: tcp(routerWan, OUTSIDE, 443) },
    { name: "SSH to vpn from mgmt", open: true, hops: tcp(mgmt, vpn, 22) },
    { name: "SSH to vpn's LAN NIC from mgmt (net0 only)", open: false, hops: tcp(mgmt, vpnLan, 22) },
    { name: "WireGuard to vpn from a LAN peer", open: true, hops: udp(lan, vpnLan, 51820) },
    { name: "WireGuard to vpn's management address", open: false, hops: udp(mgmt, vpn, 51820) },
    { name: "vpn gets its DHCP lease on the LAN", open: true, hops: dhcp(vpnLan, lanDhcp) },
    { name: "anything to vpn's unfiltered NIC (no firewall: true)", open: true, hops: tcp(lan, vpnUnfiltered, 8080) },
  ];
}

const HOMELABS: Record<string, { dir: string; flows: () => Flow[] }> = {
  "examples/zoned-ha": { dir: join(REPO, "examples/zoned-ha"), flows: zonedHaFlows },
  "examples/lxc-homelab": { dir: join(REPO, "examples/lxc-homelab"), flows: lxcHomelabFlows },
  "the router fixture": { dir: join(REPO, "__tests__/fixtures/router-homelab"), flows: routerHomelabFlows },
};

const stacks = new Map<string, StackJson>();

beforeAll(async () => {
  const names = Object.keys(HOMELABS);
  const { stdout } = await run(
    join(REPO, "node_modules/.bin/tsx"),
    [join(REPO, "__tests__/support/synth-child.ts"), ...names.map((name) => HOMELABS[name].dir)],
    { cwd: REPO, maxBuffer: 256 * 1024 * 1024 },
  );
  const synthesized = JSON.parse(stdout) as Array<{ infrastructure: StackJson }>;
  names.forEach((name, i) => stacks.set(name, synthesized[i].infrastructure));
}, 240_000);

/** The datacenter's firewall on (bootstrap's preflight demands it for firewalled guests), the guests' as synthesized. */
const firewallsOf = (stack: StackJson, change: Partial<ProxmoxFirewalls> = {}): ProxmoxFirewalls => ({
  datacenterEnabled: true,
  allowInvalid: {},
  nics: vmNics(stack),
  ...change,
});

const wrongFlows = (firewalls: ProxmoxFirewalls, flows: readonly Flow[]) =>
  flows.flatMap((flow) => {
    const verdict = sendFlow(firewalls, flow.hops);
    if (verdict.accepted === flow.open) return [];
    return [`${flow.name}: ${flow.open ? `dropped (${verdict.accepted ? "" : verdict.why})` : "open"}`];
  });

describe.each(Object.keys(HOMELABS))("%s with its guests' firewalls", (example) => {
  it("every flow it allows passes, every other is dropped", () => {
    const flows = HOMELABS[example].flows();
    expect(wrongFlows(firewallsOf(stacks.get(example)!), flows)).toEqual([]);
    expect(flows.some((f) => f.open)).toBe(true);
    expect(flows.some((f) => !f.open)).toBe(true);
  });

  it("each flow addresses the NIC it names, at the address Proxmox gives that NIC", () => {
    const nics = vmNics(stacks.get(example)!);
    for (const flow of HOMELABS[example].flows()) {
      const [first] = flow.hops;
      for (const [key, address] of [
        [first.to, first.packet.dst],
        [first.from, first.packet.src],
      ])
        if (key !== undefined && nics[key]?.address !== undefined && address !== "0.0.0.0")
          expect(address, `${flow.name}: ${key}`).toBe(nics[key].address);
    }
  });

  it("filters nothing without the datacenter's enable, a guest's enable or its NIC's firewall=1", () => {
    const stack = stacks.get(example)!;
    const closed = HOMELABS[example].flows().filter((f) => !f.open);
    // Every closed flow opens when the datacenter's firewall is off.
    expect(wrongFlows(firewallsOf(stack, { datacenterEnabled: false }), closed)).toHaveLength(closed.length);
    const nics = vmNics(stack);
    for (const [name, nic] of Object.entries(nics).filter(([, n]) => n.firewall && n.options.enable)) {
      const into = closed.filter((f) => f.hops[0].to === name);
      for (const change of [
        { ...nic, firewall: false },
        { ...nic, options: { ...nic.options, enable: false } },
      ]) {
        const opened = wrongFlows(firewallsOf(stack, { nics: { ...nics, [name]: change } }), into);
        expect(
          opened,
          `${name}: its closed flows open with ${change.firewall ? "enable 0" : "firewall=0"}`,
        ).toHaveLength(into.length);
      }
    }
  });
});
