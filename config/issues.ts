// Problems found in the input files, reported together as `file:line:col key.path: message`.

export type ConfigFile = "cluster.yaml" | "nodes.yaml" | "workloads.yaml";
export type KeyPath = readonly (string | number)[];

export interface ConfigIssue {
  readonly file: ConfigFile;
  readonly path: KeyPath;
  readonly message: string;
  readonly severity: "error" | "warning";
  /** 1-based position in the file, filled in by the loader. */
  readonly line?: number;
  readonly col?: number;
}

const MAX_SHOWN = 80;

/** Cuts a text to a length fit for one line of an error message. */
export function shorten(text: string, max = MAX_SHOWN): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}

export function formatPath(path: KeyPath): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${shorten(part)}` : shorten(part);
  return out || "(top level)";
}

export function formatIssue(issue: ConfigIssue, dir?: string): string {
  const where = `${dir && dir !== "." ? `${dir}/` : ""}${issue.file}${issue.line ? `:${issue.line}:${issue.col}` : ""}`;
  const prefix = issue.severity === "warning" ? "warning: " : "";
  return `${where} ${prefix}${formatPath(issue.path)}: ${issue.message}`;
}

/** Thrown when the input has at least one error; carries every issue found, warnings included. */
export class ConfigError extends Error {
  constructor(
    readonly issues: readonly ConfigIssue[],
    readonly dir?: string,
  ) {
    const errors = issues.filter((i) => i.severity === "error");
    super(
      `${errors.length} error${errors.length === 1 ? "" : "s"} in the cluster configuration:\n` +
        issues.map((i) => `  ${formatIssue(i, dir)}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}
