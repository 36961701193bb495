/**
 * /access: users, API tokens, roles and ACLs (PVE::API2::User, PVE::API2::Role, PVE::API2::ACL). Privilege
 * names are checked against PVE 9's list (PVE::AccessControl), so a role with a privilege PVE 9 dropped
 * (VM.Monitor) fails as it would on a host. Each call's permissions are checked before (permissions.ts); here
 * what PVE checks in the handlers' code: the ACL list shows only what one may see, and a role is handed out
 * without Permissions.Modify only within one's own privileges.
 */
import { randomUUID } from "node:crypto";
import { ApiError, need, paramError, str, type Ctx, type Routes } from "../api";
import { parseBoolean } from "../params";
import { mayModifyPermissions, privilegeFlags, privilegesOn } from "../permissions";
import type { AclEntry, User } from "../state";

/** PVE 9's privileges (PVE::AccessControl $privgroups and friends). */
export const PVE_PRIVILEGES = new Set([
  "Datastore.Allocate",
  "Datastore.AllocateSpace",
  "Datastore.AllocateTemplate",
  "Datastore.Audit",
  "Group.Allocate",
  "Mapping.Audit",
  "Mapping.Modify",
  "Mapping.Use",
  "Permissions.Modify",
  "Pool.Allocate",
  "Pool.Audit",
  "Realm.Allocate",
  "Realm.AllocateUser",
  "SDN.Allocate",
  "SDN.Audit",
  "SDN.Use",
  "Sys.AccessNetwork",
  "Sys.Audit",
  "Sys.Console",
  "Sys.Incoming",
  "Sys.Modify",
  "Sys.PowerMgmt",
  "Sys.Syslog",
  "User.Modify",
  "VM.Allocate",
  "VM.Audit",
  "VM.Backup",
  "VM.Clone",
  "VM.Config.CDROM",
  "VM.Config.CPU",
  "VM.Config.Cloudinit",
  "VM.Config.Disk",
  "VM.Config.HWType",
  "VM.Config.Memory",
  "VM.Config.Network",
  "VM.Config.Options",
  "VM.Console",
  "VM.GuestAgent.Audit",
  "VM.GuestAgent.FileRead",
  "VM.GuestAgent.FileSystemMgmt",
  "VM.GuestAgent.FileWrite",
  "VM.GuestAgent.Unrestricted",
  "VM.Migrate",
  "VM.PowerMgmt",
  "VM.Replicate",
  "VM.Snapshot",
  "VM.Snapshot.Rollback",
]);

const splitList = (value: string | undefined) => (value ?? "").split(/[,; ]+/).filter(Boolean);
const bool01 = (value: string | undefined, fallback: number) =>
  value === undefined ? fallback : parseBoolean(value) ? 1 : 0;

function userOf(ctx: Ctx, userid = need(ctx, "userid")): User {
  const user = ctx.state.users[userid];
  if (!user) throw new ApiError(500, `no such user ('${userid}')`);
  return user;
}

function privileges(ctx: Ctx): string[] {
  const privs = splitList(str(ctx, "privs"));
  for (const p of privs) if (!PVE_PRIVILEGES.has(p)) throw paramError("privs", `invalid privilege '${p}'`);
  return privs;
}

function setUserFields(ctx: Ctx, user: User): void {
  for (const key of ["comment", "email", "firstname", "lastname", "keys"] as const) {
    const v = str(ctx, key);
    if (v !== undefined) user[key] = v;
  }
  user.enable = bool01(str(ctx, "enable"), user.enable);
  const expire = str(ctx, "expire");
  if (expire !== undefined) user.expire = Number(expire);
  const groups = str(ctx, "groups");
  if (groups !== undefined) {
    if (splitList(groups).length) throw new ApiError(501, "not modelled by the simulator: user groups");
    user.groups = [];
  }
}

function userView(userid: string, user: User) {
  const { tokens, ...rest } = user;
  return {
    userid,
    ...rest,
    tokens: Object.entries(tokens).map(([tokenid, t]) => ({
      tokenid,
      comment: t.comment,
      expire: t.expire,
      privsep: t.privsep,
    })),
  };
}

/**
 * PVE::API2::ACL update_acl without Permissions.Modify on the path (VM.Allocate on a VM, Datastore.Allocate on a
 * storage, Pool.Allocate on a pool let one in): a role is added or removed only when one holds each of its
 * privileges there, propagated for a propagating entry, and never NoAccess.
 */
function withinOwnPrivileges(ctx: Ctx, path: string, roleid: string, remove: boolean, propagate: boolean): void {
  const held = privilegeFlags(ctx.state, ctx.user, path);
  if (held === "all" || held.has("Permissions.Modify")) return;
  const verb = remove ? "remove" : "add";
  const role = ctx.state.roles[roleid];
  // The simulator gives the built-in roles but Administrator (every privilege) no real privilege list.
  if (role.special && roleid !== "Administrator" && roleid !== "NoAccess")
    throw new ApiError(501, `not modelled by the simulator: the privileges of built-in role '${roleid}'`);
  const privs = roleid === "Administrator" ? [...PVE_PRIVILEGES] : role.privs;
  for (const priv of privs) {
    if (!held.has(priv))
      throw paramError(
        "role",
        `Cannot ${verb} role '${roleid}' - requires 'Permissions.Modify' or superset of privileges.`,
      );
    if (propagate && !remove && !held.get(priv))
      throw paramError(
        "role",
        `Cannot ${verb} role '${roleid}' with propagation - requires 'Permissions.Modify' or propagated superset of privileges.`,
      );
  }
  if (roleid === "NoAccess")
    throw paramError("role", `Cannot ${verb} role '${roleid}' - requires 'Permissions.Modify'`);
}

export const accessRoutes: Routes = {
  "GET /access/users": (ctx) => Object.entries(ctx.state.users).map(([userid, user]) => userView(userid, user)),
  "POST /access/users": (ctx) => {
    const userid = need(ctx, "userid");
    if (ctx.state.users[userid]) throw new ApiError(500, `create user failed: user '${userid}' already exists`);
    const realm = userid.split("@")[1];
    if (!["pam", "pve"].includes(realm))
      throw new ApiError(500, `create user failed: domain '${realm}' does not exist`);
    if (str(ctx, "password") !== undefined) throw new ApiError(501, "not modelled by the simulator: user passwords");
    const user: User = { enable: 1, expire: 0, groups: [], tokens: {} };
    setUserFields(ctx, user);
    ctx.state.users[userid] = user;
  },
  "GET /access/users/{userid}": (ctx) => {
    const { userid: _id, ...view } = userView(need(ctx, "userid"), userOf(ctx));
    return { ...view, tokens: Object.fromEntries(view.tokens.map(({ tokenid, ...t }) => [tokenid, t])) };
  },
  "PUT /access/users/{userid}": (ctx) => {
    setUserFields(ctx, userOf(ctx));
  },
  "DELETE /access/users/{userid}": (ctx) => {
    const userid = need(ctx, "userid");
    userOf(ctx, userid);
    if (userid === "root@pam") throw new ApiError(500, "delete user failed: cannot delete 'root@pam'");
    delete ctx.state.users[userid];
    // PVE removes the user's (and its tokens') ACL entries with it.
    ctx.state.acl = ctx.state.acl.filter((e) => !(e.ugid === userid || e.ugid.startsWith(`${userid}!`)));
  },

  "GET /access/users/{userid}/token": (ctx) =>
    Object.entries(userOf(ctx).tokens).map(([tokenid, t]) => ({
      tokenid,
      comment: t.comment,
      expire: t.expire,
      privsep: t.privsep,
    })),
  "POST /access/users/{userid}/token/{tokenid}": (ctx) => {
    const userid = need(ctx, "userid");
    const tokenid = need(ctx, "tokenid");
    const user = userOf(ctx, userid);
    if (user.tokens[tokenid]) throw new ApiError(500, `Token already exists.`);
    const token = {
      comment: str(ctx, "comment"),
      expire: Number(str(ctx, "expire") ?? 0),
      privsep: bool01(str(ctx, "privsep"), 1),
      value: randomUUID(),
    };
    user.tokens[tokenid] = token;
    return {
      "full-tokenid": `${userid}!${tokenid}`,
      info: { comment: token.comment, expire: token.expire, privsep: token.privsep },
      value: token.value,
    };
  },
  "GET /access/users/{userid}/token/{tokenid}": (ctx) => {
    const token = userOf(ctx).tokens[need(ctx, "tokenid")];
    if (!token) throw new ApiError(500, `no such token '${need(ctx, "tokenid")}' for user '${need(ctx, "userid")}'`);
    return { comment: token.comment, expire: token.expire, privsep: token.privsep };
  },
  "PUT /access/users/{userid}/token/{tokenid}": (ctx) => {
    const token = userOf(ctx).tokens[need(ctx, "tokenid")];
    if (!token) throw new ApiError(500, `no such token '${need(ctx, "tokenid")}' for user '${need(ctx, "userid")}'`);
    if (str(ctx, "comment") !== undefined) token.comment = str(ctx, "comment");
    if (str(ctx, "expire") !== undefined) token.expire = Number(str(ctx, "expire"));
    token.privsep = bool01(str(ctx, "privsep"), token.privsep);
    return { comment: token.comment, expire: token.expire, privsep: token.privsep };
  },
  "DELETE /access/users/{userid}/token/{tokenid}": (ctx) => {
    const userid = need(ctx, "userid");
    const tokenid = need(ctx, "tokenid");
    const user = userOf(ctx, userid);
    if (!user.tokens[tokenid]) throw new ApiError(500, `no such token '${tokenid}' for user '${userid}'`);
    delete user.tokens[tokenid];
    ctx.state.acl = ctx.state.acl.filter((e) => e.ugid !== `${userid}!${tokenid}`);
  },

  "GET /access/roles": (ctx) =>
    Object.entries(ctx.state.roles).map(([roleid, r]) => ({ roleid, privs: r.privs.join(","), special: r.special })),
  "POST /access/roles": (ctx) => {
    const roleid = need(ctx, "roleid");
    if (ctx.state.roles[roleid]) throw new ApiError(500, `role '${roleid}' already exists`);
    if (roleid.startsWith("PVE")) throw new ApiError(500, `cannot use role ID starting with 'PVE'`);
    ctx.state.roles[roleid] = { privs: privileges(ctx), special: 0 };
  },
  "GET /access/roles/{roleid}": (ctx) => {
    const role = ctx.state.roles[need(ctx, "roleid")];
    if (!role) throw new ApiError(500, `role '${need(ctx, "roleid")}' does not exist`);
    return Object.fromEntries(role.privs.map((p) => [p, 1]));
  },
  "PUT /access/roles/{roleid}": (ctx) => {
    const role = ctx.state.roles[need(ctx, "roleid")];
    if (!role) throw new ApiError(500, `role '${need(ctx, "roleid")}' does not exist`);
    if (role.special) throw new ApiError(500, `cannot modify built-in role '${need(ctx, "roleid")}'`);
    const privs = privileges(ctx);
    role.privs = parseBoolean(str(ctx, "append") ?? "0") ? [...new Set([...role.privs, ...privs])] : privs;
  },
  "DELETE /access/roles/{roleid}": (ctx) => {
    const roleid = need(ctx, "roleid");
    const role = ctx.state.roles[roleid];
    if (!role) throw new ApiError(500, `role '${roleid}' does not exist`);
    if (role.special) throw new ApiError(500, `cannot delete built-in role '${roleid}'`);
    delete ctx.state.roles[roleid];
    ctx.state.acl = ctx.state.acl.filter((e) => e.roleid !== roleid);
  },

  // PVE::API2::ACL read_acl: everything with Sys.Audit on /access, else the entries on paths one may change.
  "GET /access/acl": (ctx) => {
    const audit = privilegesOn(ctx.state, ctx.user, "/access");
    if (audit === "all" || audit.has("Sys.Audit")) return ctx.state.acl;
    return ctx.state.acl.filter((e) => mayModifyPermissions(ctx.state, ctx.user, e.path));
  },
  "PUT /access/acl": (ctx) => {
    const path = need(ctx, "path");
    if (!/^\/(|access(\/.*)?|nodes(\/.*)?|pool(\/.*)?|sdn(\/.*)?|storage(\/.*)?|vms(\/.*)?|mapping(\/.*)?)$/.test(path))
      throw paramError("path", `invalid ACL path '${path}'`);
    const remove = parseBoolean(str(ctx, "delete") ?? "0");
    const propagate = bool01(str(ctx, "propagate"), 1);
    const subjects: Array<[AclEntry["type"], string]> = [
      ...splitList(str(ctx, "users")).map((u) => ["user", u] as [AclEntry["type"], string]),
      ...splitList(str(ctx, "tokens")).map((t) => ["token", t] as [AclEntry["type"], string]),
    ];
    if (splitList(str(ctx, "groups")).length) throw new ApiError(501, "not modelled by the simulator: group ACLs");
    for (const [type, ugid] of subjects) {
      const [userid, tokenid] = ugid.split("!");
      if (!ctx.state.users[userid] || (type === "token" && !ctx.state.users[userid].tokens[tokenid]))
        throw new ApiError(500, `unknown ${type} '${ugid}'`);
    }
    const roles = splitList(need(ctx, "roles"));
    for (const roleid of roles) {
      if (!ctx.state.roles[roleid]) throw new ApiError(500, `role '${roleid}' does not exist`);
      withinOwnPrivileges(ctx, path, roleid, remove === true, propagate === 1);
    }
    for (const roleid of roles) {
      for (const [type, ugid] of subjects) {
        ctx.state.acl = ctx.state.acl.filter((e) => !(e.path === path && e.ugid === ugid && e.roleid === roleid));
        if (!remove) ctx.state.acl.push({ path, type, ugid, roleid, propagate });
      }
    }
  },
};
