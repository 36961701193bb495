// Support of the engine tests of ./bootstrap.sh: the real script run asynchronously (the HTTP state server and
// its stubs live in the test process, so a synchronous spawn would starve them), against the real OpenTofu and
// providers, with a test config in a temporary git repository.
import { spawn } from "node:child_process";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { loadEngine, pluginCacheDir, REPO } from "../../judges/engine/engine";

export const BOOTSTRAP = join(REPO, "bootstrap.sh");

/** A well-formed Proxmox API token that authorizes nothing (the trap refuses every connection anyway). */
export const DUMMY_PROXMOX_TOKEN = "root@pam!ci=00000000-0000-0000-0000-000000000000";

/**
 * The environment that points bootstrap.sh at the built engine, offline (as runTofu does), with the engine's
 * record of its stand-in providers (BOOTSTRAP_PROVIDER_STAND_INS).
 */
export function engineEnv(): Record<string, string> {
  const engine = loadEngine();
  return {
    TF_BINARY: engine.tofu,
    TF_CLI_CONFIG_FILE: engine.cliConfig,
    TF_PLUGIN_CACHE_DIR: pluginCacheDir(engine),
    HTTPS_PROXY: "http://127.0.0.1:9",
    HTTP_PROXY: "http://127.0.0.1:9",
    NO_PROXY: "127.0.0.1,localhost",
    BOOTSTRAP_PROVIDER_STAND_INS: engine.providersFile,
  };
}

export interface BootstrapRun {
  readonly status: number | null;
  /** stdout and stderr as the script interleaves them (one tee). */
  readonly output: string;
}

/** Starts ./bootstrap.sh; resolves when it exits. stdin is /dev/null (not a terminal). */
export function startBootstrap(
  args: readonly string[],
  env: Record<string, string | undefined>,
  timeoutMs = 600_000,
): Promise<BootstrapRun> {
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k];
  return new Promise((resolve, reject) => {
    const child = spawn(BOOTSTRAP, args, { cwd: REPO, env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

/** The summary row of `layer` (`layer action result add change destroy time`), split into cells. */
export function summaryRow(output: string, layer: string, action: string): string[] | undefined {
  const summary = output.slice(output.lastIndexOf("=== summary"));
  const line = summary.split("\n").find((l) => l.startsWith(`${layer} `) && l.split(/\s{2,}/)[1] === action);
  return line?.split(/\s{2,}/);
}

export interface HoldingProxy {
  readonly url: string;
  /** Requests with this method are held (not forwarded) until release(). */
  hold(method: string): void;
  /** How many requests are being held. */
  held(): number;
  /** Forwards the held requests and stops holding. */
  release(): void;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of the state server that can hold requests of one method: holding the state write
 * (POST) of an apply keeps that apply's lock taken for as long as a test needs.
 */
export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  let holding: string | undefined;
  let waiting: Array<() => void> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const forward = () => {
        const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        upstream.on("error", (e) => res.writeHead(502).end(String(e)));
        upstream.end(Buffer.concat(chunks));
      };
      if (req.method === holding) waiting.push(forward);
      else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: (method) => {
      holding = method;
    },
    held: () => waiting.length,
    release: () => {
      holding = undefined;
      const pending = waiting;
      waiting = [];
      for (const forward of pending) forward();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Resolves once `condition()` holds; rejects after `timeoutMs`, or when `running` ends first (with its output). */
export async function waitFor(
  condition: () => boolean,
  what: string,
  running?: Promise<BootstrapRun>,
  timeoutMs = 300_000,
): Promise<void> {
  let ended: BootstrapRun | undefined;
  void running?.then((run) => (ended = run));
  const start = Date.now();
  while (!condition()) {
    if (ended) throw new Error(`the run ended (exit ${ended.status}) before ${what}:\n${ended.output}`);
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
