// Every string in Terraform's JSON syntax is a template: "${...}" and "%{...}" are evaluated wherever they
// appear, in resource arguments, in object keys, in the YAML of a Talos patch, in Helm values. And cdktf reads
// its own token markers ("${TfToken[...]}", numbers in a reserved range) in every prop as references to other
// resources. Input is data, never an expression: engineLiterals() is the one gate every input value passes on
// its way to cdktf. It escapes every string once ("$${", "%%{"; the engine turns them back into the text the
// user wrote) and refuses cdktf tokens; its result is branded, and the layers accept nothing else, so no input
// can reach a stack without passing it. Keys where no such literal makes sense (names, hosts, storages, URLs)
// refuse templates earlier, in the loader, with file:line.
declare const passedTheGate: unique symbol;

/** A value whose every string (keys included) is an engine literal; made only by engineLiterals(). */
export type EngineLiterals<T> = T & { readonly [passedTheGate]: true };

/** A text as a Terraform template that evaluates to exactly that text. */
export function terraformLiteral(text: string): string {
  // Replacer functions: in a replacement string "$$" would itself mean "$".
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

/** Whether Terraform would evaluate something in the text: "${" or "%{". */
export function hasTemplate(text: string): boolean {
  return /[$%]\{/.test(text);
}

/** cdktf's token markers ("${TfToken[", "#{TfToken[", "&{TfToken["): no escape hides them from cdktf. */
export function hasTokenMarker(text: string): boolean {
  return text.includes("TfToken[");
}

/** A number cdktf would read as a reference (its encoded number tokens are NaN-like doubles in a reserved range). */
export function isTokenNumber(value: number): boolean {
  // cdktf marks them in the top 16 bits of the double (0xfdff for a number, 0xfbff for a list's length); its
  // own Token.isUnresolved is not used here, as the loader runs in bootstrap's bundle without cdktf.
  const words = new Uint32Array(new Float64Array([value]).buffer);
  const top = words[1] >>> 16;
  return top === 0xfdff || top === 0xfbff;
}

/**
 * The gate: a deep copy of `value` with every string and every key made an engine literal (plain objects,
 * arrays, Maps and Sets; anything else is refused). Throws on a cdktf token: the loader refuses those with
 * file:line first, so reaching this throw is a bug.
 */
export function engineLiterals<T>(value: T): EngineLiterals<T> {
  return literal(value, "") as EngineLiterals<T>;
}

function literal(value: unknown, at: string): unknown {
  if (typeof value === "string") {
    if (hasTokenMarker(value)) throw new Error(`engineLiterals: a cdktf token marker in ${at || "the value"}`);
    return terraformLiteral(value);
  }
  if (typeof value === "number") {
    if (isTokenNumber(value)) throw new Error(`engineLiterals: a cdktf number token in ${at || "the value"}`);
    return value;
  }
  if (value === null || typeof value !== "object") {
    if (typeof value === "function" || typeof value === "symbol")
      throw new Error(`engineLiterals: a ${typeof value} in ${at}`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => literal(v, `${at}[${i}]`));
  if (value instanceof Map)
    return new Map([...value].map(([k, v]) => [literal(k, `${at} key`), literal(v, `${at}.${String(k)}`)]));
  if (value instanceof Set) return new Set([...value].map((v) => literal(v, `${at} element`)));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null)
    throw new Error(`engineLiterals: ${at || "the value"} is a ${prototype?.constructor?.name}, not plain data`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // defineProperty: a key named "__proto__" is data here, not the prototype.
    Object.defineProperty(out, literal(k, `${at} key`) as string, {
      value: literal(v, at ? `${at}.${k}` : k),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
