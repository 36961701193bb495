// The output folder changes all at once: cdktf writes into a fresh folder beside it, which then replaces the
// previous output by two renames. A synth killed at any point leaves the previous output whole: in place, or,
// for the instant between the renames, as `<outdir>.previous`, which the next synth puts back first.
import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { App } from "cdktf";

/**
 * Synthesizes the app `build` makes for a given output folder into `outdir`, atomically.
 * `build` receives a sibling of `outdir` (same depth, so paths relative to the stacks are the same).
 */
export function synthesizeAtomically(outdir: string, build: (outdir: string) => App): void {
  const target = resolve(outdir);
  const previous = `${target}.previous`;
  recoverInterrupted(target, previous);
  const fresh = `${target}.new-${process.pid}`;
  rmSync(fresh, { recursive: true, force: true });
  build(fresh).synth();
  if (existsSync(target)) renameSync(target, previous);
  renameSync(fresh, target);
  rmSync(previous, { recursive: true, force: true });
}

/** Puts back an output a killed synth had moved aside, and removes what killed synths left half-written. */
function recoverInterrupted(target: string, previous: string): void {
  if (existsSync(previous)) {
    if (existsSync(target)) rmSync(previous, { recursive: true, force: true });
    else renameSync(previous, target);
  }
  const parent = dirname(target);
  const prefix = `${basename(target)}.new-`;
  for (const entry of existsSync(parent) ? readdirSync(parent) : []) {
    const pid = Number(entry.slice(prefix.length));
    if (entry.startsWith(prefix) && Number.isInteger(pid) && !isRunning(pid))
      rmSync(join(parent, entry), { recursive: true, force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
