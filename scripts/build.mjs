// Compiles the TypeScript entry points once with esbuild (transpile only, .gen tree-shaken in, node_modules
// external) so that they run with plain node: `app` (main.ts → dist/main.js, what synth runs) and `bootstrap`
// (scripts/bootstrap/cli.ts → dist/bootstrap.cjs, what bootstrap.sh calls). Type checking is separate:
// `npm run typecheck`. A target is rebuilt only when one of the files its last build read (esbuild's metafile,
// kept beside the output) is newer than the output or gone, and written through a temporary file so that
// concurrent runs never see half a file. A hand-kept list of source folders missed scripts/upgrade once.
// Usage: node scripts/build.mjs [app|bootstrap ...] [--force]   (default: app)
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const TARGETS = {
  app: { entry: "main.ts", outfile: "dist/main.js" },
  bootstrap: { entry: "scripts/bootstrap/cli.ts", outfile: "dist/bootstrap.cjs" },
};

/** Whether every file the last build of `outfile` read is still there and not newer than it. */
function upToDate(outfile) {
  const built = statSync(outfile, { throwIfNoEntry: false })?.mtimeMs;
  const inputs = statSync(`${outfile}.inputs.json`, { throwIfNoEntry: false });
  if (built === undefined || !inputs) return false;
  const files = JSON.parse(readFileSync(`${outfile}.inputs.json`, "utf8"));
  return files.every((file) => (statSync(join(root, file), { throwIfNoEntry: false })?.mtimeMs ?? Infinity) <= built);
}

function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

const force = process.argv.includes("--force");
const names = process.argv.slice(2).filter((a) => !a.startsWith("--"));
for (const name of names.length ? names : ["app"]) {
  const target = TARGETS[name];
  if (!target) throw new Error(`unknown build target "${name}"; expected one of ${Object.keys(TARGETS).join(", ")}`);
  const outfile = join(root, target.outfile);
  if (!force && upToDate(outfile)) continue;
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
    metafile: true,
    absWorkingDir: root,
    write: false,
  });
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
  // Written after the output, so an interrupted build leaves an old or missing list: rebuilt next time.
  writeAtomically(`${outfile}.inputs.json`, JSON.stringify(Object.keys(result.metafile.inputs)));
}
