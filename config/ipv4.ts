// Minimal IPv4 arithmetic for the cross-field checks (the schema has already checked the syntax).
import { PVE_PATTERNS } from "./pve-formats";

export interface Ipv4Network {
  /** As written, e.g. "192.168.1.0/24". */
  readonly cidr: string;
  readonly base: number;
  readonly prefix: number;
}

export function ipv4ToInt(address: string): number {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function parseCidr(cidr: string): Ipv4Network {
  const [address, prefix] = cidr.split("/");
  const bits = Number(prefix);
  return { cidr, base: networkBase(ipv4ToInt(address), bits), prefix: bits };
}

function networkBase(address: number, prefix: number): number {
  const size = 2 ** (32 - prefix);
  return Math.floor(address / size) * size;
}

export function contains(network: Ipv4Network, address: string): boolean {
  return networkBase(ipv4ToInt(address), network.prefix) === network.base;
}

export function overlaps(a: Ipv4Network, b: Ipv4Network): boolean {
  const shorter = Math.min(a.prefix, b.prefix);
  return networkBase(a.base, shorter) === networkBase(b.base, shorter);
}

/** True for the network and broadcast addresses of networks with room for hosts (prefix up to /30). */
export function isNetworkOrBroadcast(network: Ipv4Network, address: string): boolean {
  if (network.prefix > 30) return false;
  const value = ipv4ToInt(address);
  return value === network.base || value === network.base + 2 ** (32 - network.prefix) - 1;
}

export function intToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** The first host address of a network, the usual gateway of a homelab LAN. */
export function firstHost(network: Ipv4Network): string {
  return intToIpv4(network.prefix >= 31 ? network.base : network.base + 1);
}

/**
 * Why an address is no unicast host's (0.0.0.0/8, multicast, reserved or broadcast), or undefined. Loopback
 * networks stay allowed: the engine tests put whole examples on 127.x so that their traffic stays on this host.
 */
export function notAHostAddress(address: string): string | undefined {
  const first = Number(address.split(".")[0]);
  if (first === 0) return "in 0.0.0.0/8 (this network), not a host's address";
  if (first >= 224 && first < 240) return "a multicast address (224.0.0.0/4), not a host's address";
  if (first >= 240) return "a reserved or broadcast address (240.0.0.0/4), not a host's address";
  return undefined;
}

/** False for addresses no server has: 0.0.0.0/8, multicast 224.0.0.0/4, reserved 240.0.0.0/4 and broadcast. */
export function isUsableHostAddress(address: string): boolean {
  const first = Number(address.split(".")[0]);
  return first !== 0 && first < 224;
}

/** True when the address is the network's own base address (the host bits are all zero). */
export function isCanonicalCidr(cidr: string): boolean {
  const [address] = cidr.split("/");
  return ipv4ToInt(address) === parseCidr(cidr).base;
}

/** "a.b.c.d" or "a.b.c.d/n", written canonically: octets 0-255 and a prefix 0-32 without leading zeros. */
export function isIpv4WithPrefix(value: string): boolean {
  const [address, prefix, ...rest] = value.split("/");
  return (
    rest.length === 0 &&
    PVE_PATTERNS.ipv4.test(address) &&
    (prefix === undefined || /^(?:[12]?\d|3[0-2])$/.test(prefix))
  );
}
