// Compiles the app once into dist/main.js (esbuild, transpile-only, .gen tree-shaken in) so that synth runs
// plain node. Type checking is separate: `npm run typecheck`. Skips the work when dist/ is newer than every source.
import { statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const sources = ["main.ts", "config", "constructs", "layers", ".gen"];
const outfile = join(root, "dist/main.js");

function newestMtime(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, entry) => Math.max(max, newestMtime(join(path, entry))), stat.mtimeMs);
}

const built = statSync(outfile, { throwIfNoEntry: false })?.mtimeMs ?? 0;
if (process.argv.includes("--force") || sources.some((s) => newestMtime(join(root, s)) > built)) {
  await build({
    entryPoints: [join(root, "main.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    packages: "external",
    sourcemap: "linked",
    logLevel: "warning",
  });
}
