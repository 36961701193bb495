// Provider stand-ins: where the registry's pinned release of a provider cannot be installed (a machine that
// reaches no Terraform registry and builds its providers from their Go modules, as this repository's engine does),
// BOOTSTRAP_PROVIDER_STAND_INS names a JSON file saying which other build stands in for which pin:
//   { "siderolabs/talos": { "pinned": "0.12.0", "built": "0.8.0", "why": "..." }, ... }
// (the format judges/engine/build.sh writes as providers.json). After synthesis, each stack's
// terraform.required_providers.<p>.version is moved from the pinned to the built version, nothing else, and the
// run says so, provider by provider. The stacks as synthesized keep the registry versions users get.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const STAND_INS_ENV = "BOOTSTRAP_PROVIDER_STAND_INS";

export interface StandIn {
  readonly pinned: string;
  readonly built: string;
  readonly why?: string;
}

/** By provider source without host, lower case: `siderolabs/talos`. */
export type StandIns = Readonly<Record<string, StandIn>>;

const SOURCE = /^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9-]*$/;
// A version as a provider release or a Go pseudo-version labels it: digits and dots, then an optional
// pre-release of letters, digits, dots and dashes. Nothing that could be an engine expression.
const VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const MAX_BYTES = 64 * 1024;

/** The stand-ins of `file`, or the problems found in it (`file: key: what`), one per line. */
export function readStandIns(file: string): { standIns: StandIns } | { problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { problems: [`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`] };
  }
  if (Buffer.byteLength(text) > MAX_BYTES) return { problems: [`${file}: larger than ${MAX_BYTES} bytes`] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { problems: [`${file}: not JSON (${(e as Error).message})`] };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    return { problems: [`${file}: expected an object of providers ("namespace/type": {pinned, built})`] };
  const problems: string[] = [];
  const standIns: Record<string, StandIn> = {};
  for (const [source, entry] of Object.entries(parsed)) {
    if (!SOURCE.test(source)) {
      problems.push(`${file}: ${JSON.stringify(source)}: expected a provider source like "siderolabs/talos"`);
      continue;
    }
    const e = entry as Record<string, unknown> | null;
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      problems.push(`${file}: ${source}: expected an object {pinned, built}`);
      continue;
    }
    const bad = ["pinned", "built"].filter((k) => typeof e[k] !== "string" || !VERSION.test(e[k] as string));
    for (const k of bad) problems.push(`${file}: ${source}.${k}: expected a version like "0.12.0"`);
    if (e.why !== undefined && (typeof e.why !== "string" || e.why.length > 500 || /[\r\n]/.test(e.why)))
      problems.push(`${file}: ${source}.why: expected one line of text`);
    if (bad.length === 0)
      standIns[source] = { pinned: e.pinned as string, built: e.built as string, why: e.why as string | undefined };
  }
  return problems.length > 0 ? { problems } : { standIns };
}

/**
 * A provider source address without its host: `registry.terraform.io/Bpg/Proxmox` and `bpg/proxmox` give
 * `bpg/proxmox`; a bare type such as `helm` is in the `hashicorp` namespace, as the engine reads it.
 */
export function sourceKey(source: string): string {
  const parts = source.toLowerCase().split("/");
  return parts.length === 1 ? `hashicorp/${parts[0]}` : parts.slice(-2).join("/");
}

export interface StandInUse {
  readonly source: string;
  readonly pinned: string;
  readonly built: string;
  readonly why?: string;
}

/**
 * Moves the required version of every provider with a stand-in from its pin to the built version, in the stack
 * of `stackDir`. Returns what it moved, or the providers whose pin is not the one the stand-in was built for
 * (the stand-ins and this checkout have drifted apart: nothing is written then).
 */
export function applyStandIns(stackDir: string, standIns: StandIns): { used: StandInUse[] } | { problems: string[] } {
  const file = join(stackDir, "cdk.tf.json");
  const stack = JSON.parse(readFileSync(file, "utf8")) as {
    terraform?: { required_providers?: Record<string, { source: string; version?: string }> };
  };
  const used: StandInUse[] = [];
  const problems: string[] = [];
  for (const requirement of Object.values(stack.terraform?.required_providers ?? {})) {
    const source = sourceKey(requirement.source);
    const standIn = standIns[source];
    if (standIn === undefined || standIn.built === standIn.pinned) continue;
    if (requirement.version !== standIn.pinned) {
      problems.push(`${source}: the stack requires ${requirement.version}, the stand-in is for ${standIn.pinned}`);
      continue;
    }
    requirement.version = standIn.built;
    used.push({ source, ...standIn });
  }
  if (problems.length > 0) return { problems };
  // cdktf's layout (2-space JSON, trailing newline): diagnostics' line numbers still match.
  if (used.length > 0) writeFileSync(file, `${JSON.stringify(stack, null, 2)}\n`);
  return { used };
}
