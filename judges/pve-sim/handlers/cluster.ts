/**
 * Cluster-wide endpoints: /version, /cluster/nextid (VM ids are unique across the cluster), /cluster/resources
 * (PVE::API2::Cluster: nodes, storages per host, VMs), /cluster/ha/resources (PVE::API2::HA::Resources).
 */
import { ApiError, need, paramError, str, type Routes } from "../api";
import { parseBoolean } from "../params";
import { guestHolding, type SimState } from "../state";
import { passes } from "../permissions";
import { purgeFromRules } from "./ha-rules";
import { containerResources } from "./lxc";

/** The PVE release the simulator answers as: the schema's (pve-docs 9.1.3). */
export const PVE_VERSION = { version: "9.1.1", release: "9.1", repoid: "pve-sim" };

function vmResources(state: SimState) {
  return Object.values(state.vms).map((vm) => ({
    id: `qemu/${vm.vmid}`,
    type: "qemu",
    vmid: vm.vmid,
    node: vm.node,
    name: vm.config.name ?? `VM ${vm.vmid}`,
    status: vm.status,
    template: 0,
    maxmem: Number(/^(\d+)/.exec(vm.config.memory ?? "512")?.[1] ?? 512) * 1024 * 1024,
    maxcpu: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
    ...(vm.config.tags ? { tags: vm.config.tags } : {}),
    ...(state.ha[`vm:${vm.vmid}`] ? { hastate: state.ha[`vm:${vm.vmid}`].state ?? "started" } : {}),
  }));
}

function storageResources(state: SimState) {
  return state.nodes.flatMap((node) =>
    state.storages
      .filter((s) => !s.nodes || s.nodes.includes(node))
      .map((s) => ({
        id: `storage/${node}/${s.id}`,
        type: "storage",
        node,
        storage: s.id,
        plugintype: s.type,
        content: s.content.join(","),
        shared: s.shared ? 1 : 0,
        status: "available",
      })),
  );
}

function nodeResources(state: SimState) {
  return state.nodes.map((node) => ({
    id: `node/${node}`,
    type: "node",
    node,
    status: "online",
    maxcpu: 32,
    maxmem: 256 * 1024 ** 3,
  }));
}

export function nextFreeId(state: SimState): number {
  let id = 100;
  while (guestHolding(state, id)) id++;
  return id;
}

export const clusterRoutes: Routes = {
  "GET /version": () => PVE_VERSION,
  "GET /cluster/nextid": (ctx) => {
    const vmid = str(ctx, "vmid");
    if (vmid === undefined) return nextFreeId(ctx.state);
    const holder = guestHolding(ctx.state, vmid);
    if (holder) throw paramError("vmid", `${holder.kind} ${vmid} already exists`);
    return Number(vmid);
  },
  "GET /cluster/resources": (ctx) => {
    const type = str(ctx, "type");
    // A guest is listed only to whom holds VM.Audit on it (PVE::API2::Cluster resources).
    const audited = (g: { vmid: number }) =>
      passes(ctx.state, ctx.user, { path: `/vms/${g.vmid}`, privs: ["VM.Audit"] });
    const guests = () => [...vmResources(ctx.state), ...containerResources(ctx.state)].filter(audited);
    if (type === "vm") return guests();
    if (type === "storage") return storageResources(ctx.state);
    if (type === "node") return nodeResources(ctx.state);
    if (type !== undefined)
      throw new ApiError(501, `not modelled by the simulator: cluster resources of type '${type}'`);
    return [...nodeResources(ctx.state), ...storageResources(ctx.state), ...guests()];
  },
  "GET /cluster/ha/resources": (ctx) =>
    Object.entries(ctx.state.ha).map(([sid, r]) => ({ sid, type: sid.split(":")[0], ...r })),
  "POST /cluster/ha/resources": (ctx) => {
    const sid = haSid(ctx.state, need(ctx, "sid"));
    if (ctx.state.ha[sid]) throw new ApiError(500, `resource ID '${sid}' already defined`);
    const [type, vmid] = sid.split(":");
    const guest = guestHolding(ctx.state, vmid);
    if (!guest || (guest.kind === "VM") !== (type === "vm")) throw new ApiError(500, `no such resource '${sid}'`);
    ctx.state.ha[sid] = haFields(ctx.params, { state: "started" });
  },
  "GET /cluster/ha/resources/{sid}": (ctx) => {
    const sid = haSid(ctx.state, need(ctx, "sid"));
    const r = ctx.state.ha[sid];
    if (!r) throw new ApiError(500, `no such ha resource '${sid}'`);
    return { sid, type: sid.split(":")[0], digest: "0".repeat(40), ...r };
  },
  "PUT /cluster/ha/resources/{sid}": (ctx) => {
    const sid = haSid(ctx.state, need(ctx, "sid"));
    const r = ctx.state.ha[sid];
    if (!r) throw new ApiError(500, `no such ha resource '${sid}'`);
    ctx.state.ha[sid] = haFields(ctx.params, r);
    for (const key of (str(ctx, "delete") ?? "").split(/[,; ]+/).filter(Boolean)) delete ctx.state.ha[sid][key];
  },
  "DELETE /cluster/ha/resources/{sid}": (ctx) => {
    const sid = haSid(ctx.state, need(ctx, "sid"));
    if (!ctx.state.ha[sid]) throw new ApiError(500, `no such ha resource '${sid}'`);
    delete ctx.state.ha[sid];
    if (parseBoolean(str(ctx, "purge") ?? "1")) purgeFromRules(ctx.state, sid);
  },
};

/** PVE::HA::Config::parse_sid: a bare id is `vm:` or `ct:` after the guest holding it. */
const haSid = (state: SimState, sid: string) =>
  /^\d+$/.test(sid) ? `${guestHolding(state, sid)?.kind === "CT" ? "ct" : "vm"}:${sid}` : sid;

function haFields(params: Readonly<Record<string, unknown>>, base: Record<string, string>): Record<string, string> {
  const out = { ...base };
  for (const key of ["state", "group", "comment", "max_restart", "max_relocate", "failback"]) {
    if (typeof params[key] === "string") out[key] = params[key] as string;
  }
  return out;
}
