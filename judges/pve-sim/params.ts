/**
 * Parameter verification as PVE::JSONSchema (pve-common) does it: every parameter must be in the method's
 * schema (`ide[n]` standing for ide0, ide1, ...), non-optional ones present, values of the right type, in the
 * enumeration, matching the pattern, in range, and of the right format; property strings (`ide2`, `net0`,
 * `efidisk0`, ...) are parsed key by key (PVE::JSONSchema::parse_property_string) and each key checked the
 * same way. Problems are collected per parameter, as PVE's 400 answer carries them in `errors`.
 */
import { schemaPattern } from "../../config/pve-formats";
import { NAMED_FORMATS, PROPERTY_FORMATS, SLOT_COUNTS } from "./formats";
import type { ParamSpec } from "./schema";

/** A request parameter: form values are strings; a repeated key (an array parameter) gives several. */
export type ParamValue = string | readonly string[];

/** Thrown for a format the simulator does not model: the request is answered 501, never waved through. */
export class NotModelled extends Error {}

/** Per-parameter problems, as PVE's `errors` object. */
export type ParamErrors = Record<string, string>;

/** The spec of parameter `name` among `properties` (`net0` finds `net[n]`, within PVE's slot count). */
export function specFor(properties: Readonly<Record<string, ParamSpec>>, name: string): ParamSpec | undefined {
  if (Object.hasOwn(properties, name)) return properties[name];
  const m = /^([a-z_-]+?)(\d+)$/.exec(name);
  if (!m) return undefined;
  const spec = properties[`${m[1]}[n]`];
  if (!spec) return undefined;
  const count = SLOT_COUNTS[m[1]];
  if (count !== undefined && Number(m[2]) >= count) return undefined;
  if (m[2].length > 1 && m[2].startsWith("0")) return undefined;
  return spec;
}

/** Checks `params` against `properties`; returns the problems (empty when all is well). */
export function verifyParams(
  properties: Readonly<Record<string, ParamSpec>>,
  params: Readonly<Record<string, ParamValue>>,
): ParamErrors {
  const errors: ParamErrors = {};
  for (const [name, value] of Object.entries(params)) {
    const spec = specFor(properties, name);
    if (!spec) {
      errors[name] = "property is not defined in schema and the schema does not allow additional properties";
      continue;
    }
    const problem = checkValue(spec, value, name);
    if (problem) errors[name] = problem;
    if (spec.requires && params[spec.requires] === undefined)
      errors[spec.requires] = `missing property required by '${name}'`;
  }
  for (const [name, spec] of Object.entries(properties)) {
    if (!spec.optional && !name.includes("[n]") && params[name] === undefined)
      errors[name] = "property is missing and it is not optional";
  }
  return errors;
}

/** PVE::JSONSchema::parse_boolean. */
export function parseBoolean(value: string): boolean | undefined {
  if (/^(1|on|yes|true)$/i.test(value)) return true;
  if (/^(0|off|no|false)$/i.test(value)) return false;
  return undefined;
}

function checkValue(spec: ParamSpec, value: ParamValue, name: string): string | undefined {
  if (spec.type === "array") {
    const values = typeof value === "string" ? [value] : value;
    for (const item of values) {
      const problem = spec.items ? checkValue(spec.items, item, name) : undefined;
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof value !== "string") return `type check ('${spec.type}') failed - got an array`;
  return checkScalar(spec, value, name);
}

function checkScalar(spec: ParamSpec, value: string, name: string): string | undefined {
  switch (spec.type) {
    case "integer":
      if (!/^-?\d+$/.test(value)) return `type check ('integer') failed - got '${value}'`;
      break;
    case "number":
      if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(value)) return `type check ('number') failed - got '${value}'`;
      break;
    case "boolean":
      if (parseBoolean(value) === undefined) return `type check ('boolean') failed - got '${value}'`;
      break;
    case "object":
    case "null":
      throw new NotModelled(`parameter ${name} of type ${spec.type}`);
    default:
      break;
  }
  if (spec.type === "integer" || spec.type === "number") {
    if (spec.minimum !== undefined && Number(value) < spec.minimum)
      return `value must have a minimum value of ${spec.minimum}`;
    if (spec.maximum !== undefined && Number(value) > spec.maximum)
      return `value must have a maximum value of ${spec.maximum}`;
  }
  if (spec.enum && !spec.enum.includes(value))
    return `value '${value}' does not have a value in the enumeration '${spec.enum.join(", ")}'`;
  if (spec.maxLength !== undefined && value.length > spec.maxLength)
    return `value may only be ${spec.maxLength} characters long`;
  if (spec.minLength !== undefined && value.length < spec.minLength)
    return `value must be at least ${spec.minLength} characters long`;
  if (spec.pattern !== undefined && !schemaPattern(spec.pattern).test(value))
    return "value does not match the regex pattern";
  if (spec.format === undefined) return undefined;
  if (typeof spec.format === "object") return checkPropertyString(spec.format, value, name);
  const keys = PROPERTY_FORMATS[spec.format];
  if (keys) return checkPropertyString(keys, value, name);
  const check = NAMED_FORMATS[spec.format];
  if (!check) throw new NotModelled(`format '${spec.format}' (parameter ${name})`);
  return check(value);
}

function checkPropertyString(
  keys: Readonly<Record<string, ParamSpec>>,
  value: string,
  name: string,
): string | undefined {
  let parsed: Record<string, string>;
  try {
    parsed = parsePropertyString(keys, value);
  } catch (error) {
    return `invalid format - ${(error as Error).message}`;
  }
  const problems: string[] = [];
  for (const [key, v] of Object.entries(parsed)) {
    const problem = checkScalar(keys[key], v, `${name}.${key}`);
    if (problem) problems.push(`${name}.${key}: ${problem}`);
  }
  for (const [key, spec] of Object.entries(keys)) {
    if (!spec.optional && !spec.alias && parsed[key] === undefined)
      problems.push(`${name}.${key}: property is missing and it is not optional`);
  }
  return problems.length ? `invalid format - format error\n${problems.join("\n")}` : undefined;
}

/**
 * PVE::JSONSchema::parse_property_string: `key=value` parts split on commas, a bare part going to the
 * default key, aliases resolved (`volume` -> `file`; net's `virtio=<mac>` -> model=virtio, macaddr=<mac>).
 * Throws PVE's message on a malformed string. Booleans become 1/0 as PVE stores them; other values are left
 * as written.
 */
export function parsePropertyString(keys: Readonly<Record<string, ParamSpec>>, value: string): Record<string, string> {
  const result: Record<string, string> = {};
  const defaultKey = Object.entries(keys).find(([, s]) => s.default_key)?.[0];
  let defaultUsed = false;
  for (const part of value.split(",")) {
    if (/^\s*$/.test(part)) continue;
    const m = /^([^=]+)=(.+)$/.exec(part);
    if (m) {
      let key = m[1];
      if (result[key] !== undefined) throw new Error(`duplicate key in comma-separated list property: ${key}`);
      let spec = Object.hasOwn(keys, key) ? keys[key] : undefined;
      if (spec?.alias) {
        if (spec.keyAlias) {
          if (result[spec.keyAlias] !== undefined) throw new Error(`key alias '${spec.keyAlias}' is already defined`);
          result[spec.keyAlias] = key;
        }
        key = spec.alias;
        spec = keys[key];
      }
      if (!spec) throw new Error(`invalid key in comma-separated list property: ${key}`);
      result[key] = spec.type === "boolean" ? booleanString(m[2]) : m[2];
    } else if (!part.includes("=")) {
      if (!defaultKey) throw new Error("value without key, but schema does not define a default key");
      if (defaultUsed || result[defaultKey] !== undefined)
        throw new Error(`duplicate key in comma-separated list property: ${defaultKey}`);
      result[defaultKey] = part;
      defaultUsed = true;
    } else {
      throw new Error("missing key in comma-separated list property");
    }
  }
  return result;
}

/** "1"/"0" for a boolean PVE understands, else the value unchanged (verification reports it). */
export function booleanString(value: string): string {
  const b = parseBoolean(value);
  return b === undefined ? value : b ? "1" : "0";
}

/**
 * PVE::JSONSchema::print_property_string: the default key first without its name (written as
 * `<default>=<alias>` when a key alias holds it, as net's `virtio=<mac>`), then the required keys sorted
 * (an LXC `net0` starts with `name=`), then the other keys sorted.
 */
export function printPropertyString(
  keys: Readonly<Record<string, ParamSpec>>,
  values: Readonly<Record<string, string>>,
): string {
  const defaultKey = Object.entries(keys).find(([, s]) => s.default_key)?.[0];
  const aliasOfDefault = Object.values(keys).find((s) => s.keyAlias !== undefined && s.keyAlias === defaultKey)?.alias;
  const parts: string[] = [];
  const done = new Set<string>();
  if (defaultKey && values[defaultKey] !== undefined) {
    if (aliasOfDefault && values[aliasOfDefault] !== undefined) {
      parts.push(`${values[defaultKey]}=${values[aliasOfDefault]}`);
      done.add(aliasOfDefault);
    } else {
      parts.push(values[defaultKey]);
    }
    done.add(defaultKey);
  }
  const sorted = Object.keys(values).sort();
  const required = sorted.filter((key) => keys[key] && !keys[key].optional && !keys[key].alias);
  for (const key of [...required, ...sorted]) {
    if (!done.has(key)) parts.push(`${key}=${values[key]}`);
    done.add(key);
  }
  return parts.join(",");
}
