/**
 * Storage replication jobs (pve-manager PVE::API2::ReplicationConfig, pve-guest-common PVE::ReplicationConfig):
 * job `<guest>-<n>` of type `local` copies the guest's disks to `target` on `schedule` (default `*\/15`). PVE's
 * rules on create: the guest exists, the target is a cluster node other than the guest's host, one job per
 * guest and target, and the guest has volumes to replicate, each of them on a storage with the replicate
 * feature (only zfspool has it; shared storages and CD-ROMs are skipped, as get_replicatable_volumes does).
 * Removal is PVE's background job (`remove_job=full`, done by the next replication run): here it is done at
 * once, as tasks are.
 */
import { ApiError, need, str, type Ctx, type Routes } from "../api";
import { parseBoolean, parsePropertyString } from "../params";
import { apiSchema, type ParamSpec } from "../schema";
import type { Section, SimState } from "../state";
import { assertDigest, checkSection, deleteFromSection, deleteList, fileDigest, typedSection } from "./section";
import { ctKeysOf, mountPointType } from "./lxc-config";
import { keysOf } from "./vm-config";

/** PVE::ReplicationConfig::Cluster `options`. */
const OPTIONS = {
  target: { fixed: true },
  disable: { optional: true },
  comment: { optional: true },
  rate: { optional: true },
  schedule: { optional: true },
  remove_job: { optional: true },
  source: { optional: true },
} as const;
const NOT_OPTIONS = ["id", "type", "digest", "delete"];

const props = (): Readonly<Record<string, ParamSpec>> =>
  apiSchema().match("POST", "/cluster/replication")?.method?.parameters?.properties ?? {};

/** A guest's host and the volumes its config names as disks: `{volid, options}` per drive. */
export interface ReplicationGuest {
  readonly node: string;
  readonly drives: ReadonlyArray<{ readonly volid: string; readonly cdrom: boolean; readonly replicate: boolean }>;
}

/** The guest `vmid` as replication sees it: its host and its disks (a VM's drives, a container's rootfs/mpN). */
function guestOf(state: SimState, vmid: string): ReplicationGuest | undefined {
  const vm = state.vms[vmid];
  if (vm) {
    const drives = Object.entries(vm.config)
      .filter(([key]) => /^((ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0)$/.test(key))
      .map(([key, value]) => {
        const drive = parsePropertyString(keysOf(key), value);
        return { volid: drive.file ?? "", cdrom: drive.media === "cdrom", replicate: drive.replicate !== "0" };
      });
    return { node: vm.node, drives };
  }
  const ct = state.containers[vmid];
  if (!ct) return undefined;
  const drives = Object.entries(ct.config)
    .filter(([key]) => /^(rootfs|mp\d+)$/.test(key))
    .map(([key, value]) => {
      const mp = parsePropertyString(ctKeysOf(key), value);
      const volume = mp.volume ?? "";
      return {
        volid: mountPointType(volume) === "volume" ? volume : "",
        cdrom: false,
        replicate: mp.replicate !== "0",
      };
    });
  return { node: ct.node, drives };
}

/** qemu-server/pve-container get_replicatable_volumes (the rules named in the file comment). */
function replicatableVolumes(state: SimState, vmid: string, guest: ReplicationGuest): string[] {
  const volumes: string[] = [];
  for (const drive of guest.drives) {
    if (drive.cdrom || !drive.replicate || !drive.volid.includes(":")) continue;
    const [storeid, volname] = drive.volid.split(":");
    const storage = state.storages.find((s) => s.id === storeid);
    if (!storage || storage.shared) continue;
    // The owner is the last part: a linked clone's `base-<template>-disk-0/vm-<vmid>-disk-0` is the clone's.
    if (!new RegExp(`^(base|vm|subvol)-${vmid}-`).test(volname.split("/").pop() ?? "")) continue;
    if (storage.type !== "zfspool") throw new ApiError(500, `missing replicate feature on volume '${drive.volid}'`);
    volumes.push(drive.volid);
  }
  return volumes;
}

function jobOf(ctx: Ctx): [string, Section] {
  const id = need(ctx, "id");
  const job = ctx.state.replication[id];
  if (!job) throw new ApiError(500, `no such replication job '${id}'`);
  return [id, job];
}

function jobView(ctx: Ctx, id: string, job: Section) {
  const [guest, jobnum] = id.split("-").map(Number);
  return { ...typedSection(job, props()), id, guest, jobnum, digest: fileDigest(ctx.state.replication) };
}

export const replicationRoutes: Routes = {
  "GET /cluster/replication": (ctx) => Object.entries(ctx.state.replication).map(([id, job]) => jobView(ctx, id, job)),
  "GET /cluster/replication/{id}": (ctx) => jobView(ctx, ...jobOf(ctx)),
  "POST /cluster/replication": (ctx) => {
    const type = need(ctx, "type");
    const [guestId, jobnum] = need(ctx, "id").split("-").map(Number);
    const id = `${guestId}-${jobnum}`;
    const target = need(ctx, "target");
    const guest = guestOf(ctx.state, String(guestId));
    if (!guest) throw new ApiError(500, `Guest '${guestId}' does not exist.`);
    if (!ctx.state.nodes.includes(target)) throw new ApiError(500, `Target '${target}' does not exist.`);
    const source = str(ctx, "source");
    if (source !== undefined && source !== guest.node)
      throw new ApiError(500, `Source '${source}' does not match current node of guest '${guestId}' (${guest.node})`);
    if (target === guest.node) throw new ApiError(500, "Source and target must not be identical");
    if (replicatableVolumes(ctx.state, String(guestId), guest).length === 0)
      throw new ApiError(500, "No replicatable volumes found");
    if (ctx.state.replication[id]) throw new ApiError(500, `replication job '${id}' already exists`);
    for (const [other, job] of Object.entries(ctx.state.replication)) {
      if (other.startsWith(`${guestId}-`) && job.target === target)
        throw new ApiError(500, `replication job for guest '${guestId}' to target 'local/${target}' already exists`);
    }
    const settings = checkSection(OPTIONS, ctx.params, true, NOT_OPTIONS, props());
    ctx.state.replication[id] = { type, ...settings, source: source ?? guest.node };
  },
  "PUT /cluster/replication/{id}": (ctx) => {
    assertDigest(ctx, ctx.state.replication);
    const [id, current] = jobOf(ctx);
    const settings = checkSection(OPTIONS, ctx.params, false, NOT_OPTIONS, props());
    const job = { ...current, ...settings };
    deleteFromSection(job, OPTIONS, {}, deleteList(ctx));
    ctx.state.replication[id] = job;
  },
  "DELETE /cluster/replication/{id}": (ctx) => {
    const id = need(ctx, "id");
    if (parseBoolean(str(ctx, "force") ?? "0")) {
      delete ctx.state.replication[id];
      return;
    }
    jobOf(ctx);
    delete ctx.state.replication[id];
  },
};
