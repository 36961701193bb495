/**
 * vzdump backup jobs (pve-manager PVE::API2::Backup, jobs.cfg): a schedule (or the old starttime/dow turned
 * into one), what to back up (`all`, `vmid` list or `pool`, never two of them), where to, and the retention
 * (`prune-backups`, a property string in requests and an object in answers). On update the selection given
 * replaces the other ones, as PVE does. Stricter than PVE, which checks the storage only when the job first
 * runs (`can't use storage ... for backups - wrong content type`): the storage must exist and hold backups
 * when the job is created or changed, so a test sees a job that would fail every night.
 */
import { ApiError, need, paramError, str, type Ctx, type Routes } from "../api";
import { booleanString, parsePropertyString } from "../params";
import { PROPERTY_FORMATS } from "../formats";
import { apiSchema, type ParamSpec } from "../schema";
import type { Section, SimState } from "../state";
import { deleteList, typedSection } from "./section";

const ALL_DAYS = "mon,tue,wed,thu,fri,sat,sun";
/** Parameters of POST/PUT that are not stored in the job. */
const NOT_STORED = ["id", "delete", "digest", "starttime", "dow"];
/** Properties answered as objects though sent as property strings (Backup.pm's return schema). */
const OBJECT_PROPERTIES = ["prune-backups", "fleecing", "performance"];

const jobProps = (): Readonly<Record<string, ParamSpec>> =>
  apiSchema().match("POST", "/cluster/backup")?.method?.parameters?.properties ?? {};

/** Backup.pm $schedule_param_check: `schedule`, or `starttime` (and `dow`) converted into one. */
function schedule(ctx: Ctx, required: boolean): string | undefined {
  const given = str(ctx, "schedule");
  const starttime = str(ctx, "starttime");
  if (given !== undefined) {
    if (starttime !== undefined) throw paramError("starttime", "'starttime' and 'schedule' cannot both be set");
    return given;
  }
  if (starttime === undefined) {
    if (required) throw paramError("schedule", "neither 'starttime' nor 'schedule' were set");
    return undefined;
  }
  const dow = (str(ctx, "dow") ?? ALL_DAYS).split(/[,;\s]+/).join(",");
  return dow === ALL_DAYS ? starttime : `${dow} ${starttime}`;
}

/** PVE::Storage::Plugin validate_prune_backups: keep-all alone, or only keep-all=1 when nothing is kept. */
function checkPrune(value: string): void {
  const keep = parsePropertyString(PROPERTY_FORMATS["prune-backups"], value);
  const { "keep-all": all, ...others } = keep;
  if (all === "1" && Object.values(others).some((n) => Number(n) > 0))
    throw paramError("prune-backups", "keep-all cannot be set together with other options.");
}

/** PVE::VZDump::verify_vzdump_parameters. */
function verifyJob(job: Section, checkMissing: boolean): void {
  if (job.all === "1" && job.vmid) throw paramError("all", "option conflicts with option 'vmid'");
  if (job.exclude && job.vmid) throw paramError("exclude", "option conflicts with option 'vmid'");
  if (job.pool && job.vmid) throw paramError("pool", "option conflicts with option 'vmid'");
  if (job["prune-backups"]) checkPrune(job["prune-backups"]);
  if (job.exclude && !job.pool) job.all = "1";
  if (checkMissing && !(job.all === "1" || job.stop === "1" || job.pool) && !job.vmid)
    throw paramError("vmid", "property is missing");
}

/** The storage a job writes to must exist and allow backups (see the file comment: stricter than PVE). */
function checkStorage(state: SimState, job: Section): void {
  if (job.dumpdir) return;
  const id = job.storage ?? "local";
  const storage = state.storages.find((s) => s.id === id);
  if (!storage) throw paramError("storage", `storage '${id}' does not exist`);
  if (!storage.content.includes("backup"))
    throw paramError("storage", `can't use storage '${id}' for backups - wrong content type`);
}

/** A pool a job selects must exist (PVE::RPCEnvironment check_pool_exist, a permission error). */
function checkPool(state: SimState, pool: string | undefined): void {
  if (pool !== undefined && !state.pools[pool])
    throw new ApiError(403, `Permission check failed (pool '${pool}' does not exist)`);
}

function stored(ctx: Ctx): Section {
  const job: Section = {};
  for (const [key, value] of Object.entries(ctx.params)) {
    if (NOT_STORED.includes(key)) continue;
    const one = typeof value === "string" ? value : value.join("\n");
    job[key] = jobProps()[key]?.type === "boolean" ? booleanString(one) : one;
  }
  return job;
}

function jobView(id: string, job: Section) {
  const typed = typedSection(job, jobProps());
  for (const key of OBJECT_PROPERTIES) {
    if (job[key] === undefined) continue;
    const keys = PROPERTY_FORMATS[key === "prune-backups" ? "prune-backups" : `backup-${key}`];
    typed[key] = typedSection(parsePropertyString(keys, job[key]), keys);
  }
  return { ...typed, id, type: "vzdump" };
}

function jobOf(ctx: Ctx): [string, Section] {
  const id = need(ctx, "id");
  const job = ctx.state.backupJobs[id];
  if (!job) throw paramError("id", `No such job '${id}'`);
  return [id, job];
}

export const backupJobRoutes: Routes = {
  "GET /cluster/backup": (ctx) => Object.entries(ctx.state.backupJobs).map(([id, job]) => jobView(id, job)),
  "GET /cluster/backup/{id}": (ctx) => jobView(...jobOf(ctx)),
  "POST /cluster/backup": (ctx) => {
    checkPool(ctx.state, str(ctx, "pool"));
    const job: Section = { ...stored(ctx), schedule: schedule(ctx, true)! };
    job.enabled ??= "1";
    const id = str(ctx, "id");
    if (id === undefined) throw new ApiError(501, "not modelled by the simulator: a backup job without 'id'");
    if (ctx.state.backupJobs[id]) throw new ApiError(500, `Job '${id}' already exists`);
    verifyJob(job, true);
    checkStorage(ctx.state, job);
    ctx.state.backupJobs[id] = job;
  },
  "PUT /cluster/backup/{id}": (ctx) => {
    checkPool(ctx.state, str(ctx, "pool"));
    const [id, current] = jobOf(ctx);
    const params = stored(ctx);
    const when = schedule(ctx, false);
    if (when !== undefined) params.schedule = when;
    const toDelete = deleteList(ctx);
    if (Object.keys(params).length === 0 && toDelete.length === 0) throw new ApiError(500, "no options specified");
    const job = { ...current };
    for (const key of toDelete) {
      if (!jobProps()[key] && key !== "comment" && key !== "repeat-missed")
        throw paramError("delete", `unknown option '${key}'`);
      delete job[key];
    }
    Object.assign(job, params);
    if (job.exclude !== undefined && job.pool === undefined) job.all = "1";
    if (params.vmid !== undefined) {
      delete job.all;
      delete job.exclude;
      delete job.pool;
    } else if (params.all === "1") {
      delete job.vmid;
      delete job.pool;
    } else if (job.pool !== undefined) {
      delete job.vmid;
      delete job.all;
      delete job.exclude;
    }
    verifyJob(job, true);
    checkStorage(ctx.state, job);
    ctx.state.backupJobs[id] = job;
  },
  "DELETE /cluster/backup/{id}": (ctx) => {
    const [id] = jobOf(ctx);
    delete ctx.state.backupJobs[id];
  },
};
