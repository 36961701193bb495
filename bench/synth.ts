// Synth time, CPU time and peak memory against node count, each run a cold `node dist/main.js` as a user runs it,
// beside the floor: a bare cdktf app with as many minimal VMs (bench/floor-app.ts), measured in the same run.
// On a loaded machine the wall-clock time follows the load; the CPU time and its ratio to the floor's much less.
// Usage: npm run bench [-- 5 50 500]. Prints a table; the growth column shows whether cost per node is flat.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { writeBenchConfig } from "./config";

const ROOT = join(__dirname, "..");
const RUNS = 3;
const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);

type Measure = { seconds: number; cpuSeconds: number; peakMb: number };

const FLOOR = join(ROOT, "dist/bench-floor.js");
buildSync({
  entryPoints: [join(__dirname, "floor-app.ts")],
  outfile: FLOOR,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  packages: "external",
  logLevel: "warning",
});

function runOnce(script: string, env: Record<string, string>): Measure {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ["--require", join(__dirname, "report-peak.cjs"), script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`synth failed: ${result.stderr}`);
  const usage = /peak-rss-kb=(\d+) cpu-us=(\d+)/.exec(result.stderr);
  return { seconds, cpuSeconds: usage ? Number(usage[2]) / 1e6 : NaN, peakMb: usage ? Number(usage[1]) / 1024 : NaN };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const summary = (runs: Measure[]): Measure => ({
  seconds: median(runs.map((r) => r.seconds)),
  cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
  peakMb: Math.max(...runs.map((r) => r.peakMb)),
});

const rows: { nodes: number; app: Measure; floor: Measure }[] = [];
for (const nodes of counts.length ? counts : [5, 50, 500]) {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  try {
    writeBenchConfig(dir, nodes);
    const app: Measure[] = [];
    const floor: Measure[] = [];
    // Interleaved, so that both see the same load.
    for (let run = 0; run < RUNS; run++) {
      app.push(runOnce(join(ROOT, "dist/main.js"), { CONFIG_DIR: dir, CDKTF_OUTDIR: join(dir, "cdktf.out") }));
      floor.push(runOnce(FLOOR, { BENCH_VMS: String(nodes), CDKTF_OUTDIR: join(dir, "floor.out") }));
    }
    rows.push({ nodes, app: summary(app), floor: summary(floor) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`synth (cold node dist/main.js, median of ${RUNS}), ${new Date().toISOString()}`);
console.log(
  "nodes | seconds | CPU s | peak MB | ms per added node | floor s | floor CPU s | floor MB | x floor (CPU, memory)",
);
rows.forEach((row, i) => {
  const prev = rows[i - 1];
  const perNode = prev ? ((row.app.seconds - prev.app.seconds) * 1000) / (row.nodes - prev.nodes) : NaN;
  const cells = [
    String(row.nodes).padStart(5),
    row.app.seconds.toFixed(2).padStart(7),
    row.app.cpuSeconds.toFixed(2).padStart(5),
    row.app.peakMb.toFixed(0).padStart(7),
    (Number.isNaN(perNode) ? "-" : perNode.toFixed(2)).padStart(17),
    row.floor.seconds.toFixed(2).padStart(7),
    row.floor.cpuSeconds.toFixed(2).padStart(11),
    row.floor.peakMb.toFixed(0).padStart(8),
    `${(row.app.cpuSeconds / row.floor.cpuSeconds).toFixed(2)}, ${(row.app.peakMb / row.floor.peakMb).toFixed(2)}`,
  ];
  console.log(cells.join(" | "));
});
