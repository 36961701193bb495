// Child processes for tests, awaited: a synchronous spawn blocks the test worker for as long as the child runs, and
// on a loaded machine that is long enough for vitest's worker RPC to time out ("Timeout calling onTaskUpdate"),
// failing the whole run although every test passed. Tests use these instead of execFileSync/spawnSync (a test
// in imports.test.ts keeps it so).
import { spawn, type SpawnOptions } from "node:child_process";

export interface Ran {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions extends Omit<SpawnOptions, "stdio"> {
  /** Written to the child's stdin (closed afterwards); stdin is empty otherwise. */
  readonly input?: string;
}

/** Runs a command to its end and returns what spawnSync would (status, signal, stdout, stderr as UTF-8). */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<Ran> {
  const { input, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin!.on("error", () => {}); // a child that exits without reading its input
    child.stdin!.end(input);
    child.on("error", reject);
    child.on("close", (status, signal) =>
      resolve({
        status,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      }),
    );
  });
}

/** Runs a command that must succeed and returns its stdout; a failure rejects with its output. */
export async function runOk(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.status !== 0)
    throw new Error(
      `${command} ${args.join(" ")} failed (${result.signal ?? `exit ${result.status}`}):\n${result.stderr}${result.stdout}`,
    );
  return result.stdout;
}

/**
 * Lets the worker answer vitest: awaited between the runs of a long loop (property tests), which would otherwise be
 * one synchronous stretch.
 */
export const yieldToVitest = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A property test's time limit: its runs yield to vitest, so (unlike a synchronous loop, which no timer can stop)
 * the test timeout applies to the whole loop, which takes minutes on a loaded machine.
 */
export const PROPERTY_TIMEOUT = 600_000;
