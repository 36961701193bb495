/**
 * The Kubernetes judge from TypeScript (the engine tests): find what judges/kubernetes/build.sh built, start
 * `kube-judge up` and wait for its ready line, serve the chart repository on 127.0.0.1, install a chart's
 * run-time CRDs, and read the API with the admin kubeconfig. Node 20 built-ins (and yaml) only; nothing here
 * blocks the event loop for long.
 */
import { execFile, spawn } from "node:child_process";
import { createReadStream, existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request, type RequestOptions } from "node:https";
import type { AddressInfo } from "node:net";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { parse, parseAllDocuments } from "yaml";

const BUILD = join(__dirname, "build.sh");

/** A chart the judge serves, as build.sh records it in judge.json. */
export interface JudgeChart {
  readonly version: string;
  /** The Go module (path@version) whose tree holds the chart's source. */
  readonly module: string;
  /** The chart's folder in that module. */
  readonly path: string;
}

export interface KubeJudgeBuild {
  /** The kube-judge binary. */
  readonly binary: string;
  /** The judge's cache folder: charts/ (a chart repository), crds/<chart>/. */
  readonly dir: string;
  readonly kubernetes: string;
  readonly charts: Readonly<Record<string, JudgeChart>>;
}

/** The judge built for the current pins; throws with what to run when it is not built. */
export async function loadKubeJudge(): Promise<KubeJudgeBuild> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(BUILD, ["--print-env"], { encoding: "utf8" }));
  } catch (error) {
    throw new Error(
      `The Kubernetes judge is not built for the current pins: run judges/kubernetes/build.sh (needs Go and the Go module proxy).\n${(error as { stderr?: string }).stderr ?? error}`,
    );
  }
  const env = Object.fromEntries(
    stdout
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const manifest = JSON.parse(readFileSync(join(env.KUBE_JUDGE_DIR, "judge.json"), "utf8")) as {
    kubernetes: string;
    charts: Record<string, JudgeChart>;
  };
  return { binary: env.KUBE_JUDGE, dir: env.KUBE_JUDGE_DIR, ...manifest };
}

export interface KubeJudgeOptions {
  /** Loopback IPv4 address to listen on. */
  readonly address: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** PEM files of the cluster's PKI. */
  readonly caCert: string;
  readonly caKey: string;
  readonly serviceAccountKey: string;
  readonly aggregatorCaCert?: string;
  readonly aggregatorCaKey?: string;
  readonly sans?: readonly string[];
  /** kube-apiserver's AdmissionConfiguration file (e.g. Talos' PodSecurity defaults). */
  readonly admissionConfig?: string;
  readonly dataDir: string;
  /** Fake nodes, "name" or "name=IP". @default one node named "judge" */
  readonly nodes?: readonly string[];
}

export interface KubeJudge {
  /** https://address:port */
  readonly server: string;
  /** The admin (system:masters) kubeconfig the judge minted from the cluster CA. */
  readonly kubeconfig: string;
  /** The folder with logs/<component>.log. */
  readonly dataDir: string;
  stop(): Promise<void>;
}

/** Starts `kube-judge up` and resolves once it prints its ready line (its error, with log tail, if it stops first). */
export async function startKubeJudge(build: KubeJudgeBuild, options: KubeJudgeOptions): Promise<KubeJudge> {
  const args = [
    "up",
    `--address=${options.address}`,
    `--port=${options.port ?? 0}`,
    `--ca-cert=${options.caCert}`,
    `--ca-key=${options.caKey}`,
    `--service-account-key=${options.serviceAccountKey}`,
    `--data-dir=${options.dataDir}`,
    ...(options.aggregatorCaCert
      ? [`--aggregator-ca-cert=${options.aggregatorCaCert}`, `--aggregator-ca-key=${options.aggregatorCaKey}`]
      : []),
    ...(options.sans ?? []).map((san) => `--san=${san}`),
    ...(options.admissionConfig ? [`--admission-control-config=${options.admissionConfig}`] : []),
    ...(options.nodes ?? []).map((node) => `--node=${node}`),
  ];
  const child = spawn(build.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-16_000);
  });
  const ready = await new Promise<{ server: string; kubeconfig: string }>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const parsed = JSON.parse(line) as { ready?: boolean; server: string; kubeconfig: string };
          if (parsed.ready) resolve(parsed);
        } catch {
          // an incomplete line: wait for the rest
        }
      }
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`kube-judge up exited ${code} before ready:\n${stderr}`)));
  });
  return {
    ...ready,
    dataDir: options.dataDir,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** A Helm chart repository (index.yaml and the .tgz files of `dir`) over HTTP on 127.0.0.1. */
export async function startChartRepository(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const files = new Set(readdirSync(dir));
  const server: Server = createServer((req, res) => {
    const name = basename(decodeURIComponent((req.url ?? "/").split("?")[0]));
    if (req.method !== "GET" || !files.has(name)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": name.endsWith(".yaml") ? "text/yaml" : "application/gzip" });
    createReadStream(join(dir, name)).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A client of the API with a kubeconfig's first cluster and user (embedded certificate data). */
export interface KubeClient {
  /** GET `path`: the parsed body, or undefined on 404. */
  get<T = Record<string, unknown>>(path: string): Promise<T | undefined>;
  /** POST/PUT/PATCH… `path` with `body`: status and parsed body. */
  send(method: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
}

export function kubeClient(kubeconfig: string): KubeClient {
  const config = parse(readFileSync(kubeconfig, "utf8")) as {
    clusters: Array<{ cluster: { server: string; "certificate-authority-data": string } }>;
    users: Array<{ user: { "client-certificate-data": string; "client-key-data": string } }>;
  };
  const { server, "certificate-authority-data": ca } = config.clusters[0].cluster;
  const { "client-certificate-data": cert, "client-key-data": key } = config.users[0].user;
  const url = new URL(server);
  const tls: RequestOptions = {
    hostname: url.hostname,
    port: url.port,
    ca: Buffer.from(ca, "base64"),
    cert: Buffer.from(cert, "base64"),
    key: Buffer.from(key, "base64"),
  };
  const call = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          ...tls,
          method,
          path,
          headers: {
            accept: "application/json",
            ...(payload
              ? {
                  "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
                  "content-length": Buffer.byteLength(payload),
                }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            // Not every answer is JSON: a path under an API group that is not served is a plain-text 404 (a
            // throw here would leave the promise unsettled).
            let parsed: Record<string, unknown> = {};
            try {
              parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
            } catch {
              parsed = { message: text };
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.on("error", reject);
      req.end(payload);
    });
  return {
    get: async <T>(path: string) => {
      const { status, body } = await call("GET", path);
      if (status === 404) return undefined;
      if (status !== 200) throw new Error(`GET ${path}: ${status} ${JSON.stringify(body)}`);
      return body as T;
    },
    send: (method, path, body) => call(method, path, body),
  };
}

/**
 * Creates the CRDs in the judge's crds/<chart>/ (what a chart's controller installs when it starts, e.g.
 * cilium-operator) and waits until each is Established.
 */
export async function installCrds(client: KubeClient, build: KubeJudgeBuild, chart: string): Promise<string[]> {
  const dir = join(build.dir, "crds", chart);
  if (!existsSync(dir)) throw new Error(`the judge has no CRDs for ${chart} in ${dir}`);
  const names: string[] = [];
  for (const file of readdirSync(dir).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      const crd = doc.toJS() as { kind?: string; metadata: { name: string } } | null;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      const { status, body } = await client.send(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd,
      );
      if (status !== 201 && status !== 409)
        throw new Error(`CRD ${crd.metadata.name}: ${status} ${JSON.stringify(body)}`);
      names.push(crd.metadata.name);
    }
  }
  for (const name of names) {
    await waitUntil(`CRD ${name} Established`, async () => {
      const crd = await client.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      return crd?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ?? false;
    });
  }
  return names;
}

/** Polls `check` every 250 ms until it is true; throws after `timeoutMs`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
