// Prints a DiffResult: plain text for a terminal, or markdown for the sticky PR comment (a hidden marker on
// the first line, warnings in a CAUTION block, a one-line summary, one collapsible section per layer).
import { countLayer, type AttributeChange, type DiffResult, type ItemDiff, type LayerDiff } from "./compare";
import { SENSITIVE } from "./mask";

/** First line of the markdown output; the PR workflow finds its sticky comment by it. */
export const MARKER = "<!-- synth-diff -->";

/** Printed values longer than this are shortened. */
export const MAX_VALUE_LENGTH = 80;

/** GitHub refuses comments over 65536 characters; this leaves room for the plan summaries appended later. */
export const MAX_MARKDOWN_CHARS = 60_000;

export interface RenderInput {
  readonly result: DiffResult;
  /** The git ref the working tree is compared with, as given: "origin/main". */
  readonly base: string;
  /** The commit `base` resolved to; its short form is printed beside the ref. */
  readonly baseCommit?: string;
  /** How the diff was made, when the reader should know (a base that predates the project, ...). */
  readonly notes?: readonly string[];
  /**
   * The command that reproduces the diff, named in the markdown footer and when a list is cut short.
   * @default "npm run diff -- --base <base>"
   */
  readonly command?: string;
}

const SYMBOL: Readonly<Record<ItemDiff["action"], string>> = { add: "+", change: "~", remove: "-" };

/** "no changes", or e.g. "2 to add, 1 to change; 1 data source changed". */
export function layerSummary(layer: LayerDiff): string {
  const counts = countLayer(layer);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const resources = [
    counts.add && `${counts.add} to add`,
    counts.change && `${counts.change} to change`,
    counts.remove && `${counts.remove} to remove`,
  ].filter(Boolean);
  const others = [
    counts.dataSources && plural(counts.dataSources, "data source"),
    counts.other && plural(counts.other, "other item"),
  ].filter(Boolean);
  const parts = [resources.join(", "), others.length ? `${others.join(" and ")} changed` : ""]
    .filter(Boolean)
    .join("; ");
  const presence = layer.presence === "added" ? "new layer: " : layer.presence === "removed" ? "layer removed: " : "";
  return `${presence}${parts || "no changes"}`;
}

/** A value as printed: `(sensitive)`, `(unset)`, or compact JSON shortened to MAX_VALUE_LENGTH. */
export function formatValue(value: unknown): string {
  if (value === SENSITIVE) return SENSITIVE;
  if (value === undefined) return "(unset)";
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH - 1)}…` : text;
}

function changeLine(change: AttributeChange): string {
  return `${change.path}: ${formatValue(change.before)} → ${formatValue(change.after)}`;
}

/** `+ address (description)` and, for a changed item, one indented line per attribute. */
export function itemLines(item: ItemDiff): string[] {
  const head = `${SYMBOL[item.action]} ${item.address}${item.description ? ` (${item.description})` : ""}`;
  return [head, ...item.changes.map((change) => `    ${changeLine(change)}`)];
}

function warningLines(result: DiffResult): string[] {
  return result.warnings.map((w) => `${w.layer}: ${w.address} ${w.message}`);
}

// ------------------------------------------------------------------------------------------------------- text

export function renderText(input: RenderInput): string {
  const { result } = input;
  const base = baseLabel(input);
  const out: string[] = [];
  for (const warning of warningLines(result)) out.push(`!! ${warning}`);
  if (result.warnings.length) out.push("");
  for (const note of input.notes ?? []) out.push(`note: ${note}`);
  out.push(result.changed ? `Synthesized changes against ${base}:` : `No synthesized changes against ${base}.`);
  for (const layer of result.layers) out.push(`  ${layer.layer}: ${layerSummary(layer)}`);
  for (const layer of result.layers.filter((l) => l.items.length)) {
    out.push("", layer.layer);
    for (const item of layer.items) out.push(...itemLines(item).map((line) => `  ${line}`));
  }
  return `${out.join("\n")}\n`;
}

// --------------------------------------------------------------------------------------------------- markdown

/**
 * Markdown for a PR comment, at most `maxChars` long: when the lists do not fit, each layer's list is cut
 * short (the same number of lines for every layer) with a line saying how many more there are.
 */
export function renderMarkdown(input: RenderInput, maxChars: number = MAX_MARKDOWN_CHARS): string {
  let text = markdown(input, Infinity);
  let limit = Math.max(0, ...input.result.layers.map((l) => layerLines(l).length));
  while (text.length > maxChars && limit > 0) {
    limit = Math.floor(limit / 2);
    text = markdown(input, limit);
  }
  return text;
}

function markdown(input: RenderInput, limit: number): string {
  const { result } = input;
  const base = baseLabel(input);
  const command = input.command ?? `npm run diff -- --base ${input.base}`;
  const out: string[] = [MARKER];
  if (result.warnings.length) {
    const layers = [...new Set(result.warnings.map((w) => w.layer))].map(code).join(", ");
    out.push(
      "> [!CAUTION]",
      `> **This change destroys or may replace what ${layers} keeps for the life of the cluster:**`,
    );
    for (const w of result.warnings) out.push(`> - ${code(w.address)} ${escapeHtml(w.message)}`);
    out.push("");
  }
  out.push(
    `**Synthesized changes:** ${result.layers.map((l) => `${l.layer}: ${layerSummary(l)}`).join(" · ") || "no layers"}`,
    "",
  );
  if (input.notes?.length) {
    out.push("> [!NOTE]", ...input.notes.map((n) => `> ${escapeHtml(n)}`), "");
  }
  for (const layer of result.layers) {
    const warned = result.warnings.some((w) => w.layer === layer.layer);
    out.push(
      `<details${warned ? " open" : ""}><summary><b>${escapeHtml(layer.layer)}</b>: ${escapeHtml(layerSummary(layer))}</summary>`,
      "",
    );
    if (layer.items.length) {
      const lines = layerLines(layer);
      const shown = lines.slice(0, limit);
      if (shown.length < lines.length)
        shown.push(`… ${lines.length - shown.length} more lines; run \`${command}\` for all of them`);
      const fence = "`".repeat(Math.max(3, longestBacktickRun(shown.join("\n")) + 1));
      out.push(`${fence}diff`, ...shown, fence);
    } else {
      out.push("No changes.");
    }
    out.push("", "</details>");
  }
  out.push("", `<sub>Synthesized offline from this branch and ${code(base)}. Reproduce with ${code(command)}.</sub>`);
  return `${out.join("\n")}\n`;
}

/** "origin/main (1a2b3c4)". */
function baseLabel(input: RenderInput): string {
  return input.baseCommit ? `${input.base} (${input.baseCommit.slice(0, 7)})` : input.base;
}

function layerLines(layer: LayerDiff): string[] {
  return layer.items.flatMap(itemLines);
}

/** An inline code span that survives backticks in its text. */
function code(text: string): string {
  const fence = "`".repeat(longestBacktickRun(text) + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

function longestBacktickRun(text: string): number {
  return Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
