/** A Terraform-safe name (letters, digits, _ and -, not starting with a digit) for a resource's logical id. */
export function tfName(name: string): string {
  const safe = name.replace(/[^a-zA-Z0-9_-]/g, "_");
  return /^[a-zA-Z_]/.test(safe) ? safe : `_${safe}`;
}
