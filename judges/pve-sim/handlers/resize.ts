/**
 * Disk resize (qemu-server PVE::API2::Qemu resize_vm): a task that grows the volume behind a VM's disk to an
 * absolute size or by `+<size>`, writes the new `size=` into the drive, and refuses to shrink, to resize a
 * CD-ROM (the cloud-init drive is one) or a disk that does not exist; the user needs Datastore.AllocateSpace on
 * the disk's storage.
 */
import { ApiError, need, str, type Ctx, type Routes } from "../api";
import { parsePropertyString, printPropertyString } from "../params";
import { configDigest, volumeOn, type SimState, type VmState } from "../state";
import { requirePermission } from "../permissions";
import { formatSize, keysOf } from "./vm-config";

const UNITS: Readonly<Record<string, number>> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * The size a disk of `current` bytes gets from PVE's `size` parameter (`+<n>[KMGT]` grows by, `<n>[KMGT]` sets,
 * a bare number is bytes), truncated to whole bytes as PVE does.
 */
export function requestedSize(current: number, size: string): number {
  const m = /^(\+)?(\d+(?:\.\d+)?)([KMGT])?$/.exec(size);
  if (!m) throw new ApiError(500, `unable to parse size '${size}'`);
  const bytes = Number(m[2]) * (m[3] ? UNITS[m[3]] : 1);
  return Math.floor(m[1] ? current + bytes : bytes);
}

/**
 * Grows disk `key` of `vm` to `size` (PVE's `size` parameter) for `authid`; throws PVE's message when it
 * cannot.
 */
export function resizeDisk(state: SimState, vm: VmState, key: string, size: string, authid: string): void {
  const value = vm.config[key];
  if (value === undefined) throw new ApiError(500, `disk '${key}' does not exist`);
  const keys = keysOf(key);
  const drive = parsePropertyString(keys, value);
  if (!drive.file) throw new ApiError(500, `disk '${key}' has no associated volume`);
  if (drive.media === "cdrom") throw new ApiError(500, "you can't resize a cdrom");
  // Checked in the worker, after the drive: a missing privilege fails the task, not the request.
  requirePermission(state, authid, {
    path: `/storage/${drive.file.split(":")[0]}`,
    privs: ["Datastore.AllocateSpace"],
  });
  const volume = volumeOn(state, drive.file, vm.node);
  if (!volume) throw new ApiError(500, `Could not determine current size of volume '${drive.file}'`);
  const newSize = requestedSize(volume.size, size);
  if (newSize < volume.size) throw new ApiError(500, "shrinking disks is not supported");
  if (newSize === volume.size) return;
  state.volumes[state.volumes.indexOf(volume)] = { ...volume, size: newSize };
  drive.size = formatSize(newSize);
  vm.config[key] = printPropertyString(keys, drive);
}

export const resizeRoutes: Routes = {
  // PVE 9 runs the resize as a task (the schema's answer is a UPID); its errors fail the task.
  "PUT /nodes/{node}/qemu/{vmid}/resize": (ctx: Ctx) => {
    const node = need(ctx, "node");
    const vmid = need(ctx, "vmid");
    const vm = ctx.state.vms[vmid];
    if (!vm || vm.node !== node)
      throw new ApiError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
    const digest = str(ctx, "digest");
    return ctx.task(node, "resize", vmid, () => {
      if (digest !== undefined && digest !== configDigest(vm))
        throw new ApiError(500, "checksum missmatch (file change by other user?)");
      const disk = need(ctx, "disk");
      resizeDisk(ctx.state, vm, disk, need(ctx, "size"), ctx.user);
      return [`update VM ${vmid}: resize --disk ${disk} --size ${need(ctx, "size")}`];
    });
  },
};
