// Engine tests: synthesize a config with the compiled app (as `npm run synth` does), make each stack
// installable from the engine's mirror, run the real tofu on it, and stub the services a plan or an apply
// would reach, all on 127.0.0.1.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { LAYERS, type LayerName as Layer } from "../../layers/catalog";
import {
  loadEngine,
  prepareStack,
  REPO,
  runTofuAsync,
  type Engine,
  type TofuOptions,
  type TofuResult,
} from "../../judges/engine/engine";

const execFileAsync = promisify(execFile);

export { REPO };
export {
  type RecordedRequest,
  type StubServer,
  startImageFactory,
} from "../../judges/simulated-cluster/image-factory";
export { LAYERS, type LayerName as Layer } from "../../layers/catalog";

/** The built engine; fails the test with "run judges/engine/build.sh" when it is not built. */
export function engine(): Engine {
  return loadEngine();
}

/** A temporary folder, removed by the returned function (safe to call twice). */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `engine-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Writes cluster.yaml (the tests' copy of the root example, __tests__/fixtures/example, with `cluster` merged
 * over it at the top level) and that copy's nodes.yaml into `dir`; returns `dir`. Never the root example itself:
 * users edit it.
 */
export function deriveConfig(dir: string, cluster: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const example = join(REPO, "__tests__", "fixtures", "example");
  const base = parse(readFileSync(join(example, "cluster.yaml"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(dir, "cluster.yaml"), stringify({ ...base, ...cluster }));
  copyFileSync(join(example, "nodes.yaml"), join(dir, "nodes.yaml"));
  return dir;
}

export interface SynthesizedStack {
  readonly layer: Layer;
  readonly dir: string;
  /** The stack's Terraform JSON as synthesized, before any stand-in rewrite. */
  readonly json: StackJson;
}

export type StackJson = {
  terraform?: {
    required_providers?: Record<string, { source: string; version: string }>;
    backend?: Record<string, unknown>;
  };
  provider?: Record<string, Record<string, unknown>[]>;
  resource?: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
  output?: Record<string, unknown>;
  variable?: Record<string, { sensitive?: boolean }>;
};

/**
 * Synthesizes the config in `configDir` with `node dist/main.js` (CONFIG_DIR, CDKTF_OUTDIR) into
 * `outdir`/cdktf.out, then prepares every stack for the engine (the stand-in version rewrite only).
 * dist/ is compiled by the global setup (node scripts/build.mjs).
 */
export async function synthesize(configDir: string, outdir: string): Promise<Record<Layer, SynthesizedStack>> {
  const out = join(outdir, "cdktf.out");
  mkdirSync(outdir, { recursive: true });
  await execFileAsync(process.execPath, [join(REPO, "dist", "main.js")], {
    cwd: REPO,
    env: { ...process.env, CONFIG_DIR: configDir, CDKTF_OUTDIR: out, CHECKPOINT_DISABLE: "1" },
    maxBuffer: 64 * 1024 * 1024,
  });
  const stacks = {} as Record<Layer, SynthesizedStack>;
  for (const layer of LAYERS) {
    const dir = join(out, "stacks", layer);
    const json = JSON.parse(readFileSync(join(dir, "cdk.tf.json"), "utf8")) as StackJson;
    prepareStack(dir, engine());
    stacks[layer] = { layer, dir, json };
  }
  return stacks;
}

/**
 * Runs tofu in a stack (offline, automation mode; see judges/engine/engine.ts), without blocking this
 * process: the HTTP state server and the stubs of a test live in it and must keep answering.
 */
export function tofu(
  stack: { dir: string },
  args: readonly string[],
  options: Omit<TofuOptions, "cwd"> = {},
): Promise<TofuResult> {
  return runTofuAsync(args, { ...options, cwd: stack.dir });
}

/** A diagnostic of `tofu validate -json`. */
export interface Diagnostic {
  severity: "error" | "warning";
  summary: string;
  detail?: string;
  address?: string;
  range?: { filename: string; start: { line: number; column: number } };
  snippet?: { context?: string | null; code?: string };
}

/**
 * The address of what the JSON line `line` (1-based) of a cdktf stack belongs to, from the key path above it
 * (cdktf writes 2-space indented JSON): `proxmox_virtual_environment_vm.controlplane0.cpu`,
 * `data.talos_machine_configuration.worker0`, `provider.talos`, `terraform.backend`, ...
 */
export function addressAt(text: string, line: number): string {
  const lines = text.split("\n");
  const path: string[] = [];
  let indent = Infinity;
  for (let i = Math.min(line, lines.length) - 1; i >= 0 && indent > 2; i--) {
    const m = /^( *)"((?:[^"\\]|\\.)*)":/.exec(lines[i]);
    if (m && m[1].length < indent) {
      indent = m[1].length;
      path.unshift(JSON.parse(`"${m[2]}"`) as string);
    }
  }
  if (path[0] === "resource") return path.slice(1).join(".");
  return path.join(".");
}

/** "<stack> <address>: <severity>: <summary>: <detail>" for each diagnostic, for assertion messages. */
export function describeDiagnostics(stack: SynthesizedStack, diagnostics: readonly Diagnostic[]): string[] {
  const text = readFileSync(join(stack.dir, "cdk.tf.json"), "utf8");
  return diagnostics.map((d) => {
    const where =
      d.address ?? (d.range ? addressAt(text, d.range.start.line) : (d.snippet?.context ?? "(no location)"));
    const line = d.range ? ` (cdk.tf.json:${d.range.start.line})` : "";
    return `${stack.layer} ${where}${line}: ${d.severity}: ${d.summary}${d.detail ? `: ${d.detail.replace(/\s+/g, " ")}` : ""}`;
  });
}

/** Planned changes (no-ops left out) by resource type, from `tofu show -json <plan>`: { proxmox_virtual_environment_vm: { create: 5 } }. */
export function plannedActions(planJson: {
  resource_changes?: Array<{ type: string; mode: string; change: { actions: string[] } }>;
}) {
  const counts: Record<string, Record<string, number>> = {};
  for (const rc of planJson.resource_changes ?? []) {
    const action = rc.change.actions.join("+");
    if (rc.mode !== "managed" || action === "no-op") continue;
    counts[rc.type] ??= {};
    counts[rc.type][action] = (counts[rc.type][action] ?? 0) + 1;
  }
  return counts;
}

/** Every string leaf of a JSON value. */
export function stringLeaves(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringLeaves);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(stringLeaves);
  return [];
}

/**
 * A trap for the Proxmox API on 127.0.0.1: accepts TCP connections, records them and closes them at
 * once, so a provider that calls it fails visibly and the test can assert that nothing did.
 */
export async function startTrap(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Sends one raw request, as another client of the state server would; resolves with status and body. */
export function rawRequest(
  url: string,
  method: string,
  body: string,
  auth: { username: string; password: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, auth: `${auth.username}:${auth.password}`, headers: { "Content-Type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
