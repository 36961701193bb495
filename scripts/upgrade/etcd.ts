// ./bootstrap.sh etcd-snapshot and etcd-recover: Talos' own etcd backup and disaster recovery (talosctl etcd
// snapshot, bootstrap --recover-from) on the controllers of the config, with their files through the gate every
// path flag goes through (inside the config folder, nothing replaced).
import { existsSync, realpathSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { Talosctl } from "./talosctl";

/** Where etcd-snapshot writes by default, beside cluster.yaml (in .gitignore: a snapshot holds every object). */
export const SNAPSHOT_DIR = "backups";

/** What talosctl's `service etcd` says while etcd waits to join, or for a bootstrap (Talos' pre state). */
export const WAITING_FOR_BOOTSTRAP = "Preparing";

export interface EtcdNode {
  readonly name: string;
  readonly address: string;
}

/** backups/etcd-<UTC time>.db: a new name for every snapshot. */
export function defaultSnapshotFile(now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replaceAll(":", "");
  return join(SNAPSHOT_DIR, `etcd-${stamp}Z.db`);
}

/** `value` resolved against the config folder, refused unless it (and what its symbolic links point to) is inside. */
function insideConfig(configDir: string, flag: string, value: string): { path: string } | { reason: string } {
  const root = realpathSync(configDir);
  const path = resolve(root, value);
  let existing = path;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const real = join(realpathSync(existing), relative(existing, path));
  const inside = (p: string) => p !== root && p.startsWith(root + sep);
  if (!inside(path) || !inside(real))
    return {
      reason: `--${flag}=${value} is ${real === path ? path : `${path} (${real})`}, outside the config folder ${root}; etcd's snapshots stay beside cluster.yaml`,
    };
  return { path };
}

/** The file etcd-snapshot writes: --out (or backups/etcd-<time>.db), inside the config folder and new. */
export function snapshotTarget(
  configDir: string,
  out: string | undefined,
  now: Date,
): { file: string } | { reason: string } {
  const value = out ?? defaultSnapshotFile(now);
  const inside = insideConfig(configDir, "out", value);
  if ("reason" in inside) return inside;
  if (existsSync(inside.path))
    return {
      reason: `--out=${value}: ${inside.path} exists already; a snapshot never replaces a file (name a new one)`,
    };
  let folder = dirname(inside.path);
  while (!existsSync(folder)) folder = dirname(folder);
  if (!statSync(folder).isDirectory()) return { reason: `--out=${value}: ${folder} is not a folder` };
  return { file: inside.path };
}

/** The snapshot etcd-recover restores: --from, an existing file inside the config folder. */
export function recoverSource(configDir: string, from: string): { file: string } | { reason: string } {
  const inside = insideConfig(configDir, "from", from);
  if ("reason" in inside) return inside;
  if (!existsSync(inside.path)) return { reason: `--from=${from}: ${inside.path} does not exist` };
  if (!statSync(inside.path).isFile()) return { reason: `--from=${from}: ${inside.path} is not a file` };
  return { file: inside.path };
}

/** Takes the snapshot through the first controller that gives one; throws naming each failure. */
export async function takeSnapshot(
  talosctl: Talosctl,
  controllers: readonly EtcdNode[],
  file: string,
  log: (line: string) => void,
): Promise<EtcdNode> {
  const failures: string[] = [];
  for (const controller of controllers) {
    try {
      const printed = await talosctl.etcdSnapshot(controller.address, file);
      for (const line of printed.split("\n")) log(line);
      return controller;
    } catch (e) {
      failures.push(`${controller.name}: ${(e as Error).message}`);
      log(`${controller.name} gave no snapshot; trying the next controller`);
    }
  }
  throw new Error(`no controller gave a snapshot: ${failures.join("; ")}`);
}

/**
 * Why etcd-recover must not run now: every controller's etcd must wait for a bootstrap (its data wiped), or the
 * restored etcd would meet members that still hold the old cluster.
 */
export async function recoverRefusals(talosctl: Talosctl, controllers: readonly EtcdNode[]): Promise<string[]> {
  const refusals: string[] = [];
  for (const c of controllers) {
    const state = await talosctl.etcdState(c.address);
    if (state !== WAITING_FOR_BOOTSTRAP)
      refusals.push(
        `${c.name} (${c.address}): etcd is ${state ? `${state}` : "not answering"}, not waiting for a bootstrap (${WAITING_FOR_BOOTSTRAP})`,
      );
  }
  return refusals;
}

/** Restores etcd from the snapshot on the first controller, then waits until `talosctl health` passes. */
export async function runRecovery(options: {
  readonly talosctl: Talosctl;
  readonly controllers: readonly EtcdNode[];
  readonly workers: readonly EtcdNode[];
  readonly file: string;
  readonly skipHashCheck: boolean;
  readonly log: (line: string) => void;
}): Promise<void> {
  const { talosctl, controllers, workers, file, log } = options;
  const [first] = controllers;
  log(`${first.name}: talosctl bootstrap --recover-from=${file}`);
  for (const line of (await talosctl.recoverEtcd(first.address, file, options.skipHashCheck)).split("\n")) log(line);
  log(`${first.name}: etcd restored; the other controllers join it. talosctl health:`);
  await talosctl.health(
    controllers.map((c) => c.address),
    workers.map((w) => w.address),
  );
  log("healthy");
}
