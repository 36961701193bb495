import { terraformLiteral } from "../../config/terraform-literal";

// What a synth diff may print. A value is withheld when its attribute name says it is a credential, when it
// looks like one whatever its name, or when it equals (or contains) the value of a secret environment variable.
// The diff runs in CI next to the real credentials, and its output ends up in a public PR comment.

/** Printed instead of a withheld value. */
export const SENSITIVE = "(sensitive)";

/** Attribute names whose values are never printed. Matched against every key on the path to a value. */
export const SENSITIVE_NAME =
  /secret|token|password|key|cert|private|machine_secrets|client_configuration|kubeconfig|talosconfig/i;

/** Environment variables whose values are never printed. */
export const SECRET_ENV_NAME = /TOKEN|PASSWORD|SECRET|PASSPHRASE|KEY/i;

/**
 * A secret environment value shorter than this is withheld only where it is the whole value: searching text
 * for a three-letter password would blank out innocent words, and a short value equal to it is still caught.
 */
export const MIN_SECRET_SUBSTRING = 6;

const PEM = /-----BEGIN [A-Z0-9 ]*-----/;
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\./;
/** `user@realm!tokenid=uuid`, the Proxmox API token format; `!=` alone (an expression) does not match. */
const PROXMOX_TOKEN = /[^\s!=]+![^\s!=]+=\S+/;
/** A Tailscale auth key or OAuth client secret (`tskey-auth-...`, `tskey-client-...`). */
const TAILSCALE_KEY = /\btskey-[A-Za-z0-9]+-[A-Za-z0-9_-]{6,}/;
const BASE64_RUN = /[A-Za-z0-9+/]{41,}={0,2}/g;

/**
 * True for strings that look like a credential: a PEM block, a JWT, a Proxmox API token, a Tailscale key, or a base64 run of more
 * than 40 characters. A base64 run must mix upper case, lower case and digits (or end in `=` padding), so that
 * hex ids such as image-factory schematic ids and ordinary long words are printed.
 */
export function looksSecret(value: string): boolean {
  if (PEM.test(value) || JWT.test(value) || PROXMOX_TOKEN.test(value) || TAILSCALE_KEY.test(value)) return true;
  for (const [run] of value.matchAll(BASE64_RUN)) {
    if (run.endsWith("=") || (/[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run))) return true;
  }
  return false;
}

/** The object or list a string holds as JSON, or undefined when it holds anything else. */
export function parseJsonContainer(text: string): object | undefined {
  const start = text.trimStart()[0];
  if (start !== "{" && start !== "[") return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === "object" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** True when an attribute of this name holds a credential. */
export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name);
}

/** The non-empty values of the environment variables whose names match SECRET_ENV_NAME. */
export function secretEnvValues(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_ENV_NAME.test(name) && !!value)
    .map(([, value]) => value as string);
}

/**
 * The forms a secret can take in synthesized text: itself, and its base64 encodings (standard or URL-safe,
 * with or without padding, and the middle of its encoding inside a longer base64 text at each of the three
 * byte offsets). Matched case-insensitively, so an upper- or lower-cased secret is caught too.
 */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  // As the text can hold it: itself, as an engine literal ("$${", "%%{"), and inside a JSON string (quotes,
  // backslashes and control characters escaped) of either.
  const literal = terraformLiteral(secret);
  const forms = new Set(
    [secret, literal, ...[secret, literal].map((s) => JSON.stringify(s).slice(1, -1))].flatMap((s) => [
      s,
      JSON.stringify(s).slice(1, -1),
    ]),
  );
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    // Characters that also encode the neighbouring bytes: the first group after an offset, a partial last group.
    const start = offset === 0 ? 0 : 4;
    const end = (offset + bytes.length) % 3 === 0 ? encoded.length : encoded.length - 4;
    const core = encoded.slice(start, end);
    if (core.length >= MIN_SECRET_SUBSTRING) forms.add(core).add(core.replace(/\+/g, "-").replace(/\//g, "_"));
    if (offset === 0) {
      const padded = encoded;
      const url = padded.replace(/\+/g, "-").replace(/\//g, "_");
      for (const form of [padded, padded.replace(/=+$/, ""), url, url.replace(/=+$/, "")]) forms.add(form);
    }
  }
  return [...forms].filter((f) => f.length > 0);
}

/** One step of the path to a value: an object key or a list index. */
export type PathSegment = string | number;

/** Withholds secrets from values and text, given the secret values known from the environment. */
export class Masker {
  /** A masker that withholds the values of the secret variables of `env`. */
  static fromEnv(env: NodeJS.ProcessEnv): Masker {
    return new Masker(secretEnvValues(env));
  }

  private readonly secrets: readonly string[];
  /** Every form of every secret long enough to be searched for in text, as one case-insensitive pattern. */
  private readonly searchable?: RegExp;
  /** The lower-cased forms of the short secrets, withheld only where they are the whole value. */
  private readonly whole: ReadonlySet<string>;

  constructor(secrets: readonly string[] = []) {
    this.secrets = [...new Set(secrets.filter((s) => s.length > 0))];
    const forms = [...new Set(this.secrets.flatMap(secretForms))];
    // Longest first, so that text() replaces a secret before any shorter secret inside it.
    const long = forms.filter((f) => f.length >= MIN_SECRET_SUBSTRING).sort((a, b) => b.length - a.length);
    if (long.length)
      this.searchable = new RegExp(long.map((f) => f.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")).join("|"), "gi");
    this.whole = new Set(forms.map((f) => f.toLowerCase()));
  }

  /** True when this string must not be printed. */
  isSecretString(value: string): boolean {
    return (
      looksSecret(value) ||
      this.whole.has(value.toLowerCase()) ||
      (!!this.searchable && new RegExp(this.searchable.source, "i").test(value))
    );
  }

  /**
   * The value as it may be printed: SENSITIVE when the path names a credential or the value is a secret
   * string; for objects and lists, a copy with every secret leaf replaced by SENSITIVE.
   */
  value(path: readonly PathSegment[], value: unknown): unknown {
    if (path.some((segment) => typeof segment === "string" && isSensitiveName(segment))) return SENSITIVE;
    if (typeof value === "string") {
      if (this.isSecretString(value)) return SENSITIVE;
      // JSON inside a string (Talos machine-config patches): withheld whole when anything inside is a secret.
      const inner = parseJsonContainer(value);
      return inner === undefined || JSON.stringify(this.value(path, inner)) === JSON.stringify(inner)
        ? value
        : SENSITIVE;
    }
    if (typeof value === "number" || typeof value === "boolean")
      return this.secrets.includes(String(value)) ? SENSITIVE : value;
    if (Array.isArray(value)) return value.map((element, i) => this.value([...path, i], element));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, this.value([...path, key], child)]));
    }
    return value;
  }

  /** The last net, over finished output: every occurrence of a secret environment value replaced. */
  text(output: string): string {
    return this.searchable ? output.replace(this.searchable, SENSITIVE) : output;
  }
}
