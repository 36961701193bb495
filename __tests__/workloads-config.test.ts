import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  ConfigError,
  formatIssue,
  loadConfig,
  parseConfig,
  resolveCluster,
  resolveGuests,
  resolveZones,
  type ConfigSources,
} from "../config";

// The base cluster (one host "pve", nodes 1021/1031 on 192.168.1.0/24) and a workloads.yaml beside it with one
// of each part. Every bad-input case below is one edit of it.
const CLUSTER = {
  cluster_name: "homelab",
  node_cidr: "192.168.1.0/24",
  node_default_gateway: "192.168.1.1",
  cluster_api_addr: "192.168.1.10",
  talos_version: "v1.12.1",
  kubernetes_version: "v1.35.0",
  proxmox_api_url: "https://pve.example.com:8006/",
  proxmox_node: "pve",
  cilium_loadbalancer_pool: { start: "192.168.1.200", stop: "192.168.1.220" },
};
const NODES = [
  { name: "controlplane0", address: "192.168.1.21", controller: true, mac_addr: "bc:24:11:00:00:21", vm_id: 1021 },
  { name: "worker0", address: "192.168.1.31", controller: false, mac_addr: "bc:24:11:00:00:31", vm_id: 1031 },
];

type Entry = Record<string, any>;
const WORKLOADS: Entry = {
  hosts: ["pve", "pve2"],
  zones: [
    { name: "lan", vlan: 10, cidr: "192.168.10.0/24" },
    { name: "iot", vlan: 20, cidr: "192.168.20.0/24", gateway: "192.168.20.254" },
  ],
  pci_mappings: [{ name: "gpu", devices: [{ host: "pve", path: "0000:01:00.0", id: "10de:2204" }] }],
  pbs_storages: [
    {
      name: "pbs",
      server: "pbs.home.arpa",
      datastore: "main",
      username: "backup@pbs",
      password_env: "TF_VAR_pbs_password",
    },
  ],
  backups: [
    { name: "nightly", schedule: "02:30", storage: "pbs", keep: { daily: 7, weekly: 4 }, select: { tags: ["backup"] } },
  ],
  containers: [
    {
      name: "proxy",
      id: 101,
      template: { volume: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst" },
      network: { zone: "lan", address: "192.168.10.5", mac_addr: "bc:24:11:00:01:01" },
      tags: ["backup"],
      ssh_keys: [{ env: "TF_VAR_admin_ssh_key" }],
    },
    {
      name: "apps",
      id: 102,
      host: "pve2",
      template: { url: "https://images.example.com/debian-12.tar.zst" },
      network: { address: "192.168.1.50/24", gateway: "192.168.1.1" },
      features: { nesting: true, keyctl: true },
      replication: { target: "pve" },
    },
  ],
  vms: [
    {
      name: "gpu-vm",
      id: 201,
      purpose: "development",
      clone: { template: 9000 },
      cloud_init: { user: "admin" },
      network: { zone: "iot", address: "192.168.20.7" },
      pci: [{ mapping: "gpu" }],
      ha: { hosts: { pve: 2, pve2: 1 } },
    },
  ],
};

function sources(edit: (w: Entry, c: Entry, n: Entry[]) => void = () => {}): ConfigSources {
  const [w, c, n] = [structuredClone(WORKLOADS), structuredClone(CLUSTER), structuredClone(NODES)];
  edit(w, c, n);
  return { cluster: stringify(c), nodes: stringify({ nodes: n }), workloads: stringify(w) };
}

function issuesOf(input: ConfigSources): string[] {
  try {
    parseConfig(input);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.filter((i) => i.severity === "error").map((i) => formatIssue(i));
    throw e;
  }
  throw new Error("expected a ConfigError, but the config was accepted");
}

describe("workloads.yaml", () => {
  it("the base file is valid and resolves effective values", () => {
    const { workloads, warnings } = parseConfig(sources());
    expect(warnings).toEqual([]);
    const guests = resolveGuests(workloads!.config, { host: "pve", diskStorage: "local-lvm" });
    expect(guests.map((g) => [g.kind, g.config.name, g.host, g.addressCidr, g.gateway, g.fqdn])).toEqual([
      ["lxc", "proxy", "pve", "192.168.10.5/24", "192.168.10.1", "proxy.lan.internal"],
      ["lxc", "apps", "pve2", "192.168.1.50/24", "192.168.1.1", "apps.internal"],
      ["vm", "gpu-vm", "pve", "192.168.20.7/24", "192.168.20.254", "gpu-vm.iot.internal"],
    ]);
    // Defaults the constructs rely on.
    const proxy = workloads!.config.containers[0];
    expect([
      proxy.privileged,
      proxy.features,
      proxy.on_boot,
      proxy.cores,
      proxy.memory,
      proxy.swap,
      proxy.purpose,
    ]).toEqual([undefined, { nesting: false, keyctl: false, fuse: false }, true, 1, 512, 512, "production"]);
  });

  it("is optional: without it the definition has no workloads", () => {
    const { workloads, ...rest } = sources();
    expect(workloads).toBeDefined();
    expect(parseConfig(rest).workloads).toBeUndefined();
    expect("workloads" in parseConfig(rest)).toBe(false);
    expect("workloads" in resolveCluster(parseConfig(rest))).toBe(false);
    expect(resolveCluster(parseConfig(sources())).workloads?.guests.map((g) => `${g.config.name}@${g.host}`)).toEqual([
      "proxy@pve",
      "apps@pve2",
      "gpu-vm@pve",
    ]);
  });

  it("loadConfig reads it from the folder when present, and public key files relative to it", () => {
    const dir = mkdtempSync(join(tmpdir(), "workloads-"));
    try {
      const s = sources((w) => (w.containers[0].ssh_keys = [{ file: "keys/admin.pub" }]));
      writeFileSync(join(dir, "cluster.yaml"), s.cluster);
      writeFileSync(join(dir, "nodes.yaml"), s.nodes);
      expect(loadConfig(dir).workloads).toBeUndefined();
      writeFileSync(join(dir, "workloads.yaml"), s.workloads!);
      expect(() => loadConfig(dir)).toThrow(
        /workloads.yaml:\d+:\d+ containers\[0\].ssh_keys\[0\].file: cannot read keys\/admin.pub: ENOENT/,
      );
      require("node:fs").mkdirSync(join(dir, "keys"));
      writeFileSync(join(dir, "keys/admin.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbq admin@laptop\n");
      expect(loadConfig(dir).workloads!.sshKeyFiles.get("keys/admin.pub")).toBe(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbq admin@laptop",
      );
      writeFileSync(
        join(dir, "keys/admin.pub"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
      );
      expect(() => loadConfig(dir)).toThrow(
        /containers\[0\].ssh_keys\[0\].file: keys\/admin.pub is a private key; name the public key/,
      );
      writeFileSync(join(dir, "keys/admin.pub"), "hunter2\n");
      expect(() => loadConfig(dir)).toThrow(/is not an OpenSSH public key file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an untagged zone (the nodes' own network), a router VM with LAN and WAN, a container with a device", () => {
    const { workloads, warnings } = parseConfig(
      sources((w) => {
        w.zones.push({ name: "mgmt", vlan: 0, cidr: "192.168.1.0/24" });
        w.vms[0].extra_networks = [
          { zone: "mgmt", address: "192.168.1.60" },
          { bridge: "vmbr1", vlan: 99 },
        ];
        w.containers[0].devices = [{ path: "/dev/net/tun" }];
      }),
    );
    expect(warnings).toEqual([]);
    const zones = resolveZones(workloads!.config);
    expect([zones.get("mgmt")!.tag, zones.get("mgmt")!.gateway]).toEqual([undefined, "192.168.1.1"]);
    expect(zones.get("lan")!.tag).toBe(10);
    const guests = resolveGuests(workloads!.config, { host: "pve", diskStorage: "local-lvm" });
    const vm = guests.find((g) => g.config.name === "gpu-vm")!;
    expect(vm.extraNics.map((n) => [n.path.join("."), n.zone?.config.name, n.addressCidr, n.config.vlan])).toEqual([
      ["vms.0.extra_networks.0", "mgmt", "192.168.1.60/24", undefined],
      ["vms.0.extra_networks.1", undefined, undefined, 99],
    ]);
    expect(workloads!.config.containers[0].devices).toEqual([{ path: "/dev/net/tun", mode: "0660", read_only: false }]);
  });

  it("points at the line and column of the offending value", () => {
    const text = [
      "containers:",
      "  - name: proxy",
      "    id: 1021",
      "    template: {volume: 'local:vztmpl/x.tar.zst'}",
      "",
    ].join("\n");
    expect(issuesOf({ ...sources(), workloads: text })).toEqual([
      "workloads.yaml:3:9 containers[0].id: id 1021 is already used by nodes.yaml nodes[0] (controlplane0)",
      "workloads.yaml:3:9 containers[0].id: 1021 is outside the production range 100-199",
    ]);
  });

  // [what, edit, expected issue (formatted, without the line:col)]
  const cases: [string, (w: Entry, c: Entry, n: Entry[]) => void, string][] = [
    // schema
    [
      "unknown key with a hint",
      (w) => (w.containers[0].memroy = 1),
      'containers[0].memroy: unknown key; did you mean "memory"?',
    ],
    [
      "inline secret",
      (w) => (w.containers[0].password = "hunter2"),
      "containers[0].password: looks like a credential; credentials never go in workloads.yaml",
    ],
    [
      "secret in a nested list entry",
      (w) => (w.pbs_storages[0].password = "x"),
      "pbs_storages[0].password: looks like a credential; credentials never go in workloads.yaml",
    ],
    [
      "inline SSH key",
      (w) => (w.containers[0].ssh_keys = ["ssh-ed25519 AAAA"]),
      "containers[0].ssh_keys[0]: expected {file: path/to/key.pub} or {env: TF_VAR_name}; keys are never written inline",
    ],
    [
      "SSH key env not TF_VAR_",
      (w) => (w.containers[0].ssh_keys = [{ env: "ADMIN_KEY" }]),
      "containers[0].ssh_keys[0].env: expected an environment variable named TF_VAR_<name>",
    ],
    [
      "template neither volume nor URL",
      (w) => (w.containers[0].template = { vol: "x" }),
      "containers[0].template: expected {volume: storage:vztmpl/file} or {url: https://...}",
    ],
    [
      "backup selection with two forms",
      (w) => (w.backups[0].select = { all: true, ids: [101] }),
      "backups[0].select: expected exactly one of {all: true}, {ids: [...]}, {pool: name}, {tags: [...]}",
    ],
    [
      "privileged without a reason",
      (w) => (w.containers[0].privileged = {}),
      "containers[0].privileged.reason: required key is missing",
    ],
    [
      "privileged with a too short reason",
      (w) => (w.containers[0].privileged = { reason: "docker" }),
      "containers[0].privileged.reason: say why in a sentence",
    ],
    ["bad SDN zone name", (w) => (w.zones[0].name = "Lan-Zone"), "zones[0].name: expected a Proxmox SDN id"],
    [
      "retention without a value",
      (w) => (w.backups[0].keep = {}),
      "backups[0].keep: give at least one of last, daily, weekly, monthly, yearly",
    ],
    // names, ids, MACs, addresses across Talos nodes, containers and VMs
    [
      "name of a Talos node",
      (w) => (w.containers[0].name = "worker0"),
      "containers[0].name: name worker0 is already used by nodes.yaml nodes[1] (worker0)",
    ],
    [
      "name of another guest",
      (w) => (w.vms[0].name = "proxy"),
      "vms[0].name: name proxy is already used by containers[0] (proxy)",
    ],
    [
      "id of another guest",
      (w) => (w.containers[1].id = 101),
      "containers[1].id: id 101 is already used by containers[0] (proxy)",
    ],
    [
      "id of a Talos node",
      (w) => {
        w.id_ranges = { production: { from: 100, to: 1999 } };
        w.vms[0].purpose = "production";
        w.containers[1].id = 1031;
      },
      "containers[1].id: id 1031 is already used by nodes.yaml nodes[1] (worker0)",
    ],
    [
      "MAC of a Talos node",
      (w) => (w.containers[0].network.mac_addr = "bc:24:11:00:00:21"),
      "containers[0].network.mac_addr: MAC address bc:24:11:00:00:21 is already used by nodes.yaml nodes[0] (controlplane0)",
    ],
    [
      "MAC of another guest",
      (w) => (w.vms[0].network.mac_addr = "bc:24:11:00:01:01"),
      "vms[0].network.mac_addr: MAC address bc:24:11:00:01:01 is already used by containers[0] (proxy)",
    ],
    [
      "address of a Talos node",
      (w) => (w.containers[1].network.address = "192.168.1.31/24"),
      "containers[1].network.address: address 192.168.1.31 is already used by nodes.yaml nodes[1] (worker0)",
    ],
    [
      "address of the API VIP",
      (w) => (w.containers[1].network.address = "192.168.1.10/24"),
      "containers[1].network.address: address 192.168.1.10 is already used by cluster.yaml cluster_api_addr",
    ],
    [
      "address of another guest",
      (w) => (w.vms[0].network = { zone: "lan", address: "192.168.10.5" }),
      "vms[0].network.address: address 192.168.10.5 is already used by containers[0] (proxy)",
    ],
    [
      "address of a zone gateway",
      (w) => (w.containers[0].network.address = "192.168.10.1"),
      "containers[0].network.address: address 192.168.10.1 is already used by the gateway of zone lan",
    ],
    [
      "address in the load-balancer pool",
      (w) => (w.containers[1].network.address = "192.168.1.201/24"),
      "containers[1].network.address: 192.168.1.201 is inside cluster.yaml cilium_loadbalancer_pool 192.168.1.200-192.168.1.220",
    ],
    // id ranges
    [
      "id outside its purpose",
      (w) => (w.containers[0].id = 250),
      "containers[0].id: 250 is outside the production range 100-199",
    ],
    [
      "unknown purpose",
      (w) => (w.containers[0].purpose = "staging"),
      'containers[0].purpose: "staging" is not a key of id_ranges (production, development, template)',
    ],
    [
      "purpose template",
      (w) => (w.containers[0].purpose = "template"),
      "containers[0].purpose: this file creates no templates",
    ],
    [
      "clone source outside the template range",
      (w) => (w.vms[0].clone.template = 150),
      "vms[0].clone.template: 150 is outside the template range 9000+",
    ],
    [
      "clone source is a managed guest",
      (w) => (w.vms[0].clone.template = 101),
      "vms[0].clone.template: 101 is the id of containers[0] (proxy), not of a template",
    ],
    [
      "a template cloned from two hosts",
      (w) => w.vms.push({ name: "second", id: 202, purpose: "development", host: "pve2", clone: { template: 9000 } }),
      "vms[1].clone.template: template 9000 is on pve, where vms[0] (gpu-vm) clones it; a template is one VM on one host",
    ],
    [
      "a linked clone on another host than its template",
      (w) => (w.vms[0].clone = { template: 9000, host: "pve2", full: false }),
      "vms[0].clone.full: a linked clone is made on its template's host pve2, not on pve",
    ],
    [
      "Talos node in the template range",
      (_w, _c, n) => (n[1].vm_id = 9001),
      "nodes.yaml nodes[1].vm_id: 9001 is in the template range 9000+ of workloads.yaml",
    ],
    [
      "overlapping ranges",
      (w) =>
        (w.id_ranges = { production: { from: 100, to: 199 }, development: { from: 150 }, template: { from: 9000 } }),
      "id_ranges.development: 150+ overlaps the production range 100-199",
    ],
    [
      "range ends before it starts",
      (w) => (w.id_ranges = { production: { from: 199, to: 100 }, template: { from: 9000 } }),
      "id_ranges.production.to: 100 is before from 199",
    ],
    // zones
    [
      "address outside its zone",
      (w) => (w.containers[0].network.address = "192.168.11.5"),
      "containers[0].network.address: 192.168.11.5 is outside the subnet 192.168.10.0/24 of zone lan",
    ],
    [
      "broadcast address of its zone",
      (w) => (w.containers[0].network.address = "192.168.10.255"),
      "containers[0].network.address: 192.168.10.255 is the network or broadcast address of zone lan",
    ],
    [
      "prefix differs from the zone",
      (w) => (w.containers[0].network.address = "192.168.10.5/16"),
      "containers[0].network.address: the prefix of 192.168.10.5/16 differs from zone lan's 192.168.10.0/24",
    ],
    [
      "unknown zone",
      (w) => (w.containers[0].network.zone = "dmz"),
      "containers[0].network.zone: no zone is named dmz (zones: lan, iot)",
    ],
    [
      "bridge with a zone",
      (w) => (w.containers[0].network.bridge = "vmbr1"),
      "containers[0].network.bridge: a guest in zone lan is on the zone's VNet; remove bridge",
    ],
    [
      "VLAN with a zone",
      (w) => (w.containers[0].network.vlan = 30),
      "containers[0].network.vlan: zone lan brings its own VLAN; remove vlan",
    ],
    [
      "address without prefix outside zones",
      (w) => (w.containers[1].network.address = "192.168.1.50"),
      "containers[1].network.address: 192.168.1.50 needs its prefix (like 192.168.1.50/24) outside a zone",
    ],
    [
      "gateway outside the subnet",
      (w) => (w.containers[1].network.gateway = "10.0.0.1"),
      "containers[1].network.gateway: 10.0.0.1 is outside 192.168.1.50/24",
    ],
    [
      "gateway with DHCP",
      (w) => (w.containers[1].network = { address: "dhcp", gateway: "192.168.1.1" }),
      "containers[1].network.gateway: a gateway comes from DHCP with address: dhcp; remove it",
    ],
    [
      "zone gateway outside its cidr",
      (w) => (w.zones[1].gateway = "192.168.21.1"),
      "zones[1].gateway: 192.168.21.1 is outside the zone's cidr 192.168.20.0/24",
    ],
    [
      "overlapping zones",
      (w) => (w.zones[1].cidr = "192.168.10.128/25"),
      "zones[1].cidr: 192.168.10.128/25 overlaps zones[0] (lan) 192.168.10.0/24",
    ],
    ["duplicate VLAN", (w) => (w.zones[1].vlan = 10), "zones[1].vlan: VLAN 10 is already the VLAN of zone lan"],
    // untagged zones: PVE's NIC tag is 1-4094; 0 is the bridge's untagged network, one per bridge
    ["VLAN below 0", (w) => (w.zones[1].vlan = -1), "zones[1].vlan: expected 0 (untagged) or a VLAN tag 1-4094"],
    ["VLAN above 4094", (w) => (w.zones[1].vlan = 4095), "zones[1].vlan: expected 0 (untagged) or a VLAN tag 1-4094"],
    [
      "two untagged zones",
      (w) => {
        w.zones[0].vlan = 0;
        w.zones[1].vlan = 0;
      },
      "zones[1].vlan: zone lan is already the untagged network of bridge vmbr0 (a bridge has one)",
    ],
    [
      "an untagged zone on the nodes' network while the nodes are tagged",
      (w, c) => {
        c.node_vlan_tag = 5;
        w.zones[1] = { name: "mgmt", vlan: 0, cidr: "192.168.1.0/24" };
      },
      "zones[1].cidr: 192.168.1.0/24 is the nodes' node_cidr, which is tagged 5",
    ],
    [
      "an untagged zone on the nodes' network on another bridge",
      (w) => {
        w.bridge = "vmbr1";
        w.zones[1] = { name: "mgmt", vlan: 0, cidr: "192.168.1.0/24" };
      },
      "zones[1].cidr: 192.168.1.0/24 is the nodes' node_cidr, which is on bridge vmbr0, not on vmbr1",
    ],
    [
      "an untagged zone overlapping the nodes' network",
      (w) => (w.zones[1] = { name: "mgmt", vlan: 0, cidr: "192.168.0.0/23" }),
      "zones[1].cidr: 192.168.0.0/23 overlaps cluster.yaml node_cidr 192.168.1.0/24",
    ],
    [
      "VLAN with the untagged zone",
      (w) => {
        w.zones[0].vlan = 0;
        w.containers[0].network.vlan = 30;
      },
      "containers[0].network.vlan: zone lan is the untagged network; remove vlan",
    ],
    // more NICs per guest
    [
      "more NIC in an unknown zone",
      (w) => (w.vms[0].extra_networks = [{ zone: "wan" }]),
      "vms[0].extra_networks[0].zone: no zone is named wan (zones: lan, iot)",
    ],
    [
      "more NIC's address outside its zone",
      (w) => (w.vms[0].extra_networks = [{ zone: "lan", address: "192.168.11.9" }]),
      "vms[0].extra_networks[0].address: 192.168.11.9 is outside the subnet 192.168.10.0/24 of zone lan",
    ],
    [
      "more NIC's address taken by another guest",
      (w) => (w.vms[0].extra_networks = [{ zone: "lan", address: "192.168.10.5" }]),
      "vms[0].extra_networks[0].address: address 192.168.10.5 is already used by containers[0] (proxy)",
    ],
    [
      "more NIC's address without prefix outside zones",
      (w) => (w.vms[0].extra_networks = [{ bridge: "vmbr1", address: "10.0.0.2" }]),
      "vms[0].extra_networks[0].address: 10.0.0.2 needs its prefix (like 10.0.0.2/24) outside a zone",
    ],
    [
      "more NIC's MAC taken by another guest",
      (w) => (w.vms[0].extra_networks = [{ mac_addr: "bc:24:11:00:01:01" }]),
      "vms[0].extra_networks[0].mac_addr: MAC address bc:24:11:00:01:01 is already used by containers[0] (proxy)",
    ],
    [
      "more NIC with a bridge in a zone",
      (w) => (w.vms[0].extra_networks = [{ zone: "lan", bridge: "vmbr1" }]),
      "vms[0].extra_networks[0].bridge: a guest in zone lan is on the zone's VNet; remove bridge",
    ],
    [
      "more NIC with a gateway (the default route is network's)",
      (w) => (w.vms[0].extra_networks = [{ address: "10.0.0.2/24", gateway: "10.0.0.1" }]),
      "vms[0].extra_networks[0].gateway: unknown key",
    ],
    [
      "more NIC's static address on a VM without cloud-init",
      (w) => {
        delete w.vms[0].cloud_init;
        w.vms[0].network = { zone: "iot" };
        w.vms[0].extra_networks = [{ bridge: "vmbr1", address: "10.0.0.2/24" }];
      },
      "vms[0].extra_networks[0].address: a static address is set through cloud-init",
    ],
    [
      "more NIC set by a container",
      (w) => (w.containers[0].extra_networks = [{ bridge: "vmbr1", address: "10.0.0.2/24", set_by_guest: true }]),
      "containers[0].extra_networks[0].set_by_guest: a container's address is set by Proxmox",
    ],
    [
      "more NIC set by the guest with cloud-init",
      (w) => (w.vms[0].extra_networks = [{ bridge: "vmbr1", address: "10.0.0.2/24", set_by_guest: true }]),
      "vms[0].extra_networks[0].set_by_guest: with cloud_init, cloud-init sets the address",
    ],
    [
      "more NICs than Proxmox numbers",
      (w) => (w.containers[0].extra_networks = Array.from({ length: 32 }, () => ({ bridge: "vmbr1" }))),
      "containers[0].extra_networks: Proxmox gives a guest at most 32 NICs (net0-net31)",
    ],
    // devices passed into containers
    [
      "device outside /dev",
      (w) => (w.containers[0].devices = [{ path: "/etc/shadow" }]),
      'containers[0].devices[0].path: expected a device path under /dev/ like "/dev/net/tun"',
    ],
    [
      "device path climbing out of /dev",
      (w) => (w.containers[0].devices = [{ path: "/dev/../etc/shadow" }]),
      'containers[0].devices[0].path: expected a device path under /dev/ like "/dev/net/tun" (no "." or ".." segments)',
    ],
    [
      "device path ending the property string",
      (w) => (w.containers[0].devices = [{ path: "/dev/net/tun,uid=0" }]),
      'containers[0].devices[0].path: a device path cannot contain ","',
    ],
    [
      "device twice",
      (w) => (w.containers[0].devices = [{ path: "/dev/net/tun" }, { path: "/dev/net/tun", read_only: true }]),
      "containers[0].devices[1].path: /dev/net/tun is already passed in by devices[0]",
    ],
    [
      "device mode not octal",
      (w) => (w.containers[0].devices = [{ path: "/dev/net/tun", mode: "777" }]),
      'containers[0].devices[0].mode: expected an octal access mode like "0660"',
    ],
    ["device on a VM", (w) => (w.vms[0].devices = [{ path: "/dev/net/tun" }]), "vms[0].devices: unknown key"],
    ["duplicate zone", (w) => (w.zones[1].name = "lan"), "zones[1].name: lan is already the name of zones[0]"],
    ["zone named like the SDN zone", (w) => (w.zones[1].name = "homelab"), "zones[1].name: homelab is also sdn_zone"],
    // hosts, replication, HA
    [
      "unknown host",
      (w) => (w.containers[0].host = "pve3"),
      "containers[0].host: pve3 is not a host of the cluster (pve, pve2)",
    ],
    [
      "hosts misses a Talos host",
      (w) => (w.hosts = ["pve2"]),
      "hosts: pve runs Talos nodes (cluster.yaml/nodes.yaml) but is missing here",
    ],
    [
      "replication to its own host",
      (w) => (w.containers[1].replication.target = "pve2"),
      "containers[1].replication.target: pve2 is the guest's own host; replicate to another one",
    ],
    [
      "replication to an unknown host",
      (w) => (w.containers[1].replication.target = "pve9"),
      "containers[1].replication.target: pve9 is not a host of the cluster",
    ],
    [
      "HA preference for an unknown host",
      (w) => (w.vms[0].ha.hosts = { pve7: 1 }),
      "vms[0].ha.hosts.pve7: pve7 is not a host of the cluster",
    ],
    // containers
    [
      "keyctl on a privileged container",
      (w) => (w.containers[1].privileged = { reason: "needs raw access to /dev/net/tun" }),
      "containers[1].features.keyctl: keyctl is for unprivileged containers only",
    ],
    [
      "mount point with storage and host path",
      (w) => (w.containers[0].mount_points = [{ path: "/data", storage: "local-lvm", size: 8, host_path: "/tank" }]),
      "containers[0].mount_points[0]: give exactly one of storage (a new volume) and host_path (a bind mount)",
    ],
    [
      "volume without size",
      (w) => (w.containers[0].mount_points = [{ path: "/data", storage: "local-lvm" }]),
      "containers[0].mount_points[0].storage: a new volume needs a size in GiB",
    ],
    [
      "same mount path twice",
      (w) =>
        (w.containers[0].mount_points = [
          { path: "/data", host_path: "/a" },
          { path: "/data", host_path: "/b" },
        ]),
      "containers[0].mount_points[1].path: /data is already mounted by mount_points[0]",
    ],
    // VMs and PCI
    [
      "static address without cloud-init",
      (w) => delete w.vms[0].cloud_init,
      "vms[0].network.address: a static address is set through cloud-init",
    ],
    [
      "a clone switched to seabios",
      (w) => (w.vms[0].bios = "seabios"),
      "vms[0].bios: a clone cannot be switched to seabios",
    ],
    [
      "set_by_guest with cloud-init",
      (w) => (w.vms[0].network.set_by_guest = true),
      "vms[0].network.set_by_guest: with cloud_init, cloud-init sets the address",
    ],
    [
      "set_by_guest with dhcp",
      (w) => {
        delete w.vms[0].cloud_init;
        w.vms[0].network = { set_by_guest: true };
      },
      "vms[0].network.set_by_guest: set_by_guest is for a static address the guest sets itself",
    ],
    [
      "set_by_guest on a container",
      (w) => (w.containers[0].network.set_by_guest = true),
      "containers[0].network.set_by_guest: a container's address is set by Proxmox",
    ],
    [
      "unknown PCI mapping",
      (w) => (w.vms[0].pci = [{ mapping: "tpu" }]),
      "vms[0].pci[0].mapping: no PCI mapping is named tpu (pci_mappings: gpu)",
    ],
    [
      "PCI mapping without a device on the host",
      (w) => (w.vms[0].host = "pve2"),
      "vms[0].pci[0].mapping: gpu has no device on pve2, the VM's host",
    ],
    [
      "PCI device given to two running guests on one host",
      (w) =>
        w.vms.push({
          name: "gpu-vm2",
          id: 202,
          purpose: "development",
          clone: { template: 9000 },
          pci: [{ mapping: "gpu" }],
        }),
      "vms[1].pci[0].mapping: gpu on pve is already given to vms[0] (gpu-vm), which runs too; a PCI device serves one running guest",
    ],
    [
      "PCI device of a Talos node given to a running VM on the same host",
      (_w, _c, n) => (n[1].pci_devices = [{ id: "01:00" }]),
      "vms[0].pci[0].mapping: gpu on pve is already given to nodes.yaml nodes[1] (worker0), which runs too; a PCI device serves one running guest",
    ],
    [
      "PCI mapping of a Talos node given to a running VM on the same host",
      (_w, _c, n) => (n[0].pci_devices = [{ mapping: "gpu" }]),
      "vms[0].pci[0].mapping: gpu on pve is already given to nodes.yaml nodes[0] (controlplane0), which runs too; a PCI device serves one running guest",
    ],
    [
      "PCIe on i440fx",
      (w) => (w.vms[0].machine = "pc"),
      "vms[0].pci[0].pcie: PCI Express needs the q35 machine type, the VM has pc",
    ],
    [
      "mapping with two devices on one host",
      (w) => w.pci_mappings[0].devices.push({ host: "pve", path: "0000:02:00.0", id: "10de:2204" }),
      "pci_mappings[0].devices[1].host: gpu already has a device on pve",
    ],
    // backups
    [
      "backup of an unknown id",
      (w) => (w.backups[0].select = { ids: [101, 777] }),
      "backups[0].select.ids[1]: no node, VM or container has the id 777",
    ],
    [
      "backup of an empty pool",
      (w) => (w.backups[0].select = { pool: "media" }),
      "backups[0].select.pool: no guest is in pool media",
    ],
    [
      "backup of an unused tag",
      (w) => (w.backups[0].select = { tags: ["nope"] }),
      "backups[0].select.tags: no guest has any of the tags nope",
    ],
    [
      "duplicate backup job",
      (w) => w.backups.push(structuredClone(w.backups[0])),
      "backups[1].name: nightly is already the name of another backup job",
    ],
    [
      "backup on an unknown host",
      (w) => (w.backups[0].host = "pve5"),
      "backups[0].host: pve5 is not a host of the cluster",
    ],
    [
      "template downloaded over a file another container names as existing",
      (w) => {
        w.containers[1].host = "pve";
        w.containers[1].template = { url: "http://download.invalid/debian-12-standard_12.7-1_amd64.tar.zst" };
      },
      "containers[1].template.url: downloads debian-12-standard_12.7-1_amd64.tar.zst to local on pve, where containers[0] (proxy) names it as an existing volume",
    ],
    // firewalls: rules as PVE's verify_rule takes them, and a NIC flag that filters something
    ...(
      [
        ["an unknown macro", { action: "ACCEPT", macro: "Https" }, "macro: PVE spells this macro HTTPS"],
        ["a macro PVE does not have", { action: "ACCEPT", macro: "Plex" }, "macro: not a Proxmox firewall macro"],
        [
          "an action PVE lacks",
          { action: "ALLOW", proto: "tcp" },
          'action: Invalid option: expected one of "ACCEPT"|"DROP"|"REJECT"',
        ],
        [
          "a port without a protocol",
          { action: "ACCEPT", dport: 22 },
          "proto: missing property - 'dport' requires this property",
        ],
        ["a port above 65535", { action: "ACCEPT", proto: "tcp", dport: "70000" }, "dport: invalid port '70000'"],
        [
          "a backwards range",
          { action: "ACCEPT", proto: "tcp", dport: "90:80" },
          "dport: backwards range '90:80' not allowed",
        ],
        ["a service name", { action: "ACCEPT", proto: "tcp", dport: "ssh" }, "dport: 'ssh' is not a port number"],
        [
          "more than 15 ports",
          { action: "ACCEPT", proto: "tcp", dport: "1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16" },
          "dport: too many entries in port list (> 15 numbers)",
        ],
        [
          "ports on a protocol without them",
          { action: "ACCEPT", proto: "gre", dport: "1" },
          "dport: protocol 'gre' does not support ports",
        ],
        ["an unknown protocol", { action: "ACCEPT", proto: "tcpp" }, "proto: unknown protocol 'tcpp'"],
        ["an unknown ICMP type", { action: "ACCEPT", proto: "icmp", dport: "echo" }, "dport: unknown icmp-type 'echo'"],
        [
          "a port the macro sets otherwise",
          { action: "ACCEPT", macro: "SSH", proto: "tcp", dport: 2222 },
          "dport: parameter 'dport' already define in macro (value = '22')",
        ],
        [
          "a protocol the macro sets otherwise",
          { action: "ACCEPT", macro: "DNS", proto: "tcp" },
          "proto: parameter 'proto' already define in macro (value = 'udp')",
        ],
        [
          "a source that is no zone",
          { action: "ACCEPT", source: "dmz" },
          "source: no zone is named dmz (zones: lan, iot)",
        ],
        [
          "a CIDR with a bad prefix",
          { action: "ACCEPT", source: "10.0.0.0/33" },
          "source: invalid IP address: 10.0.0.0/33",
        ],
        [
          "a range in a list",
          { action: "ACCEPT", dest: "10.0.0.1-10.0.0.5,10.0.0.9" },
          "dest: you can't use a range in a list",
        ],
        [
          "an IPv6 address",
          { action: "ACCEPT", source: "fd00::1" },
          "source: invalid IP address: fd00::1 (IPv4 addresses only)",
        ],
        ["an ipset", { action: "ACCEPT", source: "+trusted" }, "source: expected an IPv4 address"],
      ] as const
    ).flatMap(([what, rule, message]): [string, (w: Entry) => void, string][] => [
      [
        `a guest rule with ${what}`,
        (w) => (w.vms[0].firewall = { rules: [rule] }),
        `vms[0].firewall.rules[0].${message}`,
      ],
      [
        `a zone rule with ${what}`,
        (w) => (w.zones[1].firewall = { rules: [{ direction: "out", ...rule }] }),
        `zones[1].firewall.rules[0].${message}`,
      ],
    ]),
    [
      "a firewall policy PVE lacks",
      (w) => (w.zones[0].firewall = { policy_in: "deny" }),
      "zones[0].firewall.policy_in: Invalid option: expected one of",
    ],
    [
      "a NIC firewall with nothing to filter by",
      (w) => (w.containers[1].network.firewall = true),
      "containers[1].network.firewall: firewall: true filters nothing without firewall rules and options",
    ],
    [
      "an extra NIC's firewall with nothing to filter by",
      (w) => (w.containers[1].extra_networks = [{ bridge: "vmbr1", firewall: true }]),
      "containers[1].extra_networks[0].firewall: firewall: true filters nothing without firewall rules and options",
    ],
    [
      "a guest rule for a NIC the guest lacks",
      (w) => {
        w.vms[0].extra_networks = [{ bridge: "vmbr1", firewall: true }];
        w.vms[0].firewall = { rules: [{ action: "ACCEPT", macro: "SSH", iface: "net2" }] };
      },
      "vms[0].firewall.rules[0].iface: gpu-vm has no net2: its NICs are net0 (network), net1 (extra_networks[0])",
    ],
    [
      "a guest rule for a NIC the firewall does not filter",
      (w) => {
        w.vms[0].extra_networks = [{ bridge: "vmbr1" }];
        w.vms[0].firewall = { rules: [{ action: "ACCEPT", macro: "SSH", iface: "net1" }] };
      },
      "vms[0].firewall.rules[0].iface: net1 is not filtered (extra_networks[0] has no firewall: true)",
    ],
    [
      "a guest rule for a first NIC with firewall: false",
      (w) => {
        w.vms[0].network.firewall = false;
        w.vms[0].extra_networks = [{ bridge: "vmbr1", firewall: true }];
        w.vms[0].firewall = { rules: [{ action: "ACCEPT", macro: "SSH", iface: "net0" }] };
      },
      "vms[0].firewall.rules[0].iface: net0 is not filtered (network.firewall: false)",
    ],
    [
      "a zone rule for one NIC",
      (w) => (w.zones[0].firewall = { rules: [{ action: "ACCEPT", macro: "SSH", iface: "net0" }] }),
      "zones[0].firewall.rules[0].iface: a zone's rules filter every guest in it, whose NICs differ",
    ],
    [
      "a rule for an interface that is no NIC",
      (w) => (w.vms[0].firewall = { rules: [{ action: "ACCEPT", macro: "SSH", iface: "eth0" }] }),
      "vms[0].firewall.rules[0].iface: expected a NIC of the guest: net0 (network), net1, net2, ...",
    ],
    [
      "ipfilter on a VM (PVE allows a VM's NIC its IPv6 link-local address only: all its IPv4 would be dropped)",
      (w) => (w.vms[0].firewall = { ipfilter: true, rules: [] }),
      "vms[0].firewall.ipfilter: ipfilter would drop every IPv4 packet VM gpu-vm sends",
    ],
    [
      "ipfilter on a zone with a VM in it",
      (w) => (w.zones[1].firewall = { ipfilter: true, rules: [] }),
      "zones[1].firewall.ipfilter: ipfilter would drop every IPv4 packet VM gpu-vm sends",
    ],
    [
      "a guest firewall on an unfiltered NIC",
      (w) => {
        w.containers[1].network.firewall = false;
        w.containers[1].firewall = { rules: [] };
      },
      "containers[1].network.firewall: the guest's firewall block would filter nothing with firewall: false",
    ],
  ];

  it("accepts ipfilter on a container (PVE allows it its configured addresses) and a VM's own ipfilter: false in a zone with it on", () => {
    const edited = sources((w) => {
      w.containers[0].firewall = { ipfilter: true, rules: [] };
      w.zones[1].firewall = { ipfilter: true, rules: [] };
      w.vms[0].firewall = { ipfilter: false, rules: [] };
    });
    expect(() => parseConfig(edited)).not.toThrow();
  });

  it.each(cases)("rejects %s", (_what, edit, expected) => {
    const issues = issuesOf(sources(edit));
    const [file, text] = expected.startsWith("nodes.yaml ")
      ? ["nodes.yaml", expected.slice("nodes.yaml ".length)]
      : ["workloads.yaml", expected];
    const match = issues.filter(
      (i) => new RegExp(`^${file}:\\d+:\\d+ `).test(i) && i.slice(i.indexOf(" ") + 1).startsWith(text),
    );
    expect(match, `expected one issue "${expected}", got:\n${issues.join("\n")}`).toHaveLength(1);
  });
});
