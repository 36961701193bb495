// Cross-field rules over the two parsed files, each issue with an exact path and a message that says the fix.
import type { ConfigIssue } from "./issues";
import {
  contains,
  firstHost,
  intToIpv4,
  ipv4ToInt,
  isCanonicalCidr,
  isNetworkOrBroadcast,
  notAHostAddress,
  overlaps,
  parseCidr,
  type Ipv4Network,
} from "./ipv4";
import { resolveNode } from "./resolve";
import { TAILSCALE_EXTENSION } from "./tailscale";
import { vmDefaultsSchema, type ClusterConfig, type NodeConfig } from "./schema";
import { CILIUM_RELEASES, compareMinors, describeMinors, inRange, minorOf, TALOS_RELEASES } from "./versions";

/** Each node gets a /24 of the pod network (kube-controller-manager's default node-cidr-mask-size). */
const NODE_POD_PREFIX = 24;

/**
 * Rules between keys and between files. When the files have schema errors, `cluster` has only the keys that
 * are valid on their own and `nodes` has holes: the rules that can still be checked are, so that one run
 * reports every problem.
 */
export function crossFieldIssues(
  cluster: Partial<ClusterConfig>,
  maybeNodes: readonly (NodeConfig | undefined)[],
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const error = (file: ConfigIssue["file"], path: ConfigIssue["path"], message: string) =>
    issues.push({ file, path, message, severity: "error" });
  const warn = (file: ConfigIssue["file"], path: ConfigIssue["path"], message: string) =>
    issues.push({ file, path, message, severity: "warning" });
  const nodes = maybeNodes
    .map((node, index) => ({ node, index }))
    .filter((n): n is { node: NodeConfig; index: number } => !!n.node);
  const nodeRef = (i: number) => `nodes[${i}] (${maybeNodes[i]?.name})`;
  // A node resolved against a cluster.yaml that may have only some valid keys: read only what they give.
  const partlyResolved = (node: NodeConfig) =>
    resolveNode(
      { proxmox_vm_defaults: vmDefaultsSchema.parse({}), ...cluster } as ClusterConfig,
      parseCidr(cluster.node_cidr ?? "0.0.0.0/0"),
      node,
    );

  // Unique values across nodes.
  const uniqueKeys = ["name", "vm_id", "address", "mac_addr"] as const;
  for (const key of uniqueKeys) {
    const firstUse = new Map<unknown, number>();
    nodes.forEach(({ node, index: i }) => {
      const value = node[key];
      if (value === undefined) return;
      const first = firstUse.get(value);
      if (first === undefined) firstUse.set(value, i);
      else error("nodes.yaml", ["nodes", i, key], `${value} is already used by ${nodeRef(first)}`);
    });
  }

  // Control plane: only meaningful when every entry is valid.
  const controllers = nodes.filter((n) => n.node.controller).length;
  if (nodes.length === maybeNodes.length && maybeNodes.length > 0) {
    if (controllers === 0) {
      error("nodes.yaml", ["nodes"], "no node has controller: true; a cluster needs at least one control-plane node");
    } else if (controllers % 2 === 0) {
      warn(
        "nodes.yaml",
        ["nodes"],
        `${controllers} controllers: etcd tolerates no more failures with an even number than with one fewer; use ${controllers - 1} or ${controllers + 1}`,
      );
    }
  }

  // One Proxmox host holding more than half of the controllers takes etcd's quorum with it when it fails. Only
  // a cluster spread over several hosts can avoid it; on one host everything fails together anyway.
  const hostOf = (node: NodeConfig) => node.proxmox_node ?? cluster.proxmox_node;
  const hosts = new Set(nodes.map(({ node }) => hostOf(node)));
  if (controllers >= 2 && hosts.size >= 2 && !hosts.has(undefined)) {
    const held = new Map<string, number[]>();
    for (const { node, index } of nodes.filter((n) => n.node.controller))
      held.set(hostOf(node)!, [...(held.get(hostOf(node)!) ?? []), index]);
    for (const [host, indexes] of held) {
      if (indexes.length * 2 <= controllers) continue;
      const last = indexes.at(-1)!;
      warn(
        "nodes.yaml",
        ["nodes", last, ...(maybeNodes[last]?.proxmox_node === undefined ? [] : ["proxmox_node"])],
        `Proxmox host ${host} holds ${indexes.length} of the ${controllers} controllers (${indexes.map((i) => maybeNodes[i]?.name).join(", ")}): losing that host loses etcd's quorum and the Kubernetes API; spread them so that no host holds more than ${Math.floor(controllers / 2)} (three hosts at least; a small third one will do)`,
      );
    }
  }

  nodes.forEach(({ node, index: i }) => {
    if (node.disk !== undefined && node.disk_selector !== undefined) {
      error(
        "nodes.yaml",
        ["nodes", i, "disk_selector"],
        `both disk (${node.disk}) and disk_selector are set; keep one: Talos installs to the disk path, or to the disk the selector finds`,
      );
    }
  });

  // Tailscale: where the key comes from is cluster.yaml's; the extension goes into a schematic built here.
  const tailnetNames = new Map<string, number>();
  nodes.forEach(({ node, index: i }) => {
    if (node.tailscale !== undefined && node.tailscale !== false && cluster.tailscale === undefined) {
      error(
        "nodes.yaml",
        ["nodes", i, "tailscale"],
        "joins the tailnet, but cluster.yaml has no tailscale (where the auth key comes from); add tailscale: {} to cluster.yaml",
      );
      return;
    }
    const joins = partlyResolved(node).tailscale;
    if (!joins) return;
    if (node.schematic_id !== undefined)
      error(
        "nodes.yaml",
        ["nodes", i, node.tailscale === undefined ? "schematic_id" : "tailscale"],
        `boots its own schematic_id, to which the ${TAILSCALE_EXTENSION} extension cannot be added; remove schematic_id (the node then boots talos_extensions plus Tailscale) or keep the node out of the tailnet (tailscale: false)`,
      );
    const first = tailnetNames.get(joins.hostname);
    if (first === undefined) tailnetNames.set(joins.hostname, i);
    else
      error(
        "nodes.yaml",
        [
          "nodes",
          i,
          ...(typeof node.tailscale === "object" && node.tailscale.hostname ? ["tailscale", "hostname"] : ["name"]),
        ],
        `the tailnet name ${joins.hostname} is already ${nodeRef(first)}'s; Tailscale would rename one of them`,
      );
  });

  // The configuration contract: a supported minor, not newer than the Talos that reads it.
  const contract = cluster.talos_config_contract;
  if (contract !== undefined && cluster.talos_version !== undefined) {
    if (!TALOS_RELEASES[minorOf(contract)]) {
      error(
        "cluster.yaml",
        ["talos_config_contract"],
        `${contract} is not a supported Talos minor (${describeMinors(TALOS_RELEASES)}): the machine configurations are checked with Talos' own machinery of each`,
      );
    } else if (compareMinors(contract, cluster.talos_version) > 0) {
      error(
        "cluster.yaml",
        ["talos_config_contract"],
        `${contract} is newer than talos_version ${cluster.talos_version}: a node cannot read a configuration of a newer Talos; at most v${minorOf(cluster.talos_version)}`,
      );
    }
  }

  // Versions that work together: Kubernetes on this Talos, Cilium on this Kubernetes.
  const kubernetes = cluster.kubernetes_version;
  const talos = cluster.talos_version === undefined ? undefined : TALOS_RELEASES[minorOf(cluster.talos_version)];
  if (talos && kubernetes && !inRange(kubernetes, talos.kubernetes)) {
    error(
      "cluster.yaml",
      ["kubernetes_version"],
      `Talos ${cluster.talos_version} supports Kubernetes ${talos.kubernetes.min} to ${talos.kubernetes.max}, not ${kubernetes}`,
    );
  }
  if (cluster.cluster_cni === "cilium" && cluster.cilium_version !== undefined && kubernetes) {
    const cilium = CILIUM_RELEASES[minorOf(cluster.cilium_version)];
    const known = Object.entries(CILIUM_RELEASES)
      .map(([minor, r]) => `${minor} (Kubernetes ${r.kubernetes.min}-${r.kubernetes.max})`)
      .join(", ");
    if (!cilium) {
      error(
        "cluster.yaml",
        ["cilium_version"],
        `cilium ${cluster.cilium_version}: no documented Kubernetes range is known for Cilium ${minorOf(cluster.cilium_version)}; supported: ${known}`,
      );
    } else if (!inRange(kubernetes, cilium.kubernetes)) {
      error(
        "cluster.yaml",
        ["cilium_version"],
        `cilium ${cluster.cilium_version} is tested with Kubernetes ${cilium.kubernetes.min} to ${cilium.kubernetes.max} (Cilium's compatibility documentation), not kubernetes_version ${kubernetes}; supported: ${known}`,
      );
    }
  }
  if (cluster.proxmox_csi_enabled) {
    nodes.forEach(({ node, index: i }) => {
      for (const key of Object.keys(node.labels).filter((k) => k.startsWith("topology.kubernetes.io/"))) {
        error(
          "nodes.yaml",
          ["nodes", i, "labels", key],
          "the Proxmox CSI driver sets the topology.kubernetes.io/ labels (region = proxmox_region, zone = the Proxmox host); set proxmox_region instead, or proxmox_csi_enabled: false",
        );
      }
    });
  }

  if (cluster.state_encryption_migrate && !cluster.state_encryption) {
    error(
      "cluster.yaml",
      ["state_encryption_migrate"],
      "migrates existing state to encryption, which is off; set state_encryption: true as well",
    );
  }

  // Networks: written canonically, big enough, disjoint.
  const networks = (["node_cidr", "cluster_pod_cidr", "cluster_svc_cidr"] as const).flatMap((key) => {
    const cidr = cluster[key];
    if (cidr === undefined) return [];
    if (!isCanonicalCidr(cidr)) {
      const net = parseCidr(cidr);
      error("cluster.yaml", [key], `${cidr} has host bits set; the network is ${intToIpv4(net.base)}/${net.prefix}`);
      return [];
    }
    const net = parseCidr(cidr);
    const baseProblem = notAHostAddress(intToIpv4(net.base));
    if (baseProblem) {
      error("cluster.yaml", [key], `${cidr} is not a network of hosts: its address is ${baseProblem}`);
      return [];
    }
    return [{ key, cidr, net }];
  });
  (cluster.proxmox_firewall_allow_from ?? []).forEach((cidr, i) => {
    const net = parseCidr(cidr);
    if (!isCanonicalCidr(cidr))
      error(
        "cluster.yaml",
        ["proxmox_firewall_allow_from", i],
        `${cidr} has host bits set; the network is ${intToIpv4(net.base)}/${net.prefix}`,
      );
  });
  for (let a = 0; a < networks.length; a++) {
    for (let b = a + 1; b < networks.length; b++) {
      if (overlaps(networks[a].net, networks[b].net)) {
        error(
          "cluster.yaml",
          [networks[b].key],
          `${networks[b].cidr} overlaps ${networks[a].key} ${networks[a].cidr}; the three networks must be disjoint (pod and service networks default to 10.42.0.0/16 and 10.43.0.0/16)`,
        );
      }
    }
  }
  const networkOf = (key: (typeof networks)[number]["key"]) => networks.find((n) => n.key === key)?.net;
  const svcNet = networkOf("cluster_svc_cidr");
  if (svcNet && svcNet.prefix > 24) {
    error(
      "cluster.yaml",
      ["cluster_svc_cidr"],
      `${cluster.cluster_svc_cidr} is too small for a cluster's services; use a /24 or larger (the default is 10.43.0.0/16)`,
    );
  } else if (svcNet && svcNet.prefix < 12) {
    error(
      "cluster.yaml",
      ["cluster_svc_cidr"],
      `${cluster.cluster_svc_cidr} is larger than Kubernetes accepts for services (at most a /12)`,
    );
  }
  const podNet = networkOf("cluster_pod_cidr");
  const nodeCount = Math.max(maybeNodes.length, 1);
  if (podNet && (podNet.prefix > NODE_POD_PREFIX || 2 ** (NODE_POD_PREFIX - podNet.prefix) < nodeCount)) {
    const needed = NODE_POD_PREFIX - Math.ceil(Math.log2(nodeCount));
    error(
      "cluster.yaml",
      ["cluster_pod_cidr"],
      `${cluster.cluster_pod_cidr} is too small: each node gets a /${NODE_POD_PREFIX} of it, so ${nodeCount} node${nodeCount === 1 ? "" : "s"} need a /${needed} or larger (the default is 10.42.0.0/16)`,
    );
  }

  // Addresses in the nodes' network.
  const nodeNet = networkOf("node_cidr");
  if (nodeNet && nodeNet.prefix > 30) {
    error(
      "cluster.yaml",
      ["node_cidr"],
      `${cluster.node_cidr} leaves no room for nodes, a gateway and the API address; use a /30 or larger, e.g. a /24`,
    );
  } else if (nodeNet) {
    addressIssues(cluster, nodeNet, nodes, nodeRef, error);
  }

  // Cilium's load-balancer pool: in the nodes' network, and clear of every address already in use.
  const pool = cluster.cilium_loadbalancer_pool;
  if (pool) {
    for (const end of ["start", "stop"] as const) {
      if (nodeNet && !contains(nodeNet, pool[end]))
        error(
          "cluster.yaml",
          ["cilium_loadbalancer_pool", end],
          `${pool[end]} is outside node_cidr ${cluster.node_cidr}; layer-2 announcements only reach the nodes' network`,
        );
    }
    const [first, last] = [ipv4ToInt(pool.start), ipv4ToInt(pool.stop)];
    if (first > last) {
      error("cluster.yaml", ["cilium_loadbalancer_pool", "stop"], `${pool.stop} comes before start ${pool.start}`);
    } else {
      const inPool = (address: string) => ipv4ToInt(address) >= first && ipv4ToInt(address) <= last;
      if (nodeNet) {
        const edges = [nodeNet.base, nodeNet.base + 2 ** (32 - nodeNet.prefix) - 1].map(intToIpv4);
        for (const edge of edges.filter(inPool))
          error(
            "cluster.yaml",
            ["cilium_loadbalancer_pool"],
            `${pool.start}-${pool.stop} includes ${edge}, the network or broadcast address of node_cidr ${cluster.node_cidr}`,
          );
      }
      nodes.forEach(({ node, index: i }) => {
        if (inPool(node.address))
          error(
            "cluster.yaml",
            ["cilium_loadbalancer_pool"],
            `${pool.start}-${pool.stop} includes the address of ${nodeRef(i)}`,
          );
      });
      const api = cluster.cluster_api_addr;
      if (api && inPool(api))
        error(
          "cluster.yaml",
          ["cilium_loadbalancer_pool"],
          `${pool.start}-${pool.stop} includes cluster_api_addr ${api}`,
        );
      const gw = cluster.node_default_gateway;
      if (gw && inPool(gw))
        error(
          "cluster.yaml",
          ["cilium_loadbalancer_pool"],
          `${pool.start}-${pool.stop} includes node_default_gateway ${gw}`,
        );
    }
  }

  // Memory: the balloon floor cannot exceed a VM's memory (sizing as resolve.ts computes it).
  const balloon = cluster.proxmox_vm_advanced?.balloon ?? 0;
  nodes.forEach(({ node, index: i }) => {
    const memory = cluster.proxmox_vm_defaults ? partlyResolved(node).sizing.memory : undefined;
    if (memory !== undefined && balloon > memory) {
      error(
        "cluster.yaml",
        ["proxmox_vm_advanced", "balloon"],
        `${balloon} MiB is more than the ${memory} MiB of memory of ${nodeRef(i)}`,
      );
    }
  });

  // Firmware.
  if (cluster.proxmox_vm_advanced && cluster.proxmox_vm_advanced.bios !== "ovmf") {
    nodes.forEach(({ node, index: i }) => {
      if (node.secureboot)
        error(
          "nodes.yaml",
          ["nodes", i, "secureboot"],
          "SecureBoot needs UEFI firmware; set proxmox_vm_advanced.bios: ovmf in cluster.yaml",
        );
    });
  }

  // PCI passthrough: a device belongs to one VM of its host (Proxmox refuses to start a second VM with it).
  // "0000:01:00" (every function) and "0000:01:00.1" overlap; mappings are compared by name.
  const claimed: Array<{ host: string; kind: "id" | "mapping"; value: string; node: number }> = [];
  const overlap = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
  const machine = cluster.proxmox_vm_advanced?.machine;
  nodes.forEach(({ node, index: i }) => {
    const { host, pciDevices } = partlyResolved(node);
    pciDevices.forEach((device, j) => {
      const kind = device.id !== undefined ? "id" : "mapping";
      const value = device.id !== undefined ? pciAddress(device.id) : device.mapping!;
      const holder = claimed.find(
        (c) => c.host === host && c.kind === kind && (kind === "id" ? overlap(c.value, value) : c.value === value),
      );
      if (holder?.node === i)
        error("nodes.yaml", ["nodes", i, "pci_devices", j, kind], `${value} overlaps ${holder.value}, listed before`);
      else if (holder)
        error(
          "nodes.yaml",
          ["nodes", i, "pci_devices", j, kind],
          `${value} is already passed through to ${nodeRef(holder.node)} on Proxmox host ${host}; a PCI device can belong to one VM of a host`,
        );
      else claimed.push({ host, kind, value, node: i });
      if (device.pcie && machine !== undefined && !/q35/.test(machine))
        error(
          "nodes.yaml",
          ["nodes", i, "pci_devices", j, "pcie"],
          `PCI Express passthrough needs the q35 machine type (proxmox_vm_advanced.machine is "${machine}"); set pcie: false`,
        );
    });
    const primaries = pciDevices.filter((d) => d.primaryGpu).length;
    if (primaries > 1)
      error(
        "nodes.yaml",
        ["nodes", i, "pci_devices"],
        `${primaries} devices have primary_gpu: true; a VM has one primary display`,
      );
  });

  return issues;
}

/** A PCI address with its domain ("01:00.0" -> "0000:01:00.0"), as Proxmox names the device. */
export function pciAddress(id: string): string {
  return /^[0-9a-f]{4}:/.test(id) ? id : `0000:${id}`;
}

type Report = (file: ConfigIssue["file"], path: ConfigIssue["path"], message: string) => void;

/** Node addresses, the API address and the gateway: inside the nodes' network, usable, and all different. */
function addressIssues(
  cluster: Partial<ClusterConfig>,
  nodeNet: Ipv4Network,
  nodes: readonly { node: NodeConfig; index: number }[],
  nodeRef: (i: number) => string,
  error: Report,
): void {
  const cidr = cluster.node_cidr;
  const nodeByAddress = new Map(nodes.map(({ node, index }) => [node.address, index]));
  // Without node_default_gateway, the first address of node_cidr is the gateway: it must stay free.
  const implicitGateway = cluster.node_default_gateway === undefined ? firstHost(nodeNet) : undefined;
  nodes.forEach(({ node, index: i }) => {
    if (!contains(nodeNet, node.address)) {
      error("nodes.yaml", ["nodes", i, "address"], `${node.address} is outside node_cidr ${cidr}`);
    } else if (isNetworkOrBroadcast(nodeNet, node.address)) {
      error("nodes.yaml", ["nodes", i, "address"], `${node.address} is the network or broadcast address of ${cidr}`);
    } else if (node.address === implicitGateway) {
      error(
        "nodes.yaml",
        ["nodes", i, "address"],
        `${node.address} is the default gateway (node_default_gateway defaults to the first address of node_cidr); use another address or set node_default_gateway`,
      );
    }
  });

  const api = cluster.cluster_api_addr;
  const apiProblem = api === undefined ? undefined : notAHostAddress(api);
  if (apiProblem) error("cluster.yaml", ["cluster_api_addr"], `${api} is ${apiProblem}`);
  else if (api !== undefined) {
    if (cluster.cluster_api_vip !== false && !contains(nodeNet, api)) {
      error(
        "cluster.yaml",
        ["cluster_api_addr"],
        `${api} is outside node_cidr ${cidr}; a Talos VIP must be in the nodes' network (or set cluster_api_vip: false for an external load balancer)`,
      );
    } else if (contains(nodeNet, api) && isNetworkOrBroadcast(nodeNet, api)) {
      error("cluster.yaml", ["cluster_api_addr"], `${api} is the network or broadcast address of ${cidr}`);
    } else if (api === implicitGateway) {
      error(
        "cluster.yaml",
        ["cluster_api_addr"],
        `${api} is the default gateway (node_default_gateway defaults to the first address of node_cidr); use another address or set node_default_gateway`,
      );
    }
    const apiNode = nodeByAddress.get(api);
    if (apiNode !== undefined) {
      error(
        "cluster.yaml",
        ["cluster_api_addr"],
        `${api} is the address of ${nodeRef(apiNode)}; the API address must be a free address of its own`,
      );
    }
  }

  const gw = cluster.node_default_gateway;
  if (gw !== undefined) {
    if (!contains(nodeNet, gw)) error("cluster.yaml", ["node_default_gateway"], `${gw} is outside node_cidr ${cidr}`);
    else if (isNetworkOrBroadcast(nodeNet, gw))
      error("cluster.yaml", ["node_default_gateway"], `${gw} is the network or broadcast address of ${cidr}`);
    const gwNode = nodeByAddress.get(gw);
    if (gwNode !== undefined)
      error("cluster.yaml", ["node_default_gateway"], `${gw} is the address of ${nodeRef(gwNode)}`);
    if (gw === api) error("cluster.yaml", ["node_default_gateway"], `${gw} is also cluster_api_addr`);
  }
}
