// Global setup of the engine tests: compile dist/main.js (what `npm run synth` runs) and check that the
// engine is built, so a missing engine fails once, with what to run, instead of in every test.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { loadEngine, REPO } from "../../judges/engine/engine";

export default function setup(): void {
  execFileSync(process.execPath, [join(REPO, "scripts", "build.mjs")], { cwd: REPO, stdio: "inherit" });
  const engine = loadEngine();
  process.stderr.write(`[engine] ${engine.tofu}\n`);
}
