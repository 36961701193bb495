// The Proxmox cluster a config expects, for the Proxmox VE API simulator (judges/pve-sim), and the config's
// addresses moved into 127.0.0.0/8.
import { loadConfig } from "../../config";
import type { InitialCluster, StorageDef } from "../pve-sim/state";

/** A private IPv4 address moved into 127.0.0.0/8 (10.a.b.c, 172.a.b.c, 192.168.b.c -> 127.a.b.c), so nothing can leave the machine. */
export function loopbackAddresses(text: string): string {
  return text.replace(/\b(?:10|172|192)\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g, "127.$1.$2.$3");
}

export interface SimulatedClusterExtra {
  /** PVE type of an ISO storage other than `local`. @default "cephfs" */
  readonly isoType?: string;
  /** PCI devices per host. @default - none */
  readonly pciDevices?: Record<string, string[]>;
  /** PCI resource mappings: name -> host -> device. @default - none */
  readonly pciMappings?: Record<string, Record<string, string>>;
}

/** PVE storage types that are one volume for the whole cluster. */
const SHARED_TYPES = new Set(["cephfs", "rbd", "nfs", "cifs", "glusterfs", "iscsi", "pbs"]);

/** The PVE storage type a storage id stands for in our examples (local-zfs is ZFS, as replication needs). */
function storageType(id: string): string {
  if (id === "local") return "dir";
  if (id === "local-lvm") return "lvmthin";
  if (/zfs/.test(id)) return "zfspool";
  if (/nfs/.test(id)) return "nfs";
  return "rbd";
}

/**
 * The Proxmox cluster a config expects: its hosts (with workloads.yaml's), and its storages: the ISO storage
 * (`local` a per-host dir, any other of the type `isoType`), the disk and CSI storages, and the storages
 * workloads.yaml names for guest disks, mount points, cloud-init drives, container templates and backups
 * (type from the id: `local` dir, `local-lvm` lvmthin, `*zfs*` zfspool, `*nfs*` nfs, others rbd); plus
 * `pciDevices`/`pciMappings` for GPU nodes and the devices workloads.yaml's PCI mappings name.
 */
export function simulatedCluster(configDir: string, extra: SimulatedClusterExtra = {}): InitialCluster {
  const { cluster, nodes, workloads } = loadConfig(configDir);
  const w = workloads?.config;
  const guests = [...(w?.containers ?? []), ...(w?.vms ?? [])];
  const hosts = [
    ...new Set([
      cluster.proxmox_node,
      ...nodes.map((n) => n.proxmox_node ?? cluster.proxmox_node),
      ...(w?.hosts ?? []),
      ...guests.flatMap((g) => g.host ?? []),
    ]),
  ].sort();
  const storages: StorageDef[] = [];
  const add = (id: string, content: readonly string[], type = storageType(id)) => {
    const i = storages.findIndex((x) => x.id === id);
    if (i < 0) storages.push({ id, type, content: [...content], shared: SHARED_TYPES.has(type) });
    else storages[i] = { ...storages[i], content: [...new Set([...storages[i].content, ...content])] };
  };
  const isoType = cluster.proxmox_iso_storage === "local" ? "dir" : (extra.isoType ?? "cephfs");
  add(cluster.proxmox_iso_storage, ["iso", "vztmpl", "snippets", "import"], isoType);
  const disks = ["images", "rootdir"];
  for (const id of [cluster.proxmox_disk_storage, cluster.proxmox_csi_storage ?? cluster.proxmox_disk_storage])
    add(id, disks);
  for (const ct of w?.containers ?? []) {
    add(ct.disk.storage ?? cluster.proxmox_disk_storage, disks);
    for (const mp of ct.mount_points) if (mp.storage) add(mp.storage, disks);
    add("volume" in ct.template ? ct.template.volume.split(":")[0] : ct.template.storage, ["vztmpl"]);
  }
  for (const vm of w?.vms ?? []) {
    add(vm.disk.storage ?? cluster.proxmox_disk_storage, disks);
    if (vm.cloud_init?.storage) add(vm.cloud_init.storage, disks);
  }
  const pbs = new Set((w?.pbs_storages ?? []).map((p) => p.name));
  for (const job of w?.backups ?? []) if (!pbs.has(job.storage)) add(job.storage, ["backup"]);
  // The devices workloads.yaml's PCI mappings name are on their hosts.
  const pciDevices: Record<string, string[]> = { ...extra.pciDevices };
  for (const device of (w?.pci_mappings ?? []).flatMap((m) => m.devices))
    pciDevices[device.host] = [...new Set([...(pciDevices[device.host] ?? []), device.path])];
  return { nodes: hosts, storages, pciDevices, pciMappings: extra.pciMappings };
}
