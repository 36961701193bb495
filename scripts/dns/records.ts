// The address records of a cluster and its guests, for the user's own DNS: the API address and every Talos
// node under <cluster>.<domain>, every guest with a fixed address as <name>.<zone>.<domain> (or <name>.<domain>
// outside zones), with the domain of workloads.yaml ("internal" without it). DHCP guests have no address to
// publish and are listed apart.
import type { ResolvedCluster } from "../../config";

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
  /** Guests whose address comes from DHCP: named here, published by whoever leases them the address. */
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
    if (guest.address === undefined) dynamic.push(guest.fqdn);
    else records.push({ name: guest.fqdn, address: guest.address, of: `${guest.kind} ${guest.config.id}` });
  }
  return {
    domain,
    records: records.map((r) => ({ ...r, name: r.name.toLowerCase() })).sort((a, b) => compareNames(a.name, b.name)),
    dynamic: dynamic.sort(compareNames),
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
