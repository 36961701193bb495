/**
 * Templates and clones (qemu-server PVE::API2::Qemu template / clone_vm): converting a stopped VM into a
 * template renames its disks to `base-<id>-disk-<n>`; a clone copies the config (a new MAC on every NIC, a new
 * SMBIOS uuid and VM generation id, no `template`), copies each disk in a full clone (onto `storage` if given)
 * or links it to the template's base volume in a linked clone (templates only, on a storage that can), always
 * copies the cloud-init drive, keeps CD-ROMs as they are, and joins the pool. A clone onto another node needs
 * every volume on shared storage, CD-ROMs included.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { ApiError, need, paramError, str, type Ctx, type Routes } from "../api";
import { parseBoolean, parsePropertyString, printPropertyString } from "../params";
import { guestHolding, storageOn, volumeOn, type SimState, type Volume, type VmState } from "../state";
import { addPoolMember } from "./pools";
import { keysOf } from "./vm-config";

const DRIVE = /^((ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0)$/;
/** Storage types that can make a linked clone of a base volume (PVE::Storage volume_has_feature 'clone'). */
const LINKED_CLONE_TYPES = new Set(["lvmthin", "zfspool", "rbd"]);
const FILE_BASED = new Set(["dir", "nfs", "cifs", "cephfs", "glusterfs"]);

function sourceOf(ctx: Ctx): VmState {
  const node = need(ctx, "node");
  const vmid = need(ctx, "vmid");
  const vm = ctx.state.vms[vmid];
  if (!vm || vm.node !== node)
    throw new ApiError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
  return vm;
}

export const isTemplate = (vm: VmState) => parseBoolean(vm.config.template ?? "0") === true;

/** The name part of a volume id (`local-lvm:vm-100-disk-0` -> `vm-100-disk-0`, `local:100/x.raw` -> `x.raw`). */
const volumeName = (volid: string) => volid.slice(volid.indexOf(":") + 1).replace(/^\d+\//, "");

function newVolume(
  state: SimState,
  storageId: string,
  node: string,
  vmid: number,
  source: Volume,
  base?: string,
): string {
  const storage = storageOn(state, storageId, node);
  if (!storage) throw new ApiError(500, `storage '${storageId}' does not exist`);
  if (!storage.content.includes("images"))
    throw new ApiError(500, `storage '${storageId}' does not support content-type 'images'`);
  let n = 0;
  while (state.volumes.some((v) => v.vmid === vmid && v.storage === storageId && v.volid.includes(`-disk-${n}`))) n++;
  const name = source.volid.includes("-cloudinit") ? `vm-${vmid}-cloudinit` : `vm-${vmid}-disk-${n}`;
  const file = FILE_BASED.has(storage.type) ? `${vmid}/${name}.${source.format}` : name;
  const volid = base ? `${storageId}:${base}/${file}` : `${storageId}:${file}`;
  state.volumes.push({ ...source, volid, storage: storageId, node, vmid, ctime: Math.floor(Date.now() / 1000) });
  return volid;
}

function randomMac(): string {
  return `BC:24:11:${[...randomBytes(3)].map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(":")}`;
}

/** The clone's config and volumes; throws (having allocated nothing) when a disk cannot be cloned. */
function cloneConfig(
  state: SimState,
  source: VmState,
  target: { vmid: number; node: string; full: boolean; storage?: string },
): Record<string, string> {
  const config: Record<string, string> = {};
  const volumesBefore = state.volumes.length;
  try {
    for (const [key, value] of Object.entries(source.config)) {
      if (/^(unused\d+|template|lock|parent|snaptime|vmstate)$/.test(key)) continue;
      if (/^net\d+$/.test(key)) {
        const net = parsePropertyString(keysOf(key), value);
        net.macaddr = randomMac();
        config[key] = printPropertyString(keysOf(key), net);
      } else if (DRIVE.test(key)) {
        const drive = parsePropertyString(keysOf(key), value);
        const cloudinit = drive.file.includes("-cloudinit");
        if (drive.media === "cdrom" && !cloudinit) {
          config[key] = value;
          continue;
        }
        const volume = volumeOn(state, drive.file, source.node);
        if (!volume) throw new ApiError(500, `volume '${drive.file}' does not exist`);
        const storageId = target.storage ?? volume.storage;
        if (target.full || cloudinit) {
          drive.file = newVolume(state, storageId, target.node, target.vmid, volume);
        } else {
          const type = state.storages.find((s) => s.id === volume.storage)?.type ?? "";
          if (!LINKED_CLONE_TYPES.has(type) || !volumeName(volume.volid).startsWith("base-"))
            throw new ApiError(500, `Linked clone feature is not supported for drive '${key}'`);
          drive.file = newVolume(state, volume.storage, target.node, target.vmid, volume, volumeName(volume.volid));
        }
        config[key] = printPropertyString(keysOf(key), drive);
      } else {
        config[key] = value;
      }
    }
  } catch (error) {
    state.volumes.splice(volumesBefore);
    throw error;
  }
  const smbios = parsePropertyString(keysOf("smbios1"), config.smbios1 ?? "");
  smbios.uuid = randomUUID();
  config.smbios1 = printPropertyString(keysOf("smbios1"), smbios);
  if (config.vmgenid) config.vmgenid = randomUUID();
  return config;
}

export const cloneRoutes: Routes = {
  "POST /nodes/{node}/qemu/{vmid}/template": (ctx) => {
    const vm = sourceOf(ctx);
    if (str(ctx, "disk") !== undefined) throw new ApiError(501, "not modelled by the simulator: template of one disk");
    if (vm.status === "running") throw new ApiError(500, "you can't convert a VM to template if VM is running");
    if (isTemplate(vm)) throw new ApiError(500, `VM ${vm.vmid} is already a template`);
    return ctx.task(vm.node, "qmtemplate", String(vm.vmid), () => {
      for (const key of Object.keys(vm.config).filter((k) => DRIVE.test(k))) {
        const drive = parsePropertyString(keysOf(key), vm.config[key]);
        if (drive.media === "cdrom") continue;
        const i = ctx.state.volumes.findIndex((v) => v.volid === drive.file);
        if (i < 0) throw new ApiError(500, `volume '${drive.file}' does not exist`);
        const volid = drive.file.replace(`vm-${vm.vmid}-disk-`, `base-${vm.vmid}-disk-`);
        ctx.state.volumes[i] = { ...ctx.state.volumes[i], volid };
        drive.file = volid;
        vm.config[key] = printPropertyString(keysOf(key), drive);
      }
      vm.config.template = "1";
    });
  },
  "POST /nodes/{node}/qemu/{vmid}/clone": (ctx) => {
    const source = sourceOf(ctx);
    const newid = Number(need(ctx, "newid"));
    const target = str(ctx, "target") ?? source.node;
    const storage = str(ctx, "storage");
    const full = parseBoolean(str(ctx, "full") ?? (isTemplate(source) ? "0" : "1")) === true;
    for (const key of ["snapname", "bwlimit"]) {
      if (str(ctx, key) !== undefined) throw new ApiError(501, `not modelled by the simulator: clone with '${key}'`);
    }
    if (!full && storage !== undefined)
      throw paramError("storage", "parameter 'storage' not allowed for linked clones");
    if (!full && str(ctx, "format") !== undefined)
      throw paramError("format", "parameter 'format' not allowed for linked clones");
    if (!ctx.state.nodes.includes(target)) throw paramError("target", `no such cluster node '${target}'`);
    const existing = guestHolding(ctx.state, newid);
    if (existing)
      throw new ApiError(
        500,
        `unable to create VM ${newid} - ${existing.kind} ${newid} already exists on node '${existing.node}'`,
      );
    const pool = str(ctx, "pool");
    if (pool !== undefined && !ctx.state.pools[pool]) throw new ApiError(500, `pool '${pool}' does not exist`);
    // Every volume counts, CD-ROMs (the cloud-init drive, an ISO) as much as disks: only 'none' and the
    // host's drive 'cdrom' are no volume.
    if (target !== source.node) {
      const local = Object.entries(source.config)
        .filter(([k]) => DRIVE.test(k))
        .map(([k, v]) => parsePropertyString(keysOf(k), v).file)
        .filter((file) => file !== "none" && file !== "cdrom")
        .some((file) => !ctx.state.storages.find((s) => s.id === file.split(":")[0])?.shared);
      if (local) throw new ApiError(500, `can't clone VM to node '${target}' (VM uses local storage)`);
    }
    const config = cloneConfig(ctx.state, source, { vmid: newid, node: target, full, storage });
    config.name = str(ctx, "name") ?? `Copy-of-VM-${source.config.name ?? source.vmid}`;
    const description = str(ctx, "description");
    if (description) config.description = description;
    ctx.state.vms[String(newid)] = {
      vmid: newid,
      node: target,
      config,
      pending: {},
      pendingDelete: [],
      status: "stopped",
    };
    if (pool !== undefined) addPoolMember(ctx.state, pool, newid);
    return ctx.task(source.node, "qmclone", String(source.vmid), () => [
      `create ${full ? "full" : "linked"} clone of drive(s) of VM ${source.vmid} as VM ${newid}`,
    ]);
  },
};
