// Waits until the Kubernetes API answers /readyz, with the kubeconfig layer 01 wrote: its server, CA and client
// certificate, bounded retries, one progress line per attempt.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { resolve } from "node:path";
import { parse } from "yaml";

export interface ApiEndpoint {
  /** e.g. https://192.168.10.20:6443 */
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecure: boolean;
}

interface KubeconfigDoc {
  "current-context"?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: Record<string, unknown> }>;
  users?: Array<{ name: string; user: Record<string, unknown> }>;
}

/** The API endpoint of the kubeconfig's current context (or its only one). Throws naming what is missing. */
export function readKubeconfig(text: string, dir = "."): ApiEndpoint {
  const doc = (parse(text) ?? {}) as KubeconfigDoc;
  const contexts = doc.contexts ?? [];
  const context =
    contexts.find((c) => c.name === doc["current-context"]) ?? (contexts.length === 1 ? contexts[0] : undefined);
  if (!context) throw new Error(`the kubeconfig has no current-context among its ${contexts.length} contexts`);
  const cluster = doc.clusters?.find((c) => c.name === context.context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== "string")
    throw new Error(`the kubeconfig's cluster ${context.context.cluster} has no server`);
  const user = doc.users?.find((u) => u.name === context.context.user)?.user ?? {};
  const material = (entry: Record<string, unknown>, key: string): Buffer | undefined => {
    const data = entry[`${key}-data`];
    if (typeof data === "string") return Buffer.from(data, "base64");
    const file = entry[key];
    return typeof file === "string" ? readFileSync(resolve(dir, file)) : undefined;
  };
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ca: material(cluster, "certificate-authority"),
    cert: material(user, "client-certificate"),
    key: material(user, "client-key"),
    insecure: cluster["insecure-skip-tls-verify"] === true,
  };
}

export interface ProbeResult {
  readonly ready: boolean;
  /** `HTTP 200 ok`, `connect ECONNREFUSED 192.168.10.20:6443`, ... */
  readonly detail: string;
}

/** One GET /readyz. */
export function probeApi(api: ApiEndpoint, timeoutMs = 5000): Promise<ProbeResult> {
  return new Promise((done) => {
    const req = request(
      `${api.server}/readyz`,
      {
        method: "GET",
        ca: api.ca,
        cert: api.cert,
        key: api.key,
        rejectUnauthorized: !api.insecure,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8").trim().split("\n")[0].slice(0, 100);
          done({ ready: res.statusCode === 200, detail: `HTTP ${res.statusCode} ${body}`.trim() });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs / 1000}s`)));
    req.on("error", (e) => done({ ready: false, detail: e.message }));
    req.end();
  });
}

/** GET `path` as JSON, with the kubeconfig's credentials; undefined when the API does not answer 200. */
export function getApiJson(api: ApiEndpoint, path: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((done) => {
    const req = request(
      `${api.server}${path}`,
      {
        method: "GET",
        ca: api.ca,
        cert: api.cert,
        key: api.key,
        rejectUnauthorized: !api.insecure,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            done(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined);
          } catch {
            done(undefined);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => done(undefined));
    req.end();
  });
}

/** DELETE a Node object; true when it is gone (deleted now, or not there). */
export function deleteNode(
  api: ApiEndpoint,
  name: string,
  timeoutMs = 10_000,
): Promise<{ gone: boolean; detail: string }> {
  return new Promise((done) => {
    const req = request(
      `${api.server}/api/v1/nodes/${encodeURIComponent(name)}`,
      {
        method: "DELETE",
        ca: api.ca,
        cert: api.cert,
        key: api.key,
        rejectUnauthorized: !api.insecure,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          done({
            gone: res.statusCode === 200 || res.statusCode === 202 || res.statusCode === 404,
            detail: `HTTP ${res.statusCode}`,
          }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs / 1000}s`)));
    req.on("error", (e) => done({ gone: false, detail: e.message }));
    req.end();
  });
}

export interface WaitOptions {
  /** Give up after this many seconds. */
  readonly timeoutSeconds: number;
  /** Between attempts. */
  readonly intervalSeconds: number;
  readonly log: (line: string) => void;
  readonly probe?: (api: ApiEndpoint) => Promise<ProbeResult>;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** Polls until ready or out of time; true when the API answered. */
export async function waitForApi(api: ApiEndpoint, options: WaitOptions): Promise<boolean> {
  const probe = options.probe ?? ((a) => probeApi(a));
  const sleep = options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const start = now();
  const attempts = Math.max(1, Math.floor(options.timeoutSeconds / options.intervalSeconds) + 1);
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const result = await probe(api);
    const elapsed = Math.round((now() - start) / 1000);
    options.log(
      `  attempt ${attempt}/${attempts} (${elapsed}s of ${options.timeoutSeconds}s): ${api.server}/readyz: ${result.detail}`,
    );
    if (result.ready) return true;
    if (attempt < attempts) await sleep(options.intervalSeconds * 1000);
  }
  return false;
}
