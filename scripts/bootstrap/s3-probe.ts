// Does an S3 store honour conditional writes? OpenTofu's lock file (use_lockfile) is a PutObject of <key>.tflock
// with `If-None-Match: *`: the store must refuse it (412) while the object exists. A store that ignores the header
// lets two runs both "take" the lock and write the state at once. The probe puts one object twice at the same time
// with that header, then a third time: exactly one of the three may succeed. Requests are signed with AWS
// Signature Version 4 from the environment's credentials, as the engine's are.
import { createHash, createHmac, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface S3Location {
  /** Scheme, host and port of the store. @default https://s3.<region>.amazonaws.com */
  readonly endpoint?: string;
  readonly bucket: string;
  readonly region: string;
  readonly usePathStyle: boolean;
}

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3Response {
  readonly status: number;
  readonly body: string;
}

export type ProbeVerdict =
  | { readonly kind: "honoured" }
  /** Every conditional put went through: the store ignores If-None-Match. */
  | { readonly kind: "ignored"; readonly statuses: readonly number[] }
  /** The store answered something else (no bucket, no access, not implemented, unreachable). */
  | { readonly kind: "error"; readonly reason: string };

/** The credentials the engine's S3 backend reads from the environment; undefined when the pair is incomplete. */
export function s3Credentials(env: NodeJS.ProcessEnv): S3Credentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

/** The URL of an object, path style or virtual-hosted. */
export function objectUrl(location: S3Location, key: string): URL {
  const base = new URL(location.endpoint ?? `https://s3.${location.region}.amazonaws.com`);
  const path = key.split("/").map(encodeSegment).join("/");
  if (location.usePathStyle) return new URL(`${base.origin}/${location.bucket}/${path}`);
  return new URL(`${base.protocol}//${location.bucket}.${base.host}/${path}`);
}

function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/**
 * The headers of a request signed with AWS Signature Version 4 (header-based, single chunk). `unsigned` headers
 * are sent but left out of the signature.
 */
export function signedHeaders(
  method: string,
  url: URL,
  body: string,
  region: string,
  credentials: S3Credentials,
  now: Date,
  unsigned: Record<string, string> = {},
): Record<string, string> {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const signed: Record<string, string> = {
    host: url.host,
    "x-amz-content-sha256": sha256(body),
    "x-amz-date": amzDate,
    ...(credentials.sessionToken ? { "x-amz-security-token": credentials.sessionToken } : {}),
  };
  const names = Object.keys(signed).sort();
  const canonical = [
    method,
    url.pathname,
    "",
    ...names.map((n) => `${n}:${signed[n].trim()}`),
    "",
    names.join(";"),
    signed["x-amz-content-sha256"],
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), region), "s3"), "aws4_request");
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  return {
    ...signed,
    ...unsigned,
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
  };
}

export function s3Request(
  method: "PUT" | "DELETE",
  location: S3Location,
  credentials: S3Credentials,
  key: string,
  body = "",
  unsigned: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<S3Response> {
  const url = objectUrl(location, key);
  const headers = signedHeaders(method, url, body, location.region, credentials, new Date(), unsigned);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      { method, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url.origin} within ${timeoutMs / 1000}s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** "NoSuchBucket: The specified bucket does not exist" from an S3 error document, or the status alone. */
export function describeS3Error(response: S3Response): string {
  const code = /<Code>([^<]*)<\/Code>/.exec(response.body)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(response.body)?.[1];
  return `HTTP ${response.status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`;
}

/** 412 Precondition Failed, or 409 ConditionalRequestConflict (AWS, for a concurrent conditional write). */
const refused = (r: S3Response) => r.status === 412 || r.status === 409;
const stored = (r: S3Response) => r.status === 200;

/**
 * Puts `<key>` (a probe object beside the state) three times with `If-None-Match: *`, two at once and one after,
 * then deletes it. Honoured when exactly one put was stored and the others refused.
 */
export async function probeConditionalWrites(
  location: S3Location,
  credentials: S3Credentials,
  key: string,
): Promise<ProbeVerdict> {
  const put = (n: number) =>
    s3Request("PUT", location, credentials, key, `bootstrap conditional-write probe ${randomUUID()} #${n}\n`, {
      "if-none-match": "*",
    });
  let responses: S3Response[];
  try {
    const concurrent = await Promise.all([put(1), put(2)]);
    responses = [...concurrent, await put(3)];
  } catch (e) {
    return { kind: "error", reason: `the store did not answer: ${(e as Error).message}` };
  }
  try {
    if (responses.some(stored)) await s3Request("DELETE", location, credentials, key);
  } catch {
    // The verdict stands; a probe object left behind is harmless.
  }
  const odd = responses.find((r) => !stored(r) && !refused(r));
  if (odd) return { kind: "error", reason: `a conditional PutObject was answered ${describeS3Error(odd)}` };
  const storedCount = responses.filter(stored).length;
  if (storedCount === 1) return { kind: "honoured" };
  if (storedCount === 0)
    return { kind: "error", reason: `every conditional PutObject of the new object ${key} was refused` };
  return { kind: "ignored", statuses: responses.map((r) => r.status) };
}
