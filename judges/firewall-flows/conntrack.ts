/**
 * The connection tracking of one Proxmox host, as far as the firewall's verdicts depend on it: the state
 * iptables' `-m conntrack --ctstate` sees for each packet. TCP follows the kernel's nf_conntrack_proto_tcp
 * transition table (tcp_conntracks) for the handshake, with nf_conntrack_tcp_loose at its default 1 (an ACK
 * without a connection is picked up); UDP and ICMP echo are NEW until a reply is seen. Bridged traffic is tracked
 * by the host (pve-firewall turns bridge-nf-call-iptables on), so a connection whose two directions take
 * different paths (Cilium's DSR) is seen half by each host.
 */
import type { Packet } from "./pve-firewall";

export type ConntrackState = "NEW" | "ESTABLISHED" | "RELATED" | "INVALID";
export type TcpFlags = "SYN" | "SYN-ACK" | "ACK";
export type TrackedPacket = Packet & { readonly flags?: TcpFlags };

type TcpState = "SYN_SENT" | "SYN_RECV" | "ESTABLISHED";

interface Entry {
  tcp?: TcpState;
  seenReply: boolean;
}

const key = (p: TrackedPacket, reverse = false) => {
  const [src, dst, sport, dport] = reverse ? [p.dst, p.src, p.dport, p.sport] : [p.src, p.dst, p.sport, p.dport];
  return `${p.proto} ${src}:${sport ?? "-"} > ${dst}:${dport ?? "-"}`;
};

// tcp_conntracks[dir][flags][state], only the cells a handshake reaches; undefined is sIV (invalid).
const ORIGINAL: Record<TcpFlags, Partial<Record<TcpState, TcpState>>> = {
  SYN: { SYN_SENT: "SYN_SENT", SYN_RECV: "SYN_RECV" },
  "SYN-ACK": {},
  ACK: { SYN_RECV: "ESTABLISHED", ESTABLISHED: "ESTABLISHED" },
};
const REPLY: Record<TcpFlags, Partial<Record<TcpState, TcpState>>> = {
  SYN: {},
  "SYN-ACK": { SYN_SENT: "SYN_RECV", SYN_RECV: "SYN_RECV" },
  ACK: { SYN_RECV: "SYN_RECV", ESTABLISHED: "ESTABLISHED" },
};

export class ConntrackTable {
  private readonly entries = new Map<string, Entry>();

  /** The state of `packet`, updating the table as the kernel does. */
  track(packet: TrackedPacket): ConntrackState {
    const original = this.entries.get(key(packet));
    const reply = original ? undefined : this.entries.get(key(packet, true));
    if (!original && !reply) return this.create(packet);
    const entry = (original ?? reply)!;
    if (packet.proto === "tcp") {
      const flags = packet.flags ?? "ACK";
      const next = (original ? ORIGINAL : REPLY)[flags][entry.tcp!];
      if (!next) return "INVALID";
      entry.tcp = next;
    }
    if (reply) entry.seenReply = true;
    return entry.seenReply ? "ESTABLISHED" : "NEW";
  }

  private create(packet: TrackedPacket): ConntrackState {
    let tcp: TcpState | undefined;
    if (packet.proto === "tcp") {
      const flags = packet.flags ?? "ACK";
      // tcp_new: a SYN opens; a SYN-ACK as a first packet is invalid ("invalid new"); a lone ACK is picked up.
      if (flags === "SYN-ACK") return "INVALID";
      tcp = flags === "SYN" ? "SYN_SENT" : "ESTABLISHED";
    }
    if (packet.proto === "icmp" && packet.icmpType !== "echo-request") return "INVALID";
    this.entries.set(key(packet), { tcp, seenReply: false });
    return "NEW";
  }
}
