// The seam between bootstrap.sh and its TypeScript: ONE JSON document per run (<run dir>/run.json). `init` writes
// the parsed options, preflight adds the engine, the layers and the plan of phases, and each finished phase adds
// its result; the summary table is printed from it. bash never parses it: it asks cli.ts, which answers with
// shell assignments (shell.ts).
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EngineBinary } from "./engine-binary";
import type { Layer } from "./layers";
import type { BootstrapOptions } from "./options";
import type { Phase, PhaseAction } from "./phases";
import type { PlanSummary } from "./plan-summary";
import type { UpgradeNode, UpgradeTarget } from "../upgrade/plan";
import type { RestartNode } from "../upgrade/restart";
import type { EtcdNode } from "../upgrade/etcd";
import type { SavedPlans } from "./saved-plans";

/** How a phase ended, as bash knows it; the wording of the result depends on the phase's action (resultOf). */
export type Outcome =
  /** The phase did its work: applied, destroyed, planned with changes, the API answered. */
  | "completed"
  /** Nothing to do: a plan without changes, an empty state to destroy. */
  | "nothing"
  /** Not planned because a layer it reads has changes still to apply (validated by preflight). */
  | "skipped"
  /** The plan was shown and not confirmed. */
  | "declined"
  /** The plan of layer 00 deletes or replaces something, and the two keys were not given (persistent-guard.ts). */
  | "refused"
  | "failed";

export const OUTCOMES: readonly Outcome[] = ["completed", "nothing", "skipped", "declined", "refused", "failed"];

/** A phase of the plan, with what happened to it once it ran. */
export interface PhaseRecord extends Phase {
  /** The counts of its plan, once planned. */
  readonly plan?: Pick<PlanSummary, "add" | "change" | "destroy">;
  /** The result shown in the summary, once finished. */
  readonly result?: string;
  readonly seconds?: number;
}

export interface RunDocument {
  /** The command line, parsed once. */
  readonly options: BootstrapOptions;
  /** The folder of cluster.yaml and nodes.yaml. */
  readonly configDir: string;
  /** Where the app is synthesized. */
  readonly outdir: string;
  /** Found by preflight. */
  readonly engine?: EngineBinary;
  /** The synthesized layers, found by preflight. */
  readonly layers?: readonly Layer[];
  /** Both keys of layer 00 were given and checked by preflight: a plan of 00 may delete or replace. */
  readonly persistentAuthUnlocked?: boolean;
  /** The plan of the run, in order, set by preflight; each phase gets its result as it finishes. */
  readonly phases: readonly PhaseRecord[];
  /** `upgrade`: the nodes and versions found by its preflight, and the talosconfig talosctl uses. */
  readonly upgrade?: {
    readonly nodes: readonly UpgradeNode[];
    readonly target: UpgradeTarget;
    /** The Kubernetes version layer 01 last applied (no `upgrade-k8s` when it is the target's). */
    readonly appliedKubernetes?: string;
    readonly talosconfig: string;
  };
  /** A plain run through layer 01: the nodes that leave before its apply, in order (preflight, running-cluster.ts). */
  readonly leaving?: readonly UpgradeNode[];
  /** --save-plans: the folder the plans go to; apply-plans: the folder and its manifest (saved-plans.ts). */
  readonly plans?: { readonly dir: string; readonly saved?: SavedPlans };
  /** `restart`: the nodes and their VMs found by its preflight, the Proxmox API, and the talosconfig. */
  readonly restart?: {
    readonly nodes: readonly RestartNode[];
    readonly proxmox: { readonly url: string; readonly insecure: boolean };
    readonly talosconfig: string;
  };
  /** `etcd-recover`: the snapshot (inside the config folder), the controllers and workers, and the talosconfig. */
  readonly etcdRecover?: {
    readonly file: string;
    readonly controllers: readonly EtcdNode[];
    readonly workers: readonly EtcdNode[];
    readonly talosconfig: string;
  };
}

const FILE = "run.json";

export function readRun(runDir: string): RunDocument {
  return JSON.parse(readFileSync(join(runDir, FILE), "utf8")) as RunDocument;
}

/** Written whole through a temporary file, so an interrupted write never leaves half a document. */
export function writeRun(runDir: string, doc: RunDocument): void {
  const file = join(runDir, FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** The phase at `index`; throws on an index the plan does not have (a bug in bootstrap.sh). */
export function phaseAt(doc: RunDocument, index: number): PhaseRecord {
  const phase = doc.phases[index];
  if (!phase) throw new Error(`internal: no phase ${index} (the run has ${doc.phases.length})`);
  return phase;
}

/** The document with one phase replaced by `update(phase)`. */
export function updatePhase(doc: RunDocument, index: number, update: (phase: PhaseRecord) => PhaseRecord): RunDocument {
  const phase = phaseAt(doc, index);
  return { ...doc, phases: doc.phases.map((p, i) => (i === index ? update(phase) : p)) };
}

/** The word the summary shows for an outcome of an action. */
export function resultOf(action: PhaseAction, outcome: Outcome): string {
  switch (outcome) {
    case "declined":
    case "refused":
    case "failed":
      return outcome;
    case "skipped":
      return "validated only";
    case "nothing":
      return action === "destroy" || action === "plan-destroy" ? "nothing to destroy" : "no changes";
    case "completed":
      return {
        apply: "applied",
        plan: "planned",
        destroy: "destroyed",
        "plan-destroy": "planned",
        "wait-api": "ready",
      }[action];
  }
}

/**
 * In a --plan run, the lower layer whose pending changes keep the phase at `index` from being planned, or
 * undefined. A plan of a layer is computed against what the layers it reads hold now; when one of them has
 * changes still to apply (on a first bootstrap: everything), the plan would be wrong or fail (outputs that do
 * not exist yet, a Kubernetes API that is not there yet). Such a layer is covered by preflight's `validate`.
 */
export function blockedBy(doc: RunDocument, index: number): string | undefined {
  const phase = phaseAt(doc, index);
  const dependencies = doc.layers?.find((l) => l.name === phase.layer)?.dependencies ?? [];
  const earlier = doc.phases.slice(0, index);
  return dependencies.find((dep) =>
    earlier.some((p) => p.layer === dep && (p.result === "planned" || p.result === "validated only")),
  );
}
