/**
 * What the simulated Proxmox cluster holds, as plain JSON (so it can be saved to a file, read by tests and
 * reloaded): nodes, storages, volumes, VM configs as PVE stores them (property strings), tasks, access
 * control, firewall, HA, and the record of events the tests assert never happen (a device replaced on its slot).
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";

export interface StorageDef {
  /** Storage id, e.g. "local", "local-lvm", "cephfs". */
  readonly id: string;
  /** PVE storage type (plugin): dir, lvmthin, rbd, cephfs, nfs, zfspool, ... */
  readonly type: string;
  /** Content types the storage allows: iso, images, rootdir, vztmpl, backup, snippets, import. */
  readonly content: readonly string[];
  /** One volume for the whole cluster (cephfs, rbd, nfs) or one per host (dir, lvmthin). */
  readonly shared: boolean;
  /** Hosts that have the storage. @default - every node */
  readonly nodes?: readonly string[];
  /** The type's other properties as storage.cfg holds them (a PBS storage's server, datastore, ...). @default - none */
  readonly config?: Readonly<Record<string, string>>;
}

export interface Volume {
  /** `<storage>:<name>`, e.g. `local:iso/talos.iso`, `local-lvm:vm-100-disk-0`. */
  readonly volid: string;
  readonly storage: string;
  /** The host holding the volume; for a shared storage, the host it was created from (the volume is everywhere). */
  readonly node: string;
  readonly content: string;
  readonly format: string;
  /** Bytes. */
  readonly size: number;
  readonly vmid?: number;
  readonly ctime: number;
}

export interface VmState {
  readonly vmid: number;
  node: string;
  /** The current config: option -> value as PVE writes it in /etc/pve/qemu-server/<vmid>.conf. */
  config: Record<string, string>;
  /** Changes waiting for the next start (option -> new value). */
  pending: Record<string, string>;
  /** Options to delete at the next start. */
  pendingDelete: string[];
  status: "running" | "stopped";
}

export interface Task {
  readonly upid: string;
  readonly node: string;
  readonly type: string;
  readonly id: string;
  readonly user: string;
  readonly starttime: number;
  /** "OK" or the error, as PVE's `exitstatus`. */
  readonly exitstatus: string;
  readonly log: readonly string[];
}

export interface Token {
  comment?: string;
  expire: number;
  privsep: number;
  /** The secret (the simulator is test equipment: kept to authenticate requests made with it). */
  readonly value: string;
}

export interface User {
  comment?: string;
  email?: string;
  enable: number;
  expire: number;
  firstname?: string;
  lastname?: string;
  groups: string[];
  keys?: string;
  tokens: Record<string, Token>;
}

export interface AclEntry {
  readonly path: string;
  readonly type: "user" | "group" | "token";
  readonly ugid: string;
  readonly roleid: string;
  readonly propagate: number;
}

/** Something the tests assert never happens; recorded when PVE would silently do it. */
export interface Incident {
  readonly kind: "slot-replaced";
  readonly vmid: number;
  readonly slot: string;
  readonly before: string;
  readonly after: string;
}

/** A PCI resource mapping as PVE stores it (/etc/pve/mapping/pci.cfg). */
export interface PciMapping {
  /** `id=<vendor:device>,node=<host>,path=<address>[,iommugroup=<n>][,subsystem-id=<id>]` per host. */
  map: string[];
  description?: string;
  mdev?: string;
  liveMigration?: string;
}

/** A section of one of PVE's section-config files (sdn/*.cfg, jobs.cfg, replication.cfg, ha/rules.cfg). */
export type Section = Record<string, string>;

/** The SDN objects of one configuration (`/etc/pve/sdn/*.cfg`, or the running one applied last). */
export interface SdnConfig {
  zones: Record<string, Section>;
  vnets: Record<string, Section>;
  subnets: Record<string, Section>;
}

export interface SimState {
  nodes: string[];
  storages: StorageDef[];
  volumes: Volume[];
  vms: Record<string, VmState>;
  /** LXC containers by vmid (ids are unique across VMs and containers); kept like VMs. */
  containers: Record<string, VmState>;
  tasks: Record<string, Task>;
  users: Record<string, User>;
  roles: Record<string, { privs: string[]; special: number }>;
  acl: AclEntry[];
  /** Firewall options and rules per VM (`<vmid>`). */
  firewall: Record<string, { options: Record<string, string>; rules: Array<Record<string, string>> }>;
  /** The datacenter's firewall options (cluster.fw `[OPTIONS]`); PVE's default: `enable` 0. */
  clusterFirewall?: Record<string, string>;
  /** Each host's firewall options (host.fw `[OPTIONS]`), by host. */
  hostFirewall?: Record<string, Record<string, string>>;
  /** HA resources by sid (`vm:<vmid>`). */
  ha: Record<string, Record<string, string>>;
  /** SDN: the configuration as edited, and as running since the last `PUT /cluster/sdn`. */
  sdn: { config: SdnConfig; running: SdnConfig };
  /** vzdump backup jobs by id (jobs.cfg). */
  backupJobs: Record<string, Section>;
  /** Storage replication jobs by id `<vmid>-<n>` (replication.cfg). */
  replication: Record<string, Section>;
  /** HA rules by id (ha/rules.cfg), each with its `order`. */
  haRules: Record<string, Section>;
  /** Sensitive storage properties (a PBS password), kept apart as PVE keeps them in /etc/pve/priv/storage. */
  storageSecrets: Record<string, Section>;
  /** PCI devices of each host (`0000:01:00.0`), for hostpci checks. */
  pciDevices: Record<string, string[]>;
  /** Cluster-wide PCI resource mappings by name. */
  pciMappings: Record<string, PciMapping>;
  /** Resource pools by id: comment and member guest ids. */
  pools: Record<string, { comment?: string; vms: number[] }>;
  /** Every download-url request that created a file: storage, node, filename, url. */
  downloads: Array<{ storage: string; node: string; filename: string; url: string }>;
  incidents: Incident[];
  /** Whether the guest agents answer (a Talos image without the qemu-guest-agent extension does not). */
  guestAgent: boolean;
  /** Counter behind task ids. */
  taskCounter: number;
}

export interface InitialCluster {
  /** @default ["pve"] */
  readonly nodes?: readonly string[];
  /** @default - local (dir: iso, vztmpl, backup, snippets, import) and local-lvm (lvmthin: images, rootdir), per host */
  readonly storages?: readonly StorageDef[];
  /** @default - none */
  readonly pciDevices?: Readonly<Record<string, readonly string[]>>;
  /**
   * Whether the VMs' guest agents answer.
   * @default true
   */
  readonly guestAgent?: boolean;
  /** PCI mappings: name -> host -> device address (vendor id 0000:0000, which the simulator does not check). @default - none */
  readonly pciMappings?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export const DEFAULT_STORAGES: readonly StorageDef[] = [
  { id: "local", type: "dir", content: ["iso", "vztmpl", "backup", "snippets", "import"], shared: false },
  { id: "local-lvm", type: "lvmthin", content: ["images", "rootdir"], shared: false },
];

/** The built-in roles of PVE 9 (PVE::AccessControl), present on every cluster and not deletable. */
const BUILTIN_ROLES = [
  "Administrator",
  "NoAccess",
  "PVEAdmin",
  "PVEAuditor",
  "PVEDatastoreAdmin",
  "PVEDatastoreUser",
  "PVEVMAdmin",
  "PVEVMUser",
];

export function initialState(init: InitialCluster = {}): SimState {
  const nodes = [...(init.nodes ?? ["pve"])];
  return {
    nodes,
    storages: (init.storages ?? DEFAULT_STORAGES).map((s) => ({ ...s })),
    volumes: [],
    vms: {},
    containers: {},
    tasks: {},
    users: { "root@pam": { comment: "Built-in Superuser", enable: 1, expire: 0, groups: [], tokens: {} } },
    roles: Object.fromEntries(
      BUILTIN_ROLES.map((r) => [r, { privs: r === "NoAccess" ? [] : ["Sys.Audit"], special: 1 }]),
    ),
    acl: [],
    firewall: {},
    ha: {},
    sdn: { config: emptySdn(), running: emptySdn() },
    backupJobs: {},
    replication: {},
    haRules: {},
    storageSecrets: {},
    pciDevices: Object.fromEntries(Object.entries(init.pciDevices ?? {}).map(([n, d]) => [n, [...d]])),
    pciMappings: Object.fromEntries(
      Object.entries(init.pciMappings ?? {}).map(([name, byNode]) => [
        name,
        { map: Object.entries(byNode).map(([node, path]) => `id=0000:0000,node=${node},path=${path}`) },
      ]),
    ),
    pools: {},
    downloads: [],
    incidents: [],
    guestAgent: init.guestAgent ?? true,
    taskCounter: 0,
  };
}

export function emptySdn(): SdnConfig {
  return { zones: {}, vnets: {}, subnets: {} };
}

export function loadState(file: string): SimState {
  const state = JSON.parse(readFileSync(file, "utf8")) as SimState;
  state.containers ??= {};
  state.pools ??= {};
  state.sdn ??= { config: emptySdn(), running: emptySdn() };
  state.backupJobs ??= {};
  state.replication ??= {};
  state.haRules ??= {};
  state.storageSecrets ??= {};
  return state;
}

/** The guest (VM or container) holding `vmid`, as PVE's check_vmid_unused names it ("VM" or "CT"). */
export function guestHolding(state: SimState, vmid: number | string): { kind: "VM" | "CT"; node: string } | undefined {
  const vm = state.vms[String(vmid)];
  if (vm) return { kind: "VM", node: vm.node };
  const ct = state.containers[String(vmid)];
  return ct && { kind: "CT", node: ct.node };
}

export function saveState(file: string, state: SimState): void {
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The storage `id` as seen from `node`; undefined when the host does not have it. */
export function storageOn(state: SimState, id: string, node: string): StorageDef | undefined {
  const storage = state.storages.find((s) => s.id === id);
  return storage && (!storage.nodes || storage.nodes.includes(node)) ? storage : undefined;
}

/** The volume `volid` as seen from `node`: a shared storage's volumes are on every host. */
export function volumeOn(state: SimState, volid: string, node: string): Volume | undefined {
  const storage = volid.split(":")[0];
  const shared = state.storages.find((s) => s.id === storage)?.shared ?? false;
  return state.volumes.find((v) => v.volid === volid && (shared || v.node === node));
}

/** The config file PVE writes for a VM (`key: value` lines, pending in a `[PENDING]` section), as text. */
export function configText(vm: VmState): string {
  const lines = Object.keys(vm.config)
    .sort()
    .map((k) => `${k}: ${vm.config[k]}`);
  const pending = Object.keys(vm.pending)
    .sort()
    .map((k) => `${k}: ${vm.pending[k]}`);
  if (pending.length || vm.pendingDelete.length) {
    lines.push("", "[PENDING]", ...pending);
    if (vm.pendingDelete.length) lines.push(`delete: ${vm.pendingDelete.join(",")}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The config digest PVE returns and checks (SHA-1 of the config file). */
export function configDigest(vm: VmState): string {
  return createHash("sha1").update(configText(vm)).digest("hex");
}
