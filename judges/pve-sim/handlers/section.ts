/**
 * PVE::SectionConfig (pve-common), the shape behind sdn/*.cfg, jobs.cfg, replication.cfg, ha/rules.cfg and
 * storage.cfg: each section type allows some options, some required, some fixed once created. check_config
 * and delete_from_config as PVE has them, plus the helpers that turn a section into an API answer with the
 * schema's types and the file's digest.
 */
import { createHash } from "node:crypto";
import { ApiError, str, type Ctx } from "../api";
import { booleanString, type ParamValue } from "../params";
import type { ParamSpec } from "../schema";
import type { Section } from "../state";

export interface OptionSpec {
  /** @default false: required when the section is created */
  readonly optional?: boolean;
  /** Set at creation, never changed. @default false */
  readonly fixed?: boolean;
}

/** The options a section type allows (a plugin's `options()`). */
export type SectionOptions = Readonly<Record<string, OptionSpec>>;

/**
 * PVE::SectionConfig::check_config: every given option must be one of the type's (`unexpected property`),
 * a fixed one cannot change after creation, and on create every required one must be there. Booleans are
 * stored as 1/0. `ignore` names the parameters that are not options (the id, digest, delete, ...).
 */
export function checkSection(
  options: SectionOptions,
  params: Readonly<Record<string, ParamValue>>,
  create: boolean,
  ignore: readonly string[],
  properties: Readonly<Record<string, ParamSpec>> = {},
): Section {
  const settings: Section = {};
  for (const [key, value] of Object.entries(params)) {
    if (ignore.includes(key)) continue;
    if (!options[key]) throw new ApiError(500, `unexpected property '${key}'`);
    if (!create && options[key].fixed) throw new ApiError(500, `can't change value of fixed parameter '${key}'`);
    const one = typeof value === "string" ? value : value.join(",");
    settings[key] = properties[key]?.type === "boolean" ? booleanString(one) : one;
  }
  if (create) {
    for (const [key, spec] of Object.entries(options)) {
      if (!spec.optional && settings[key] === undefined)
        throw new ApiError(500, `missing value for required option '${key}'`);
    }
  }
  return settings;
}

/** The `delete` parameter's option names (PVE::Tools::split_list). */
export function deleteList(ctx: Ctx): string[] {
  return (str(ctx, "delete") ?? "").split(/[,;\s]+/).filter(Boolean);
}

/** PVE::SectionConfig::delete_from_config. */
export function deleteFromSection(
  section: Section,
  options: SectionOptions,
  settings: Readonly<Section>,
  toDelete: readonly string[],
): void {
  for (const key of toDelete) {
    const spec = options[key];
    if (!spec) throw new ApiError(500, `no such option '${key}'`);
    if (!spec.optional) throw new ApiError(500, `unable to delete required option '${key}'`);
    if (spec.fixed) throw new ApiError(500, `unable to delete fixed option '${key}'`);
    if (settings[key] !== undefined)
      throw new ApiError(500, `cannot set and delete property '${key}' at the same time!`);
    delete section[key];
  }
}

/** The digest of a config file (PVE: SHA-1 of its text), over the sections as the simulator keeps them. */
export function fileDigest(sections: Readonly<Record<string, Section>>): string {
  return createHash("sha1").update(JSON.stringify(sections)).digest("hex");
}

/** PVE::SectionConfig::assert_if_modified. */
export function assertDigest(ctx: Ctx, sections: Readonly<Record<string, Section>>): void {
  const digest = str(ctx, "digest");
  if (digest !== undefined && digest !== fileDigest(sections))
    throw new ApiError(500, "detected modified configuration - file changed by other user? Try again.");
}

/** A section's values typed as the schema types them: integers and numbers as numbers, booleans as 1/0. */
export function typedSection(
  section: Readonly<Record<string, unknown>>,
  properties: Readonly<Record<string, ParamSpec>>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(section).map(([k, v]) => {
      const type = properties[k]?.type;
      const numeric = type === "integer" || type === "number" || type === "boolean";
      return [k, numeric && typeof v === "string" ? Number(v) : v];
    }),
  );
}
