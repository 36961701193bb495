/** A Terraform-safe name (letters, digits, _ and -, not starting with a digit) for a resource's logical id. */
export function tfName(name: string): string {
  const safe = name.replace(/[^a-zA-Z0-9_-]/g, "_");
  return /^[a-zA-Z_]/.test(safe) ? safe : `_${safe}`;
}

/** The shortest prefixes (at least `min` characters) that still tell the given ids apart. */
export function shortLabels(ids: readonly string[], min = 8): Map<string, string> {
  const unique = [...new Set(ids)];
  let length = min;
  while (new Set(unique.map((id) => id.slice(0, length))).size < unique.length) length++;
  return new Map(unique.map((id) => [id, id.slice(0, length)]));
}

/**
 * Tags as Proxmox stores them under its default tag style (case-insensitive, alphabetical): lower case, sorted,
 * each once. Given otherwise, the provider reads back something else than it sent and plans a change forever.
 */
export function pveTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map((t) => t.toLowerCase()))].sort();
}
