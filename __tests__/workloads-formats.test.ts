// The values workloads.yaml (and cluster.yaml, nodes.yaml) hands to Proxmox are checked by Proxmox' own formats
// (config/pve-formats.ts), a value that would end a property string is refused, and guest and zone networks are
// networks of hosts. Each bad input is one edit of a valid base and must be refused at its file:line:col and key.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError, type ConfigSources, formatIssue, parseConfig } from "../config";
import { REPO } from "./support/synth";

const CLUSTER = {
  cluster_name: "homelab",
  node_cidr: "192.168.1.0/24",
  node_default_gateway: "192.168.1.1",
  cluster_api_addr: "192.168.1.10",
  talos_version: "v1.12.1",
  kubernetes_version: "v1.35.0",
  proxmox_api_url: "https://pve.example.com:8006/",
  proxmox_node: "pve",
};
const NODES = [
  { name: "controlplane0", address: "192.168.1.21", controller: true, vm_id: 1021 },
  { name: "worker0", address: "192.168.1.31", controller: false, vm_id: 1031 },
];
type Entry = Record<string, any>;
const WORKLOADS: Entry = {
  hosts: ["pve", "pve2"],
  zones: [{ name: "lan", vlan: 10, cidr: "192.168.10.0/24", description: "Living room" }],
  pci_mappings: [{ name: "gpu", devices: [{ host: "pve", path: "0000:01:00.0", id: "10DE:2204" }] }],
  pbs_storages: [
    {
      name: "pbs",
      server: "pbs.home.arpa",
      datastore: "main",
      username: "backup@pbs",
      password_env: "TF_VAR_pbs_password",
      namespace: "homelab/pve",
    },
  ],
  backups: [{ name: "nightly", schedule: "02:30", storage: "pbs", keep: { daily: 7 }, select: { tags: ["Backup"] } }],
  containers: [
    {
      name: "proxy",
      id: 101,
      template: { volume: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst" },
      network: { zone: "lan", address: "192.168.10.5" },
      tags: ["Backup", "web"],
      mount_points: [
        { path: "/srv/data", storage: "local-lvm", size: 4 },
        { path: "/media", host_path: "/tank/media" },
      ],
      replication: { target: "pve2", schedule: "*/30" },
    },
    {
      name: "apps",
      id: 102,
      host: "pve2",
      template: { url: "https://images.example.com/debian-12.tar.zst" },
      network: { bridge: "vmbr1", vlan: 30, address: "192.168.1.50/24", gateway: "192.168.1.1" },
    },
  ],
  vms: [
    {
      name: "gpu-vm",
      id: 201,
      purpose: "development",
      clone: { template: 9000 },
      cloud_init: { user: "admin" },
      cpu_type: "x86-64-v2-AES",
      machine: "pc-q35-9.2",
      disk: { interface: "virtio0" },
      network: { address: "dhcp" },
      pci: [{ mapping: "gpu" }],
    },
  ],
};

type Edit = (w: Entry, c: Entry, n: Entry[]) => void;
function sources(edit: Edit = () => {}): ConfigSources {
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
  return [];
}

/** Expects exactly one issue at `file:line:col key: text...` among the errors of the edited base. */
function expectRefused(edit: Edit, expected: string) {
  const issues = issuesOf(sources(edit));
  const [file, text] = /^(cluster|nodes)\.yaml /.test(expected)
    ? [expected.slice(0, expected.indexOf(" ")), expected.slice(expected.indexOf(" ") + 1)]
    : ["workloads.yaml", expected];
  const match = issues.filter(
    (i) =>
      new RegExp(`^${file.replace(".", "\\.")}:\\d+:\\d+ `).test(i) && i.slice(i.indexOf(" ") + 1).startsWith(text),
  );
  expect(match, `expected one issue "${expected}", got:\n${issues.join("\n")}`).toHaveLength(1);
}

it("the base is valid: upper-case tags and PCI ids, a PBS namespace, every field at a value Proxmox takes", () => {
  expect(issuesOf(sources())).toEqual([]);
  expect(issuesOf(sources((_w, c) => (c.proxmox_vm_advanced = { tags: ["Kubernetes", "talos"] })))).toEqual([]);
});

const ct = (w: Entry) => w.containers[0];
const vm = (w: Entry) => w.vms[0];

describe("Proxmox identifiers follow Proxmox' own formats", () => {
  const cases: [string, Edit, string][] = [
    [
      "storage id ending in '-'",
      (w) => (ct(w).disk = { storage: "local-" }),
      "containers[0].disk.storage: expected a Proxmox storage id",
    ],
    [
      "storage id of one letter",
      (w) => (w.backups[0].storage = "p"),
      "backups[0].storage: expected a Proxmox storage id",
    ],
    ["mapping id of one letter", (w) => (w.pci_mappings[0].name = "g"), "pci_mappings[0].name: expected a Proxmox id"],
    [
      "mapping id in nodes.yaml",
      (_w, _c, n) => (n[1].pci_devices = [{ mapping: "g" }]),
      "nodes.yaml nodes[1].pci_devices[0].mapping: expected a Proxmox id",
    ],
    ["SDN id of one letter", (w) => (w.zones[0].name = "l"), "zones[0].name: expected a Proxmox SDN id"],
    [
      "SDN id of nine characters",
      (w) => (w.sdn_zone = "homelab01"),
      "sdn_zone: a Proxmox SDN id has at most 8 characters",
    ],
    ["host name with '_'", (w) => (ct(w).host = "pve_2"), "containers[0].host: expected a Proxmox node name"],
    ["host name with a dot in hosts", (w) => w.hosts.push("pve3.lan"), "hosts[2]: expected a Proxmox node name"],
    [
      "HA host name with a comma",
      (w) => (ct(w).ha = { hosts: { "pve,pve2": 1 } }),
      "containers[0].ha.hosts.pve,pve2: expected a Proxmox node name",
    ],
    ["disk slot past scsi30", (w) => (vm(w).disk.interface = "scsi31"), "vms[0].disk.interface: expected a disk slot"],
    [
      "disk slot with a leading zero",
      (w) => (vm(w).disk.interface = "virtio01"),
      "vms[0].disk.interface: expected a disk slot",
    ],
    ["tag with a comma", (w) => (ct(w).tags = ["web,db"]), "containers[0].tags[0]: expected a Proxmox tag"],
    ["the same tag in two cases", (w) => ct(w).tags.push("WEB"), "containers[0].tags[2]: WEB repeats tag web"],
    ["VLAN tag 4095", (w) => (w.containers[1].network.vlan = 4095), "containers[1].network.vlan:"],
    [
      "zone description on two lines",
      (w) => (w.zones[0].description = "lan\nvlan 20"),
      "zones[0].description: expected letters, digits",
    ],
    [
      "backup schedule 25:99",
      (w) => (w.backups[0].schedule = "25:99"),
      "backups[0].schedule: unable to parse calendar event '25:99'",
    ],
    [
      "backup schedule 25:00 (minute 25 to Proxmox)",
      (w) => (w.backups[0].schedule = "25:00"),
      "backups[0].schedule: 25 is not an hour",
    ],
    [
      "replication schedule with a capital special word",
      (w) => (ct(w).replication.schedule = "Daily"),
      "containers[0].replication.schedule: unable to parse calendar event",
    ],
    [
      "replication schedule 'daily 02:00'",
      (w) => (ct(w).replication.schedule = "daily 02:00"),
      "containers[0].replication.schedule: unable to parse calendar event",
    ],
    [
      "schedule with a line break",
      (w) => (w.backups[0].schedule = "02:30\n"),
      "backups[0].schedule: a calendar event has no white space around it",
    ],
    [
      "schedule with an unknown weekday",
      (w) => (w.backups[0].schedule = "sunday,funday 01:00"),
      "backups[0].schedule: unable to parse calendar event",
    ],
    [
      "PBS datastore of two letters",
      (w) => (w.pbs_storages[0].datastore = "ds"),
      "pbs_storages[0].datastore: expected a PBS datastore name",
    ],
    [
      "PBS namespace climbing up",
      (w) => (w.pbs_storages[0].namespace = "../root"),
      "pbs_storages[0].namespace: expected a PBS namespace",
    ],
    [
      "template volume on a bad storage id",
      (w) => (ct(w).template = { volume: "1local:vztmpl/x.tar.zst" }),
      "containers[0].template.volume: expected a Proxmox volume id",
    ],
    [
      "template volume in a subfolder",
      (w) => (ct(w).template = { volume: "local:vztmpl/../x.tar.zst" }),
      "containers[0].template.volume: expected a template volume id",
    ],
  ];
  it.each(cases)("refuses %s", (_what, edit, expected) => expectRefused(edit, expected));
});

describe("nothing that ends a Proxmox property string or config line, and no engine template, gets through", () => {
  const cases: [string, Edit, string][] = [
    [
      "a comma in a guest's bridge",
      (w) => (w.containers[1].network.bridge = "vmbr1,firewall=1"),
      "containers[1].network.bridge: expected a bridge name",
    ],
    ["a template in the SDN zone's bridge", (w) => (w.bridge = "vmbr${var.x}"), "bridge: expected a bridge name"],
    [
      "a bridge longer than a Linux interface name",
      (w) => (w.bridge = "vmbr0123456789ab"),
      "bridge: a Linux interface name has at most 15 characters",
    ],
    ["a comma in a CPU type", (w) => (vm(w).cpu_type = "host,flags=+aes"), "vms[0].cpu_type: expected a CPU model"],
    [
      "a comma in a machine type",
      (w) => (vm(w).machine = "q35,viommu=intel"),
      "vms[0].machine: expected a QEMU machine type",
    ],
    [
      "a comma in a mount path",
      (w) => (ct(w).mount_points[0].path = "/srv,ro=1"),
      'containers[0].mount_points[0].path: a mount path cannot contain ","',
    ],
    [
      "'=' in a bind mount's host path",
      (w) => (ct(w).mount_points[1].host_path = "/tank/x;mp=/etc"),
      'containers[0].mount_points[1].host_path: a mount path cannot contain ","',
    ],
    [
      "a line break in a mount path",
      (w) => (ct(w).mount_points[0].path = "/srv\nmp1: /etc"),
      'containers[0].mount_points[0].path: a mount path cannot contain ","',
    ],
    [
      "mount point /",
      (w) => (ct(w).mount_points[0].path = "/"),
      'containers[0].mount_points[0].path: "/" cannot be mounted inside the container',
    ],
    [
      "mount point //",
      (w) => (ct(w).mount_points[0].path = "//"),
      'containers[0].mount_points[0].path: "/" cannot be mounted inside the container',
    ],
    [
      "the host's / bind-mounted",
      (w) => (ct(w).mount_points[1].host_path = "/"),
      'containers[0].mount_points[1].host_path: "/" cannot be mounted from the host',
    ],
    [
      "'..' in a mount path",
      (w) => (ct(w).mount_points[0].path = "/srv/../etc"),
      'containers[0].mount_points[0].path: a mount path has no "." or ".." segments',
    ],
    [
      "'..' at the end of a host path",
      (w) => (ct(w).mount_points[1].host_path = "/tank/.."),
      'containers[0].mount_points[1].host_path: a mount path has no "." or ".." segments',
    ],
    [
      "a relative mount path",
      (w) => (ct(w).mount_points[0].path = "srv"),
      "containers[0].mount_points[0].path: expected an absolute path inside the container",
    ],
    [
      "a comma in a storage id",
      (w) => (ct(w).mount_points[0].storage = "local,mp=/etc"),
      "containers[0].mount_points[0].storage: expected a Proxmox storage id",
    ],
    [
      "a comma in a template volume",
      (w) => (ct(w).template = { volume: "local:vztmpl/x.tar.zst,mp=/etc" }),
      "containers[0].template.volume: a volume id cannot contain",
    ],
    [
      "a template URL that names a folder",
      (w) => (w.containers[1].template.url = "https://images.example.com/system/"),
      "containers[1].template.url: https://images.example.com/system/ names no template file",
    ],
    [
      "two PCI mappings of one name",
      (w) => w.pci_mappings.push(structuredClone(w.pci_mappings[0])),
      "pci_mappings[1].name: gpu is already the name of pci_mappings[0]",
    ],
    [
      "a template in a template URL",
      (w) => (w.containers[1].template.url = 'https://images.example.com/${file("x")}'),
      'containers[1].template.url: a URL cannot contain "${"',
    ],
    [
      "a template in a PBS server",
      (w) => (w.pbs_storages[0].server = "pbs${var.x}"),
      "pbs_storages[0].server: expected a DNS name or IPv4 address",
    ],
    [
      "a comma in a PBS server",
      (w) => (w.pbs_storages[0].server = "pbs.home.arpa,x"),
      "pbs_storages[0].server: expected a DNS name or IPv4 address",
    ],
    [
      "an IPv4-looking server name",
      (w) => (w.pbs_storages[0].server = "192.168.1.300"),
      "pbs_storages[0].server: expected a DNS name or IPv4 address",
    ],
    [
      "a template in a PBS user",
      (w) => (w.pbs_storages[0].username = "backup${x}@pbs"),
      "pbs_storages[0].username: expected a PBS user",
    ],
    [
      "a line break in a PBS datastore",
      (w) => (w.pbs_storages[0].datastore = "main\nx"),
      "pbs_storages[0].datastore: expected a PBS datastore name",
    ],
    ["a template in a cloud-init user", (w) => (vm(w).cloud_init.user = "${x}"), "vms[0].cloud_init.user:"],
  ];
  it.each(cases)("refuses %s", (_what, edit, expected) => expectRefused(edit, expected));
});

describe("guest and zone networks are networks of hosts", () => {
  const net = (w: Entry) => w.containers[1].network;
  const cases: [string, Edit, string][] = [
    [
      "an octet with a leading zero",
      (w) => (net(w).address = "192.168.001.50/24"),
      'containers[1].network.address: expected "dhcp"',
    ],
    [
      "a node's address written with a leading zero",
      (w) => (net(w).address = "192.168.1.021/24"),
      'containers[1].network.address: expected "dhcp"',
    ],
    ["a /33 prefix", (w) => (net(w).address = "192.168.1.50/33"), 'containers[1].network.address: expected "dhcp"'],
    [
      "a /0 prefix",
      (w) => (net(w).address = "192.168.1.50/0"),
      "containers[1].network.address: 192.168.1.50/0: a /0 is no network of guests",
    ],
    [
      "a /31 prefix",
      (w) => (net(w).address = "192.168.1.50/31"),
      "containers[1].network.address: 192.168.1.50/31: a /31 leaves no room",
    ],
    [
      "a /32 prefix",
      (w) => (net(w).address = "192.168.1.50/32"),
      "containers[1].network.address: 192.168.1.50/32: a /32 leaves no room",
    ],
    [
      "the network address",
      (w) => (net(w).address = "192.168.1.0/24"),
      "containers[1].network.address: 192.168.1.0 is the network or broadcast address",
    ],
    [
      "the broadcast address",
      (w) => (net(w).address = "192.168.1.255/24"),
      "containers[1].network.address: 192.168.1.255 is the network or broadcast address",
    ],
    [
      "a multicast address",
      (w) => (net(w).address = "239.1.1.1/24"),
      "containers[1].network.address: 239.1.1.1 is a multicast address",
    ],
    [
      "an address in the pod network",
      (w) => (net(w).address = "10.42.0.5/24"),
      "containers[1].network.address: 10.42.0.5 is inside cluster.yaml cluster_pod_cidr",
    ],
    [
      "the nodes' implicit gateway",
      (w, c) => {
        delete c.node_default_gateway;
        delete net(w).gateway;
        net(w).address = "192.168.1.1/24";
      },
      "containers[1].network.address: address 192.168.1.1 is already used by the nodes' default gateway",
    ],
    [
      "its own address as gateway",
      (w) => (net(w).gateway = "192.168.1.50"),
      "containers[1].network.gateway: 192.168.1.50 is the guest's own address",
    ],
    [
      "the broadcast address as gateway",
      (w) => (net(w).gateway = "192.168.1.255"),
      "containers[1].network.gateway: 192.168.1.255 is the network or broadcast address",
    ],
    [
      "a broadcast DNS server",
      (w) => (net(w).dns_servers = ["255.255.255.255"]),
      "containers[1].network.dns_servers[0]: 255.255.255.255 is a reserved or broadcast address",
    ],
    [
      "a zone with host bits set",
      (w) => (w.zones[0].cidr = "192.168.10.5/24"),
      "zones[0].cidr: 192.168.10.5/24 has host bits set; the network is 192.168.10.0/24",
    ],
    [
      "a /31 zone",
      (w) => (w.zones[0].cidr = "192.168.10.0/31"),
      "zones[0].cidr: 192.168.10.0/31: a /31 leaves no room",
    ],
    [
      "a /32 zone",
      (w) => (w.zones[0].cidr = "192.168.10.5/32"),
      "zones[0].cidr: 192.168.10.5/32: a /32 leaves no room",
    ],
    ["a /0 zone", (w) => (w.zones[0].cidr = "0.0.0.0/0"), "zones[0].cidr: 0.0.0.0/0: a /0 is no network of guests"],
    [
      "a multicast zone",
      (w) => (w.zones[0].cidr = "224.0.1.0/24"),
      "zones[0].cidr: 224.0.1.0/24 is not a network of hosts",
    ],
    [
      "a zone inside the node network",
      (w) => (w.zones[0].cidr = "192.168.1.128/25"),
      "zones[0].cidr: 192.168.1.128/25 overlaps cluster.yaml node_cidr 192.168.1.0/24",
    ],
    [
      "a zone over the pod network",
      (w) => (w.zones[0].cidr = "10.40.0.0/14"),
      "zones[0].cidr: 10.40.0.0/14 overlaps cluster.yaml cluster_pod_cidr 10.42.0.0/16",
    ],
    [
      "a zone inside the service network",
      (w) => (w.zones[0].cidr = "10.43.7.0/24"),
      "zones[0].cidr: 10.43.7.0/24 overlaps cluster.yaml cluster_svc_cidr 10.43.0.0/16",
    ],
    [
      "a zone gateway at the network address",
      (w) => (w.zones[0].gateway = "192.168.10.0"),
      "zones[0].gateway: 192.168.10.0 is the network or broadcast address",
    ],
    [
      "a zone DNS server in 0.0.0.0/8",
      (w) => (w.zones[0].dns_servers = ["0.0.0.0"]),
      "zones[0].dns_servers[0]: 0.0.0.0 is in 0.0.0.0/8",
    ],
    [
      "a guest at its zone's broadcast address",
      (w) => (ct(w).network.address = "192.168.10.255"),
      "containers[0].network.address: 192.168.10.255 is the network or broadcast address of zone lan",
    ],
  ];
  it.each(cases)("refuses %s", (_what, edit, expected) => expectRefused(edit, expected));
});

describe("cluster.yaml's networks are networks of hosts too", () => {
  const cases: [string, Edit, string][] = [
    [
      "a multicast API address behind an external load balancer",
      (_w, c) => Object.assign(c, { cluster_api_addr: "224.0.0.18", cluster_api_vip: false }),
      "cluster.yaml cluster_api_addr: 224.0.0.18 is a multicast address",
    ],
    [
      "a multicast pod network",
      (_w, c) => (c.cluster_pod_cidr = "224.42.0.0/16"),
      "cluster.yaml cluster_pod_cidr: 224.42.0.0/16 is not a network of hosts",
    ],
    [
      "a load-balancer pool over the broadcast address",
      (_w, c) => (c.cilium_loadbalancer_pool = { start: "192.168.1.250", stop: "192.168.1.255" }),
      "cluster.yaml cilium_loadbalancer_pool: 192.168.1.250-192.168.1.255 includes 192.168.1.255, the network or broadcast address",
    ],
  ];
  it.each(cases)("refuses %s", (_what, edit, expected) => expectRefused(edit, expected));
});

describe("synth stops on them and writes nothing", () => {
  const work = mkdtempSync(join(tmpdir(), "workloads-formats-"));
  beforeAll(async () => {
    await promisify(execFile)("node", [join(REPO, "scripts/build.mjs")]);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    [
      "bridge",
      ((w) => (w.containers[1].network.bridge = "vmbr1,firewall=1")) as Edit,
      /workloads\.yaml:\d+:\d+ containers\[1\]\.network\.bridge: /,
    ],
    [
      "schedule",
      ((w) => (w.backups[0].schedule = "25:99")) as Edit,
      /workloads\.yaml:\d+:\d+ backups\[0\]\.schedule: unable to parse/,
    ],
    [
      "zone",
      ((w) => (w.zones[0].cidr = "192.168.1.0/24")) as Edit,
      /workloads\.yaml:\d+:\d+ zones\[0\]\.cidr: .*overlaps cluster\.yaml node_cidr/,
    ],
  ])(
    "a bad %s",
    async (name, edit, message) => {
      const dir = join(work, name);
      mkdirSync(dir);
      const s = sources(edit);
      writeFileSync(join(dir, "cluster.yaml"), s.cluster);
      writeFileSync(join(dir, "nodes.yaml"), s.nodes);
      writeFileSync(join(dir, "workloads.yaml"), s.workloads!);
      const outdir = join(dir, "cdktf.out");
      const run = promisify(execFile)("node", [join(REPO, "dist/main.js")], {
        cwd: REPO,
        env: { ...process.env, CONFIG_DIR: dir, CDKTF_OUTDIR: outdir },
      });
      const failure = await run.then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toMatch(message);
      expect(failure?.stderr).not.toMatch(/\bat .*\.js:\d+/);
      expect(existsSync(outdir)).toBe(false);
    },
    60_000,
  );
});
