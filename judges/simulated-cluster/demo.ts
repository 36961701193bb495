// npm run demo: the main job, ./bootstrap.sh, from an empty Proxmox to four applied layers, against the simulated
// cluster (rig.ts) on this machine; then everything it started is stopped (also on Ctrl-C).
//
//   npm run demo [-- --config <folder>] [--work <folder>]
//
// --config: the cluster.yaml and nodes.yaml to bootstrap (default: the repository's own example); their private
// addresses are moved into 127.0.0.0/8 and the Talos version set to the one the simulators run. --work: where the
// simulated cluster's config, state, credentials and the simulators' data go (default: a new temporary folder;
// kept afterwards, for the credentials and logs).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { kubeClient } from "../kubernetes/judge";
import { SIMULATED_VERSIONS, type SimulatedCluster, simulatedConfig, startSimulatedCluster } from "./rig";

const REPO = resolve(__dirname, "..", "..");

/** The builds, each checked with --print-env first (a cache hit is instant). */
const BUILDS = [
  {
    what: "the engine: OpenTofu, the providers, Talos' config checkers and node simulators",
    script: "judges/engine/build.sh",
    cold: "about 15-20 minutes on 2 idle cores, much longer on a loaded machine",
  },
  {
    what: "the Kubernetes judge: kube-apiserver, controller-manager, scheduler, etcd, kwok, the charts",
    script: "judges/kubernetes/build.sh",
    cold: "about 11 CPU-minutes",
  },
];

function usage(): never {
  process.stderr.write(
    "usage: npm run demo [-- --config <folder with cluster.yaml and nodes.yaml>] [--work <folder>]\n",
  );
  process.exit(2);
}

function parseArgs(argv: string[]): { config: string; work?: string } {
  let config = REPO;
  let work: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => inline ?? argv[++i] ?? usage();
    if (flag === "--config") config = resolve(value());
    else if (flag === "--work") work = resolve(value());
    else if (flag === "-h" || flag === "--help") usage();
    else usage();
  }
  return { config, work };
}

const started = Date.now();
const clock = () => `${Math.round((Date.now() - started) / 1000)}s`.padStart(5);
const step = (line: string) => process.stdout.write(`[demo ${clock()}] ${line}\n`);

/** Runs a command with its output shown; resolves with its exit status. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: REPO, env, stdio: ["ignore", "inherit", "inherit"] });
    children.add(child);
    child.on("close", (code, signal) => {
      children.delete(child);
      done(code ?? (signal ? 128 : 1));
    });
  });
}

/** Runs a command quietly; resolves with its exit status. */
function quiet(command: string, args: string[]): Promise<number> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: REPO, stdio: "ignore" });
    child.on("close", (code) => done(code ?? 1));
  });
}

const children = new Set<ReturnType<typeof spawn>>();
let cluster: SimulatedCluster | undefined;
let stopping = false;

async function stop(status: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const child of children) child.kill("SIGTERM");
    if (cluster) {
      step("stopping the simulators");
      await cluster.close();
    }
  }
  process.exit(status);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  for (const build of BUILDS) {
    const t = Date.now();
    if ((await quiet(build.script, ["--print-env"])) === 0) {
      step(`built already: ${build.what}`);
      continue;
    }
    step(`building ${build.what} from the Go module proxy (${build.script}; cold: ${build.cold})`);
    if ((await run(build.script, [])) !== 0) {
      step(`${build.script} failed (see above)`);
      return stop(1);
    }
    step(`built in ${Math.round((Date.now() - t) / 1000)}s: ${build.what}`);
  }

  const work = options.work ?? mkdtempSync(join(tmpdir(), "talos-demo-"));
  mkdirSync(work, { recursive: true });
  const configDir = join(work, "config");
  step(`config: ${options.config} -> ${configDir}`);
  step(
    `  addresses moved into 127.0.0.0/8; Talos ${SIMULATED_VERSIONS.talos_version} and Kubernetes ${SIMULATED_VERSIONS.kubernetes_version} (the newest Talos the engine's stand-in talos provider generates configurations the simulators accept)`,
  );
  await simulatedConfig(configDir, { from: options.config });
  step("starting the simulators");
  cluster = await startSimulatedCluster({ configDir, workDir: work });
  step(`  Proxmox VE API simulator  ${cluster.proxmox.url}`);
  step(`  Talos image factory stub  ${cluster.factory.url}`);
  step(`  chart repository          ${cluster.charts.url} (helm_chart_mirror)`);
  for (const n of cluster.talos.nodes)
    step(`  Talos node simulator      ${n.address}:50000 ${n.name}${n.controller ? " (controller)" : ""}`);

  step("running ./bootstrap.sh --auto-approve");
  const status = await run(join(REPO, "bootstrap.sh"), ["--auto-approve"], { ...process.env, ...cluster.env });
  if (status !== 0) {
    step(`./bootstrap.sh failed (exit ${status}); its log is in ${join(configDir, "logs")}`);
    return stop(1);
  }

  const api = kubeClient(join(configDir, "credentials", "kubeconfig"));
  const nodes = await api.get<{ items: Array<{ metadata: { name: string } }> }>("/api/v1/nodes");
  const releases = await api.get<{ items: Array<{ metadata: { labels: Record<string, string> } }> }>(
    "/api/v1/secrets?labelSelector=owner%3Dhelm%2Cstatus%3Ddeployed",
  );
  step(`the cluster answers with credentials/kubeconfig: nodes ${nodes?.items.map((n) => n.metadata.name).join(", ")}`);
  step(`  helm releases deployed: ${[...new Set(releases?.items.map((r) => r.metadata.labels.name))].join(", ")}`);
  process.stdout.write(`
The four layers are applied. Left in ${work}:
  ${configDir}/credentials/kubeconfig, talosconfig   what layer 01 wrote
  ${configDir}/state/                               each layer's state
  ${configDir}/logs/                                bootstrap's log

Real here: ./bootstrap.sh and the stacks it synthesized, OpenTofu and the providers (built from their Go modules;
  stand-ins named in the preflight above), kube-apiserver, controller-manager, scheduler and etcd of Kubernetes
  v1.35.4, the charts at their pinned versions (Flux's: its CRDs only), Talos' machinery judging each machine
  configuration.
Simulated: Proxmox VE (its API: no VM runs), the Talos nodes (their API: no OS boots, no disk is written), the
  kubelets (kwok's fake nodes: pods are marked Ready, no container runs), Cilium's datapath (no pod network, no
  LoadBalancer addresses announced), the Flux controllers (nothing is synced), the image factory.
`);
  await stop(0);
}

process.on("SIGINT", () => void stop(130));
process.on("SIGTERM", () => void stop(143));
main().catch(async (e) => {
  process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
  await stop(1);
});
