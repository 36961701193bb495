/**
 * The flows a Talos + Cilium cluster needs between its VMs and from its clients, and those that must stay
 * closed, each as the packets it consists of (a TCP flow is its handshake). Where the packets go follows what
 * Talos and Cilium do:
 * - Talos: apid 50000 on every node (the operator, and apid proxying to other nodes), trustd 50001 and the
 *   Kubernetes API 6443 on controllers, etcd 2379-2380 between controllers; kube-controller-manager and
 *   kube-scheduler listen on 127.0.0.1 only (talos internal/app/machined/pkg/controllers/k8s
 *   control_plane_static_pod.go, `bind-address`), so 10257/10259 are never reached from the network.
 * - Cilium (Documentation/operations/system_requirements.rst, "Firewall Rules"): health checks on 4240 and ICMP
 *   to each node and to each node's health endpoint (a pod address); VXLAN 8472/udp only with tunnel routing;
 *   WireGuard 51871/udp only with WireGuard encryption; Hubble's server on 4244, which Hubble Relay (a pod)
 *   calls. L2 announcements elect their announcer through Kubernetes leases: no port of their own (7946 is
 *   MetalLB's memberlist, which Cilium does not run). With native routing a pod's packets to another node keep
 *   its address; a host-network pod's (the API server calling a webhook, a node's DNS lookups) carry the node's.
 * - Cilium's load balancer (kube-proxy replacement): a NodePort or LoadBalancer connection whose backend runs on
 *   another node is forwarded to it; in SNAT mode from the forwarding node's address, the reply coming back
 *   through it; in DSR mode with the client's address kept, the backend answering the client directly (the
 *   service address as source), so each host sees only one direction of the connection.
 */
import type { TrackedPacket } from "./conntrack";
import type { Hop } from "./network";
import { ipv4 } from "./pve-firewall";

export interface ClusterNode {
  readonly name: string;
  readonly address: string;
  readonly controller: boolean;
}

/** What the flows depend on: the nodes, the networks and how Cilium runs. */
export interface ClusterShape {
  readonly nodes: readonly ClusterNode[];
  readonly nodeCidr: string;
  readonly podCidr: string;
  readonly apiVip?: string;
  /** Networks the operator works from (proxmox_firewall_allow_from). */
  readonly adminCidrs: readonly string[];
  readonly cilium?: {
    readonly routing: "native" | "tunnel";
    readonly loadBalancer: "dsr" | "snat";
    readonly wireguard: boolean;
    /** A LoadBalancer address Cilium announces (on layer 2), when it has a pool. */
    readonly loadBalancerAddress?: string;
  };
}

export interface Flow {
  readonly name: string;
  /** Must the firewall let it through (true) or stop it (false)? */
  readonly open: boolean;
  readonly hops: readonly Hop[];
}

const EPHEMERAL = 40000;
const NODEPORT = 30080;

/** Whoever is at `address`: a node's VM or a guest (by name), or outside (undefined). */
export type Endpoint = { readonly vm?: string; readonly address: string };

/** A TCP handshake from `client` to `server`, delivered straight (no load balancer in between). */
export function tcp(client: Endpoint, server: Endpoint, port: number): Hop[] {
  const out = { proto: "tcp", src: client.address, dst: server.address, sport: EPHEMERAL, dport: port } as const;
  const back = { proto: "tcp", src: server.address, dst: client.address, sport: port, dport: EPHEMERAL } as const;
  return [
    { from: client.vm, to: server.vm, packet: { ...out, flags: "SYN" } },
    { from: server.vm, to: client.vm, packet: { ...back, flags: "SYN-ACK" } },
    { from: client.vm, to: server.vm, packet: { ...out, flags: "ACK" } },
  ];
}

export function udp(client: Endpoint, server: Endpoint, port: number): Hop[] {
  const out: TrackedPacket = { proto: "udp", src: client.address, dst: server.address, sport: EPHEMERAL, dport: port };
  const back: TrackedPacket = { proto: "udp", src: server.address, dst: client.address, sport: port, dport: EPHEMERAL };
  return [
    { from: client.vm, to: server.vm, packet: out },
    { from: server.vm, to: client.vm, packet: back },
  ];
}

export function ping(client: Endpoint, server: Endpoint): Hop[] {
  return [
    {
      from: client.vm,
      to: server.vm,
      packet: { proto: "icmp", src: client.address, dst: server.address, icmpType: "echo-request" },
    },
    {
      from: server.vm,
      to: client.vm,
      packet: { proto: "icmp", src: server.address, dst: client.address, icmpType: "echo-reply" },
    },
  ];
}

/**
 * A DHCP exchange: the guest's broadcast request (0.0.0.0:68 to 255.255.255.255:67) and the server's lease back
 * (server:67 to the offered address:68), which conntrack does not match to the request (other addresses).
 */
export function dhcp(guest: Endpoint, server: Endpoint): Hop[] {
  return [
    {
      from: guest.vm,
      to: server.vm,
      packet: { proto: "udp", src: "0.0.0.0", dst: "255.255.255.255", sport: 68, dport: 67 },
    },
    {
      from: server.vm,
      to: guest.vm,
      packet: { proto: "udp", src: server.address, dst: guest.address, sport: 67, dport: 68 },
    },
  ];
}

/**
 * A client's TCP connection to `frontend` (a node's address on a NodePort, or a LoadBalancer address the node
 * answers for), balanced by Cilium on `entry` to a backend pod on `backend`.
 */
function balanced(
  client: Endpoint,
  entry: ClusterNode,
  frontend: string,
  port: number,
  backend: Endpoint,
  mode: "dsr" | "snat",
): Hop[] {
  const toFrontend = { proto: "tcp", src: client.address, dst: frontend, sport: EPHEMERAL, dport: port } as const;
  const fromFrontend = { proto: "tcp", src: frontend, dst: client.address, sport: port, dport: EPHEMERAL } as const;
  if (backend.vm === entry.name) return tcp(client, { vm: entry.name, address: frontend }, port);
  const at = { vm: entry.name, address: entry.address };
  if (mode === "snat") {
    const [syn, synAck, ack] = tcp(at, backend, 8080);
    return [
      { from: client.vm, to: entry.name, packet: { ...toFrontend, flags: "SYN" } },
      syn,
      synAck,
      { from: entry.name, to: client.vm, packet: { ...fromFrontend, flags: "SYN-ACK" } },
      { from: client.vm, to: entry.name, packet: { ...toFrontend, flags: "ACK" } },
      ack,
    ];
  }
  const forwarded = { proto: "tcp", src: client.address, dst: backend.address, sport: EPHEMERAL, dport: 8080 } as const;
  return [
    { from: client.vm, to: entry.name, packet: { ...toFrontend, flags: "SYN" } },
    { from: entry.name, to: backend.vm, packet: { ...forwarded, flags: "SYN" } },
    { from: backend.vm, to: client.vm, packet: { ...fromFrontend, flags: "SYN-ACK" } },
    { from: client.vm, to: entry.name, packet: { ...toFrontend, flags: "ACK" } },
    { from: entry.name, to: backend.vm, packet: { ...forwarded, flags: "ACK" } },
  ];
}

/** The i-th /24 of the pod network, as Kubernetes hands them to nodes (node-cidr-mask-size 24). */
function podAddress(shape: ClusterShape, index: number, host: number): string {
  const [base] = shape.podCidr.split("/");
  const value = ipv4(base) + index * 256 + host;
  return [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256).join(".");
}

/** An address in `cidr` that no node has (a client on that network). */
function clientIn(cidr: string, taken: readonly string[]): string {
  const [base, prefix] = cidr.split("/");
  const size = 2 ** (32 - Number(prefix));
  for (let offset = size - 2; offset > 0; offset--) {
    const value = ipv4(base) + offset;
    const address = [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256).join(".");
    if (!taken.includes(address)) return address;
  }
  throw new Error(`no free address in ${cidr}`);
}

/** A documentation address (TEST-NET-3), outside every network of a cluster. */
const OUTSIDE = "203.0.113.7";

export function clusterFlows(shape: ClusterShape): Flow[] {
  const flows: Flow[] = [];
  const add = (name: string, open: boolean, hops: Hop[]) => flows.push({ name, open, hops });
  const node = (n: ClusterNode): Endpoint => ({ vm: n.name, address: n.address });
  const index = new Map(shape.nodes.map((n, i) => [n.name, i]));
  const pod = (n: ClusterNode, host = 10): Endpoint => ({
    vm: n.name,
    address: podAddress(shape, index.get(n.name)!, host),
  });
  const healthEndpoint = (n: ClusterNode) => pod(n, 2);
  const taken = shape.nodes.map((n) => n.address);
  const lan: Endpoint = { address: clientIn(shape.nodeCidr, [...taken, ...(shape.apiVip ? [shape.apiVip] : [])]) };
  const admins: Endpoint[] = shape.adminCidrs.map((cidr) => ({ address: clientIn(cidr, []) }));
  const outside: Endpoint = { address: OUTSIDE };
  const cilium = shape.cilium;

  for (const b of shape.nodes) {
    const role = b.controller ? "controller" : "worker";
    for (const a of shape.nodes.filter((n) => n !== b)) {
      const pair = `${a.name} -> ${b.name}`;
      add(`apid ${pair}`, true, tcp(node(a), node(b), 50000));
      add(`trustd ${pair} (${role})`, b.controller, tcp(node(a), node(b), 50001));
      add(`Kubernetes API ${pair} (${role})`, b.controller, tcp(node(a), node(b), 6443));
      for (const port of [2379, 2380])
        add(
          `etcd ${port} ${pair} (${a.controller ? "controller" : "worker"} to ${role})`,
          a.controller && b.controller,
          tcp(node(a), node(b), port),
        );
      add(`kubelet ${pair}`, true, tcp(node(a), node(b), 10250));
      for (const port of [10257, 10259])
        add(`${port} ${pair} (listens on 127.0.0.1)`, false, tcp(node(a), node(b), port));
      if (!cilium) continue;
      add(`Cilium health ${pair}`, true, tcp(node(a), node(b), 4240));
      add(`Cilium health ${a.name} -> ${b.name}'s health endpoint`, true, tcp(node(a), healthEndpoint(b), 4240));
      add(`ICMP ${pair}`, true, ping(node(a), node(b)));
      add(`ICMP ${a.name} -> ${b.name}'s health endpoint`, true, ping(node(a), healthEndpoint(b)));
      add(`VXLAN ${pair} (${cilium.routing} routing)`, cilium.routing === "tunnel", udp(node(a), node(b), 8472));
      add(`WireGuard ${pair} (${cilium.wireguard ? "on" : "off"})`, cilium.wireguard, udp(node(a), node(b), 51871));
      add(`memberlist 7946 ${pair} (not Cilium's)`, false, tcp(node(a), node(b), 7946));
      add(`pod on ${a.name} -> pod on ${b.name} tcp`, true, tcp(pod(a), pod(b), 8080));
      add(`pod on ${a.name} -> pod on ${b.name} dns`, true, udp(pod(a), pod(b), 53));
      add(`pod on ${a.name} -> host-network pod on ${b.name}`, true, tcp(pod(a), node(b), 9100));
      add(`Hubble Relay on ${a.name} -> Hubble on ${b.name}`, true, tcp(pod(a), node(b), 4244));
      add(`host-network ${a.name} -> pod on ${b.name} dns`, true, udp(node(a), pod(b), 53));
      add(`host-network ${a.name} -> webhook pod on ${b.name}`, true, tcp(node(a), pod(b), 9443));
    }
    if (shape.apiVip && b.controller)
      add(
        `Kubernetes API VIP on ${b.name} from the nodes' network`,
        true,
        tcp(lan, { vm: b.name, address: shape.apiVip }, 6443),
      );

    // The operator's access: from the admin networks, or without them from the nodes' network alone.
    for (const [who, client, open] of [
      ["the nodes' network", lan, true],
      ...admins.map((admin, i) => [`admin network ${shape.adminCidrs[i]}`, admin, true] as const),
      ["outside", outside, false],
    ] as const) {
      add(`apid on ${b.name} from ${who}`, open, tcp(client, node(b), 50000));
      if (b.controller) add(`Kubernetes API on ${b.name} from ${who}`, open, tcp(client, node(b), 6443));
      add(`kubelet on ${b.name} from ${who}`, who === "the nodes' network", tcp(client, node(b), 10250));
      add(`etcd on ${b.name} from ${who}`, false, tcp(client, node(b), 2379));
    }
    if (shape.apiVip && b.controller)
      add(
        `Kubernetes API VIP on ${b.name} from outside`,
        false,
        tcp(outside, { vm: b.name, address: shape.apiVip }, 6443),
      );

    if (!cilium) continue;
    // Services: NodePorts from the nodes' and the admin networks, from anywhere only when no admin network
    // narrows access; LoadBalancer addresses from anywhere. Each to a backend on the node and on another one.
    const backends = [b, shape.nodes.find((n) => n !== b)].filter((n): n is ClusterNode => n !== undefined);
    for (const backend of new Set(backends)) {
      const where = backend === b ? "on the node" : `on ${backend.name}`;
      for (const [who, client, open] of [
        ["the nodes' network", lan, true],
        ...admins.map((admin, i) => [`admin network ${shape.adminCidrs[i]}`, admin, true] as const),
        ["outside", outside, admins.length === 0],
      ] as const) {
        add(
          `NodePort on ${b.name} from ${who}, backend ${where} (${cilium.loadBalancer})`,
          open,
          balanced(client, b, b.address, NODEPORT, pod(backend), cilium.loadBalancer),
        );
      }
      if (cilium.loadBalancerAddress)
        add(
          `LoadBalancer address announced by ${b.name} from outside, backend ${where} (${cilium.loadBalancer})`,
          true,
          balanced(outside, b, cilium.loadBalancerAddress, 443, pod(backend), cilium.loadBalancer),
        );
    }
  }
  return flows;
}
