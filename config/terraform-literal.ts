// Every string in Terraform's JSON syntax is a template: "${...}" and "%{...}" are evaluated wherever they
// appear, in resource arguments, in the YAML of a Talos patch, in Helm values. A config value is a literal, so
// the loader hands every string on escaped once ("$${", "%%{"), and the engine turns it back into the text the
// user wrote. Keys where no such literal makes sense (names, hosts, storages, URLs) refuse it in the schema.

/** A text as a Terraform template that evaluates to exactly that text. */
export function terraformLiteral(text: string): string {
  // Replacer functions: in a replacement string "$$" would itself mean "$".
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

/** The value with every string in it (keys excepted) made a Terraform literal. */
export function withTerraformLiterals<T>(value: T): T {
  if (typeof value === "string") return terraformLiteral(value) as T;
  if (Array.isArray(value)) return value.map(withTerraformLiterals) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withTerraformLiterals(v)])) as T;
  }
  return value;
}

/** cdktf's token markers ("${TfToken[", "#{TfToken[", "&{TfToken["): no escape hides them from cdktf. */
export function hasTokenMarker(text: string): boolean {
  return text.includes("TfToken[");
}
