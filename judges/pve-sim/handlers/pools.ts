/**
 * /pools (PVE::API2::Pool): resource pools with their comment and members. A guest joins a pool at its
 * creation or clone (`pool`), or by `PUT /pools` with `vms`; destroying it removes it from its pool; a pool
 * with members cannot be deleted.
 */
import { ApiError, need, paramError, str, type Ctx, type Routes } from "../api";
import { parseBoolean } from "../params";
import type { SimState } from "../state";

/** Adds guest `vmid` to `pool` (which must exist); a guest belongs to one pool. */
export function addPoolMember(state: SimState, pool: string, vmid: number): void {
  const holder = Object.entries(state.pools).find(([, p]) => p.vms.includes(vmid))?.[0];
  if (holder && holder !== pool) throw new ApiError(500, `VM ${vmid} belongs already to pool '${holder}'`);
  if (!state.pools[pool].vms.includes(vmid)) state.pools[pool].vms.push(vmid);
}

/** Removes guest `vmid` from any pool (PVE::AccessControl remove_vm_from_pool, when a guest is destroyed). */
export function removePoolMember(state: SimState, vmid: number): void {
  for (const pool of Object.values(state.pools)) pool.vms = pool.vms.filter((v) => v !== vmid);
}

function poolOf(ctx: Ctx) {
  const poolid = need(ctx, "poolid");
  const pool = ctx.state.pools[poolid];
  if (!pool) throw new ApiError(500, `pool '${poolid}' does not exist`);
  return { poolid, pool };
}

function members(state: SimState, vms: readonly number[]) {
  return vms.flatMap((vmid) => {
    const vm = state.vms[String(vmid)];
    const ct = state.containers[String(vmid)];
    if (vm) return [{ id: `qemu/${vmid}`, type: "qemu", vmid, node: vm.node, name: vm.config.name, status: vm.status }];
    if (ct)
      return [{ id: `lxc/${vmid}`, type: "lxc", vmid, node: ct.node, name: ct.config.hostname, status: ct.status }];
    return [];
  });
}

const view = (state: SimState, poolid: string) => {
  const pool = state.pools[poolid];
  return { poolid, ...(pool.comment ? { comment: pool.comment } : {}), members: members(state, pool.vms) };
};

export const poolRoutes: Routes = {
  // PVE 8+: GET /pools?poolid=<id> answers that one pool with its members (the provider reads pools this way).
  "GET /pools": (ctx) => {
    const poolid = str(ctx, "poolid");
    if (poolid !== undefined) return [view(ctx.state, poolOf(ctx).poolid)];
    return Object.entries(ctx.state.pools).map(([id, p]) => ({
      poolid: id,
      ...(p.comment ? { comment: p.comment } : {}),
    }));
  },
  "GET /pools/{poolid}": (ctx) => {
    const { poolid } = poolOf(ctx);
    const { members: list, comment } = view(ctx.state, poolid);
    return { members: list, ...(comment ? { comment } : {}) };
  },
  "POST /pools": (ctx) => {
    const poolid = need(ctx, "poolid");
    if (ctx.state.pools[poolid]) throw new ApiError(500, `pool '${poolid}' already exists`);
    ctx.state.pools[poolid] = { comment: str(ctx, "comment"), vms: [] };
  },
  "PUT /pools": (ctx) => {
    const { poolid, pool } = poolOf(ctx);
    if (str(ctx, "storage") !== undefined || str(ctx, "allow-move") !== undefined)
      throw new ApiError(501, "not modelled by the simulator: storage members and moves of pools");
    const comment = str(ctx, "comment");
    if (comment !== undefined) pool.comment = comment;
    const vms = (str(ctx, "vms") ?? "")
      .split(/[,; ]+/)
      .filter(Boolean)
      .map(Number);
    for (const vmid of vms) {
      if (!ctx.state.vms[String(vmid)] && !ctx.state.containers[String(vmid)])
        throw paramError("vms", `no such VMID '${vmid}'`);
    }
    if (parseBoolean(str(ctx, "delete") ?? "0")) pool.vms = pool.vms.filter((v) => !vms.includes(v));
    else for (const vmid of vms) addPoolMember(ctx.state, poolid, vmid);
  },
  "DELETE /pools": (ctx) => {
    const { poolid, pool } = poolOf(ctx);
    if (pool.vms.length) throw new ApiError(500, `pool '${poolid}' is not empty`);
    delete ctx.state.pools[poolid];
  },
};
