// Synth time, CPU time and peak memory against node count, each run a cold `node dist/main.js` as a user runs it,
// beside the floor: a bare cdktf app with as many minimal VMs (bench/floor-app.ts), measured in the same run.
// On a loaded machine the wall-clock time follows the load; the CPU time and its ratio to the floor's much less.
// Usage: npm run bench [-- 5 50 500]. Prints a table; the growth column shows whether cost per node is flat.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { parse, stringify } from "yaml";

const ROOT = join(__dirname, "..");
const RUNS = 3;
const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);

function writeConfig(dir: string, nodes: number): void {
  const cluster = {
    ...parse(readFileSync(join(ROOT, "cluster.yaml"), "utf8")),
    node_cidr: "10.20.0.0/20",
    node_default_gateway: "10.20.0.1",
    cluster_api_addr: "10.20.0.2",
    cilium_loadbalancer_pool: { start: "10.20.15.200", stop: "10.20.15.250" },
  };
  const list = Array.from({ length: nodes }, (_, i) => ({
    name: `node${i}`,
    address: `10.20.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
    controller: i < Math.min(3, nodes),
    vm_id: 2000 + i,
    proxmox_node: `pve${i % 3}`,
  }));
  writeFileSync(join(dir, "cluster.yaml"), stringify(cluster));
  writeFileSync(join(dir, "nodes.yaml"), stringify({ nodes: list }));
}

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
    writeConfig(dir, nodes);
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
