// The table printed at the end of every run: one row per finished phase of the run document.
import type { PhaseRecord } from "./run";

/** One finished (or failed) phase. */
export interface PhaseResult {
  readonly layer: string;
  readonly action: string;
  /** applied, no changes, planned, validated only, destroyed, nothing to destroy, ready, declined, failed */
  readonly result: string;
  readonly add?: number;
  readonly change?: number;
  readonly destroy?: number;
  readonly seconds: number;
}

/** The finished phases of a run, in order. */
export function resultsOf(phases: readonly PhaseRecord[]): PhaseResult[] {
  return phases.flatMap((p) =>
    p.result === undefined
      ? []
      : [
          {
            layer: p.layer,
            action: p.action,
            result: p.result,
            add: p.plan?.add,
            change: p.plan?.change,
            destroy: p.plan?.destroy,
            seconds: p.seconds ?? 0,
          },
        ],
  );
}

/** `1m05s`, `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** The summary table: layer, action, result, added/changed/destroyed, duration, and a total line. */
export function formatSummary(results: readonly PhaseResult[], totalSeconds?: number): string {
  const header = ["layer", "action", "result", "add", "change", "destroy", "time"];
  const rows = results.map((r) => [
    r.layer,
    r.action,
    r.result,
    r.add === undefined ? "-" : String(r.add),
    r.change === undefined ? "-" : String(r.change),
    r.destroy === undefined ? "-" : String(r.destroy),
    formatDuration(r.seconds),
  ]);
  const total = totalSeconds ?? results.reduce((s, r) => s + r.seconds, 0);
  rows.push(["total", "", "", "", "", "", formatDuration(total)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = new Set([3, 4, 5, 6]);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
