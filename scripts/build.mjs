// Compiles the TypeScript entry points once with esbuild (transpile only, .gen tree-shaken in, node_modules
// external) so that they run with plain node: `app` (main.ts → dist/main.js, what synth runs) and `bootstrap`
// (scripts/bootstrap/cli.ts → dist/bootstrap.cjs, what bootstrap.sh calls). Type checking is separate:
// `npm run typecheck`. A target is rebuilt only when a source is newer than its output, and written through a
// temporary file so that concurrent runs never see half a file.
// Usage: node scripts/build.mjs [app|bootstrap ...] [--force]   (default: app)
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const TARGETS = {
  app: { entry: "main.ts", outfile: "dist/main.js", sources: ["main.ts", "config", "constructs", "layers", ".gen"] },
  bootstrap: {
    entry: "scripts/bootstrap/cli.ts",
    outfile: "dist/bootstrap.cjs",
    sources: ["scripts/bootstrap", "config", "layers/catalog.ts"],
  },
};

function newestMtime(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, entry) => Math.max(max, newestMtime(join(path, entry))), stat.mtimeMs);
}

const force = process.argv.includes("--force");
const names = process.argv.slice(2).filter((a) => !a.startsWith("--"));
for (const name of names.length ? names : ["app"]) {
  const target = TARGETS[name];
  if (!target) throw new Error(`unknown build target "${name}"; expected one of ${Object.keys(TARGETS).join(", ")}`);
  const outfile = join(root, target.outfile);
  const built = statSync(outfile, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (!force && target.sources.every((s) => newestMtime(join(root, s)) <= built)) continue;
  const result = await build({
    entryPoints: [join(root, target.entry)],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    packages: "external",
    sourcemap: "linked",
    logLevel: "warning",
    write: false,
  });
  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    const tmp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.contents);
    renameSync(tmp, file.path);
  }
}
