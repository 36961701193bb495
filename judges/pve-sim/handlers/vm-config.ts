/**
 * What qemu-server does with a VM config change (PVE::API2::Qemu create_vm / update_vm, PVE::QemuServer):
 * new disks (`<storage>:<size>`, `<storage>:cloudinit`) are allocated as volumes and stored with their size,
 * CD-ROMs and disks must name an existing volume of the right content type, a NIC without MAC gets one, the
 * rules a config must keep are checked (balloon <= memory, a boot order being set names
 * existing devices), and a running VM keeps what cannot be hot-plugged pending until it restarts.
 */
import { randomBytes } from "node:crypto";
import { uniqueTags } from "./guest-config";
import { ApiError, paramError } from "../api";
import { PROPERTY_FORMATS } from "../formats";
import { parsePropertyString, printPropertyString } from "../params";
import { vmConfigProperties, type ParamSpec } from "../schema";
import { storageOn, volumeOn, type SimState, type VmState } from "../state";
import { mappingPaths } from "./mapping";

const DRIVE = /^((ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0)$/;
/** Applied at once even while the VM runs (qemu-server's $fast_plug_option). */
const FAST_PLUG = new Set([
  "name",
  "description",
  "tags",
  "onboot",
  "startup",
  "protection",
  "lock",
  "hookscript",
  "shares",
  "vmstatestorage",
]);

/** The keys of option `key`'s property string (`net0` -> the spec of `net[n]`). */
export function keysOf(key: string): Readonly<Record<string, ParamSpec>> {
  const properties = vmConfigProperties();
  const spec = properties[key] ?? properties[key.replace(/\d+$/, "[n]")];
  const keys = typeof spec?.format === "string" ? PROPERTY_FORMATS[spec.format] : spec?.format;
  if (!keys) throw new Error(`simulator bug: ${key} is not a property string`);
  return keys;
}

/** `64G`, `4M`, `1234567` as PVE::JSONSchema::format_size writes a byte count. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ["T", 1024 ** 4],
    ["G", 1024 ** 3],
    ["M", 1024 ** 2],
    ["K", 1024],
  ] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

/** The volumes a VM config (current and pending) references, with the option naming each. */
export function referencedVolumes(vm: VmState): Array<{ key: string; volid: string }> {
  const out: Array<{ key: string; volid: string }> = [];
  for (const config of [vm.config, vm.pending]) {
    for (const [key, value] of Object.entries(config)) {
      if (DRIVE.test(key) || /^unused\d+$/.test(key)) {
        const file = key.startsWith("unused") ? value : parsePropertyString(keysOf(key), value).file;
        if (file?.includes(":")) out.push({ key, volid: file });
      }
    }
  }
  return out;
}

/** The VMs (ids) whose config references `volid` as seen from `node`. */
export function volumeUsers(state: SimState, volid: string, node: string): number[] {
  const shared = state.storages.find((s) => s.id === volid.split(":")[0])?.shared ?? false;
  return Object.values(state.vms)
    .filter((vm) => (shared || vm.node === node) && referencedVolumes(vm).some((r) => r.volid === volid))
    .map((vm) => vm.vmid);
}

function allocate(state: SimState, vm: VmState, storageId: string, name: string, size: number, format: string): string {
  const storage = storageOn(state, storageId, vm.node);
  if (!storage) throw new ApiError(500, `storage '${storageId}' does not exist`);
  if (!storage.content.includes("images"))
    throw new ApiError(500, `storage '${storageId}' does not support content-type 'images'`);
  const fileBased = ["dir", "nfs", "cifs", "cephfs", "glusterfs"].includes(storage.type);
  if (!fileBased && format !== "raw") throw new ApiError(500, `unsupported format '${format}'`);
  const volid = fileBased ? `${storageId}:${vm.vmid}/${name}.${format}` : `${storageId}:${name}`;
  if (volumeOn(state, volid, vm.node)) throw new ApiError(500, `volume '${volid}' already exists`);
  state.volumes.push({
    volid,
    storage: storageId,
    node: vm.node,
    content: "images",
    format,
    size,
    vmid: vm.vmid,
    ctime: Math.floor(Date.now() / 1000),
  });
  return volid;
}

function nextDiskName(state: SimState, vmid: number): string {
  for (let n = 0; ; n++) {
    const name = `vm-${vmid}-disk-${n}`;
    if (!state.volumes.some((v) => v.volid.includes(`${name}`) && v.vmid === vmid)) return name;
  }
}

/** A drive option as PVE stores it: the new disk allocated, the volume checked, `size` set. */
function resolveDrive(state: SimState, vm: VmState, key: string, value: string): string {
  const keys = keysOf(key);
  const drive = parsePropertyString(keys, value);
  if (drive["import-from"] !== undefined) throw new ApiError(501, `not modelled by the simulator: ${key} import-from`);
  const file = drive.file;
  const isCdrom = drive.media === "cdrom";
  const newDisk = /^([^:]+):(\d+(?:\.\d+)?)$/.exec(file);
  const cloudinit = /^([^:]+):cloudinit$/.exec(file);
  if (cloudinit) {
    if (!/^(ide|sata|scsi)\d+$/.test(key)) throw paramError(key, "cloud-init drive must be on ide, sata or scsi");
    const existing = Object.entries({ ...vm.config, ...vm.pending }).find(
      ([k, v]) => k !== key && DRIVE.test(k) && v.includes("-cloudinit"),
    );
    if (existing) throw paramError(key, `a cloud-init drive already exists (${existing[0]})`);
    const storageId = cloudinit[1];
    const kept = vm.config[key] && parsePropertyString(keys, vm.config[key]).file;
    drive.file = kept?.includes("-cloudinit")
      ? kept
      : allocate(state, vm, storageId, `vm-${vm.vmid}-cloudinit`, 4 * 1024 ** 2, drive.format ?? "raw");
    drive.media = "cdrom";
    drive.size = "4M";
    delete drive.format;
  } else if (newDisk && !isCdrom) {
    const storageId = newDisk[1];
    const size =
      key === "efidisk0"
        ? drive.efitype === "4m"
          ? 4 * 1024 ** 2
          : 528 * 1024
        : key === "tpmstate0"
          ? 4 * 1024 ** 2
          : Math.round(Number(newDisk[2]) * 1024 ** 3);
    drive.file = allocate(state, vm, storageId, nextDiskName(state, vm.vmid), size, drive.format ?? "raw");
    drive.size = formatSize(size);
    delete drive.format;
  } else if (file === "none" || file === "cdrom") {
    if (!isCdrom) throw paramError(key, `'${file}' is only valid for a CD-ROM (media=cdrom)`);
  } else if (file.startsWith("/")) {
    throw new ApiError(501, `not modelled by the simulator: ${key} with a host path`);
  } else {
    const volume = volumeOn(state, file, vm.node);
    if (!volume) throw new ApiError(500, `volume '${file}' does not exist`);
    if (isCdrom && volume.content !== "iso")
      throw paramError(key, `volume '${file}' is not an ISO image (content '${volume.content}')`);
    if (!isCdrom && volume.content !== "images")
      throw paramError(key, `volume '${file}' is not a disk image (content '${volume.content}')`);
    drive.size = formatSize(volume.size);
  }
  return printPropertyString(keys, drive);
}

function normalizeNet(key: string, value: string): string {
  const keys = keysOf(key);
  const net = parsePropertyString(keys, value);
  if (!net.macaddr) {
    const bytes = randomBytes(3);
    net.macaddr = `BC:24:11:${[...bytes].map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(":")}`;
  }
  return printPropertyString(keys, net);
}

const memoryOf = (config: Readonly<Record<string, string>>) =>
  Number(parsePropertyString(keysOf("memory"), config.memory ?? "512").current ?? 512);

/**
 * The config rules PVE enforces on the config that results from a change; per-option problems. The boot order
 * is checked only when the change sets it (update_vm_api: a device it names must exist and not be deleted by the
 * same request); deleting a device the order names later is not refused.
 */
function checkConfig(config: Readonly<Record<string, string>>, setsBoot: boolean): Record<string, string> {
  const errors: Record<string, string> = {};
  const balloon = config.balloon === undefined ? undefined : Number(config.balloon);
  if (balloon !== undefined && balloon > memoryOf(config))
    errors.balloon = "balloon value too large (must be smaller than assigned memory)";
  if (setsBoot && config.boot) {
    const order = parsePropertyString(keysOf("boot"), config.boot).order;
    for (const device of (order ?? "").split(";").filter(Boolean)) {
      if (config[device] === undefined) errors.boot = `invalid bootorder: device '${device}' does not exist'`;
    }
  }
  for (const key of Object.keys(config).filter((k) => /^hostpci\d+$/.test(k))) {
    const pci = parsePropertyString(keysOf(key), config[key]);
    if ((pci.host === undefined) === (pci.mapping === undefined))
      errors[key] = "either 'host' or 'mapping' must be set";
  }
  return errors;
}

function hotPluggable(vm: VmState, key: string, value: string | undefined): boolean {
  if (FAST_PLUG.has(key)) return true;
  const hotplug = (vm.config.hotplug ?? "network,disk,usb").split(",");
  if (/^net\d+$/.test(key)) return hotplug.includes("network") || hotplug.includes("1");
  if (DRIVE.test(key) && !/^(efidisk|tpmstate)/.test(key)) {
    const isCdrom = (value ?? vm.config[key] ?? "").includes("media=cdrom");
    if (isCdrom && !(value ?? "").includes("cloudinit")) return true;
    return /^(scsi|virtio)/.test(key) && (hotplug.includes("disk") || hotplug.includes("1"));
  }
  if (key === "balloon") return true;
  return false;
}

export interface ConfigChange {
  /** Options to set, as the request carried them. */
  readonly set: Readonly<Record<string, string>>;
  /** Options to delete. */
  readonly delete: readonly string[];
}

/**
 * Applies a change to `vm` (a new VM has an empty config): allocates what it creates, records a device
 * replaced on its slot as an incident, keeps non-hot-pluggable changes pending while the VM runs. Throws
 * (and changes nothing) when the resulting config breaks a rule.
 */
export function applyChange(state: SimState, vm: VmState, change: ConfigChange): void {
  const running = vm.status === "running";
  const effective = { ...vm.config, ...vm.pending };
  for (const key of vm.pendingDelete) delete effective[key];
  for (const key of change.delete) {
    if (change.set[key] !== undefined)
      throw paramError("delete", `you can't use '-${key}' and '-delete ${key}' at the same time`);
    delete effective[key];
  }
  const target = { ...effective, ...change.set };
  const errors = checkConfig(target, change.set.boot !== undefined);
  if (Object.keys(errors).length) throw new ApiError(400, "Parameter verification failed.", errors);

  const volumesBefore = state.volumes.length;
  const resolved: Record<string, string> = {};
  try {
    for (const [key, value] of Object.entries(change.set)) {
      if (DRIVE.test(key)) resolved[key] = resolveDrive(state, vm, key, value);
      else if (/^net\d+$/.test(key)) resolved[key] = normalizeNet(key, value);
      else if (key === "tags") resolved[key] = uniqueTags(value);
      else resolved[key] = value;
    }
  } catch (error) {
    state.volumes.splice(volumesBefore);
    throw error;
  }

  for (const [key, value] of Object.entries(resolved)) {
    const before = effective[key];
    if (DRIVE.test(key) && before !== undefined) {
      const oldFile = parsePropertyString(keysOf(key), before).file;
      const newFile = parsePropertyString(keysOf(key), value).file;
      if (oldFile !== newFile) {
        state.incidents.push({ kind: "slot-replaced", vmid: vm.vmid, slot: key, before, after: value });
        // PVE keeps a replaced disk of the VM as unusedN; a CD-ROM's ISO is just ejected.
        if (!before.includes("media=cdrom") && oldFile.includes(`vm-${vm.vmid}-`)) {
          let n = 0;
          while (effective[`unused${n}`] !== undefined || resolved[`unused${n}`] !== undefined) n++;
          resolved[`unused${n}`] = oldFile;
        }
      }
    }
  }

  for (const [key, value] of Object.entries(resolved)) {
    if (!running || hotPluggable(vm, key, value)) {
      vm.config[key] = value;
      delete vm.pending[key];
    } else {
      vm.pending[key] = value;
    }
  }
  for (const key of change.delete) {
    if (!running || hotPluggable(vm, key, undefined)) {
      removeOption(state, vm, key);
    } else if (!vm.pendingDelete.includes(key)) {
      vm.pendingDelete.push(key);
    }
  }
}

/** Deletes option `key`; a disk of the VM itself is kept as unusedN, an unusedN volume is freed. */
function removeOption(state: SimState, vm: VmState, key: string): void {
  const value = vm.config[key];
  delete vm.config[key];
  delete vm.pending[key];
  if (value === undefined) return;
  if (/^unused\d+$/.test(key)) {
    state.volumes = state.volumes.filter((v) => !(v.volid === value && v.vmid === vm.vmid));
    return;
  }
  if (!DRIVE.test(key)) return;
  const file = parsePropertyString(keysOf(key), value).file;
  if (file.includes("-cloudinit")) {
    state.volumes = state.volumes.filter((v) => v.volid !== file);
  } else if (!value.includes("media=cdrom") && file.includes(`vm-${vm.vmid}-`)) {
    let n = 0;
    while (vm.config[`unused${n}`] !== undefined) n++;
    vm.config[`unused${n}`] = file;
  }
}

/** Applies what is pending (at start, or at a reboot). */
export function applyPending(state: SimState, vm: VmState): void {
  for (const [key, value] of Object.entries(vm.pending)) vm.config[key] = value;
  vm.pending = {};
  for (const key of vm.pendingDelete) removeOption(state, vm, key);
  vm.pendingDelete = [];
}

/** The host PCI devices a VM's hostpci options claim on its host; throws PVE's start error when one cannot be had. */
export function claimPciDevices(state: SimState, vm: VmState): string[] {
  const devices: string[] = [];
  const q35 = /q35/.test(vm.config.machine ?? "");
  for (const key of Object.keys(vm.config)
    .filter((k) => /^hostpci\d+$/.test(k))
    .sort()) {
    const pci = parsePropertyString(keysOf(key), vm.config[key]);
    if (pci.pcie === "1" && !q35) throw new ApiError(500, `q35 machine model is not enabled (${key} has pcie=1)`);
    let ids: string[];
    if (pci.mapping !== undefined) {
      if (!state.pciMappings[pci.mapping]) throw new ApiError(500, `PCI mapping '${pci.mapping}' does not exist`);
      const paths = mappingPaths(state, pci.mapping, vm.node);
      if (!paths) throw new ApiError(500, `PCI mapping '${pci.mapping}' has no entry for node '${vm.node}'`);
      ids = paths;
    } else {
      ids = pci.host.split(";").map((h) => (/^[a-f0-9]{4,}:/i.test(h) ? h : `0000:${h}`));
    }
    for (const id of ids) {
      const present = (state.pciDevices[vm.node] ?? []).some((d) => d === id || d.startsWith(`${id}.`));
      if (!present) throw new ApiError(500, `no PCI device found for '${id}' on node '${vm.node}'`);
      const holder = Object.values(state.vms).find(
        (other) =>
          other.vmid !== vm.vmid &&
          other.node === vm.node &&
          other.status === "running" &&
          runningPciDevices(state, other).includes(id),
      );
      if (holder) throw new ApiError(500, `PCI device '${id}' already in use by VMID '${holder.vmid}'`);
      devices.push(id);
    }
  }
  return devices;
}

function runningPciDevices(state: SimState, vm: VmState): string[] {
  return Object.keys(vm.config)
    .filter((k) => /^hostpci\d+$/.test(k))
    .flatMap((k) => {
      const pci = parsePropertyString(keysOf(k), vm.config[k]);
      if (pci.mapping !== undefined) return mappingPaths(state, pci.mapping, vm.node) ?? [];
      return pci.host.split(";").map((h) => (/^[a-f0-9]{4,}:/i.test(h) ? h : `0000:${h}`));
    });
}
