// Which engine runs the stacks: TF_BINARY when set, else `tofu` on PATH, else `terraform`; and what it is.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

export interface EngineBinary {
  /** Absolute path of the binary. */
  readonly path: string;
  readonly kind: "opentofu" | "terraform";
  /** e.g. `1.12.6`. */
  readonly version: string;
}

/** Absolute path of `name` on `path` (PATH syntax), or undefined. A name with a slash is taken as a path. */
export function lookPath(name: string, path: string | undefined, cwd = process.cwd()): string | undefined {
  const candidates = name.includes("/")
    ? [resolve(cwd, name)]
    : (path ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, name));
  return candidates.find((c) => {
    try {
      accessSync(c, constants.X_OK);
      return statSync(c).isFile();
    } catch {
      return false;
    }
  });
}

/** What `<engine> version` says: `OpenTofu v1.12.6` or `Terraform v1.9.8` on its first line. */
export function parseEngineVersion(output: string): { kind: EngineBinary["kind"]; version: string } | undefined {
  const m = /^(OpenTofu|Terraform) v(\S+)/m.exec(output);
  if (!m) return undefined;
  return { kind: m[1] === "OpenTofu" ? "opentofu" : "terraform", version: m[2] };
}

/** Finds the engine; a string is the reason it was not found. */
export function findEngine(env: NodeJS.ProcessEnv): EngineBinary | string {
  const wanted = env.TF_BINARY ? [env.TF_BINARY] : ["tofu", "terraform"];
  const path = wanted.map((name) => lookPath(name, env.PATH)).find((p) => p !== undefined);
  if (!path) {
    return env.TF_BINARY
      ? `TF_BINARY=${env.TF_BINARY} is not an executable file`
      : "neither tofu nor terraform is on PATH";
  }
  const result = spawnSync(path, ["version"], {
    encoding: "utf8",
    env: { ...env, CHECKPOINT_DISABLE: "1" },
    timeout: 60_000,
  });
  const parsed = parseEngineVersion(`${result.stdout ?? ""}`);
  if (result.status !== 0 || !parsed) {
    return `${path} version did not say "OpenTofu v..." or "Terraform v..." (exit ${result.status ?? result.error?.message}): ${firstLine(result.stderr || result.stdout)}`;
  }
  return { path, ...parsed };
}

export interface EngineRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the engine in `dir`, output captured. */
export function runEngine(
  engine: EngineBinary,
  dir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): EngineRun {
  const result = spawnSync(engine.path, args, {
    cwd: dir,
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
    env: { ...env, TF_IN_AUTOMATION: "1", TF_INPUT: "0", CHECKPOINT_DISABLE: "1" },
  });
  return {
    status: result.status ?? -1,
    stdout: result.stdout ?? "",
    stderr: `${result.stderr ?? ""}${result.error ? `\n${result.error.message}` : ""}`,
  };
}

/** Runs the engine in `dir` with its output on this process's stderr (shown and logged); resolves with its exit status. */
export function streamEngine(
  engine: EngineBinary,
  dir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  return new Promise((done) => {
    const child = spawn(engine.path, args, {
      cwd: dir,
      stdio: ["ignore", 2, 2],
      env: { ...env, TF_IN_AUTOMATION: "1", TF_INPUT: "0", CHECKPOINT_DISABLE: "1" },
    });
    child.on("error", (e) => {
      process.stderr.write(`${engine.path}: ${e.message}\n`);
      done(-1);
    });
    child.on("close", (code) => done(code ?? -1));
  });
}

/** The error lines of an engine run (its "Error: ..." diagnostics), for a one-line reason and details. */
export function engineErrors(run: EngineRun): string[] {
  // Diagnostics go to stderr; stdout only when stderr is empty (e.g. -json commands).
  const text = run.stderr.trim() !== "" ? run.stderr : run.stdout;
  const lines = text
    .split("\n")
    .map((l) => l.replace(/^[│╷╵]\s?/, "").trimEnd())
    .filter((l) => l.trim() !== "");
  const start = lines.findIndex((l) => /^Error:/.test(l.trim()));
  return (start >= 0 ? lines.slice(start) : lines.slice(-10)).slice(0, 20);
}

function firstLine(text: string | undefined): string {
  return (text ?? "").trim().split("\n")[0] ?? "";
}
