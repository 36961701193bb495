/**
 * Who may do what, as PVE decides it: the privileges an ACL gives a user or API token on a path
 * (pve-access-control PVE::AccessControl roles/permission: the entry nearest the path wins, an ancestor's only
 * when it propagates; a token with privilege separation holds the intersection of its own and its user's, one
 * without holds its user's; root@pam holds every privilege), and the checks each modelled API call makes
 * (its `permissions` declaration, plus what the handler checks in code, e.g. per VM option). A call the table
 * does not know is 501 for anyone but root@pam and its unseparated tokens, so a restricted token never passes
 * on a guess.
 */
import { ApiError, type Ctx } from "./api";
import { parsePropertyString, type ParamValue } from "./params";
import type { SimState } from "./state";
import { keysOf } from "./handlers/vm-config";

/** One check: every privilege in `all` on `path`, or (with `any`) one of them. */
export interface PermCheck {
  readonly path: string;
  readonly privs: readonly string[];
  readonly any?: boolean;
}

/** A check, `or` of alternatives (the first that passes), or nothing to check (`user => 'all'`). */
type Rule = PermCheck | { readonly or: readonly PermCheck[] };

/** The privileges `authid` (`user@realm` or `user@realm!token`) holds on `path`. */
export function privilegesOn(state: SimState, authid: string, path: string): ReadonlySet<string> | "all" {
  const held = privilegeFlags(state, authid, path);
  return held === "all" ? "all" : new Set(held.keys());
}

/**
 * The privileges `authid` holds on `path`, each with whether it propagates (PVE::RPCEnvironment permissions: a
 * privilege propagates when one of the roles giving it does; a token's with privilege separation only when its
 * own and its user's do; roles from a pool never propagate).
 */
export function privilegeFlags(state: SimState, authid: string, path: string): ReadonlyMap<string, boolean> | "all" {
  const [userid, tokenid] = authid.split("!");
  const user = state.users[userid];
  if (!user?.enable) return new Map();
  const ofUser = userid === "root@pam" ? "all" : aclPrivileges(state, "user", userid, path);
  if (tokenid === undefined) return ofUser;
  // A token given on the command line (--token) is not in the state: one without privilege separation.
  if (!user.tokens[tokenid]?.privsep) return ofUser;
  const ofToken = aclPrivileges(state, "token", authid, path);
  if (ofUser === "all") return ofToken;
  if (ofToken === "all") return ofUser;
  return new Map(
    [...ofToken].filter(([p]) => ofUser.has(p)).map(([p, propagates]) => [p, propagates && ofUser.get(p) === true]),
  );
}

/** The privileges the ACL entries of `ugid` give on `path` (and, for /vms/<id>, on the pool of the VM). */
function aclPrivileges(
  state: SimState,
  type: "user" | "token",
  ugid: string,
  path: string,
): Map<string, boolean> | "all" {
  let roles = rolesOn(state, type, ugid, path);
  const vmid = /^\/vms\/(\d+)$/.exec(path)?.[1];
  const pool = vmid && Object.entries(state.pools).find(([, p]) => p.vms.includes(Number(vmid)))?.[0];
  // A pool's roles never propagate nor override the VM's own NoAccess; the pool's NoAccess overrides the VM's roles.
  if (pool && !roles.has("NoAccess")) {
    const ofPool = rolesOn(state, type, ugid, `/pool/${pool}`);
    if (ofPool.has("NoAccess")) roles = new Map([["NoAccess", false]]);
    else for (const roleid of ofPool.keys()) if (!roles.has(roleid)) roles.set(roleid, false);
  }
  const out = new Map<string, boolean>();
  for (const [roleid, propagates] of roles) {
    if (roleid === "Administrator") return "all";
    for (const priv of state.roles[roleid]?.privs ?? []) out.set(priv, out.get(priv) === true || propagates);
  }
  return out;
}

/**
 * PVE::AccessControl roles: from `/` down to `path`, the nearest level with entries of `ugid` replaces the
 * others; each role with its propagate flag.
 */
function rolesOn(state: SimState, type: "user" | "token", ugid: string, path: string): Map<string, boolean> {
  let roles = new Map<string, boolean>();
  const levels = [
    "/",
    ...path
      .split("/")
      .filter(Boolean)
      .map((_, i, parts) => `/${parts.slice(0, i + 1).join("/")}`),
  ];
  for (const level of levels) {
    const final = level === path;
    const entries = state.acl.filter(
      (e) => e.path === level && e.type === type && e.ugid === ugid && (final || e.propagate),
    );
    if (entries.length) roles = new Map(entries.map((e) => [e.roleid, e.propagate === 1]));
  }
  // NoAccess beats every other role of the same level.
  const noAccess = roles.get("NoAccess");
  return noAccess === undefined ? roles : new Map([["NoAccess", noAccess]]);
}

/** PVE's 403 (raise_perm_exc): `Permission check failed`, with what failed when it is known. */
export function forbidden(what?: string): ApiError {
  return new ApiError(403, `Permission check failed${what ? ` (${what})` : ""}`);
}

/** Throws PVE's 403 unless `authid` passes `check`. */
export function requirePermission(state: SimState, authid: string, check: PermCheck): void {
  if (passes(state, authid, check)) return;
  // RPCEnvironment check names the first privilege missing, check_any all of them.
  const held = privilegesOn(state, authid, check.path) as ReadonlySet<string>;
  const what = check.any ? check.privs.join("|") : check.privs.find((p) => !held.has(p));
  throw forbidden(`${check.path}, ${what}`);
}

/** Whether `authid` passes `check` (PVE's `$rpcenv->check(..., $noerr)`), for answers filtered by privilege. */
export function passes(state: SimState, authid: string, check: PermCheck): boolean {
  const held = privilegesOn(state, authid, check.path);
  if (held === "all") return true;
  return check.any ? check.privs.some((p) => held.has(p)) : check.privs.every((p) => held.has(p));
}

function enforce(state: SimState, authid: string, rule: Rule): void {
  if ("or" in rule) {
    if (rule.or.some((c) => passes(state, authid, c))) return;
    requirePermission(state, authid, rule.or[rule.or.length - 1]);
  } else {
    requirePermission(state, authid, rule);
  }
}

const str = (params: Readonly<Record<string, ParamValue>>, key: string) => {
  const v = params[key];
  return Array.isArray(v) ? v[v.length - 1] : v;
};

const vm = (ctx: Ctx, privs: readonly string[], any = false): PermCheck => ({
  path: `/vms/${str(ctx.params, "vmid")}`,
  privs,
  any,
});
const node = (ctx: Ctx, privs: readonly string[]): PermCheck => ({ path: `/nodes/${str(ctx.params, "node")}`, privs });
const storage = (id: string, privs: readonly string[], any = false): PermCheck => ({
  path: `/storage/${id}`,
  privs,
  any,
});

/**
 * PVE::Storage check_volume_access: Datastore.Allocate on the volume's storage passes; else an ISO, container
 * template or import needs Datastore.AllocateSpace or .Audit, a volume of the VM `vmid` itself nothing, a
 * backup Datastore.AllocateSpace and VM.Backup on its VM, a disk image of another VM Datastore.Audit and
 * VM.Config.Disk on that VM; anything else is refused (`missing privileges to access <volid>`).
 */
export function volumeAccessChecks(
  state: SimState,
  authid: string,
  volid: string,
  vmid?: number,
): readonly PermCheck[] {
  const sid = volid.split(":")[0];
  if (passes(state, authid, storage(sid, ["Datastore.Allocate"]))) return [];
  const volume = state.volumes.find((v) => v.volid === volid);
  const content = volume?.content ?? (/^[^:]+:(iso|vztmpl|import)\//.exec(volid)?.[1] || "images");
  const owner = volume?.vmid ?? Number(/^[^:]+:(?:\d+\/)?(?:vm|base)-(\d+)-/.exec(volid)?.[1] ?? Number.NaN);
  if (["iso", "vztmpl", "import"].includes(content))
    return [storage(sid, ["Datastore.AllocateSpace", "Datastore.Audit"], true)];
  if (!Number.isNaN(owner) && owner === vmid) return [];
  if (content === "backup" && !Number.isNaN(owner))
    return [storage(sid, ["Datastore.AllocateSpace"]), { path: `/vms/${owner}`, privs: ["VM.Backup"] }];
  if ((content === "images" || content === "rootdir") && !Number.isNaN(owner))
    return [storage(sid, ["Datastore.Audit"]), { path: `/vms/${owner}`, privs: ["VM.Config.Disk"] }];
  throw new ApiError(500, `missing privileges to access ${volid}`);
}

/** Whether `authid` may see `volid` (a storage content listing skips the others). */
export function canAccessVolume(state: SimState, authid: string, volid: string): boolean {
  try {
    return volumeAccessChecks(state, authid, volid).every((c) => passes(state, authid, c));
  } catch {
    return false;
  }
}

/** Sys.AccessNetwork on the node (PVE 8.2), or the older Sys.Audit + Sys.Modify on `/`. */
const accessNetwork = (ctx: Ctx): Rule => ({
  or: [{ path: "/", privs: ["Sys.Audit", "Sys.Modify"] }, node(ctx, ["Sys.AccessNetwork"])],
});

// qemu-server PVE::API2::Qemu: the option groups of $check_vm_modify_config_perm.
const CPU_OPTIONS = new Set(["cores", "cpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus", "affinity"]);
const MEMORY_OPTIONS = new Set(["memory", "balloon", "shares"]);
const HWTYPE_OPTIONS = new Set([
  "acpi",
  "hotplug",
  "kvm",
  "machine",
  "scsihw",
  "smbios1",
  "tablet",
  "vga",
  "watchdog",
  "audio0",
]);
const GENERAL_OPTIONS = new Set([
  "agent",
  "autostart",
  "bios",
  "description",
  "keyboard",
  "localtime",
  "migrate_downtime",
  "migrate_speed",
  "name",
  "onboot",
  "ostype",
  "protection",
  "reboot",
  "startdate",
  "startup",
  "tdf",
  "template",
]);
const DISK_OPTIONS = new Set(["boot", "bootdisk", "vmstatestorage"]);
const CLOUDINIT_OPTIONS = new Set([
  "cicustom",
  "cipassword",
  "citype",
  "ciuser",
  "ciupgrade",
  "nameserver",
  "searchdomain",
  "sshkeys",
]);
const DRIVE = /^((ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0)$/;
/** Request parameters that are no VM option. */
const NOT_OPTIONS = new Set(["node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay"]);

/** SDN.Use on the bridge (or VNet) a NIC plugs into, with its VLAN tag (PVE::GuestHelpers check_vnet_access). */
function bridgeCheck(state: SimState, net: Record<string, string>): PermCheck {
  const bridge = net.bridge;
  const zone = state.sdn.running.vnets[bridge]?.zone ?? "localnetwork";
  return { path: `/sdn/zones/${zone}/${bridge}${net.tag ? `/${net.tag}` : ""}`, privs: ["SDN.Use"] };
}

/**
 * The checks of a VM option set (create: with VM.Allocate first, drives through their storage; update: drives by
 * kind), qemu-server PVE::API2::Qemu create_vm / update_vm_api, $check_vm_modify_config_perm,
 * $check_storage_access, $check_drive_perms, check_hostpci_perm, check_bridge_access.
 */
function vmOptionChecks(ctx: Ctx, creating: boolean): Rule[] {
  const rules: Rule[] = [];
  const keys = Object.keys(ctx.params).filter((k) => !NOT_OPTIONS.has(k));
  const deleted = String(str(ctx.params, "delete") ?? "")
    .split(/[,;\s]+/)
    .filter(Boolean);
  if (creating) rules.push(vm(ctx, ["VM.Allocate"]));
  for (const key of [...keys, ...deleted]) {
    const value = String(str(ctx.params, key) ?? "");
    if (DRIVE.test(key)) {
      const drive = value ? parsePropertyString(keysOf(key), value) : {};
      const file = drive.file ?? "";
      const cdrom = drive.media === "cdrom" || /-cloudinit|:cloudinit$/.test(file);
      // $check_storage_access: a volume that exists already (another VM's disk, say) through check_volume_access.
      if (value && /^[^:]+:(?!iso\/)/.test(file) && !/^[^:]+:(\d+(\.\d+)?|cloudinit)$/.test(file))
        rules.push(...volumeAccessChecks(ctx.state, ctx.user, file, Number(str(ctx.params, "vmid"))));
      if (creating || !value) {
        const fresh = /^[^:]+:(\d+(\.\d+)?|cloudinit)$/.exec(file);
        if (fresh && !file.endsWith(":cloudinit")) rules.push(storage(file.split(":")[0], ["Datastore.AllocateSpace"]));
        else if (/^[^:]+:iso\//.test(file))
          rules.push(storage(file.split(":")[0], ["Datastore.AllocateSpace", "Datastore.Audit"], true));
        if (creating) continue;
      }
      if (/-cloudinit|:cloudinit$/.test(file)) rules.push(vm(ctx, ["VM.Config.Cloudinit", "VM.Config.CDROM"]));
      else if (cdrom) rules.push(vm(ctx, ["VM.Config.CDROM"]));
      else rules.push(vm(ctx, ["VM.Config.Disk"]));
      if (!creating && /^[^:]+:(\d+(\.\d+)?)$/.test(file))
        rules.push(storage(file.split(":")[0], ["Datastore.AllocateSpace"]));
      if (!creating && /^[^:]+:iso\//.test(file))
        rules.push(storage(file.split(":")[0], ["Datastore.AllocateSpace", "Datastore.Audit"], true));
    } else if (/^hostpci\d+$/.test(key)) {
      const pci = value ? parsePropertyString(keysOf(key), value) : {};
      if (pci.mapping !== undefined) rules.push({ path: `/mapping/pci/${pci.mapping}`, privs: ["Mapping.Use"] });
      rules.push(vm(ctx, ["VM.Config.HWType"]));
    } else if (/^serial\d+$/.test(key)) {
      rules.push(vm(ctx, ["VM.Config.HWType"]));
    } else if (/^net\d+$/.test(key)) {
      rules.push(vm(ctx, ["VM.Config.Network"]));
      if (value) rules.push(bridgeCheck(ctx.state, parsePropertyString(keysOf(key), value)));
    } else if (CPU_OPTIONS.has(key) || /^numa\d+$/.test(key)) rules.push(vm(ctx, ["VM.Config.CPU"]));
    else if (MEMORY_OPTIONS.has(key)) rules.push(vm(ctx, ["VM.Config.Memory"]));
    else if (HWTYPE_OPTIONS.has(key)) rules.push(vm(ctx, ["VM.Config.HWType"]));
    else if (GENERAL_OPTIONS.has(key)) {
      rules.push(vm(ctx, ["VM.Config.Options"]));
      // "special case for startup since it changes host behaviour"
      if (key === "startup") rules.push({ path: "/", privs: ["Sys.Modify"] });
    } else if (DISK_OPTIONS.has(key)) rules.push(vm(ctx, ["VM.Config.Disk"]));
    else if (CLOUDINIT_OPTIONS.has(key) || /^ipconfig\d+$/.test(key)) rules.push(vm(ctx, ["VM.Config.Cloudinit"]));
    else if (key === "tags") rules.push(vm(ctx, ["VM.Config.Options"]));
    else if (key === "pool") rules.push({ path: `/pool/${value}`, privs: ["Pool.Allocate"] });
    else if (key === "vmgenid" || key === "arch") rules.push(vm(ctx, ["VM.Config.HWType"]));
    else throw new ApiError(501, `not modelled by the simulator: the permission for VM option '${key}'`);
  }
  return rules;
}

const ALL: Rule[] = [];

/**
 * The calls of the Proxmox CSI plugin's controller beyond the provider's: a volume allocated on a storage
 * (pve-storage PVE::API2::Storage::Content create), the storage's configuration read (PVE::API2::Storage::Config
 * read), a disk unlinked from a VM (qemu-server PVE::API2::Qemu unlink: update_vm with `delete`, each drive
 * by its kind).
 */
const STORAGE_VOLUME_RULES: Readonly<Record<string, (ctx: Ctx) => readonly Rule[]>> = {
  "POST /nodes/{node}/storage/{storage}/content": (ctx) => [
    storage(String(str(ctx.params, "storage")), ["Datastore.AllocateSpace"]),
  ],
  "GET /storage/{storage}": (ctx) => [storage(String(str(ctx.params, "storage")), ["Datastore.Allocate"])],
  "PUT /nodes/{node}/qemu/{vmid}/unlink": (ctx) => [
    vm(ctx, ["VM.Config.Disk"]),
    ...vmOptionChecks({ ...ctx, params: { vmid: ctx.params.vmid, delete: ctx.params.idlist } }, false),
  ],
};

/** The checks of each modelled call by `<METHOD> <schema path>`; a call not here is 501 for a restricted user. */
const RULES: Readonly<Record<string, (ctx: Ctx) => readonly Rule[]>> = {
  "GET /version": () => ALL,
  "GET /nodes": () => ALL,
  "GET /cluster/resources": () => ALL,
  "GET /cluster/nextid": () => ALL,
  "GET /nodes/{node}/storage": () => ALL,
  "GET /nodes/{node}/qemu": () => ALL,
  "GET /pools": () => ALL,
  "GET /nodes/{node}/tasks/{upid}/status": (ctx) => taskRule(ctx),
  "GET /nodes/{node}/tasks/{upid}/log": (ctx) => taskRule(ctx),
  "GET /nodes/{node}/status": (ctx) => [node(ctx, ["Sys.Audit"])],
  "GET /nodes/{node}/storage/{storage}/status": (ctx) => [
    storage(String(str(ctx.params, "storage")), ["Datastore.Audit", "Datastore.AllocateSpace"], true),
  ],
  "GET /nodes/{node}/storage/{storage}/content": (ctx) => [
    storage(String(str(ctx.params, "storage")), ["Datastore.Audit", "Datastore.AllocateSpace"], true),
  ],
  "GET /nodes/{node}/storage/{storage}/content/{volume}": (ctx) => [
    storage(String(str(ctx.params, "storage")), ["Datastore.Audit", "Datastore.AllocateSpace"], true),
  ],
  "DELETE /nodes/{node}/storage/{storage}/content/{volume}": (ctx) => [
    storage(String(str(ctx.params, "storage")), ["Datastore.Allocate"]),
  ],
  "GET /nodes/{node}/query-url-metadata": (ctx) => [accessNetwork(ctx)],
  "POST /nodes/{node}/storage/{storage}/download-url": (ctx) => [
    storage(String(str(ctx.params, "storage")), ["Datastore.AllocateTemplate"]),
    accessNetwork(ctx),
  ],
  "POST /nodes/{node}/qemu": (ctx) => vmOptionChecks(ctx, true),
  "GET /nodes/{node}/qemu/{vmid}/config": (ctx) => [vm(ctx, ["VM.Audit"])],
  "GET /nodes/{node}/qemu/{vmid}/pending": (ctx) => [vm(ctx, ["VM.Audit"])],
  "PUT /nodes/{node}/qemu/{vmid}/config": (ctx) => vmOptionChecks(ctx, false),
  "POST /nodes/{node}/qemu/{vmid}/config": (ctx) => vmOptionChecks(ctx, false),
  "PUT /nodes/{node}/qemu/{vmid}/resize": (ctx) => [vm(ctx, ["VM.Config.Disk"])],
  "GET /nodes/{node}/qemu/{vmid}/status/current": (ctx) => [vm(ctx, ["VM.Audit"])],
  "POST /nodes/{node}/qemu/{vmid}/status/start": (ctx) => [vm(ctx, ["VM.PowerMgmt"])],
  "POST /nodes/{node}/qemu/{vmid}/status/stop": (ctx) => [vm(ctx, ["VM.PowerMgmt"])],
  "POST /nodes/{node}/qemu/{vmid}/status/shutdown": (ctx) => [vm(ctx, ["VM.PowerMgmt"])],
  "POST /nodes/{node}/qemu/{vmid}/status/reboot": (ctx) => [vm(ctx, ["VM.PowerMgmt"])],
  "POST /nodes/{node}/qemu/{vmid}/migrate": (ctx) => [vm(ctx, ["VM.Migrate"])],
  "DELETE /nodes/{node}/qemu/{vmid}": (ctx) => [vm(ctx, ["VM.Allocate"])],
  "GET /nodes/{node}/qemu/{vmid}/firewall/options": (ctx) => [vm(ctx, ["VM.Audit"])],
  "PUT /nodes/{node}/qemu/{vmid}/firewall/options": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "GET /nodes/{node}/qemu/{vmid}/firewall/rules": (ctx) => [vm(ctx, ["VM.Audit"])],
  "POST /nodes/{node}/qemu/{vmid}/firewall/rules": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "GET /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}": (ctx) => [vm(ctx, ["VM.Audit"])],
  "PUT /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "DELETE /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "GET /nodes/{node}/lxc/{vmid}/firewall/options": (ctx) => [vm(ctx, ["VM.Audit"])],
  "PUT /nodes/{node}/lxc/{vmid}/firewall/options": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "GET /nodes/{node}/lxc/{vmid}/firewall/rules": (ctx) => [vm(ctx, ["VM.Audit"])],
  "POST /nodes/{node}/lxc/{vmid}/firewall/rules": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "GET /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}": (ctx) => [vm(ctx, ["VM.Audit"])],
  "PUT /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "DELETE /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}": (ctx) => [vm(ctx, ["VM.Config.Network"])],
  "GET /cluster/ha/resources": () => [{ path: "/", privs: ["Sys.Audit"] }],
  "GET /cluster/ha/resources/{sid}": () => [{ path: "/", privs: ["Sys.Audit"] }],
  "POST /cluster/ha/resources": () => [{ path: "/", privs: ["Sys.Console"] }],
  "PUT /cluster/ha/resources/{sid}": () => [{ path: "/", privs: ["Sys.Console"] }],
  "DELETE /cluster/ha/resources/{sid}": () => [{ path: "/", privs: ["Sys.Console"] }],
  ...STORAGE_VOLUME_RULES,
};

// /access: roles, users, API tokens and ACLs, as pve-access-control declares and checks them.

/** PVE::AccessControl normalize_path: no doubled or trailing slash. */
function normalizePath(path: string): string {
  const once = path.replace(/\/+/g, "/").replace(/\/$/, "");
  return once.startsWith("/") ? once : `/${once}`;
}

/**
 * PVE::RPCEnvironment check_perm_modify: Permissions.Modify on the ACL path, or on a VM, a storage or a pool
 * the privilege to allocate it.
 */
function permModify(path: string): PermCheck {
  const normal = normalizePath(path);
  const alternative = /^\/storage\/.+/.test(normal)
    ? ["Datastore.Allocate"]
    : /^\/vms\/.+/.test(normal)
      ? ["VM.Allocate"]
      : /^\/pool\/.+/.test(normal)
        ? ["Pool.Allocate"]
        : [];
  return { path: normal, privs: ["Permissions.Modify", ...alternative], any: true };
}

/** Whether `authid` may change, and so see, the ACL entries on `path` (check_perm_modify). */
export function mayModifyPermissions(state: SimState, authid: string, path: string): boolean {
  return passes(state, authid, permModify(path));
}

/** The `userid-param` test `Realm.AllocateUser`: that privilege on the realm of the user named. */
const realmOfUser = (ctx: Ctx): PermCheck => ({
  path: `/access/realm/${String(str(ctx.params, "userid")).split("@")[1]}`,
  privs: ["Realm.AllocateUser"],
});

/**
 * The `userid-group` test of PVE::RPCEnvironment exec_api2_perm_check, on a cluster without groups: the named
 * user must exist (unless `groups` is "create"), then one of `privs` on /access/groups (every group). Without
 * it, a call taking a group list (`groups`: create, update) is refused naming /access/groups, or the first group
 * given (none exists); another is refused bare, as no group makes its user reachable. `noerr`: false instead of
 * a refusal (inside an `or`).
 */
function useridGroup(
  ctx: Ctx,
  privs: readonly string[],
  options: { readonly groups?: "create" | "update"; readonly noerr?: boolean } = {},
): boolean {
  const userid = String(str(ctx.params, "userid"));
  if (options.groups !== "create" && !ctx.state.users[userid]) {
    if (options.noerr) return false;
    throw new ApiError(500, `no such user ('${userid}')`);
  }
  if (passes(ctx.state, ctx.user, { path: "/access/groups", privs, any: true })) return true;
  if (options.groups) {
    const group = String(str(ctx.params, "groups") ?? "")
      .split(/[,;\s]+/)
      .find(Boolean);
    throw forbidden(`${group ? `/access/groups/${group}` : "/access/groups"}, ${privs.join("|")}`);
  }
  if (options.noerr) return false;
  throw forbidden();
}

/** The token calls' `or`: the user itself (`userid-param` `self`; an API token never is), or `userid-group` User.Modify. */
function selfOrUserModify(ctx: Ctx): Rule[] {
  const userid = String(str(ctx.params, "userid"));
  if (ctx.state.users[userid] && ctx.user === userid) return ALL;
  if (useridGroup(ctx, ["User.Modify"], { noerr: true })) return ALL;
  throw forbidden();
}

const ROLE_ADMIN: PermCheck = { path: "/access", privs: ["Sys.Modify"] };

/**
 * The checks of the /access calls (PVE::API2::Role, ::User and its token methods, ::ACL). What the handlers check
 * in code is in handlers/access.ts: the ACL list filtered to what one may see or change, and a role handed out
 * without Permissions.Modify only within one's own privileges.
 */
const ACCESS_RULES: Readonly<Record<string, (ctx: Ctx) => readonly Rule[]>> = {
  "GET /access/roles": () => ALL,
  "GET /access/roles/{roleid}": () => ALL,
  "POST /access/roles": () => [ROLE_ADMIN],
  "PUT /access/roles/{roleid}": () => [ROLE_ADMIN],
  "DELETE /access/roles/{roleid}": () => [ROLE_ADMIN],
  "POST /access/users": (ctx) => {
    requirePermission(ctx.state, ctx.user, realmOfUser(ctx));
    useridGroup(ctx, ["User.Modify"], { groups: "create" });
    return ALL;
  },
  "GET /access/users/{userid}": (ctx) => {
    useridGroup(ctx, ["User.Modify", "Sys.Audit"]);
    return ALL;
  },
  "PUT /access/users/{userid}": (ctx) => {
    useridGroup(ctx, ["User.Modify"], { groups: "update" });
    return ALL;
  },
  "DELETE /access/users/{userid}": (ctx) => {
    requirePermission(ctx.state, ctx.user, realmOfUser(ctx));
    useridGroup(ctx, ["User.Modify"]);
    return ALL;
  },
  "GET /access/users/{userid}/token": selfOrUserModify,
  "GET /access/users/{userid}/token/{tokenid}": selfOrUserModify,
  "POST /access/users/{userid}/token/{tokenid}": selfOrUserModify,
  "PUT /access/users/{userid}/token/{tokenid}": selfOrUserModify,
  "DELETE /access/users/{userid}/token/{tokenid}": selfOrUserModify,
  "GET /access/acl": () => ALL,
  "PUT /access/acl": (ctx) => [permModify(String(str(ctx.params, "path")))],
};

/** A task of one's own is readable; another's needs Sys.Audit on the node (PVE::API2::Tasks). */
function taskRule(ctx: Ctx): Rule[] {
  const upid = String(str(ctx.params, "upid"));
  const owner = upid.split(":")[7];
  return owner === ctx.user ? ALL : [node(ctx, ["Sys.Audit"])];
}

const VM_CONFIG_CALLS = new Set([
  "POST /nodes/{node}/qemu",
  "PUT /nodes/{node}/qemu/{vmid}/config",
  "POST /nodes/{node}/qemu/{vmid}/config",
]);

/**
 * What qemu-server lets only root@pam itself set (`return 1 if $authuser eq 'root@pam'`, so an API token, even
 * root@pam's, is refused): a PCI device by raw id rather than a mapping (check_hostpci_perm), a serial port
 * other than a socket ($check_vm_create_serial_perm).
 */
function rootOnly(ctx: Ctx, call: string): void {
  if (!VM_CONFIG_CALLS.has(call)) return;
  for (const [key, raw] of Object.entries(ctx.params)) {
    const value = String(Array.isArray(raw) ? raw[raw.length - 1] : raw);
    if (/^hostpci\d+$/.test(key) && parsePropertyString(keysOf(key), value).host !== undefined)
      throw new ApiError(500, `only root can set '${key}' config for non-mapped devices`);
    if (/^serial\d+$/.test(key) && value !== "socket")
      throw new ApiError(500, `only root can set '${key}' config for real devices`);
  }
}

/**
 * Enforces the checks of `<method> <template>` for the request's user: root@pam's own options refused to anyone
 * else (its tokens included), then nothing for root@pam and its tokens
 * without privilege separation, PVE's 403 for a missing privilege, 501 for a call the table does not know.
 */
export function checkPermissions(ctx: Ctx, method: string, template: string): void {
  if (ctx.user !== "root@pam") rootOnly(ctx, `${method} ${template}`);
  const [userid, tokenid] = ctx.user.split("!");
  const unrestricted =
    userid === "root@pam" && (tokenid === undefined || !ctx.state.users[userid]?.tokens[tokenid]?.privsep);
  if (unrestricted) return;
  const rules = RULES[`${method} ${template}`] ?? ACCESS_RULES[`${method} ${template}`];
  if (!rules) throw new ApiError(501, `not modelled by the simulator: the permissions of ${method} ${template}`);
  for (const rule of rules(ctx)) enforce(ctx.state, ctx.user, rule);
}
