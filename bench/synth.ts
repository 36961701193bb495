// Synth time and peak memory against node count, each run a cold `node dist/main.js` as a user runs it.
// Usage: npm run bench [-- 5 50 500]. Prints a table; the growth column shows whether cost per node is flat.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";

const ROOT = join(__dirname, "..");
const RUNS = 3;
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);

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

function runOnce(dir: string): { seconds: number; peakMb: number } {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ["--require", join(__dirname, "report-peak.cjs"), join(ROOT, "dist/main.js")], {
    cwd: ROOT,
    env: { ...process.env, CONFIG_DIR: dir, CDKTF_OUTDIR: join(dir, "cdktf.out") },
    encoding: "utf8",
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`synth failed: ${result.stderr}`);
  const peak = /peak-rss-kb=(\d+)/.exec(result.stderr);
  return { seconds, peakMb: peak ? Number(peak[1]) / 1024 : NaN };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const rows: { nodes: number; seconds: number; peakMb: number }[] = [];
for (const nodes of counts.length ? counts : [5, 50, 500]) {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  try {
    writeConfig(dir, nodes);
    const runs = Array.from({ length: RUNS }, () => runOnce(dir));
    rows.push({ nodes, seconds: median(runs.map((r) => r.seconds)), peakMb: Math.max(...runs.map((r) => r.peakMb)) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`synth (cold node dist/main.js, median of ${RUNS}), ${new Date().toISOString()}`);
console.log("nodes | seconds | peak MB | ms per added node");
rows.forEach((row, i) => {
  const prev = rows[i - 1];
  const perNode = prev ? ((row.seconds - prev.seconds) * 1000) / (row.nodes - prev.nodes) : NaN;
  console.log(`${String(row.nodes).padStart(5)} | ${row.seconds.toFixed(2).padStart(7)} | ${row.peakMb.toFixed(0).padStart(7)} | ${Number.isNaN(perNode) ? "-" : perNode.toFixed(2)}`);
});
