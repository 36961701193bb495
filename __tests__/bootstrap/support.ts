// Runs the real ./bootstrap.sh of this checkout against a config folder of its own (CONFIG_DIR: a temporary git
// repository), with a fake engine that records every call, for the fast tests. The engine tests
// (__tests__/engine/bootstrap.test.ts) run the same script with the real OpenTofu.
import { spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runOk } from "../support/run";
import { exampleSources, REPO, type SynthOptions } from "../support/synth";

export { REPO };
export const BOOTSTRAP = join(REPO, "bootstrap.sh");

export interface ConfigRepo {
  readonly dir: string;
  /** Commits everything (the tree is clean afterwards). */
  commit(message?: string): Promise<void>;
  remove(): void;
}

/**
 * A temporary git repository holding cluster.yaml and nodes.yaml (the root example with `options` applied)
 * and this repo's .gitignore (logs/, state/, credentials/ ignored), committed.
 */
export async function configRepo(prefix: string, options: SynthOptions = {}): Promise<ConfigRepo> {
  const dir = mkdtempSync(join(tmpdir(), `bootstrap-${prefix}-`));
  const sources = exampleSources(options);
  writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
  writeFileSync(join(dir, "nodes.yaml"), sources.nodes);
  copyFileSync(join(REPO, ".gitignore"), join(dir, ".gitignore"));
  const git = (...args: string[]) =>
    runOk("git", ["-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.invalid", ...args]);
  await git("init", "-q");
  const repo: ConfigRepo = {
    dir,
    commit: async (message = "config") => {
      await git("add", "-A");
      await git("commit", "-q", "--allow-empty", "-m", message);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  await repo.commit();
  return repo;
}

export interface RunResult {
  readonly status: number | null;
  /** stdout and stderr, interleaved as the script writes them (it sends both through one tee). */
  readonly output: string;
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  /** Run under `script`, so stdin is a terminal; `input` is typed into it. */
  readonly tty?: boolean;
  readonly input?: string;
  readonly timeoutMs?: number;
}

/**
 * Runs ./bootstrap.sh with CONFIG_DIR and the given arguments; stdin is /dev/null unless `tty`. Asynchronous, so that
 * the test worker keeps answering vitest while the script runs (a long synchronous spawn starves its RPC).
 */
export function runBootstrap(configDir: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, CONFIG_DIR: configDir, ...options.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const child = options.tty
    ? spawn("script", ["-qec", [BOOTSTRAP, ...args].map(quote).join(" "), "/dev/null"], {
        cwd: REPO,
        env,
        stdio: ["pipe", "pipe", "pipe"],
      })
    : spawn(BOOTSTRAP, args, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdin?.end(options.input ?? "");
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  // Below the tests' time limit (vitest.config.ts), so that a test sees what a hung script printed.
  const timer = setTimeout(() => child.kill("SIGTERM"), options.timeoutMs ?? 230_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output: `${stdout}${stderr}`.replace(/\r\n/g, "\n") });
    });
  });
}

/** The log files bootstrap wrote under `<configDir>/logs`. */
export function logFiles(configDir: string): string[] {
  const dir = join(configDir, "logs");
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
}

export interface FakeEngine {
  /** Path for TF_BINARY. */
  readonly path: string;
  /** The environment that makes bootstrap use it. */
  readonly env: Record<string, string>;
  /** Every call so far, as its argument line. */
  calls(): string[];
}

/**
 * A stand-in for tofu: says it is OpenTofu 1.12.6, validates everything, reads a state of FAKE_STATE_RESOURCES
 * resources (default 0), answers `output -json` with the file FAKE_OUTPUTS (default: no outputs), plans `planJson`
 * (default: one resource to create; the steps of a node-by-node apply, rollout-<n>.tfplan, the file FAKE_ROLLOUT_PLAN
 * when set), and records each call. With
 * FAKE_APPLY_WAIT set, `apply` prints "applying (fake)" and waits for SIGINT, then says so and exits 1, as the
 * real engine does after saving its state.
 */
export function fakeEngine(
  dir: string,
  planJson: object = { resource_changes: [{ address: "a.b", change: { actions: ["create"] } }] },
): FakeEngine {
  mkdirSync(dir, { recursive: true });
  const log = join(dir, "calls.log");
  const plan = join(dir, "plan.json");
  writeFileSync(plan, JSON.stringify(planJson));
  const path = join(dir, "tofu");
  writeFileSync(
    path,
    `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"${log}"
case "$1" in
  version) echo "OpenTofu v1.12.6" ;;
  validate) echo '{"valid":true,"error_count":0,"warning_count":0,"diagnostics":[]}' ;;
  show)
    if [[ "$*" == *rollout-*.tfplan* && -n "\${FAKE_ROLLOUT_PLAN:-}" ]]; then cat "\${FAKE_ROLLOUT_PLAN}"
    elif [[ "$*" == *.tfplan* ]]; then cat "${plan}"
    elif (( \${FAKE_STATE_RESOURCES:-0} > 0 )); then echo '{"values":{"root_module":{"resources":[{}]}}}'
    else echo '{"format_version":"1.0"}'; fi ;;
  plan) echo "Plan: (fake)" ;;
  output) if [[ -n "\${FAKE_OUTPUTS:-}" ]]; then cat "\${FAKE_OUTPUTS}"; else echo '{}'; fi ;;
  apply)
    if [[ -n "\${FAKE_APPLY_WAIT:-}" ]]; then
      sleep 60 >/dev/null 2>&1 &
      trap 'kill $! 2>/dev/null; echo "engine: interrupted, state saved, lock released"; exit 1' INT
      echo "applying (fake)"
      wait
    fi ;;
esac
`,
  );
  chmodSync(path, 0o755);
  return {
    path,
    env: { TF_BINARY: path },
    calls: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []),
  };
}
