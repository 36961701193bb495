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

/** What the API answered: its status and body, or why it did not answer (`status` undefined). */
export interface ApiAnswer {
  readonly status?: number;
  readonly body: string;
  /** `connect ECONNREFUSED ...`, `no answer in 5s`, when there is no status. */
  readonly error?: string;
}

/** One HTTPS request to the API with the kubeconfig's CA and client certificate; never rejects. */
export function apiRequest(api: ApiEndpoint, method: string, path: string, timeoutMs = 5000): Promise<ApiAnswer> {
  return new Promise((done) => {
    const req = request(
      `${api.server}${path}`,
      { method, ca: api.ca, cert: api.cert, key: api.key, rejectUnauthorized: !api.insecure, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => done({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs / 1000}s`)));
    req.on("error", (e) => done({ body: "", error: e.message }));
    req.end();
  });
}

/** One GET /readyz. */
export async function probeApi(api: ApiEndpoint, timeoutMs = 5000): Promise<ProbeResult> {
  const answer = await apiRequest(api, "GET", "/readyz", timeoutMs);
  if (answer.status === undefined) return { ready: false, detail: answer.error ?? "no answer" };
  const body = answer.body.trim().split("\n")[0].slice(0, 100);
  return { ready: answer.status === 200, detail: `HTTP ${answer.status} ${body}`.trim() };
}

/** GET `path` as JSON, with the kubeconfig's credentials; undefined when the API does not answer 200 with JSON. */
export async function getApiJson(api: ApiEndpoint, path: string, timeoutMs = 5000): Promise<unknown> {
  const answer = await apiRequest(api, "GET", path, timeoutMs);
  if (answer.status !== 200) return undefined;
  try {
    return JSON.parse(answer.body);
  } catch {
    return undefined;
  }
}

/** DELETE a Node object; gone when it is (deleted now, or not there). */
export async function deleteNode(
  api: ApiEndpoint,
  name: string,
  timeoutMs = 10_000,
): Promise<{ gone: boolean; detail: string }> {
  const answer = await apiRequest(api, "DELETE", `/api/v1/nodes/${encodeURIComponent(name)}`, timeoutMs);
  if (answer.status === undefined) return { gone: false, detail: answer.error ?? "no answer" };
  return { gone: [200, 202, 404].includes(answer.status), detail: `HTTP ${answer.status}` };
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
