import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError, formatIssue, loadConfig, parseConfig, type ConfigSources } from "../config";
import { IGNORED_CLUSTER_KEYS } from "../config/foreign-keys";
import { minorOf, TALOS_RELEASES } from "../config/versions";

const FIXTURE = join(__dirname, "fixtures", "example");

// A small valid pair. Every test below is one edit of it; the expected line numbers follow from the layout
// pinned by the first test ("the base pair serializes to ..."). Keys added by an edit go at the end of their
// mapping: a new top-level cluster key is on cluster.yaml line 13, a new key of nodes[2] on nodes.yaml line 17.
type Entry = Record<string, unknown>;
interface Config {
  cluster: Entry & { proxmox_vm_defaults: Entry };
  nodes: Entry[];
}

const BASE: Config = {
  cluster: {
    cluster_name: "homelab",
    node_cidr: "192.168.1.0/24",
    node_default_gateway: "192.168.1.1",
    cluster_api_addr: "192.168.1.10",
    talos_version: "v1.12.1",
    kubernetes_version: "v1.35.0",
    proxmox_api_url: "https://pve.example.com:8006/",
    proxmox_node: "pve",
    proxmox_vm_defaults: { cores: 4, memory: 8192, disk_size: 64 },
  },
  nodes: [
    { name: "controlplane0", address: "192.168.1.21", controller: true, mac_addr: "bc:24:11:00:00:21", vm_id: 1021 },
    { name: "worker0", address: "192.168.1.31", controller: false, mac_addr: "bc:24:11:00:00:31", vm_id: 1031 },
    { name: "worker1", address: "192.168.1.32", controller: false, mac_addr: "bc:24:11:00:00:32", vm_id: 1032 },
  ],
};

function serialize(config: Config): ConfigSources {
  return { cluster: stringify(config.cluster), nodes: stringify({ nodes: config.nodes }) };
}

/** The base pair after `edit`, as YAML text. */
function edited(edit: (config: Config) => void = () => {}): ConfigSources {
  const config = structuredClone(BASE);
  edit(config);
  return serialize(config);
}

/** Every issue of the ConfigError that parsing throws, as `file:line:col path: message`. */
function issuesOf(sources: ConfigSources): string[] {
  return configErrorOf(sources).issues.map((issue) => formatIssue(issue));
}

function configErrorOf(sources: ConfigSources, dir?: string): ConfigError {
  try {
    parseConfig(sources, dir);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected parseConfig to throw a ConfigError, but the config was accepted");
}

describe("the base pair used by the tables", () => {
  it("serializes to the layout the line numbers assume", () => {
    const { cluster, nodes } = edited();
    expect(cluster).toBe(
      [
        /*  1 */ "cluster_name: homelab",
        /*  2 */ "node_cidr: 192.168.1.0/24",
        /*  3 */ "node_default_gateway: 192.168.1.1",
        /*  4 */ "cluster_api_addr: 192.168.1.10",
        /*  5 */ "talos_version: v1.12.1",
        /*  6 */ "kubernetes_version: v1.35.0",
        /*  7 */ "proxmox_api_url: https://pve.example.com:8006/",
        /*  8 */ "proxmox_node: pve",
        /*  9 */ "proxmox_vm_defaults:",
        /* 10 */ "  cores: 4",
        /* 11 */ "  memory: 8192",
        /* 12 */ "  disk_size: 64",
        "",
      ].join("\n"),
    );
    expect(nodes).toBe(
      [
        /*  1 */ "nodes:",
        /*  2 */ "  - name: controlplane0",
        /*  3 */ "    address: 192.168.1.21",
        /*  4 */ "    controller: true",
        /*  5 */ "    mac_addr: bc:24:11:00:00:21",
        /*  6 */ "    vm_id: 1021",
        /*  7 */ "  - name: worker0",
        /*  8 */ "    address: 192.168.1.31",
        /*  9 */ "    controller: false",
        /* 10 */ "    mac_addr: bc:24:11:00:00:31",
        /* 11 */ "    vm_id: 1031",
        /* 12 */ "  - name: worker1",
        /* 13 */ "    address: 192.168.1.32",
        /* 14 */ "    controller: false",
        /* 15 */ "    mac_addr: bc:24:11:00:00:32",
        /* 16 */ "    vm_id: 1032",
        "",
      ].join("\n"),
    );
  });

  it("is valid and has no warnings", () => {
    const { nodes, warnings } = parseConfig(edited());
    expect(nodes.map((n) => n.name)).toEqual(["controlplane0", "worker0", "worker1"]);
    expect(warnings).toEqual([]);
  });
});

describe("the example cluster.yaml and nodes.yaml (the tests' copy of the root example)", () => {
  const { cluster, nodes, warnings } = loadConfig(FIXTURE);

  it("load without warnings", () => {
    expect(warnings).toEqual([]);
    expect(nodes).toHaveLength(5);
    expect(nodes.filter((n) => n.controller).map((n) => n.name)).toEqual([
      "controlplane0",
      "controlplane1",
      "controlplane2",
    ]);
  });

  it("keep the values they set", () => {
    expect(cluster).toMatchObject({
      cluster_name: "homelab",
      node_cidr: "192.168.10.0/24",
      cluster_api_addr: "192.168.10.20",
      talos_extensions: ["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"],
      proxmox_vm_defaults: { cores: 4, memory: 8192, disk_size: 64 },
    });
    expect(nodes.find((n) => n.name === "worker1")).toMatchObject({
      vm_cores: 8,
      vm_memory: 16384,
      vm_disk_size: 256,
      vm_id: 1032,
    });
  });

  it("get the schema defaults for what they leave out", () => {
    expect(cluster.proxmox_vm_advanced).toMatchObject({
      bios: "ovmf",
      machine: "q35",
      cpu_type: "host",
      balloon: 0,
      network_bridge: "vmbr0",
    });
    expect(cluster.proxmox_vm_defaults.sockets).toBe(1);
    expect(cluster).toMatchObject({
      cluster_api_vip: true,
      cluster_pod_cidr: "10.42.0.0/16",
      cluster_svc_cidr: "10.43.0.0/16",
      cluster_cni: "cilium",
      state_backend: { type: "local" },
    });
    expect(nodes[0]).toMatchObject({
      mtu: 1500,
      secureboot: false,
      kernel_modules: [],
      sysctls: {},
      cert_sans: [],
      labels: {},
      taints: {},
    });
    expect(nodes[0].disk).toBeUndefined();
    expect(nodes[0].vm_memory).toBeUndefined();
  });
});

describe("default versions", () => {
  it("work together: the default Kubernetes on the default Talos, the default Cilium tested with it", () => {
    const sources = edited((c) => {
      delete c.cluster.talos_version;
      delete c.cluster.kubernetes_version;
    });
    const { cluster, warnings } = parseConfig(sources);
    expect([cluster.talos_version, cluster.kubernetes_version, cluster.cilium_version]).toEqual([
      "v1.14.1",
      "v1.35.4",
      "1.19.3",
    ]);
    // The newest supported Talos minor.
    expect(minorOf(cluster.talos_version)).toBe(Object.keys(TALOS_RELEASES).at(-1));
    expect(cluster.cluster_cni).toBe("cilium");
    expect(warnings).toEqual([]);
  });
});

describe("loadConfig", () => {
  it("reports a folder without cluster.yaml as a ConfigError naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "config-test-"));
    try {
      expect(() => loadConfig(dir)).toThrow(ConfigError);
      expect(() => loadConfig(dir)).toThrow(
        `${dir}/cluster.yaml (top level): cannot read ${join(dir, "cluster.yaml")}: ENOENT`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bad input is reported at its file, line and column with a message that says the fix", () => {
  const SCHEMATIC_63 = "0".repeat(63);
  const cases: { name: string; sources: ConfigSources; issues: string[] }[] = [
    // Unique values across nodes: the later entry is the one reported.
    {
      name: "duplicate node name",
      sources: edited((c) => (c.nodes[2].name = "controlplane0")),
      issues: ["nodes.yaml:12:11 nodes[2].name: controlplane0 is already used by nodes[0] (controlplane0)"],
    },
    {
      name: "duplicate vm_id",
      sources: edited((c) => (c.nodes[2].vm_id = 1021)),
      issues: ["nodes.yaml:16:12 nodes[2].vm_id: 1021 is already used by nodes[0] (controlplane0)"],
    },
    {
      name: "duplicate address",
      sources: edited((c) => (c.nodes[2].address = "192.168.1.31")),
      issues: ["nodes.yaml:13:14 nodes[2].address: 192.168.1.31 is already used by nodes[1] (worker0)"],
    },
    {
      name: "duplicate mac_addr",
      sources: edited((c) => (c.nodes[2].mac_addr = "bc:24:11:00:00:21")),
      issues: ["nodes.yaml:15:15 nodes[2].mac_addr: bc:24:11:00:00:21 is already used by nodes[0] (controlplane0)"],
    },

    // Addresses and networks.
    {
      name: "node address outside node_cidr",
      sources: edited((c) => (c.nodes[1].address = "192.168.2.31")),
      issues: ["nodes.yaml:8:14 nodes[1].address: 192.168.2.31 is outside node_cidr 192.168.1.0/24"],
    },
    {
      name: "node address is the network address",
      sources: edited((c) => (c.nodes[1].address = "192.168.1.0")),
      issues: ["nodes.yaml:8:14 nodes[1].address: 192.168.1.0 is the network or broadcast address of 192.168.1.0/24"],
    },
    {
      name: "node address is the broadcast address",
      sources: edited((c) => (c.nodes[1].address = "192.168.1.255")),
      issues: ["nodes.yaml:8:14 nodes[1].address: 192.168.1.255 is the network or broadcast address of 192.168.1.0/24"],
    },
    {
      name: "cluster_api_addr outside node_cidr",
      sources: edited((c) => (c.cluster.cluster_api_addr = "10.0.0.10")),
      issues: [
        "cluster.yaml:4:19 cluster_api_addr: 10.0.0.10 is outside node_cidr 192.168.1.0/24; a Talos VIP must be in the nodes' network (or set cluster_api_vip: false for an external load balancer)",
      ],
    },
    {
      name: "cluster_api_addr is a node's address",
      sources: edited((c) => (c.cluster.cluster_api_addr = "192.168.1.31")),
      issues: [
        "cluster.yaml:4:19 cluster_api_addr: 192.168.1.31 is the address of nodes[1] (worker0); the API address must be a free address of its own",
      ],
    },
    {
      name: "node_default_gateway outside node_cidr",
      sources: edited((c) => (c.cluster.node_default_gateway = "192.168.2.1")),
      issues: ["cluster.yaml:3:23 node_default_gateway: 192.168.2.1 is outside node_cidr 192.168.1.0/24"],
    },
    {
      name: "node_default_gateway is a node's address",
      sources: edited((c) => (c.cluster.node_default_gateway = "192.168.1.21")),
      issues: ["cluster.yaml:3:23 node_default_gateway: 192.168.1.21 is the address of nodes[0] (controlplane0)"],
    },
    {
      name: "cluster_pod_cidr overlaps node_cidr",
      sources: edited((c) => (c.cluster.cluster_pod_cidr = "192.168.0.0/16")),
      issues: [
        "cluster.yaml:13:19 cluster_pod_cidr: 192.168.0.0/16 overlaps node_cidr 192.168.1.0/24; the three networks must be disjoint (pod and service networks default to 10.42.0.0/16 and 10.43.0.0/16)",
      ],
    },
    {
      name: "cluster_svc_cidr overlaps cluster_pod_cidr",
      sources: edited((c) =>
        Object.assign(c.cluster, { cluster_pod_cidr: "10.42.0.0/16", cluster_svc_cidr: "10.42.128.0/17" }),
      ),
      issues: [
        "cluster.yaml:14:19 cluster_svc_cidr: 10.42.128.0/17 overlaps cluster_pod_cidr 10.42.0.0/16; the three networks must be disjoint (pod and service networks default to 10.42.0.0/16 and 10.43.0.0/16)",
      ],
    },

    // Control plane and firmware.
    {
      name: "no controller",
      sources: edited((c) => (c.nodes[0].controller = false)),
      issues: ["nodes.yaml:2:3 nodes: no node has controller: true; a cluster needs at least one control-plane node"],
    },
    {
      name: "secureboot with bios seabios",
      sources: edited((c) => {
        c.cluster.proxmox_vm_advanced = { bios: "seabios" };
        c.nodes[2].secureboot = true;
      }),
      issues: [
        "nodes.yaml:17:17 nodes[2].secureboot: SecureBoot needs UEFI firmware; set proxmox_vm_advanced.bios: ovmf in cluster.yaml",
      ],
    },

    // VM sizes.
    {
      name: "vm_memory 0",
      sources: edited((c) => (c.nodes[2].vm_memory = 0)),
      issues: ["nodes.yaml:17:16 nodes[2].vm_memory: Talos needs at least 2048 MiB of memory, got 0"],
    },
    {
      name: "vm_memory negative",
      sources: edited((c) => (c.nodes[2].vm_memory = -512)),
      issues: ["nodes.yaml:17:16 nodes[2].vm_memory: Talos needs at least 2048 MiB of memory, got -512"],
    },
    {
      name: "vm_memory 1024, below the minimum",
      sources: edited((c) => (c.nodes[2].vm_memory = 1024)),
      issues: ["nodes.yaml:17:16 nodes[2].vm_memory: Talos needs at least 2048 MiB of memory, got 1024"],
    },
    {
      name: "vm_memory 4.5",
      sources: edited((c) => (c.nodes[2].vm_memory = 4.5)),
      issues: ["nodes.yaml:17:16 nodes[2].vm_memory: expected a whole number, got 4.5"],
    },
    {
      name: "vm_cores 0",
      sources: edited((c) => (c.nodes[2].vm_cores = 0)),
      issues: ["nodes.yaml:17:15 nodes[2].vm_cores: expected a positive number, got 0"],
    },
    {
      name: "vm_disk_size 5",
      sources: edited((c) => (c.nodes[2].vm_disk_size = 5)),
      issues: ["nodes.yaml:17:19 nodes[2].vm_disk_size: Talos needs a disk of at least 10 GiB, got 5"],
    },
    {
      name: "proxmox_vm_defaults.memory 1024",
      sources: edited((c) => (c.cluster.proxmox_vm_defaults.memory = 1024)),
      issues: ["cluster.yaml:11:11 proxmox_vm_defaults.memory: Talos needs at least 2048 MiB of memory, got 1024"],
    },

    {
      name: "state_encryption_migrate without state_encryption",
      sources: edited((c) => ((c.cluster as Record<string, unknown>).state_encryption_migrate = true)),
      issues: [
        "cluster.yaml:13:27 state_encryption_migrate: migrates existing state to encryption, which is off; set state_encryption: true as well",
      ],
    },

    // Formats.
    {
      name: "talos_version without the leading v",
      sources: edited((c) => (c.cluster.talos_version = "1.12.1")),
      issues: [
        'cluster.yaml:5:16 talos_version: expected a Talos version like "v1.12.7" (with the leading v), got "1.12.1"',
      ],
    },
    // Versions that work together.
    {
      name: "a Talos minor outside the supported range",
      sources: edited((c) => (c.cluster.talos_version = "v1.9.5")),
      issues: [
        'cluster.yaml:5:16 talos_version: only Talos 1.10 to 1.14 is supported: the machine configurations are checked with Talos\' own machinery of each of these minors, got "v1.9.5"',
      ],
    },
    {
      name: "a configuration contract newer than the Talos installed",
      sources: edited((c) => {
        c.cluster.talos_version = "v1.13.3";
        c.cluster.talos_config_contract = "v1.14";
      }),
      issues: [
        "cluster.yaml:13:24 talos_config_contract: v1.14 is newer than talos_version v1.13.3: a node cannot read a configuration of a newer Talos; at most v1.13",
      ],
    },
    {
      name: "a configuration contract of an unsupported minor",
      sources: edited((c) => (c.cluster.talos_config_contract = "v1.9")),
      issues: [
        "cluster.yaml:13:24 talos_config_contract: v1.9 is not a supported Talos minor (1.10 to 1.14): the machine configurations are checked with Talos' own machinery of each",
      ],
    },
    {
      name: "a configuration contract without the leading v, or with a patch",
      sources: edited((c) => (c.cluster.talos_config_contract = "1.13.2")),
      issues: [
        'cluster.yaml:13:24 talos_config_contract: expected a Talos minor like "v1.13" (with the leading v), got "1.13.2"',
      ],
    },
    {
      name: "a Kubernetes version this Talos does not support",
      sources: edited((c) => {
        c.cluster.talos_version = "v1.10.9";
        c.cluster.kubernetes_version = "v1.35.0";
        c.cluster.cluster_cni = "flannel";
      }),
      issues: ["cluster.yaml:6:21 kubernetes_version: Talos v1.10.9 supports Kubernetes 1.28 to 1.33, not v1.35.0"],
    },
    {
      name: "a Cilium not tested with the Kubernetes version",
      sources: edited((c) => (c.cluster.cilium_version = "1.18.0")),
      issues: [
        "cluster.yaml:13:17 cilium_version: cilium 1.18.0 is tested with Kubernetes 1.30 to 1.33 (Cilium's compatibility documentation), not kubernetes_version v1.35.0; supported: 1.18 (Kubernetes 1.30-1.33), 1.19 (Kubernetes 1.32-1.35)",
      ],
    },
    {
      name: "a Cilium minor without a documented Kubernetes range",
      sources: edited((c) => (c.cluster.cilium_version = "1.16.5")),
      issues: [
        "cluster.yaml:13:17 cilium_version: cilium 1.16.5: no documented Kubernetes range is known for Cilium 1.16; supported: 1.18 (Kubernetes 1.30-1.33), 1.19 (Kubernetes 1.32-1.35)",
      ],
    },

    // Per-node Talos settings.
    {
      name: "both disk and disk_selector",
      sources: edited((c) => {
        c.nodes[2].disk = "/dev/sdb";
        c.nodes[2].disk_selector = { size: ">= 100GB" };
      }),
      issues: [
        "nodes.yaml:19:7 nodes[2].disk_selector: both disk (/dev/sdb) and disk_selector are set; keep one: Talos installs to the disk path, or to the disk the selector finds",
      ],
    },
    {
      name: "an empty disk_selector and a size Talos cannot read",
      sources: edited((c) => {
        c.nodes[1].disk_selector = {};
        c.nodes[2].disk_selector = { size: "big" };
      }),
      issues: [
        "nodes.yaml:12:20 nodes[1].disk_selector: give at least one of size, model, serial, got {}",
        'nodes.yaml:19:13 nodes[2].disk_selector.size: expected a size with an optional comparison, e.g. ">= 100GB" or "64GiB", got "big"',
      ],
    },
    {
      name: "a sysctl that is not a kernel parameter, and a number as its value",
      sources: edited((c) => (c.nodes[2].sysctls = { "not a key": "1", "vm.max_map_count": 262144 })),
      issues: [
        'nodes.yaml:18:7 nodes[2].sysctls.not a key: expected a kernel parameter like "vm.max_map_count", got "not a key"',
        'nodes.yaml:19:25 nodes[2].sysctls.vm.max_map_count: expected the value as a string, e.g. "262144", got 262144',
      ],
    },
    {
      name: "a taint without an effect, a label value with a space",
      sources: edited((c) => {
        c.nodes[2].taints = { dedicated: "gpu" };
        c.nodes[2].labels = { role: "data base" };
      }),
      issues: [
        'nodes.yaml:18:18 nodes[2].taints.dedicated: expected "[value:]Effect" with Effect NoSchedule, PreferNoSchedule or NoExecute, e.g. "gpu:NoSchedule", got "gpu"',
        "nodes.yaml:20:13 nodes[2].labels.role: expected a Kubernetes label value (at most 63 letters, digits, '-', '_', '.'), got \"data base\"",
      ],
    },
    {
      name: "a topology label the Proxmox CSI driver sets",
      sources: edited((c) => (c.nodes[2].labels = { "topology.kubernetes.io/zone": "rack1" })),
      issues: [
        "nodes.yaml:18:36 nodes[2].labels.topology.kubernetes.io/zone: the Proxmox CSI driver sets the topology.kubernetes.io/ labels (region = proxmox_region, zone = the Proxmox host); set proxmox_region instead, or proxmox_csi_enabled: false",
      ],
    },
    {
      name: "schematic_id one character short",
      sources: edited((c) => (c.nodes[2].schematic_id = SCHEMATIC_63)),
      issues: [
        `nodes.yaml:17:19 nodes[2].schematic_id: expected a 64-character lower-case hex image-factory schematic id, got "${SCHEMATIC_63}"`,
      ],
    },
    {
      name: "upper-case MAC address",
      sources: edited((c) => (c.nodes[1].mac_addr = "BC:24:11:00:00:31")),
      issues: [
        'nodes.yaml:10:15 nodes[1].mac_addr: expected a lower-case MAC address like "bc:24:11:00:00:01", got "BC:24:11:00:00:31"',
      ],
    },
    {
      name: "multicast MAC address",
      sources: edited((c) => (c.nodes[1].mac_addr = "01:00:5e:00:00:31")),
      issues: [
        'nodes.yaml:10:15 nodes[1].mac_addr: a multicast MAC address cannot be a VM\'s NIC address, got "01:00:5e:00:00:31"',
      ],
    },

    // Keys: unknown (located at the key), missing (located at the enclosing mapping), wrong type.
    {
      name: "unknown node key with a suggestion",
      sources: edited((c) => (c.nodes[2].vm_memroy = 4096)),
      issues: ['nodes.yaml:17:5 nodes[2].vm_memroy: unknown key; did you mean "vm_memory"?'],
    },
    {
      name: "unknown key nested under proxmox_vm_defaults",
      sources: edited((c) => (c.cluster.proxmox_vm_defaults.memroy = 4096)),
      issues: ['cluster.yaml:13:3 proxmox_vm_defaults.memroy: unknown key; did you mean "memory"?'],
    },
    {
      name: "missing node_cidr",
      sources: edited((c) => delete c.cluster.node_cidr),
      issues: ["cluster.yaml:1:1 node_cidr: required key is missing (string)"],
    },
    {
      name: "node without address",
      sources: edited((c) => delete c.nodes[1].address),
      issues: ["nodes.yaml:7:5 nodes[1].address: required key is missing (string)"],
    },
    {
      name: 'controller: "yes"',
      sources: edited((c) => (c.nodes[1].controller = "yes")),
      issues: ['nodes.yaml:9:17 nodes[1].controller: expected boolean, received string, got "yes"'],
    },
    {
      name: "empty node list",
      sources: edited((c) => (c.nodes = [])),
      issues: ["nodes.yaml:1:8 nodes: expected at least one node, got []"],
    },

    // PCI passthrough.
    {
      name: "a PCI device given to two VMs on the same Proxmox host (with and without the domain)",
      sources: edited((c) => {
        c.nodes[1].pci_devices = [{ id: "0000:01:00.0" }];
        c.nodes[2].pci_devices = [{ id: "01:00.0" }];
      }),
      issues: [
        "nodes.yaml:20:13 nodes[2].pci_devices[0].id: 0000:01:00.0 is already passed through to nodes[1] (worker0) on Proxmox host pve; a PCI device can belong to one VM of a host",
      ],
    },
    {
      name: "every function of a device and one of its functions on the same host",
      sources: edited((c) => {
        c.nodes[1].pci_devices = [{ id: "0000:01:00" }];
        c.nodes[2].pci_devices = [{ id: "0000:01:00.1" }];
      }),
      issues: [
        "nodes.yaml:20:13 nodes[2].pci_devices[0].id: 0000:01:00.1 is already passed through to nodes[1] (worker0) on Proxmox host pve; a PCI device can belong to one VM of a host",
      ],
    },
    {
      name: "a PCI resource mapping given to two VMs on the same host",
      sources: edited((c) => {
        c.nodes[1].pci_devices = [{ mapping: "gpu" }];
        c.nodes[2].pci_devices = [{ mapping: "gpu" }];
      }),
      issues: [
        "nodes.yaml:20:18 nodes[2].pci_devices[0].mapping: gpu is already passed through to nodes[1] (worker0) on Proxmox host pve; a PCI device can belong to one VM of a host",
      ],
    },
    {
      name: "a PCI device with neither id nor mapping",
      sources: edited((c) => (c.nodes[2].pci_devices = [{ pcie: true }])),
      issues: [
        'nodes.yaml:18:9 nodes[2].pci_devices[0]: set exactly one of id (a raw PCI address) or mapping (a resource mapping name), got {"pcie":true}',
      ],
    },
    {
      name: "PCI Express passthrough without q35",
      sources: edited((c) => {
        c.cluster.proxmox_vm_advanced = { machine: "pc" };
        c.nodes[2].pci_devices = [{ id: "0000:01:00.0" }];
      }),
      issues: [
        'nodes.yaml:18:9 nodes[2].pci_devices[0].pcie: PCI Express passthrough needs the q35 machine type (proxmox_vm_advanced.machine is "pc"); set pcie: false',
      ],
    },

    // YAML itself.
    {
      name: "YAML syntax error: a mis-indented line",
      sources: { ...edited(), nodes: edited().nodes.replace("    vm_id: 1031", "   vm_id: 1031") },
      issues: ["nodes.yaml:11:1 (top level): YAML syntax: Sequence item without - indicator"],
    },
    {
      name: "YAML syntax error: a key given twice",
      sources: {
        ...edited(),
        nodes: edited().nodes.replace("    controller: false\n", "    controller: false\n    controller: true\n"),
      },
      issues: ["nodes.yaml:10:5 (top level): YAML syntax: Map keys must be unique"],
    },
    {
      name: "cluster.yaml top level is a list",
      sources: { ...edited(), cluster: "- node_cidr: 192.168.1.0/24\n- proxmox_node: pve\n" },
      issues: ["cluster.yaml:1:1 (top level): expected a mapping of keys to values at the top level"],
    },
    {
      name: "nodes.yaml top level is a scalar",
      sources: { ...edited(), nodes: "controlplane0\n" },
      issues: ["nodes.yaml:1:1 (top level): expected a mapping of keys to values at the top level"],
    },
  ];

  it.each(cases)("$name", ({ sources, issues }) => {
    expect(issuesOf(sources)).toEqual(issues);
  });
});

describe("PCI passthrough", () => {
  it("the same device on two different Proxmox hosts is two devices", () => {
    const sources = edited((c) => {
      c.nodes[1].pci_devices = [{ id: "0000:01:00.0" }];
      c.nodes[2].pci_devices = [{ id: "0000:01:00.0", primary_gpu: true }];
      c.nodes[2].proxmox_node = "pve2";
    });
    const { nodes } = parseConfig(sources);
    expect(nodes[2].pci_devices).toEqual([{ id: "0000:01:00.0", pcie: true, rombar: true, primary_gpu: true }]);
  });
});

describe("credentials are rejected with the environment variable to use instead", () => {
  const SECRET = "hunter2-do-not-print";
  const cases: { name: string; sources: ConfigSources; issue: string }[] = [
    {
      name: "proxmox_api_token",
      sources: edited((c) => (c.cluster.proxmox_api_token = `root@pam!tofu=${SECRET}`)),
      issue:
        "cluster.yaml:13:1 proxmox_api_token: looks like a credential; set PROXMOX_VE_API_TOKEN in the environment (user@realm!token-name=secret)",
    },
    {
      name: "state_backend.password",
      sources: edited(
        (c) =>
          (c.cluster.state_backend = {
            type: "http",
            address: "https://tfstate.example.com/state/{layer}",
            password: SECRET,
          }),
      ),
      issue:
        "cluster.yaml:16:3 state_backend.password: looks like a credential; set TF_HTTP_PASSWORD in the environment",
    },
    {
      name: "state_backend.username",
      sources: edited(
        (c) =>
          (c.cluster.state_backend = {
            type: "http",
            address: "https://tfstate.example.com/state/{layer}",
            username: SECRET,
          }),
      ),
      issue:
        "cluster.yaml:16:3 state_backend.username: looks like a credential; set TF_HTTP_USERNAME in the environment",
    },
    {
      name: "state_backend.secret_key (s3)",
      sources: edited((c) => (c.cluster.state_backend = { type: "s3", bucket: "tfstate", secret_key: SECRET })),
      issue:
        "cluster.yaml:16:3 state_backend.secret_key: looks like a credential; set AWS_SECRET_ACCESS_KEY in the environment (the S3 state backend reads it itself)",
    },
    {
      name: "state_backend.access_key (s3)",
      sources: edited((c) => (c.cluster.state_backend = { type: "s3", bucket: "tfstate", access_key: SECRET })),
      issue:
        "cluster.yaml:16:3 state_backend.access_key: looks like a credential; set AWS_ACCESS_KEY_ID in the environment (the S3 state backend reads it itself)",
    },
    {
      name: "state_backend.conn_str (pg)",
      sources: edited(
        (c) => (c.cluster.state_backend = { type: "pg", conn_str: `host=db.example.com user=tofu password=${SECRET}` }),
      ),
      issue:
        "cluster.yaml:15:3 state_backend.conn_str: looks like a credential; set PG_CONN_STR in the environment (the pg state backend reads it itself)",
    },
    {
      name: "a generic *_secret key",
      sources: edited((c) => (c.cluster.my_secret = SECRET)),
      issue:
        "cluster.yaml:13:1 my_secret: looks like a credential; credentials never go in the config files; Proxmox takes PROXMOX_VE_API_TOKEN, the HTTP state backend TF_HTTP_USERNAME / TF_HTTP_PASSWORD, from the environment",
    },
    {
      name: "cloudflare_token (cluster-template)",
      sources: edited((c) => (c.cluster.cloudflare_token = SECRET)),
      issue:
        "cluster.yaml:13:1 cloudflare_token: looks like a credential; this project does not use Cloudflare; remove the key (credentials never go in cluster.yaml)",
    },
    {
      name: "a password on a node",
      sources: edited((c) => (c.nodes[2].root_password = SECRET)),
      issue:
        "nodes.yaml:17:5 nodes[2].root_password: looks like a credential; credentials never go in the config files; Proxmox takes PROXMOX_VE_API_TOKEN, the HTTP state backend TF_HTTP_USERNAME / TF_HTTP_PASSWORD, from the environment",
    },
  ];

  it.each(cases)("$name", ({ sources, issue }) => {
    const error = configErrorOf(sources);
    expect(error.issues.map((i) => formatIssue(i))).toEqual([issue]);
    expect(error.message).not.toContain(SECRET);
  });
});

describe("state_backend s3 and pg: every wrong value named with file:line:key, nothing Terraform would evaluate", () => {
  const s3 = (extra: Record<string, unknown>) =>
    edited((c) => (c.cluster.state_backend = { type: "s3", bucket: "tfstate", ...extra }));
  it.each([
    [
      "a key without {layer}",
      s3({ key: "homelab/state.tfstate" }),
      'cluster.yaml:16:8 state_backend.key: the key must contain "{layer}" so that each layer has its own state, got "homelab/state.tfstate"',
    ],
    [
      "a key with an expression",
      s3({ key: "${var.x}/{layer}" }),
      'cluster.yaml:16:8 state_backend.key: expected an object key of letters, digits, "_", "." and "-" in "/"-separated parts, with "{layer}", got "${var.x}/{layer}"',
    ],
    [
      "a key leaving its folder",
      s3({ key: "../{layer}" }),
      'cluster.yaml:16:8 state_backend.key: a key has no ".." part, got "../{layer}"',
    ],
    [
      "a bucket name S3 refuses",
      s3({ bucket: "Tf_State" }),
      "cluster.yaml:15:11 state_backend.bucket: expected a bucket name (3 to 63 lower-case letters, digits, '.' and '-'), got \"Tf_State\"",
    ],
    [
      "an endpoint with an expression",
      s3({ endpoint: "https://s3.example.com/${var.x}" }),
      'cluster.yaml:16:13 state_backend.endpoint: a URL cannot contain "${" or "%{" (Terraform would evaluate it); percent-encode the brace, got "https://s3.example.com/${var.x}"',
    ],
    [
      "a pg schema name that needs quoting",
      edited((c) => (c.cluster.state_backend = { type: "pg", schema_name: "Prod-State" })),
      "cluster.yaml:15:16 state_backend.schema_name: expected a PostgreSQL schema name (lower-case letters, digits and '_', at most 63), got \"Prod-State\"",
    ],
    [
      "an endpoint with credentials in it",
      s3({ endpoint: "https://AKIA:hunter2@s3.example.com" }),
      'cluster.yaml:16:13 state_backend.endpoint: a URL with a user name or password in it; remove "user:password@" and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment',
    ],
  ])("%s", (_name, sources, issue) => {
    expect(issuesOf(sources)).toEqual([issue]);
  });
});

describe("keys of onedr0p/cluster-template are accepted with a warning and otherwise ignored", () => {
  it("cloudflare_domain in cluster.yaml and encrypt_disk on a node", () => {
    const { cluster, nodes, warnings } = parseConfig(
      edited((c) => {
        c.cluster.cloudflare_domain = "example.com";
        c.nodes[2].encrypt_disk = true;
      }),
    );
    // encrypt_disk is one of ours now (Talos disk encryption).
    expect(warnings.map((w) => formatIssue(w))).toEqual([
      "cluster.yaml:13:1 warning: cloudflare_domain: is a cluster-template key this project does not use; ignored",
    ]);
    expect(cluster).not.toHaveProperty("cloudflare_domain");
    expect(nodes[2].encrypt_disk).toBe(true);
  });

  it.each([...IGNORED_CLUSTER_KEYS])("%s", (key) => {
    const { warnings } = parseConfig(edited((c) => (c.cluster[key] = "anything")));
    expect(warnings.map((w) => formatIssue(w))).toEqual([
      `cluster.yaml:13:1 warning: ${key}: is a cluster-template key this project does not use; ignored`,
    ]);
  });
});

describe("warnings", () => {
  it("an even number of controllers loads, with a warning that says how many to use", () => {
    const { nodes, warnings } = parseConfig(edited((c) => (c.nodes[1].controller = true)));
    expect(nodes.filter((n) => n.controller)).toHaveLength(2);
    expect(warnings.map((w) => formatIssue(w))).toEqual([
      "nodes.yaml:2:3 warning: nodes: 2 controllers: etcd tolerates no more failures with an even number than with one fewer; use 1 or 3",
    ]);
  });

  it("one Proxmox host holding a majority of the controllers loads, with a warning naming the host and its controllers", () => {
    const threeControllers = (hosts: (string | undefined)[]) =>
      parseConfig(
        edited((c) => {
          c.nodes[1].controller = true;
          c.nodes[2].controller = true;
          hosts.forEach((host, i) => {
            if (host) c.nodes[i].proxmox_node = host;
          });
        }),
      ).warnings.map((w) => formatIssue(w));
    // cluster.yaml's proxmox_node (pve) holds controlplane0 and worker1 beside worker0 on pve2.
    expect(threeControllers([undefined, "pve2", undefined])).toEqual([
      "nodes.yaml:13:5 warning: nodes[2]: Proxmox host pve holds 2 of the 3 controllers (controlplane0, worker1): losing that host loses etcd's quorum and the Kubernetes API; spread them so that no host holds more than 1 (three hosts at least; a small third one will do)",
    ]);
    expect(threeControllers(["pve1", "pve2", "pve2"])[0]).toMatch(
      /^nodes\.yaml:\d+:\d+ warning: nodes\[2\]\.proxmox_node: Proxmox host pve2 holds 2 of the 3 controllers \(worker0, worker1\)/,
    );
    // Spread over three hosts, or all on one (everything fails together there anyway): no warning.
    expect(threeControllers(["pve1", "pve2", "pve3"])).toEqual([]);
    expect(threeControllers([undefined, undefined, undefined])).toEqual([]);
  });

  it("a config with only warnings does not throw", () => {
    const sources = edited((c) => {
      c.cluster.cluster_dns_gateway_addr = "192.168.1.30";
      c.nodes[1].controller = true;
    });
    expect(() => parseConfig(sources)).not.toThrow();
    const { warnings } = parseConfig(sources);
    expect(warnings).toHaveLength(2);
    expect(warnings.every((w) => w.severity === "warning")).toBe(true);
  });

  it("a ConfigError lists the warnings too, but counts only the errors", () => {
    const sources = edited((c) => {
      c.cluster.talos_version = "1.12.1";
      c.cluster.cloudflare_domain = "example.com";
    });
    expect(configErrorOf(sources).message).toBe(
      [
        "1 error in the cluster configuration:",
        '  cluster.yaml:5:16 talos_version: expected a Talos version like "v1.12.7" (with the leading v), got "1.12.1"',
        "  cluster.yaml:13:1 warning: cloudflare_domain: is a cluster-template key this project does not use; ignored",
      ].join("\n"),
    );
  });
});

describe("one run reports every problem", () => {
  it("errors in both files, of every kind, come in one ConfigError sorted by file and line", () => {
    const sources = edited((c) => {
      c.cluster.talos_version = "1.12.1"; // schema error, line 5
      c.cluster.proxmox_api_token = "secret"; // credential, line 13 (found before the schema runs)
      c.nodes[1].controller = "yes"; // schema error, line 9
      c.nodes[1].mac_addr = "BC:24:11:00:00:31"; // schema error, line 10
      c.nodes[2].vm_id = 1021; // cross-field error between two valid entries, line 16
    });
    const error = configErrorOf(sources, "clusters/home");
    expect(error.issues).toHaveLength(5);
    expect(error.issues.every((i) => i.severity === "error")).toBe(true);
    expect(error.message).toBe(
      [
        "5 errors in the cluster configuration:",
        '  clusters/home/cluster.yaml:5:16 talos_version: expected a Talos version like "v1.12.7" (with the leading v), got "1.12.1"',
        "  clusters/home/cluster.yaml:13:1 proxmox_api_token: looks like a credential; set PROXMOX_VE_API_TOKEN in the environment (user@realm!token-name=secret)",
        '  clusters/home/nodes.yaml:9:17 nodes[1].controller: expected boolean, received string, got "yes"',
        '  clusters/home/nodes.yaml:10:15 nodes[1].mac_addr: expected a lower-case MAC address like "bc:24:11:00:00:01", got "BC:24:11:00:00:31"',
        "  clusters/home/nodes.yaml:16:12 nodes[2].vm_id: 1021 is already used by nodes[0] (controlplane0)",
      ].join("\n"),
    );
  });

  it("cross-file rules still run when nodes.yaml has an error", () => {
    const sources = edited((c) => {
      c.cluster.cluster_api_addr = "192.168.1.21"; // nodes[0]'s address
      c.nodes[2].vm_cores = 0;
    });
    expect(issuesOf(sources)).toEqual([
      "cluster.yaml:4:19 cluster_api_addr: 192.168.1.21 is the address of nodes[0] (controlplane0); the API address must be a free address of its own",
      "nodes.yaml:17:15 nodes[2].vm_cores: expected a positive number, got 0",
    ]);
  });
});

// Regressions: bugs these tests found in config/, now fixed.
describe("regressions", () => {
  // load.ts: YAML aliases are resolved by doc.toJS(), which throws a ReferenceError for an alias without an
  // anchor; the loader does not catch it, so a typo like `*storage` crashes with a stack trace.
  it("an alias without an anchor is a ConfigError at its line, not a ReferenceError", () => {
    const sources = { ...edited(), cluster: `${edited().cluster}proxmox_iso_storage: *storage\n` };
    expect(configErrorOf(sources).issues).toContainEqual(expect.objectContaining({ file: "cluster.yaml", line: 13 }));
  });

  // load.ts: same place; yaml's alias-count guard throws a ReferenceError ("Excessive alias count ...").
  it("an alias bomb is a ConfigError, not a ReferenceError", () => {
    let bomb = "lol0: &lol0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (let i = 1; i < 7; i++)
      bomb += `lol${i}: &lol${i} [${Array(10)
        .fill(`*lol${i - 1}`)
        .join(", ")}]\n`;
    expect(() => parseConfig({ ...edited(), cluster: edited().cluster + bomb })).toThrow(ConfigError);
  });

  // foreign-keys.ts: credentialHint() looks keys up in a plain object literal, so Object.prototype members
  // count as hints: `constructor: x` gives "looks like a credential; function Object() { [native code] }".
  it("a key named like an Object.prototype member is an unknown key, not a credential", () => {
    const sources = edited((c) => Object.assign(c.cluster, { constructor: "x" }));
    expect(issuesOf(sources)).toEqual([expect.stringMatching(/^cluster\.yaml:13:1 constructor: unknown key/)]);
  });

  // load.ts locate(): compares the scalar key's value (the number 8080) with the path segment (the string
  // "8080" from toJS), finds no pair and falls back to the top of the file: reported at 1:1, not 13:1.
  it("a non-string key is located at its own line", () => {
    const sources = { ...edited(), cluster: `${edited().cluster}8080: x\n` };
    expect(issuesOf(sources)).toEqual([expect.stringMatching(/^cluster\.yaml:13:1 8080: unknown key/)]);
  });

  // load.ts addZodIssue(): the value is shown with JSON.stringify, which prints Infinity and NaN as null:
  // "expected number, received Infinity, got null" for `vm_memory: .inf`.
  it("vm_memory: .inf is not reported as null", () => {
    const [issue] = issuesOf(edited((c) => (c.nodes[2].vm_memory = Infinity)));
    expect(issue).toMatch(/^nodes\.yaml:17:16 nodes\[2\]\.vm_memory: /);
    expect(issue).not.toMatch(/got null$/);
  });

  // checks.ts: no rule relates proxmox_vm_advanced.balloon to the memory of each node, so this config is
  // accepted and buildApp() then throws "TalosNodeVm controlplane0: 'balloon' (16384) must not exceed
  // 'memory' (8192)" with a stack trace instead of a `file:line:col` error.
  it("proxmox_vm_advanced.balloon above a node's memory is a config error", () => {
    const sources = edited((c) => (c.cluster.proxmox_vm_advanced = { balloon: 16384 }));
    expect(() => parseConfig(sources)).toThrow(ConfigError);
  });
});
