// Compiles scripts/bootstrap/cli.ts (and the config loader it uses) into dist/bootstrap.cjs with esbuild, so that
// bootstrap.sh runs its logic with plain node (tsx would cost half a second per call). Skips the work when the
// output is newer than every source. Writes through a temporary file, so concurrent runs never see half a file.
import { readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = new URL("../..", import.meta.url).pathname;
const sources = ["scripts/bootstrap", "config"];
const outfile = join(root, "dist", "bootstrap.cjs");

function newestMtime(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, entry) => Math.max(max, newestMtime(join(path, entry))), stat.mtimeMs);
}

const built = statSync(outfile, { throwIfNoEntry: false })?.mtimeMs ?? 0;
if (process.argv.includes("--force") || sources.some((s) => newestMtime(join(root, s)) > built)) {
  const result = await build({
    entryPoints: [join(root, "scripts", "bootstrap", "cli.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    packages: "external",
    logLevel: "warning",
    write: false,
  });
  const tmp = `${outfile}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, outfile);
}
