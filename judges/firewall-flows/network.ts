/**
 * Packets through Proxmox hosts: each packet leaves a guest's NIC (or comes from outside) and enters a guest's NIC
 * (or leaves for outside); on every host it crosses, the host's conntrack gives it a state, PVEFW-FORWARD judges
 * that state, and the tap chains of the NIC it leaves and the NIC it enters judge the rest. A flow is open when
 * each of its packets gets through.
 */
import { ConntrackTable, type TrackedPacket } from "./conntrack";
import { forwardChain, tapChain, type Verdict, type VmNic } from "./pve-firewall";

export interface ProxmoxFirewalls {
  /** The datacenter's `enable` (cluster.fw): off, pve-firewall compiles nothing at all. */
  readonly datacenterEnabled: boolean;
  /** Each host's `nf_conntrack_allow_invalid` (host.fw). */
  readonly allowInvalid: Readonly<Record<string, boolean>>;
  /** Every NIC of every guest, by its key (`nicKey`). */
  readonly nics: Readonly<Record<string, VmNic>>;
}

/** A NIC's key: the guest's name for its first NIC (net0), `<guest>/<netid>` for the others. */
export function nicKey(vm: string, netid: string): string {
  return netid === "net0" ? vm : `${vm}/${netid}`;
}

/** One packet: from a guest's NIC or from outside, to a guest's NIC or outside (NICs by `nicKey`). */
export interface Hop {
  readonly from?: string;
  readonly to?: string;
  readonly packet: TrackedPacket;
}

/** Sends the packets of one flow in order, with the hosts' conntrack tables fresh; the first drop ends it. */
export function sendFlow(firewalls: ProxmoxFirewalls, hops: readonly Hop[]): Verdict {
  if (!firewalls.datacenterEnabled) return { accepted: true };
  const tables = new Map<string, ConntrackTable>();
  for (const [index, hop] of hops.entries()) {
    const verdict = sendPacket(firewalls, tables, hop);
    if (!verdict.accepted) return { accepted: false, why: `packet ${index + 1} of ${hops.length}: ${verdict.why}` };
  }
  return { accepted: true };
}

function nicOf(firewalls: ProxmoxFirewalls, key: string): VmNic {
  const nic = firewalls.nics[key];
  if (!nic) throw new Error(`no NIC ${key} in the firewall configuration`);
  return nic;
}

function sendPacket(firewalls: ProxmoxFirewalls, tables: Map<string, ConntrackTable>, hop: Hop): Verdict {
  const from = hop.from === undefined ? undefined : nicOf(firewalls, hop.from);
  const to = hop.to === undefined ? undefined : nicOf(firewalls, hop.to);
  const hosts = [...new Set([from?.host, to?.host].filter((h): h is string => h !== undefined))];
  for (const host of hosts) {
    if (!tables.has(host)) tables.set(host, new ConntrackTable());
    const state = tables.get(host)!.track(hop.packet);
    const forward = forwardChain(state, firewalls.allowInvalid[host] ?? false);
    if (forward === "drop") return { accepted: false, why: `${host}: conntrack INVALID, dropped by PVEFW-FORWARD` };
    if (forward === "accept") continue;
    for (const [nic, direction] of [
      [from, "out"],
      [to, "in"],
    ] as const) {
      if (nic?.host !== host) continue;
      const verdict = tapChain(nic, direction, hop.packet, state);
      if (!verdict.accepted) return verdict;
    }
  }
  return { accepted: true };
}
