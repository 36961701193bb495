/**
 * /nodes/{node}/qemu (PVE::API2::Qemu): create, config read and update (with `digest`, `delete`, pending
 * changes), status and power actions, migration to another host, destroy, and the guest agent's
 * network-get-interfaces answering the address of the VM's cloud-init ipconfig0.
 */
import { randomUUID } from "node:crypto";
import { ApiError, need, paramError, str, type Ctx, type Routes } from "../api";
import { PROPERTY_FORMATS } from "../formats";
import { booleanString, parsePropertyString, parseBoolean, printPropertyString, type ParamValue } from "../params";
import { vmConfigProperties } from "../schema";
import { configDigest, guestHolding, storageOn, type SimState, type VmState } from "../state";
import { mappingPaths } from "./mapping";
import { addPoolMember, removePoolMember } from "./pools";
import { sdnBridgeProblem } from "./sdn";
import { configResponse, deletesOf, pendingResponse } from "./guest-config";
import { applyChange, applyPending, claimPciDevices, keysOf, referencedVolumes } from "./vm-config";

/** Request parameters that steer the call instead of being config options. */
const CONTROL = new Set([
  "node",
  "vmid",
  "digest",
  "delete",
  "revert",
  "skiplock",
  "force",
  "background_delay",
  "start",
  "pool",
  "unique",
  "archive",
  "storage",
  "live-restore",
  "bwlimit",
]);

function vmOf(ctx: Ctx): VmState {
  const node = need(ctx, "node");
  const vmid = need(ctx, "vmid");
  const vm = ctx.state.vms[vmid];
  if (!vm || vm.node !== node)
    throw new ApiError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
  return vm;
}

/** The config options of a request, booleans as 1/0 as PVE stores them. */
function optionsOf(ctx: Ctx): Record<string, string> {
  const properties = vmConfigProperties();
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(ctx.params) as Array<[string, ParamValue]>) {
    if (CONTROL.has(key)) continue;
    if (typeof value !== "string") throw paramError(key, "an option may only be given once");
    const spec = properties[key] ?? properties[key.replace(/\d+$/, "[n]")];
    out[key] = spec?.type === "boolean" ? booleanString(value) : value;
  }
  return out;
}

function checkDigest(ctx: Ctx, vm: VmState): void {
  const digest = str(ctx, "digest");
  if (digest !== undefined && digest !== configDigest(vm))
    throw new ApiError(500, "detected modified configuration - file changed by other user? Try again.");
}

function updateConfig(ctx: Ctx): void {
  const vm = vmOf(ctx);
  checkDigest(ctx, vm);
  if (str(ctx, "revert") !== undefined)
    throw new ApiError(501, "not modelled by the simulator: revert of pending changes");
  applyChange(ctx.state, vm, { set: optionsOf(ctx), delete: deletesOf(ctx) });
}

function agentAddresses(state: SimState, vm: VmState) {
  if (vm.status !== "running") throw new ApiError(500, `VM ${vm.vmid} is not running`);
  if (!parseBoolean(parsePropertyString(keysOf("agent"), vm.config.agent ?? "0").enabled ?? "0"))
    throw new ApiError(500, "No QEMU guest agent configured");
  if (!state.guestAgent) throw new ApiError(500, "QEMU guest agent is not running");
  const interfaces = [
    {
      name: "lo",
      "hardware-address": "00:00:00:00:00:00",
      "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 }],
    },
  ];
  for (const key of Object.keys(vm.config)
    .filter((k) => /^net\d+$/.test(k))
    .sort()) {
    const n = key.slice(3);
    const net = parsePropertyString(keysOf(key), vm.config[key]);
    const ip = vm.config[`ipconfig${n}`]
      ? parsePropertyString(PROPERTY_FORMATS["pve-qm-ipconfig"], vm.config[`ipconfig${n}`]).ip
      : undefined;
    const [address, prefix] = ip?.includes("/") ? ip.split("/") : [undefined, undefined];
    interfaces.push({
      name: `eth${n}`,
      "hardware-address": (net.macaddr ?? "").toLowerCase(),
      "ip-addresses": address ? [{ "ip-address": address, "ip-address-type": "ipv4", prefix: Number(prefix) }] : [],
    });
  }
  return { result: interfaces };
}

/** Storage types whose volumes are files (`<vmid>/<name>.<format>`). */
const FILE_BASED = new Set(["dir", "nfs", "cifs", "cephfs", "glusterfs"]);

/**
 * The storage a host-local volume lands on at the target: `targetstorage` one storage id for all (PVE's
 * storage-pair-list with a single entry), `1` or none each onto its own.
 */
function mappedStorage(storageMap: string | undefined, source: string): string {
  return storageMap === undefined || storageMap === "1" ? source : storageMap;
}

/** Why PVE would refuse to migrate `vm` to `target` (PVE::QemuMigrate's prepare and volume scan), or undefined. */
function migrationProblem(
  state: SimState,
  vm: VmState,
  target: string,
  move: { online: boolean; localDisks: boolean; storageMap?: string },
) {
  const current = vm.config;
  for (const key of Object.keys(current).filter((k) => /^hostpci\d+$/.test(k))) {
    const pci = parsePropertyString(keysOf(key), current[key]);
    if (pci.mapping === undefined) return `can't migrate VM which uses local devices: ${key}`;
    if (!mappingPaths(state, pci.mapping, target))
      return `PCI mapping '${pci.mapping}' has no entry for node '${target}'`;
  }
  let local = false;
  for (const { key, volid } of referencedVolumes(vm)) {
    const storageId = volid.split(":")[0];
    const storage = state.storages.find((s) => s.id === storageId);
    if (storage?.shared) {
      if (!storageOn(state, storageId, target)) return `storage '${storageId}' is not available on node '${target}'`;
      continue;
    }
    const targetId = mappedStorage(move.storageMap, storageId);
    const onTarget = storageOn(state, targetId, target);
    if (!storage || !onTarget) return `storage '${targetId}' is not available on node '${target}'`;
    // A cloud-init drive is generated again on the target; any other CD-ROM on a host's own storage stays behind.
    if (/\bvm-\d+-cloudinit(\.\w+)?$/.test(volid)) continue;
    if (/media=cdrom/.test(current[key] ?? vm.pending[key] ?? "")) return `can't migrate local cdrom '${volid}'`;
    // A linked clone's volume lives on its template's base volume, which stays on the source host.
    const base = /^[^:]+:(?:\d+\/)?(base-\d+-disk-\d+[^/]*)\//.exec(volid)?.[1];
    if (base) return `can't migrate '${volid}' as it's a clone of '${base}'`;
    if (!onTarget.content.includes("images")) return `content type 'images' is not available on storage '${targetId}'`;
    local = true;
  }
  if (move.online && local && !move.localDisks)
    return "can't live migrate attached local disks without with-local-disks option";
  return undefined;
}

/**
 * Moves `vm` to `target` as a migration or an HA relocation leaves it: the config on the new host, with the
 * volumes of the host's own storages (the simulator keeps no data to copy), onto `storageMap`'s storage when
 * given. No checks: see migrationProblem.
 */
export function relocateVm(state: SimState, vm: VmState, target: string, storageMap?: string): void {
  const shared = new Set(state.storages.filter((s) => s.shared).map((s) => s.id));
  const renamed = new Map<string, string>();
  state.volumes = state.volumes.map((v) => {
    if (v.vmid !== vm.vmid || shared.has(v.storage)) return v;
    const storage = mappedStorage(storageMap, v.storage);
    if (storage === v.storage) return { ...v, node: target };
    const name = v.volid
      .slice(v.volid.indexOf(":") + 1)
      .replace(/^\d+\//, "")
      .replace(/\.\w+$/, "");
    const type = state.storages.find((s) => s.id === storage)?.type ?? "";
    const volid = `${storage}:${FILE_BASED.has(type) ? `${vm.vmid}/${name}.${v.format}` : name}`;
    renamed.set(v.volid, volid);
    return { ...v, volid, storage, node: target };
  });
  for (const config of [vm.config, vm.pending]) {
    for (const [key, value] of Object.entries(config)) {
      if (!/^((ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0)$/.test(key)) continue;
      const drive = parsePropertyString(keysOf(key), value);
      const volid = renamed.get(drive.file);
      if (volid) config[key] = printPropertyString(keysOf(key), { ...drive, file: volid });
    }
  }
  vm.node = target;
}

export const qemuRoutes: Routes = {
  "GET /nodes/{node}/qemu": (ctx) => {
    const node = need(ctx, "node");
    return Object.values(ctx.state.vms)
      .filter((vm) => vm.node === node)
      .map((vm) => ({ vmid: vm.vmid, name: vm.config.name, status: vm.status, template: 0, tags: vm.config.tags }));
  },
  "POST /nodes/{node}/qemu": (ctx) => {
    const node = need(ctx, "node");
    const vmid = Number(need(ctx, "vmid"));
    for (const key of ["archive", "storage", "live-restore", "start"]) {
      if (str(ctx, key) !== undefined && !(key === "start" && !parseBoolean(str(ctx, key)!)))
        throw new ApiError(501, `not modelled by the simulator: create with '${key}'`);
    }
    const existing = guestHolding(ctx.state, vmid);
    if (existing)
      throw new ApiError(
        500,
        `unable to create VM ${vmid} - ${existing.kind} ${vmid} already exists on node '${existing.node}'`,
      );
    const vm: VmState = { vmid, node, config: {}, pending: {}, pendingDelete: [], status: "stopped" };
    const options = optionsOf(ctx);
    // PVE generates the SMBIOS uuid and the VM generation id of every new VM.
    options.smbios1 ??= `uuid=${randomUUID()}`;
    options.vmgenid ??= randomUUID();
    const pool = str(ctx, "pool");
    if (pool !== undefined && !ctx.state.pools[pool]) throw new ApiError(500, `pool '${pool}' does not exist`);
    applyChange(ctx.state, vm, { set: options, delete: [] });
    ctx.state.vms[String(vmid)] = vm;
    if (pool !== undefined) addPoolMember(ctx.state, pool, vmid);
    return ctx.task(node, "qmcreate", String(vmid), () => [`created VM ${vmid}`]);
  },
  "GET /nodes/{node}/qemu/{vmid}/config": (ctx) => {
    return configResponse(ctx, vmOf(ctx), vmConfigProperties());
  },
  "GET /nodes/{node}/qemu/{vmid}/pending": (ctx) => {
    return pendingResponse(vmOf(ctx), vmConfigProperties());
  },
  "PUT /nodes/{node}/qemu/{vmid}/config": (ctx) => {
    updateConfig(ctx);
  },
  "POST /nodes/{node}/qemu/{vmid}/config": (ctx) => {
    updateConfig(ctx);
    const vm = vmOf(ctx);
    return ctx.task(vm.node, "qmconfig", String(vm.vmid), () => ["update VM config"]);
  },
  // update_vm with `delete` = idlist; without `force` a disk of the VM becomes unusedN, another VM's disk (a CSI
  // volume) is just detached (vmconfig_register_unused_drive: only volumes the VM owns).
  "PUT /nodes/{node}/qemu/{vmid}/unlink": (ctx) => {
    const vm = vmOf(ctx);
    if (parseBoolean(str(ctx, "force") ?? "0"))
      throw new ApiError(501, "not modelled by the simulator: unlink with force (the volumes destroyed)");
    applyChange(ctx.state, vm, {
      set: {},
      delete: need(ctx, "idlist")
        .split(/[,; ]+/)
        .filter(Boolean),
    });
  },
  "GET /nodes/{node}/qemu/{vmid}/status/current": (ctx) => {
    const vm = vmOf(ctx);
    const agent = parseBoolean(parsePropertyString(keysOf("agent"), vm.config.agent ?? "0").enabled ?? "0");
    return {
      vmid: vm.vmid,
      name: vm.config.name,
      status: vm.status,
      qmpstatus: vm.status,
      agent: agent ? 1 : 0,
      uptime: vm.status === "running" ? 60 : 0,
      cpus: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
      maxmem: Number(/^(?:current=)?(\d+)/.exec(vm.config.memory ?? "512")?.[1] ?? 512) * 1024 * 1024,
      ha: { managed: ctx.state.ha[`vm:${vm.vmid}`] ? 1 : 0 },
    };
  },
  "POST /nodes/{node}/qemu/{vmid}/status/start": (ctx) => {
    const vm = vmOf(ctx);
    if (vm.status === "running") throw new ApiError(500, `VM ${vm.vmid} already running`);
    if (parseBoolean(vm.config.template ?? "0")) throw new ApiError(500, "you can't start a vm if it's a template");
    return ctx.task(vm.node, "qmstart", String(vm.vmid), () => {
      applyPending(ctx.state, vm);
      for (const { key, volid } of referencedVolumes(vm)) {
        if (!ctx.state.volumes.some((v) => v.volid === volid))
          throw new ApiError(500, `${key}: volume '${volid}' does not exist`);
      }
      for (const [key, value] of Object.entries(vm.config)) {
        const bridge = /^net\d+$/.test(key) ? parsePropertyString(keysOf(key), value).bridge : undefined;
        const problem = bridge === undefined ? undefined : sdnBridgeProblem(ctx.state, bridge);
        if (problem) throw new ApiError(500, problem);
      }
      const devices = claimPciDevices(ctx.state, vm);
      vm.status = "running";
      return devices.map((d) => `passing through PCI device ${d}`);
    });
  },
  "POST /nodes/{node}/qemu/{vmid}/status/stop": (ctx) => {
    const vm = vmOf(ctx);
    return ctx.task(vm.node, "qmstop", String(vm.vmid), () => {
      vm.status = "stopped";
    });
  },
  "POST /nodes/{node}/qemu/{vmid}/status/shutdown": (ctx) => {
    const vm = vmOf(ctx);
    return ctx.task(vm.node, "qmshutdown", String(vm.vmid), () => {
      if (vm.status !== "running") throw new ApiError(500, `VM ${vm.vmid} not running`);
      vm.status = "stopped";
    });
  },
  "POST /nodes/{node}/qemu/{vmid}/status/reboot": (ctx) => {
    const vm = vmOf(ctx);
    return ctx.task(vm.node, "qmreboot", String(vm.vmid), () => {
      if (vm.status !== "running") throw new ApiError(500, `VM ${vm.vmid} not running`);
      applyPending(ctx.state, vm);
      claimPciDevices(ctx.state, vm);
    });
  },
  "POST /nodes/{node}/qemu/{vmid}/migrate": (ctx) => {
    const vm = vmOf(ctx);
    const target = need(ctx, "target");
    if (target === vm.node) throw paramError("target", "target is local node.");
    if (!ctx.state.nodes.includes(target)) throw paramError("target", `no such cluster node '${target}'`);
    const online = parseBoolean(str(ctx, "online") ?? "0") === true;
    if (vm.status === "running" && !online) throw new ApiError(500, `can't migrate running VM without --online`);
    for (const key of ["migration_network", "migration_type", "force"]) {
      if (str(ctx, key) !== undefined) throw new ApiError(501, `not modelled by the simulator: migrate with '${key}'`);
    }
    const storageMap = str(ctx, "targetstorage");
    if (storageMap !== undefined && /[:,]/.test(storageMap))
      throw new ApiError(501, "not modelled by the simulator: migrate with a targetstorage of source:target pairs");
    const localDisks = parseBoolean(str(ctx, "with-local-disks") ?? "0") === true;
    return ctx.task(vm.node, "qmigrate", String(vm.vmid), () => {
      const problem = migrationProblem(ctx.state, vm, target, {
        online: vm.status === "running",
        localDisks,
        storageMap,
      });
      if (problem) throw new ApiError(500, `migration aborted: Problem found while scanning volumes - ${problem}`);
      const from = vm.node;
      relocateVm(ctx.state, vm, target, storageMap);
      return [`starting migration of VM ${vm.vmid} to node '${target}'`, `migration finished (from ${from})`];
    });
  },
  "DELETE /nodes/{node}/qemu/{vmid}": (ctx) => {
    const vm = vmOf(ctx);
    if (vm.status === "running") throw new ApiError(500, `VM ${vm.vmid} is running - destroy failed`);
    if (parseBoolean(vm.config.protection ?? "0"))
      throw new ApiError(500, `VM ${vm.vmid} is protected - destroy failed`);
    const purge = parseBoolean(str(ctx, "purge") ?? "0");
    return ctx.task(vm.node, "qmdestroy", String(vm.vmid), () => {
      if (parseBoolean(vm.config.template ?? "0")) {
        for (const { key, volid } of referencedVolumes(vm)) {
          if (/media=cdrom/.test(vm.config[key] ?? "")) continue;
          const clones = Object.values(ctx.state.vms).filter((other) =>
            referencedVolumes(other).some((r) => r.volid.startsWith(`${volid}/`)),
          );
          if (clones.length) throw new ApiError(500, `base volume '${volid}' is still in use by linked cloned`);
        }
      }
      ctx.state.volumes = ctx.state.volumes.filter((v) => v.vmid !== vm.vmid);
      delete ctx.state.vms[String(vm.vmid)];
      delete ctx.state.firewall[String(vm.vmid)];
      removePoolMember(ctx.state, vm.vmid);
      if (purge) {
        delete ctx.state.ha[`vm:${vm.vmid}`];
        ctx.state.acl = ctx.state.acl.filter((e) => e.path !== `/vms/${vm.vmid}`);
      }
      return [`destroyed VM ${vm.vmid}`];
    });
  },
  "GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces": (ctx) => agentAddresses(ctx.state, vmOf(ctx)),
  "POST /nodes/{node}/qemu/{vmid}/agent/ping": (ctx) => {
    agentAddresses(ctx.state, vmOf(ctx));
    return {};
  },
};
