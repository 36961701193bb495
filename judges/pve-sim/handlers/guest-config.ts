// What VMs and containers share in the API: a config read with or without its pending changes, the pending
// list, and the `delete` parameter. Each kind passes its own schema properties.
import { str, type Ctx } from "../api";
import { parseBoolean } from "../params";
import type { ParamSpec } from "../schema";
import { configDigest, type VmState } from "../state";

type Properties = Readonly<Record<string, ParamSpec>>;

/**
 * Tags as PVE stores them with the datacenter's default tag style (case-insensitive, alphabetical): lower case,
 * sorted, each once, joined by `;` (pve-guest-common PVE::GuestHelpers get_unique_tags).
 */
export function uniqueTags(value: string): string {
  const tags = value
    .split(/[,; ]+/)
    .filter(Boolean)
    .map((t) => t.toLowerCase());
  return [...new Set(tags)].sort().join(";");
}

/** The option names of a request's `delete` parameter. */
export function deletesOf(ctx: Ctx): string[] {
  return (str(ctx, "delete") ?? "").split(/[,; ]+/).filter(Boolean);
}

/** A config as the API returns it: integers and booleans as JSON numbers, the rest as strings. */
export function typed(
  config: Readonly<Record<string, string>>,
  properties: Properties,
): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(config)) {
    const type = (properties[key] ?? properties[key.replace(/\d+$/, "[n]")])?.type;
    out[key] =
      (type === "integer" || type === "boolean" || type === "number") && /^-?\d+(\.\d+)?$/.test(value)
        ? Number(value)
        : value;
  }
  return out;
}

/** GET .../config: the pending changes applied unless `current` is set, with the digest. */
export function configResponse(ctx: Ctx, guest: VmState, properties: Properties): Record<string, string | number> {
  const current = parseBoolean(str(ctx, "current") ?? "0");
  const config = current ? { ...guest.config } : { ...guest.config, ...guest.pending };
  if (!current) for (const key of guest.pendingDelete) delete config[key];
  return { ...typed(config, properties), digest: configDigest(guest) };
}

/** GET .../pending: every option with its current value, pending value and pending deletion. */
export function pendingResponse(guest: VmState, properties: Properties): Record<string, unknown>[] {
  const keys = new Set([...Object.keys(guest.config), ...Object.keys(guest.pending), ...guest.pendingDelete]);
  return [...keys].sort().map((key) => ({
    key,
    ...(guest.config[key] !== undefined ? { value: typed({ [key]: guest.config[key] }, properties)[key] } : {}),
    ...(guest.pending[key] !== undefined ? { pending: typed({ [key]: guest.pending[key] }, properties)[key] } : {}),
    ...(guest.pendingDelete.includes(key) ? { delete: 1 } : {}),
  }));
}
