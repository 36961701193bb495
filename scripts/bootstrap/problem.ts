/** One thing that stops a run before anything changes: what is wrong, in one line, and what to do about it. */
export interface Problem {
  /** The check that found it, e.g. `git`, `config`, `environment`. */
  readonly check: string;
  /** One line: what is wrong. */
  readonly reason: string;
  /** One line: what to do. */
  readonly hint: string;
  /** Extra lines shown under the reason (the config's `file:line:col key: message` lines, engine diagnostics). */
  readonly details?: readonly string[];
}

/** The problems as printed: `✗ check: reason`, the details indented, then `  hint: ...`. */
export function formatProblems(problems: readonly Problem[]): string {
  const lines = [`preflight found ${problems.length} problem${problems.length === 1 ? "" : "s"}; nothing was changed:`];
  for (const p of problems) {
    lines.push(`  ✗ ${p.check}: ${p.reason}`);
    for (const d of p.details ?? []) lines.push(`      ${d}`);
    lines.push(`    hint: ${p.hint}`);
  }
  return lines.join("\n");
}
