// The address records of a cluster and its guests, for the user's own DNS: the API address and every Talos
// node under <cluster>.<domain>, every guest's first NIC with a fixed address as <name>.<zone>.<domain> (or
// <name>.<domain> outside zones) and each of its extra NICs with a fixed address in a zone as
// <name>.<that zone>.<domain>, with the domain of workloads.yaml ("internal" without it). A NIC on DHCP has no
// address to publish: its name is listed apart. An extra NIC outside zones (a WAN on its own bridge) gets no name.
import type { ResolvedCluster } from "../../config";
import { ipv4ToInt } from "../../config/ipv4";

export interface AddressRecord {
  /** Fully qualified, without the trailing dot, lower case. */
  readonly name: string;
  readonly address: string;
  /** What the record is for, e.g. "Kubernetes API", "Talos node", "vm 110". */
  readonly of: string;
}

export interface ClusterRecords {
  readonly domain: string;
  readonly records: readonly AddressRecord[];
  /** Names of NICs whose address comes from DHCP: published by whoever leases them the address. */
  readonly dynamic: readonly string[];
}

export const DEFAULT_DOMAIN = "internal";

/** Every record, sorted by name (the config checks keep names unique: no zone is named like the cluster). */
export function clusterRecords(cluster: ResolvedCluster): ClusterRecords {
  const domain = cluster.workloads?.config.domain ?? DEFAULT_DOMAIN;
  const clusterZone = `${cluster.name}.${domain}`;
  const records: AddressRecord[] = [
    { name: `api.${clusterZone}`, address: cluster.api.address, of: "Kubernetes API" },
    ...cluster.nodes.map((n) => ({
      name: `${n.name}.${clusterZone}`,
      address: n.address,
      of: n.controller ? "Talos controller" : "Talos worker",
    })),
  ];
  const dynamic: string[] = [];
  for (const guest of cluster.workloads?.guests ?? []) {
    for (const nic of [guest, ...guest.extraNics]) {
      if (nic.fqdn === undefined) continue;
      if (nic.address === undefined) dynamic.push(nic.fqdn);
      else records.push({ name: nic.fqdn, address: nic.address, of: `${guest.kind} ${guest.config.id}` });
    }
  }
  const named = records.map((r) => ({ ...r, name: r.name.toLowerCase() }));
  // A name with a fixed address on one NIC is published even when another NIC in that zone takes a lease.
  const published = new Set(named.map((r) => r.name));
  return {
    domain,
    records: named.sort((a, b) => compareNames(a.name, b.name) || ipv4ToInt(a.address) - ipv4ToInt(b.address)),
    dynamic: [...new Set(dynamic.map((name) => name.toLowerCase()))]
      .filter((name) => !published.has(name))
      .sort(compareNames),
  };
}

/** DNS canonical order (RFC 4034 6.1): by the rightmost label first. */
export function compareNames(a: string, b: string): number {
  const la = a.split(".").reverse();
  const lb = b.split(".").reverse();
  for (let i = 0; i < Math.min(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return la[i] < lb[i] ? -1 : 1;
  }
  return la.length - lb.length;
}

/** "10.0.1" for 10.0.1.5: the /24 whose reverse zone holds the address's PTR record. */
export function reverseZoneOf(address: string): string {
  const [a, b, c] = address.split(".");
  return `${c}.${b}.${a}.in-addr.arpa`;
}

/** "5.1.0.10.in-addr.arpa" for 10.0.1.5. */
export function reverseName(address: string): string {
  return `${address.split(".").reverse().join(".")}.in-addr.arpa`;
}
