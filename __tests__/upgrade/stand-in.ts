// The recording stand-in for talosctl (fake-talosctl.mjs) as every test drives it: its world written to a folder,
// its calls read back, and the environment (TALOSCTL for ./bootstrap.sh) or the TalosctlCli that uses it.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TalosctlCli } from "../../scripts/upgrade/talosctl";

export const FAKE_TALOSCTL = join(__dirname, "fake-talosctl.mjs");

/** What the stand-in answers (fake-talosctl.mjs reads and updates it). */
export interface StandInWorld {
  /** `talosctl version --client`. */
  readonly client: string;
  /**
   * By address: the Talos version a node answers, how many version calls it stays silent (rebooting), reset, the
   * STATE of its etcd service (default Running) and the snapshot `bootstrap --recover-from` restored.
   */
  readonly nodes: Record<
    string,
    { version: string; down?: number; reset?: boolean; etcd?: string; recoveredFrom?: string }
  >;
  /** Set by upgrade-k8s. */
  readonly kubernetes?: string;
  /** Version calls an upgraded node stays silent. */
  readonly rejoinPolls?: number;
  readonly failUpgradeOn?: string;
  readonly failHealth?: boolean;
  /** The node whose `etcd snapshot` fails. */
  readonly failSnapshotOn?: string;
}

export interface StandIn {
  /** TALOSCTL and the stand-in's files, for ./bootstrap.sh. */
  readonly env: Record<string, string>;
  /** The real TalosctlCli seam, running the stand-in. */
  readonly talosctl: TalosctlCli;
  /** Every call so far, as argv lists without --talosconfig. */
  calls(): string[][];
  /** The world now. */
  world(): StandInWorld;
  /** Changes the world (keys merged at the top). */
  set(change: Partial<StandInWorld>): void;
}

/** A stand-in talosctl in `dir` (made if missing) over `world`, with no call recorded yet. */
export function standInTalosctl(dir: string, world: StandInWorld): StandIn {
  mkdirSync(dir, { recursive: true });
  const state = join(dir, "world.json");
  const log = join(dir, "calls.jsonl");
  writeFileSync(state, JSON.stringify(world));
  writeFileSync(log, "");
  const files = { FAKE_TALOSCTL_STATE: state, FAKE_TALOSCTL_LOG: log };
  const read = () => JSON.parse(readFileSync(state, "utf8")) as StandInWorld;
  return {
    env: { TALOSCTL: FAKE_TALOSCTL, ...files },
    talosctl: new TalosctlCli({
      binary: FAKE_TALOSCTL,
      talosconfig: join(dir, "talosconfig"),
      env: { ...process.env, ...files },
    }),
    calls: () =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]),
    world: read,
    set: (change) => writeFileSync(state, JSON.stringify({ ...read(), ...change })),
  };
}

/** Every node of `addresses` at Talos `version`. */
export const nodesAt = (addresses: readonly string[], version: string): StandInWorld["nodes"] =>
  Object.fromEntries(addresses.map((a) => [a, { version }]));
