// What bash reads from the TypeScript side: `NAME='value'` lines that bootstrap.sh evaluates (its load()). Every
// value is single-quoted, so any text (spaces, quotes, $, newlines) arrives as it was and nothing in it runs.

export type ShellValue = string | number | boolean | undefined;

/** `'it'\''s'`: the one quoting that needs no escapes inside but for the quote itself. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** One `NAME='value'` line per entry; true/false become 1/0, undefined the empty string. */
export function shellAssignments(values: Readonly<Record<string, ShellValue>>): string {
  return Object.entries(values)
    .map(([name, value]) => {
      if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`internal: ${name} is not a shell variable name of ours`);
      const text = value === undefined ? "" : typeof value === "boolean" ? (value ? "1" : "0") : String(value);
      return `${name}=${shellQuote(text)}\n`;
    })
    .join("");
}
