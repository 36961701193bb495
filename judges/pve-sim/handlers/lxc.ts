/**
 * /nodes/{node}/lxc (PVE::API2::LXC, ::Status, ::Config): create from an OS template volume, config read and
 * update (with `digest`, `delete`, pending changes), status and power actions, resize, destroy, and the
 * interfaces of a running container (its static addresses). Ids are unique across VMs and containers.
 */
import { ApiError, need, str, type Ctx, type Routes } from "../api";
import { parseBoolean, parsePropertyString, printPropertyString } from "../params";
import { configDigest, guestHolding, volumeOn, type SimState, type VmState } from "../state";
import {
  applyCtChange,
  applyCtPending,
  checkCtPermissions,
  checkSshKeys,
  ctConfigProperties,
  ctKeysOf,
  ctOptionsOf,
  ctVolumes,
  mountPointType,
} from "./lxc-config";
import { addPoolMember, removePoolMember } from "./pools";
import { requestedSize } from "./resize";
import { sdnBridgeProblem } from "./sdn";
import { configResponse, deletesOf, pendingResponse } from "./guest-config";
import { formatSize } from "./vm-config";

function ctOf(ctx: Ctx): VmState {
  const node = need(ctx, "node");
  const vmid = need(ctx, "vmid");
  const ct = ctx.state.containers[vmid];
  if (!ct || ct.node !== node)
    throw new ApiError(500, `Configuration file 'nodes/${node}/lxc/${vmid}.conf' does not exist`);
  return ct;
}

const isUnprivileged = (ct: VmState) => parseBoolean(ct.config.unprivileged ?? "0") === true;

/** The OS type PVE detects from a template file name (debian-12-standard_... -> debian), else "unmanaged". */
function detectedOsType(volid: string): string {
  const word = /\/([a-z]+)[-_]/.exec(volid)?.[1] ?? "";
  const known = ctConfigProperties().ostype?.enum ?? [];
  return known.includes(word) ? word : "unmanaged";
}

function rootDiskBytes(state: SimState, ct: VmState): number {
  const volume = parsePropertyString(ctKeysOf("rootfs"), ct.config.rootfs ?? "").volume;
  return (volume && volumeOn(state, volume, ct.node)?.size) || 0;
}

/** The containers as /cluster/resources lists them. */
export function containerResources(state: SimState) {
  return Object.values(state.containers).map((ct) => ({
    id: `lxc/${ct.vmid}`,
    type: "lxc",
    vmid: ct.vmid,
    node: ct.node,
    name: ct.config.hostname ?? `CT${ct.vmid}`,
    status: ct.status,
    template: parseBoolean(ct.config.template ?? "0") ? 1 : 0,
    maxmem: Number(ct.config.memory ?? 512) * 1024 ** 2,
    maxdisk: rootDiskBytes(state, ct),
    maxcpu: Number(ct.config.cores ?? 1),
    ...(ct.config.tags ? { tags: ct.config.tags } : {}),
    ...(state.ha[`ct:${ct.vmid}`] ? { hastate: state.ha[`ct:${ct.vmid}`].state ?? "started" } : {}),
  }));
}

function start(ctx: Ctx, ct: VmState): string[] {
  applyCtPending(ctx.state, ct);
  for (const { key, volid } of ctVolumes(ct)) {
    if (!key.startsWith("unused") && !volumeOn(ctx.state, volid, ct.node))
      throw new ApiError(500, `${key}: volume '${volid}' does not exist`);
  }
  for (const [key, value] of Object.entries(ct.config)) {
    const bridge = /^net\d+$/.test(key) ? parsePropertyString(ctKeysOf(key), value).bridge : undefined;
    const problem = bridge === undefined ? undefined : sdnBridgeProblem(ctx.state, bridge);
    if (problem) throw new ApiError(500, problem);
  }
  ct.status = "running";
  return [`starting CT ${ct.vmid}`];
}

function update(ctx: Ctx): void {
  const ct = ctOf(ctx);
  const digest = str(ctx, "digest");
  if (digest !== undefined && digest !== configDigest(ct))
    throw new ApiError(500, "detected modified configuration - file changed by other user? Try again.");
  if (str(ctx, "revert") !== undefined)
    throw new ApiError(501, "not modelled by the simulator: revert of pending changes");
  const set = ctOptionsOf(ctx.params);
  const deletes = deletesOf(ctx);
  checkCtPermissions(ctx.user, { ...ct.config, ...ct.pending }, set, deletes, isUnprivileged(ct));
  applyCtChange(ctx.state, ct, { set, delete: deletes }, false);
}

export const lxcRoutes: Routes = {
  "GET /nodes/{node}/lxc": (ctx) => {
    const node = need(ctx, "node");
    return Object.values(ctx.state.containers)
      .filter((ct) => ct.node === node)
      .map((ct) => ({
        vmid: ct.vmid,
        name: ct.config.hostname ?? `CT${ct.vmid}`,
        status: ct.status,
        type: "lxc",
        template: parseBoolean(ct.config.template ?? "0") ? 1 : 0,
        ...(ct.config.tags ? { tags: ct.config.tags } : {}),
      }));
  },
  "POST /nodes/{node}/lxc": (ctx) => {
    const node = need(ctx, "node");
    const vmid = Number(need(ctx, "vmid"));
    for (const key of ["restore", "password"]) {
      if (str(ctx, key) !== undefined) throw new ApiError(501, `not modelled by the simulator: create with '${key}'`);
    }
    if (!ctx.state.nodes.includes(node)) throw new ApiError(595, `no such node '${node}'`);
    const existing = guestHolding(ctx.state, vmid);
    if (existing) throw new ApiError(500, `${existing.kind} ${vmid} already exists on node '${existing.node}'`);
    const set = ctOptionsOf(ctx.params);
    const unprivileged = parseBoolean(set.unprivileged ?? "0") === true;
    checkCtPermissions(ctx.user, undefined, set, [], unprivileged);
    const keys = str(ctx, "ssh-public-keys");
    if (keys !== undefined) checkSshKeys(keys);
    const ostemplate = need(ctx, "ostemplate");
    const template = volumeOn(ctx.state, ostemplate, node);
    if (!template) throw new ApiError(500, `volume '${ostemplate}' does not exist`);
    if (template.content !== "vztmpl")
      throw new ApiError(500, `volume '${ostemplate}' is not a container template (content '${template.content}')`);
    set.rootfs ??= `${str(ctx, "storage") ?? "local"}:4`; // pve-container: the default root is 4 GiB
    set.hostname ??= `CT${vmid}`;
    set.ostype ??= detectedOsType(ostemplate);
    const pool = str(ctx, "pool");
    if (pool !== undefined && !ctx.state.pools[pool]) throw new ApiError(500, `pool '${pool}' does not exist`);
    const ct: VmState = { vmid, node, config: {}, pending: {}, pendingDelete: [], status: "stopped" };
    applyCtChange(ctx.state, ct, { set, delete: [] }, true);
    ctx.state.containers[String(vmid)] = ct;
    if (pool !== undefined) addPoolMember(ctx.state, pool, vmid);
    return ctx.task(node, "vzcreate", String(vmid), () => [
      `extracting archive '${ostemplate}'`,
      ...(parseBoolean(str(ctx, "start") ?? "0") ? start(ctx, ct) : []),
    ]);
  },
  "GET /nodes/{node}/lxc/{vmid}/config": (ctx) => {
    return configResponse(ctx, ctOf(ctx), ctConfigProperties());
  },
  "GET /nodes/{node}/lxc/{vmid}/pending": (ctx) => {
    return pendingResponse(ctOf(ctx), ctConfigProperties());
  },
  "PUT /nodes/{node}/lxc/{vmid}/config": (ctx) => {
    update(ctx);
  },
  "GET /nodes/{node}/lxc/{vmid}/status/current": (ctx) => {
    const ct = ctOf(ctx);
    return {
      vmid: ct.vmid,
      name: ct.config.hostname ?? `CT${ct.vmid}`,
      status: ct.status,
      type: "lxc",
      uptime: ct.status === "running" ? 60 : 0,
      cpus: Number(ct.config.cores ?? 1),
      maxmem: Number(ct.config.memory ?? 512) * 1024 ** 2,
      maxswap: Number(ct.config.swap ?? 512) * 1024 ** 2,
      maxdisk: rootDiskBytes(ctx.state, ct),
      ...(ct.config.tags ? { tags: ct.config.tags } : {}),
      ha: { managed: ctx.state.ha[`ct:${ct.vmid}`] ? 1 : 0 },
    };
  },
  "POST /nodes/{node}/lxc/{vmid}/status/start": (ctx) => {
    const ct = ctOf(ctx);
    if (ct.status === "running") throw new ApiError(500, `CT ${ct.vmid} already running`);
    return ctx.task(ct.node, "vzstart", String(ct.vmid), () => start(ctx, ct));
  },
  "POST /nodes/{node}/lxc/{vmid}/status/stop": (ctx) => {
    const ct = ctOf(ctx);
    if (ct.status !== "running") throw new ApiError(500, `CT ${ct.vmid} not running`);
    return ctx.task(ct.node, "vzstop", String(ct.vmid), () => {
      ct.status = "stopped";
    });
  },
  "POST /nodes/{node}/lxc/{vmid}/status/shutdown": (ctx) => {
    const ct = ctOf(ctx);
    if (ct.status !== "running") throw new ApiError(500, `CT ${ct.vmid} not running`);
    return ctx.task(ct.node, "vzshutdown", String(ct.vmid), () => {
      ct.status = "stopped";
    });
  },
  "POST /nodes/{node}/lxc/{vmid}/status/reboot": (ctx) => {
    const ct = ctOf(ctx);
    if (ct.status !== "running") throw new ApiError(500, `CT ${ct.vmid} not running`);
    return ctx.task(ct.node, "vzreboot", String(ct.vmid), () => {
      applyCtPending(ctx.state, ct);
    });
  },
  "GET /nodes/{node}/lxc/{vmid}/interfaces": (ctx) => {
    const ct = ctOf(ctx);
    if (ct.status !== "running") throw new ApiError(500, `CT ${ct.vmid} is not running`);
    const interfaces = [
      {
        name: "lo",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "inet", prefix: 8 }],
      },
    ];
    for (const key of Object.keys(ct.config)
      .filter((k) => /^net\d+$/.test(k))
      .sort()) {
      const net = parsePropertyString(ctKeysOf(key), ct.config[key]);
      const [address, prefix] = net.ip?.includes("/") ? net.ip.split("/") : [undefined, undefined];
      interfaces.push({
        name: net.name,
        "hardware-address": (net.hwaddr ?? "").toLowerCase(),
        // A static address is what the container has; DHCP's answer is unknown to the simulator.
        "ip-addresses": address ? [{ "ip-address": address, "ip-address-type": "inet", prefix: Number(prefix) }] : [],
      });
    }
    return interfaces;
  },
  "PUT /nodes/{node}/lxc/{vmid}/resize": (ctx) => {
    const ct = ctOf(ctx);
    const disk = need(ctx, "disk");
    const size = need(ctx, "size");
    const digest = str(ctx, "digest");
    return ctx.task(ct.node, "resize", String(ct.vmid), () => {
      if (digest !== undefined && digest !== configDigest(ct))
        throw new ApiError(500, "detected modified configuration - file changed by other user? Try again.");
      const value = ct.config[disk];
      if (value === undefined) throw new ApiError(500, `no such mount point '${disk}'`);
      const keys = ctKeysOf(disk);
      const mp = parsePropertyString(keys, value);
      if (mountPointType(mp.volume ?? "") !== "volume")
        throw new ApiError(500, `mount point '${disk}' is not a volume: it cannot be resized`);
      const volume = volumeOn(ctx.state, mp.volume, ct.node);
      if (!volume) throw new ApiError(500, `volume '${mp.volume}' does not exist`);
      const newSize = requestedSize(volume.size, size);
      if (newSize < volume.size) throw new ApiError(500, "unable to shrink disk size");
      if (newSize === volume.size) return;
      ctx.state.volumes[ctx.state.volumes.indexOf(volume)] = { ...volume, size: newSize };
      mp.size = formatSize(newSize);
      ct.config[disk] = printPropertyString(keys, mp);
    });
  },
  "DELETE /nodes/{node}/lxc/{vmid}": (ctx) => {
    const ct = ctOf(ctx);
    if (ct.status === "running") throw new ApiError(500, `CT ${ct.vmid} is running - destroy failed`);
    if (parseBoolean(ct.config.protection ?? "0"))
      throw new ApiError(500, `can't remove CT ${ct.vmid} - protection mode enabled`);
    const purge = parseBoolean(str(ctx, "purge") ?? "0");
    if (ctx.state.ha[`ct:${ct.vmid}`] && !purge)
      throw new ApiError(500, `unable to remove CT ${ct.vmid} - used in HA resources and purge parameter not set.`);
    return ctx.task(ct.node, "vzdestroy", String(ct.vmid), () => {
      const owned = new Set(ctVolumes(ct).map((v) => v.volid));
      ctx.state.volumes = ctx.state.volumes.filter((v) => !(v.vmid === ct.vmid && owned.has(v.volid)));
      delete ctx.state.containers[String(ct.vmid)];
      delete ctx.state.firewall[String(ct.vmid)];
      removePoolMember(ctx.state, ct.vmid);
      if (purge) {
        delete ctx.state.ha[`ct:${ct.vmid}`];
        ctx.state.acl = ctx.state.acl.filter((e) => e.path !== `/vms/${ct.vmid}`);
      }
      return [`destroyed CT ${ct.vmid}`];
    });
  },
};
