/**
 * The cluster's storage configuration (pve-storage PVE::API2::Storage::Config, storage.cfg). Every storage can
 * be read and removed; a new one can be a Proxmox Backup Server datastore (PBSPlugin): `server` and `datastore`
 * required and fixed once set, content `backup` (or `none`), shared by every host. Its password is a sensitive
 * property: PVE keeps it in /etc/pve/priv/storage/<id>.pw and never answers it, and so does the simulator.
 * Not modelled: other storage types (501), encryption keys, and the activation PVE tries at creation (which
 * would reach the backup server).
 */
import { ApiError, need, str, type Ctx, type Routes } from "../api";
import { NotModelled } from "../params";
import { apiSchema, type ParamSpec } from "../schema";
import type { Section, StorageDef } from "../state";
import { checkSection, deleteFromSection, deleteList, fileDigest, typedSection, type SectionOptions } from "./section";

/** PBSPlugin.pm `options`, and its content types (`plugindata`: backup or none, default backup). */
const PBS_OPTIONS: SectionOptions = {
  server: { fixed: true },
  datastore: { fixed: true },
  namespace: { optional: true },
  port: { optional: true },
  nodes: { optional: true },
  disable: { optional: true },
  content: { optional: true },
  username: { optional: true },
  password: { optional: true },
  "prune-backups": { optional: true },
  "max-protected-backups": { optional: true },
  fingerprint: { optional: true },
};
const PBS_CONTENT = ["backup", "none"];
/** PBSPlugin `sensitive-properties` the simulator keeps; the encryption ones are not modelled. */
const SENSITIVE = ["password"];
const NOT_MODELLED = ["encryption-key", "master-pubkey", "keyring"];
const NOT_OPTIONS = ["storage", "type", "digest", "delete"];
/** Kept in StorageDef itself, not in its `config`. */
const OWN = ["content", "nodes", "shared"];

const props = (): Readonly<Record<string, ParamSpec>> =>
  apiSchema().match("POST", "/storage")?.method?.parameters?.properties ?? {};

function storageOf(ctx: Ctx): [number, StorageDef] {
  const id = need(ctx, "storage");
  const index = ctx.state.storages.findIndex((s) => s.id === id);
  if (index < 0) throw new ApiError(500, `storage '${id}' does not exist`);
  return [index, ctx.state.storages[index]];
}

function storageView(ctx: Ctx, s: StorageDef) {
  const digest = fileDigest(Object.fromEntries(ctx.state.storages.map((x) => [x.id, { ...x.config }])));
  return {
    ...typedSection({ ...s.config }, props()),
    storage: s.id,
    type: s.type,
    content: s.content.join(","),
    ...(s.nodes ? { nodes: s.nodes.join(",") } : {}),
    ...(s.shared ? { shared: 1 } : {}),
    digest,
  };
}

/** PVE::Storage::Plugin decode_value for content: unsupported types dropped (PVE warns), none alone. */
function pbsContent(value: string | undefined): string[] {
  if (value === undefined) return ["backup"];
  const content = value.split(/[,;\s]+/).filter((c) => PBS_CONTENT.includes(c));
  if (content.includes("none") && content.length > 1)
    throw new ApiError(500, "unable to combine 'none' with other content types");
  return content.length ? content : ["none"];
}

function rejectNotModelled(ctx: Ctx): void {
  for (const key of NOT_MODELLED) if (ctx.params[key] !== undefined) throw new NotModelled(`storage property ${key}`);
}

/** The storage's config and secrets from verified options (sensitive ones apart). */
function split(settings: Section): { config: Section; secrets: Section } {
  const config: Section = {};
  const secrets: Section = {};
  for (const [key, value] of Object.entries(settings)) {
    if (SENSITIVE.includes(key)) secrets[key] = value;
    else if (!OWN.includes(key)) config[key] = value;
  }
  return { config, secrets };
}

export const storageRoutes: Routes = {
  "GET /storage": (ctx) => {
    const type = str(ctx, "type");
    return ctx.state.storages.filter((s) => type === undefined || s.type === type).map((s) => storageView(ctx, s));
  },
  "GET /storage/{storage}": (ctx) => storageView(ctx, storageOf(ctx)[1]),
  "POST /storage": (ctx) => {
    const id = need(ctx, "storage");
    const type = need(ctx, "type");
    if (type !== "pbs") throw new NotModelled(`storages of type '${type}'`);
    rejectNotModelled(ctx);
    const settings = checkSection(PBS_OPTIONS, ctx.params, true, NOT_OPTIONS, props());
    if (ctx.state.storages.some((s) => s.id === id)) throw new ApiError(500, `storage ID '${id}' already defined`);
    const { config, secrets } = split(settings);
    ctx.state.storages.push({
      id,
      type,
      content: pbsContent(settings.content),
      shared: true,
      ...(settings.nodes ? { nodes: settings.nodes.split(/[,;\s]+/) } : {}),
      config,
    });
    if (Object.keys(secrets).length) ctx.state.storageSecrets[id] = secrets;
    return { storage: id, type };
  },
  "PUT /storage/{storage}": (ctx) => {
    const [index, current] = storageOf(ctx);
    if (current.type !== "pbs") throw new NotModelled(`changing storages of type '${current.type}'`);
    rejectNotModelled(ctx);
    const settings = checkSection(PBS_OPTIONS, ctx.params, false, NOT_OPTIONS, props());
    const merged: Section = {
      ...current.config,
      content: current.content.join(","),
      ...(current.nodes ? { nodes: current.nodes.join(",") } : {}),
      ...ctx.state.storageSecrets[current.id],
    };
    deleteFromSection(merged, PBS_OPTIONS, settings, deleteList(ctx));
    Object.assign(merged, settings);
    const { config, secrets } = split(merged);
    ctx.state.storages[index] = {
      ...current,
      content: pbsContent(merged.content),
      nodes: merged.nodes ? merged.nodes.split(/[,;\s]+/) : undefined,
      config,
    };
    ctx.state.storageSecrets[current.id] = secrets;
    return { storage: current.id, type: current.type };
  },
  "DELETE /storage/{storage}": (ctx) => {
    const [index, storage] = storageOf(ctx);
    if (ctx.state.volumes.some((v) => v.storage === storage.id))
      throw new NotModelled(`removing storage '${storage.id}' that still holds volumes`);
    ctx.state.storages.splice(index, 1);
    delete ctx.state.storageSecrets[storage.id];
  },
};
