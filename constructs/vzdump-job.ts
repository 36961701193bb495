import { Construct } from "constructs";
import { BackupJob } from "../.gen/providers/proxmox/backup-job";

export interface VzdumpRetention {
  readonly last?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
}

export interface VzdumpJobProps {
  /** Job id. */
  readonly name: string;
  /** Calendar event, e.g. "02:30" or "sun 01:00". */
  readonly schedule: string;
  /** Target storage id (a Proxmox Backup Server storage included). */
  readonly storage: string;
  /** Which guests: every guest, these ids, or a pool. */
  readonly select: { readonly all: true } | { readonly ids: readonly number[] } | { readonly pool: string };
  /** At least one of the keep-* values. */
  readonly keep: VzdumpRetention;
  /** @default "snapshot" */
  readonly mode?: "snapshot" | "suspend" | "stop";
  /** @default "zstd" */
  readonly compress?: string;
  /** Run only on this host. @default - every host */
  readonly host?: string;
  /** @default true */
  readonly enabled?: boolean;
}

/** A vzdump backup job with its retention (prune-backups). */
export class VzdumpJob extends Construct {
  readonly resource: BackupJob;

  constructor(scope: Construct, id: string, props: VzdumpJobProps) {
    super(scope, id);
    const keep = Object.entries(props.keep).filter(([, v]) => v !== undefined);
    const problems: string[] = [];
    if (keep.length === 0) problems.push("'keep' needs at least one of last, daily, weekly, monthly, yearly");
    if ("ids" in props.select && props.select.ids.length === 0) problems.push("'select.ids' is empty");
    if (problems.length) throw new Error(`VzdumpJob ${props.name}: ${problems.join("; ")}`);

    this.resource = new BackupJob(this, "Resource", {
      id: props.name,
      schedule: props.schedule,
      storage: props.storage,
      mode: props.mode ?? "snapshot",
      compress: props.compress ?? "zstd",
      enabled: props.enabled ?? true,
      nodeAttribute: props.host,
      all: "all" in props.select ? true : undefined,
      vmid: "ids" in props.select ? [...props.select.ids].sort((a, b) => a - b).map(String) : undefined,
      pool: "pool" in props.select ? props.select.pool : undefined,
      pruneBackups: Object.fromEntries(keep.map(([k, v]) => [`keep-${k}`, String(v)])),
    });
    this.resource.overrideLogicalId(props.name);
  }
}
