// What each phase did (results.tsv, one line per phase, written by bootstrap.sh) and the table printed at the end.
import { existsSync, readFileSync } from "node:fs";

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

/** Parses results.tsv: layer, action, result, add, change, destroy, seconds (`-` for no count). */
export function readResults(file: string): PhaseResult[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      const [layer, action, result, add, change, destroy, seconds] = line.split("\t");
      const count = (v: string | undefined) => (v === undefined || v === "" || v === "-" ? undefined : Number(v));
      return { layer, action, result, add: count(add), change: count(change), destroy: count(destroy), seconds: Number(seconds) || 0 };
    });
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
