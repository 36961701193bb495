/**
 * What pve-container does with a container config (PVE::API2::LXC create_vm / update_vm, PVE::LXC::Config):
 * the options stored as PVE writes them (property strings with required keys first, `type=veth` and a MAC
 * on every NIC), `<storage>:<size>` root and mount-point volumes allocated on a storage that holds container
 * directories (`subvol-` on ZFS), the permission rules PVE reserves to root@pam (check_ct_modify_config_perm:
 * an API token is never root@pam), and a running container's changes that cannot be hot-plugged kept
 * pending until its restart.
 */
import { randomBytes } from "node:crypto";
import { uniqueTags } from "./guest-config";
import { ApiError, paramError } from "../api";
import { booleanString, parsePropertyString, printPropertyString, type ParamValue } from "../params";
import { apiSchema, type ParamSpec } from "../schema";
import { storageOn, volumeOn, type SimState, type VmState } from "../state";
import { formatSize } from "./vm-config";

/** The options of a container config (the parameters of `POST /nodes/{node}/lxc`). */
export function ctConfigProperties(): Readonly<Record<string, ParamSpec>> {
  return apiSchema().match("POST", "/nodes/x/lxc")!.method!.parameters!.properties!;
}

/** The keys of container option `key`'s property string (`mp0` -> the spec of `mp[n]`). */
export function ctKeysOf(key: string): Readonly<Record<string, ParamSpec>> {
  const properties = ctConfigProperties();
  const spec = properties[key] ?? properties[key.replace(/\d+$/, "[n]")];
  if (typeof spec?.format !== "object") throw new Error(`simulator bug: ${key} is not a property string`);
  return spec.format;
}

/** Request parameters that steer the call instead of being stored in the config. */
const CONTROL = new Set([
  "node",
  "vmid",
  "digest",
  "delete",
  "revert",
  "ostemplate",
  "storage",
  "password",
  "ssh-public-keys",
  "start",
  "pool",
  "restore",
  "force",
  "unique",
  "ignore-unpack-errors",
  "bwlimit",
  "ha-managed",
]);

/** Options that do not exist on a container after its creation (PVE: "unable to modify read-only option"). */
const READ_ONLY = new Set(["unprivileged", "arch"]);

/** Applied at once while the container runs (pve-container's $LXC_FASTPLUG_OPTIONS and hot-plugged options). */
const HOT = /^(description|onboot|startup|protection|tags|lock|hookscript|cores|cpulimit|cpuunits|memory|swap|net\d+)$/;

const VOLUME_KEY = /^(rootfs|mp\d+)$/;

/** The config options of a request, booleans as 1/0 as PVE stores them. */
export function ctOptionsOf(params: Readonly<Record<string, ParamValue>>): Record<string, string> {
  const properties = ctConfigProperties();
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    if (CONTROL.has(key)) continue;
    if (typeof value !== "string") throw paramError(key, "an option may only be given once");
    const spec = properties[key] ?? properties[key.replace(/\d+$/, "[n]")];
    out[key] = spec?.type === "boolean" ? booleanString(value) : value;
  }
  return out;
}

/** What a root or mount point's volume string is (PVE::LXC::Config classify_mountpoint). */
export function mountPointType(volume: string): "volume" | "bind" | "device" {
  if (!volume.startsWith("/")) return "volume";
  return volume.startsWith("/dev/") ? "device" : "bind";
}

const permissionError = (message: string) => new ApiError(403, `Permission check failed (${message})`);

/**
 * PVE::LXC::check_ct_modify_config_perm: what only root@pam may set. PVE compares the authenticated user with
 * 'root@pam', and an API token authenticates as `user@realm!tokenid`, so even root@pam's tokens may not.
 */
export function checkCtPermissions(
  authuser: string,
  before: Readonly<Record<string, string>> | undefined,
  set: Readonly<Record<string, string>>,
  deletes: readonly string[],
  unprivileged: boolean,
): void {
  if (authuser === "root@pam") return;
  for (const key of [...Object.keys(set), ...deletes]) {
    if (VOLUME_KEY.test(key) && set[key] !== undefined) {
      const type = mountPointType(parsePropertyString(ctKeysOf(key), set[key]).volume ?? "");
      if (type !== "volume") throw permissionError(`mount point type ${type} is only allowed for root@pam`);
    } else if (key === "features") {
      if (!unprivileged)
        throw permissionError("changing feature flags for privileged container is only allowed for root@pam");
      const keys = ctKeysOf("features");
      const parse = (v: string | undefined) => (v ? parsePropertyString(keys, v) : {});
      const oldFeatures = parse(before?.features);
      const newFeatures = deletes.includes("features") ? {} : parse(set.features);
      let other = false;
      if (before?.features && !deletes.includes("features")) {
        for (const f of new Set([...Object.keys(oldFeatures), ...Object.keys(newFeatures)])) {
          if ((oldFeatures[f] ?? "0") !== (newFeatures[f] ?? "0") && f !== "nesting") other = true;
        }
      } else {
        const features = deletes.includes("features") ? oldFeatures : newFeatures;
        const names = Object.keys(features);
        other = names.length > 0 && !(names.length === 1 && features.nesting === "1");
      }
      if (other) throw permissionError("changing feature flags (except nesting) is only allowed for root@pam");
    } else if (/^dev\d+$/.test(key)) {
      throw permissionError("configuring device passthrough is only allowed for root@pam");
    } else if (key === "hookscript") {
      throw permissionError("changing the hookscript is only allowed for root@pam");
    }
  }
}

/** PVE::Tools::validate_ssh_public_keys, as far as the key lines' shape. */
export function checkSshKeys(keys: string): void {
  for (const line of keys.split("\n")) {
    if (/^\s*(#.*)?$/.test(line)) continue;
    if (!/^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-\S+)\s+[A-Za-z0-9+/]+=*(\s.*)?$/.test(line.trim()))
      throw paramError("ssh-public-keys", "SSH public key validation error");
  }
}

/** The volume name PVE gives a new container disk on a storage of `type`. */
function volumeName(type: string, storage: string, vmid: number, n: number): { volid: string; format: string } {
  if (type === "zfspool") return { volid: `${storage}:subvol-${vmid}-disk-${n}`, format: "subvol" };
  if (["dir", "nfs", "cifs", "cephfs", "glusterfs"].includes(type))
    return { volid: `${storage}:${vmid}/vm-${vmid}-disk-${n}.raw`, format: "raw" };
  return { volid: `${storage}:vm-${vmid}-disk-${n}`, format: "raw" };
}

function allocate(state: SimState, ct: VmState, storageId: string, sizeGiB: number): { volid: string; size: number } {
  const storage = storageOn(state, storageId, ct.node);
  if (!storage) throw new ApiError(500, `storage '${storageId}' does not exist`);
  if (!storage.content.includes("rootdir"))
    throw new ApiError(500, `storage '${storageId}' does not support container directories`);
  let n = 0;
  while (state.volumes.some((v) => v.storage === storageId && v.vmid === ct.vmid && v.volid.includes(`-disk-${n}`)))
    n++;
  const { volid, format } = volumeName(storage.type, storageId, ct.vmid, n);
  const size = Math.round(sizeGiB * 1024 ** 3);
  state.volumes.push({
    volid,
    storage: storageId,
    node: ct.node,
    content: "rootdir",
    format,
    size,
    vmid: ct.vmid,
    ctime: Math.floor(Date.now() / 1000),
  });
  return { volid, size };
}

/** A rootfs or mount point as PVE stores it: the new volume allocated, an existing one checked, `size` set. */
function resolveMountPoint(state: SimState, ct: VmState, key: string, value: string): string {
  const keys = ctKeysOf(key);
  const mp = parsePropertyString(keys, value);
  const volume = mp.volume ?? "";
  if (key === "rootfs" && mountPointType(volume) !== "volume")
    throw paramError(key, "the root file system must be a volume");
  if (mountPointType(volume) !== "volume") return printPropertyString(keys, mp);
  const fresh = /^([^:]+):(\d+(?:\.\d+)?)$/.exec(volume);
  if (fresh) {
    const { volid, size } = allocate(state, ct, fresh[1], Number(fresh[2]));
    mp.volume = volid;
    mp.size = formatSize(size);
  } else {
    const existing = volumeOn(state, volume, ct.node);
    if (!existing) throw new ApiError(500, `volume '${volume}' does not exist`);
    if (existing.content !== "rootdir" && existing.content !== "images")
      throw paramError(key, `volume '${volume}' is not a container volume (content '${existing.content}')`);
    mp.size = formatSize(existing.size);
  }
  return printPropertyString(keys, mp);
}

/** A NIC as PVE stores it: `type=veth`, a MAC when none was given. */
function normalizeNet(key: string, value: string): string {
  const keys = ctKeysOf(key);
  const net = parsePropertyString(keys, value);
  net.type ??= "veth";
  if (!net.hwaddr) {
    const bytes = [...randomBytes(3)].map((b) => b.toString(16).toUpperCase().padStart(2, "0"));
    net.hwaddr = `BC:24:11:${bytes.join(":")}`;
  }
  return printPropertyString(keys, net);
}

/**
 * A description as a container config gives it back: pve-container stores it as `#` comment lines and reads
 * each line back with its newline, so it ends with one (qemu-server's VM description does not).
 */
function storedDescription(value: string): string {
  const lines = value.replace(/\r\n/g, "\n").split("\n");
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/** The volumes a container config (current and pending) references, with the option naming each. */
export function ctVolumes(ct: VmState): Array<{ key: string; volid: string }> {
  const out: Array<{ key: string; volid: string }> = [];
  for (const config of [ct.config, ct.pending]) {
    for (const [key, value] of Object.entries(config)) {
      if (!VOLUME_KEY.test(key) && !/^unused\d+$/.test(key)) continue;
      const volume = parsePropertyString(ctKeysOf(key), value).volume ?? "";
      if (mountPointType(volume) === "volume") out.push({ key, volid: volume });
    }
  }
  return out;
}

export interface CtChange {
  readonly set: Readonly<Record<string, string>>;
  readonly delete: readonly string[];
}

/**
 * Applies a change to container `ct` (a new one has an empty config): read-only options refused on an existing
 * container, volumes allocated, NICs completed, non-hot-pluggable changes of a running container kept pending.
 * Throws (and changes nothing) when a part fails.
 */
export function applyCtChange(state: SimState, ct: VmState, change: CtChange, creating: boolean): void {
  const errors: Record<string, string> = {};
  for (const key of [...Object.keys(change.set), ...change.delete]) {
    if (!creating && READ_ONLY.has(key)) errors[key] = `unable to modify read-only option: '${key}'`;
    if (change.set[key] !== undefined && change.delete.includes(key))
      errors.delete = `you can't use '-${key}' and '-delete ${key}' at the same time`;
  }
  if (change.delete.includes("rootfs")) errors.rootfs = "unable to delete required option 'rootfs'";
  if (Object.keys(errors).length) throw new ApiError(400, "Parameter verification failed.", errors);

  const volumesBefore = state.volumes.length;
  const resolved: Record<string, string> = {};
  try {
    for (const [key, value] of Object.entries(change.set)) {
      const unchanged = (ct.pending[key] ?? ct.config[key]) === value;
      if (VOLUME_KEY.test(key) && !unchanged) resolved[key] = resolveMountPoint(state, ct, key, value);
      else if (/^net\d+$/.test(key)) resolved[key] = normalizeNet(key, value);
      else if (key === "description") resolved[key] = storedDescription(value);
      else if (key === "tags") resolved[key] = uniqueTags(value);
      else resolved[key] = value;
    }
  } catch (error) {
    state.volumes.splice(volumesBefore);
    throw error;
  }
  const running = ct.status === "running";
  for (const [key, value] of Object.entries(resolved)) {
    const before = ct.config[key];
    if (VOLUME_KEY.test(key) && before !== undefined && before !== value) {
      const oldVolume = parsePropertyString(ctKeysOf(key), before).volume ?? "";
      const newVolume = parsePropertyString(ctKeysOf(key), value).volume ?? "";
      if (oldVolume !== newVolume && mountPointType(oldVolume) === "volume") {
        state.incidents.push({ kind: "slot-replaced", vmid: ct.vmid, slot: key, before, after: value });
        let n = 0;
        while (ct.config[`unused${n}`] !== undefined) n++;
        ct.config[`unused${n}`] = oldVolume;
      }
    }
    if (!running || HOT.test(key)) {
      ct.config[key] = value;
      delete ct.pending[key];
    } else {
      ct.pending[key] = value;
    }
  }
  for (const key of change.delete) {
    if (!running || HOT.test(key)) removeCtOption(state, ct, key);
    else if (!ct.pendingDelete.includes(key)) ct.pendingDelete.push(key);
  }
}

/** Deletes option `key`: a mount point's volume is kept as unusedN, an unusedN volume is freed. */
function removeCtOption(state: SimState, ct: VmState, key: string): void {
  const value = ct.config[key];
  delete ct.config[key];
  delete ct.pending[key];
  if (value === undefined) return;
  const volume =
    VOLUME_KEY.test(key) || /^unused\d+$/.test(key) ? (parsePropertyString(ctKeysOf(key), value).volume ?? "") : "";
  if (mountPointType(volume) !== "volume" || volume === "") return;
  if (/^unused\d+$/.test(key)) {
    state.volumes = state.volumes.filter((v) => !(v.volid === volume && v.vmid === ct.vmid));
    return;
  }
  let n = 0;
  while (ct.config[`unused${n}`] !== undefined) n++;
  ct.config[`unused${n}`] = volume;
}

/** Applies what is pending (at start, or at a reboot). */
export function applyCtPending(state: SimState, ct: VmState): void {
  for (const [key, value] of Object.entries(ct.pending)) ct.config[key] = value;
  ct.pending = {};
  for (const key of ct.pendingDelete) removeCtOption(state, ct, key);
  ct.pendingDelete = [];
}
