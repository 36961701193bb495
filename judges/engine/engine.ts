/**
 * The real engine (OpenTofu and the providers built by judges/engine/build.sh), for the engine tests and
 * judges/engine/provider-schema.ts:
 * - `loadEngine()` finds the built engine through `build.sh --print-env`, with the Talos config checkers;
 * - `prepareStack()` makes a synthesized stack installable from the engine's mirror: the one rewrite allowed
 *   is a stand-in provider's required version, from the pinned release to the one built;
 * - `runTofu()` / `runTofuAsync()` run tofu offline, in automation mode.
 * Node 20 built-ins, and bootstrap's own reading of a provider address (sourceKey).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { sourceKey } from "../../scripts/bootstrap/stand-ins";

export { sourceKey };

export const REPO = join(__dirname, "..", "..");
const BUILD = join(REPO, "judges", "engine", "build.sh");

/** One provider of the engine, as build.sh records it in providers.json. */
export interface EngineProvider {
  /** The version our stacks require (the generated bindings' version). */
  readonly pinned: string;
  /** The version built into the mirror; differs from `pinned` for a stand-in. */
  readonly built: string;
  /** Why a stand-in was built instead of the pinned release. */
  readonly why?: string;
}

/** A Talos config checker (judges/talos-config), as build.sh records it in checkers.json. */
export interface TalosConfigChecker {
  /** The github.com/siderolabs/talos/pkg/machinery version it is built with, e.g. `v1.12.7`. */
  readonly machinery: string;
  readonly binary: string;
}

export interface Engine {
  /** The tofu binary. */
  readonly tofu: string;
  /** CLI config whose only content is a filesystem_mirror of the built providers. */
  readonly cliConfig: string;
  /** By source address without host, e.g. `siderolabs/talos`. */
  readonly providers: Readonly<Record<string, EngineProvider>>;
  /** providers.json: the providers as a file (bootstrap.sh's BOOTSTRAP_PROVIDER_STAND_INS). */
  readonly providersFile: string;
  /** By Talos minor, e.g. `v1.12`. */
  readonly talosConfigCheckers: Readonly<Record<string, TalosConfigChecker>>;
}

let cached: Engine | undefined;

/** The engine built for the current tools/ pins; throws with what to run when it is not built. */
export function loadEngine(): Engine {
  if (cached) return cached;
  const result = spawnSync(BUILD, ["--print-env"], { encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(
      `The engine (OpenTofu and the providers) is not built for the current tools/ pins: run judges/engine/build.sh ` +
        `(about 12 minutes cold on 2 cores; needs Go and the Go module proxy).\n${result.stderr ?? ""}${result.error?.message ?? ""}`,
    );
  }
  const env = Object.fromEntries(
    result.stdout
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const missing = ["TOFU", "TF_CLI_CONFIG_FILE", "ENGINE_PROVIDERS", "TALOS_CONFIG_CHECKERS"].filter(
    (key) => !env[key],
  );
  if (missing.length > 0) throw new Error(`build.sh --print-env printed no ${missing.join(", ")}:\n${result.stdout}`);
  cached = {
    tofu: env.TOFU,
    cliConfig: env.TF_CLI_CONFIG_FILE,
    providers: JSON.parse(readFileSync(env.ENGINE_PROVIDERS, "utf8")) as Record<string, EngineProvider>,
    providersFile: env.ENGINE_PROVIDERS,
    talosConfigCheckers: JSON.parse(readFileSync(env.TALOS_CONFIG_CHECKERS, "utf8")) as Record<
      string,
      TalosConfigChecker
    >,
  };
  return cached;
}

/** The providers built at a version other than the pinned one. */
export function standIns(engine: Engine): Array<[source: string, provider: EngineProvider]> {
  return Object.entries(engine.providers).filter(([, p]) => p.built !== p.pinned);
}

export interface Rewrite {
  readonly provider: string;
  readonly from: string;
  readonly to: string;
}

/**
 * Rewrites `terraform.required_providers.<p>.version` of the stack in `stackDir` from the pinned version
 * to the built one, for every stand-in provider, and nothing else. Throws when a stack requires a version
 * the engine doesn't pin (the tools/ pins and the bindings have drifted apart).
 */
export function prepareStack(
  stackDir: string,
  engine: Engine = loadEngine(),
  log: (line: string) => void = defaultLog,
): Rewrite[] {
  const file = join(stackDir, "cdk.tf.json");
  const text = readFileSync(file, "utf8");
  const stack = JSON.parse(text) as {
    terraform?: { required_providers?: Record<string, { source: string; version?: string }> };
  };
  const rewrites: Rewrite[] = [];
  const problems: string[] = [];
  for (const [name, requirement] of Object.entries(stack.terraform?.required_providers ?? {})) {
    const provider = engine.providers[sourceKey(requirement.source)];
    if (provider === undefined) {
      problems.push(`${name}: ${requirement.source} is not built by judges/engine/build.sh`);
    } else if (requirement.version !== provider.pinned) {
      problems.push(
        `${name}: the stack requires ${requirement.source} ${requirement.version}, the engine pins ${provider.pinned}`,
      );
    } else if (provider.built !== provider.pinned) {
      requirement.version = provider.built;
      rewrites.push({ provider: requirement.source, from: provider.pinned, to: provider.built });
    }
  }
  if (problems.length > 0) throw new Error(`${file}:\n  ${problems.join("\n  ")}`);
  for (const r of rewrites)
    log(`${file}: ${r.provider} ${r.from} -> ${r.to} (STAND-IN built for the pinned ${r.from})`);
  // cdktf writes 2-space JSON with a trailing newline: same layout, so diagnostics' line numbers still match.
  if (rewrites.length > 0) writeFileSync(file, `${JSON.stringify(stack, null, 2)}\n`);
  return rewrites;
}

function defaultLog(line: string): void {
  process.stderr.write(`[engine] ${line}\n`);
}

export interface TofuResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TofuOptions {
  readonly cwd: string;
  /** Added to the environment (after the engine's own settings, so a test can override them). */
  readonly env?: Record<string, string | undefined>;
  /** Exit statuses that are not a failure. @default [0] */
  readonly ok?: readonly number[];
  /** @default 600_000 */
  readonly timeoutMs?: number;
}

/**
 * The environment tofu runs with: the engine's CLI config, automation mode, no update check, and a proxy
 * that refuses everything, so any attempt to reach the internet fails fast (loopback is never proxied).
 */
/**
 * tofu's plugin cache: TF_PLUGIN_CACHE_DIR when set, else one beside the engine build, one per vitest worker:
 * the engine test files run two at a time, and tofu's cache is not safe for installs at once (a provider being
 * installed by one init vanished under another run's plan).
 */
export function pluginCacheDir(engine: Engine): string {
  if (process.env.TF_PLUGIN_CACHE_DIR) return process.env.TF_PLUGIN_CACHE_DIR;
  const worker = process.env.VITEST_POOL_ID;
  return join(dirname(engine.cliConfig), worker ? `plugin-cache-${worker}` : "plugin-cache");
}

function tofuEnv(engine: Engine, extra: TofuOptions["env"]): NodeJS.ProcessEnv {
  // One unpacked copy of each provider per engine build, linked into every stack's .terraform/ (instead of a
  // 100 MB copy per stack). Runs at once in several work trees race on one cache: each may name its own.
  const pluginCache = pluginCacheDir(engine);
  mkdirSync(pluginCache, { recursive: true });
  return {
    ...process.env,
    TF_CLI_CONFIG_FILE: engine.cliConfig,
    TF_PLUGIN_CACHE_DIR: pluginCache,
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    CHECKPOINT_DISABLE: "1",
    HTTPS_PROXY: "http://127.0.0.1:9",
    HTTP_PROXY: "http://127.0.0.1:9",
    NO_PROXY: "127.0.0.1,localhost",
    ...extra,
  };
}

function checked(args: readonly string[], options: TofuOptions, out: TofuResult, why: string): TofuResult {
  if (!(options.ok ?? [0]).includes(out.status)) {
    throw new Error(
      `tofu ${args.join(" ")} (in ${options.cwd}) exited ${out.status}${why}\n--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`,
    );
  }
  return out;
}

/**
 * Runs tofu offline (see tofuEnv) and waits, blocking this process: only for tofu runs that need no server
 * of this process (an HTTP state server or a stub here would never answer). Throws with the command and
 * both outputs unless the exit status is in `ok`.
 */
export function runTofu(args: readonly string[], options: TofuOptions, engine: Engine = loadEngine()): TofuResult {
  const result = spawnSync(engine.tofu, args, {
    cwd: options.cwd,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 600_000,
    maxBuffer: 256 * 1024 * 1024,
    env: tofuEnv(engine, options.env),
  });
  const out = { status: result.status ?? -1, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  return checked(
    args,
    options,
    out,
    `${result.signal ? ` (${result.signal})` : ""}${result.error ? `: ${result.error.message}` : ""}`,
  );
}

/** runTofu without blocking this process, for tofu runs that talk to servers started by this process. */
export function runTofuAsync(
  args: readonly string[],
  options: TofuOptions,
  engine: Engine = loadEngine(),
): Promise<TofuResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(engine.tofu, args, {
      cwd: options.cwd,
      env: tofuEnv(engine, options.env),
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 600_000,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => stdout.push(c));
    child.stderr.on("data", (c: Buffer) => stderr.push(c));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const out = {
        status: code ?? -1,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      };
      try {
        resolve(checked(args, options, out, signal ? ` (${signal})` : ""));
      } catch (err) {
        reject(err);
      }
    });
  });
}
