// Day 2 end to end: ./bootstrap.sh's node removal and `./bootstrap.sh upgrade` run unchanged with the real talosctl
// (judges/talosctl, built from Talos' Go module) against the simulated cluster (judges/simulated-cluster): the
// Proxmox VE API simulator, one Talos node simulator per node (judges/talos-sim: etcd membership, graceful reset,
// legacy upgrade with its reboot, server-side health) and the Kubernetes judge the bootstrapped controller runs.
// examples/single-node grown to three controllers and two workers, booted at Talos v1.11.5, is bootstrapped from
// an empty Proxmox; then, as a user would: two controllers removed at once (refused), a worker and a controller
// removed (each leaves the cluster gracefully before layer 01 destroys its VM), and a Talos patch bump rolled out
// node by node and recorded. The order is read from the judges themselves: each simulator's log lines and each
// Proxmox call carry the time they reached this process.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { kubeClient } from "../../judges/kubernetes/judge";
import {
  commit,
  type SimulatedCluster,
  simulatedConfig,
  startSimulatedCluster,
} from "../../judges/simulated-cluster/rig";
import { etcdOf, type SimNode } from "../../judges/simulated-cluster/talos-nodes";
import { talosctlBinary } from "../../judges/talosctl/talosctl";
import { TalosctlCli } from "../../scripts/upgrade/talosctl";
import { type BootstrapRun, startBootstrap, summaryRow } from "./bootstrap-support";
import { REPO, tempDir } from "./support";

const execFileAsync = promisify(execFile);
const work = tempDir("day2-e2e");
const configDir = join(work.dir, "config");
const RUN_TIMEOUT = 1_200_000;
const FROM = "v1.11.5";
const TO = "v1.11.6";
let sim: SimulatedCluster;
let talosctl: string;
let env: Record<string, string>;
/** The nodes.yaml entries the cluster was bootstrapped with. */
let allNodes: Array<Record<string, unknown>>;

beforeAll(async () => {
  talosctl = await talosctlBinary();
  await simulatedConfig(configDir, {
    from: join(REPO, "examples", "single-node"),
    cluster: { talos_version: FROM },
  });
  const file = join(configDir, "nodes.yaml");
  const [tiny0] = (parse(readFileSync(file, "utf8")) as { nodes: Array<Record<string, unknown>> }).nodes;
  const at = (last: number) => String(tiny0.address).replace(/\.\d+$/, `.${last}`);
  allNodes = [
    tiny0,
    { name: "tiny1", address: at(12), controller: true },
    { name: "tiny3", address: at(13), controller: true },
    { name: "worker0", address: at(21), controller: false },
    { name: "worker1", address: at(22), controller: false },
  ];
  await writeNodes(
    allNodes.map((n) => n.name as string),
    "three controllers, two workers",
  );
  sim = await startSimulatedCluster({ configDir, workDir: work.dir });
  env = { ...sim.env, TALOSCTL: talosctl, BOOTSTRAP_UPGRADE_INTERVAL: "0.5", BOOTSTRAP_UPGRADE_TIMEOUT: "120" };
  const first = await startBootstrap(["--auto-approve"], env, RUN_TIMEOUT);
  expectDone(first);
}, RUN_TIMEOUT);
afterAll(async () => {
  await sim?.close();
  work.remove();
});

/** nodes.yaml with only the named nodes, committed (bootstrap traces what it applies to a commit). */
async function writeNodes(names: readonly string[], message: string): Promise<void> {
  writeFileSync(
    join(configDir, "nodes.yaml"),
    stringify({ nodes: allNodes.filter((n) => names.includes(n.name as string)) }),
  );
  await commit(configDir, message);
}

function expectDone(run: BootstrapRun): void {
  expect(run.status, run.output).toBe(0);
}

const simNode = (name: string): SimNode => sim.talos.nodes.find((n) => n.name === name)!;
const talosconfig = () => join(configDir, "credentials", "talosconfig");

/** The real talosctl with the cluster's talosconfig, at one node. */
async function talosctlAt(address: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(talosctl, [
    ...args,
    `--talosconfig=${talosconfig()}`,
    `--nodes=${address}`,
    `--endpoints=${address}`,
  ]);
  return stdout;
}

/** When the node's simulator first printed a line matching `pattern` after `since` (undefined: never). */
function when(node: SimNode, pattern: RegExp, since = 0): number | undefined {
  return node.lines().find((l) => l.at >= since && pattern.test(l.text))?.at;
}

/** The id of the VM named `name` in the Proxmox simulator. */
function vmIdOf(name: string): string {
  const entry = Object.entries(sim.proxmox.state.vms).find(([, vm]) => vm.config.name === name);
  if (!entry) throw new Error(`no VM named ${name} in the Proxmox simulator`);
  return entry[0];
}

/** When Proxmox was first asked, after `since`, to stop or destroy the VM (undefined: never). */
const stoppedAt = (vmId: string, since: number) =>
  sim.proxmox.calls.find(
    (c) => c.at >= since && c.method !== "GET" && new RegExp(`/qemu/${vmId}(/status/(stop|shutdown))?/?$`).test(c.path),
  )?.at;

const destroyed = (vmId: string, since: number) =>
  sim.proxmox.calls.some((c) => c.at >= since && c.method === "DELETE" && new RegExp(`/qemu/${vmId}/?$`).test(c.path));

/** What Proxmox was asked to change since `since`, for a failure's message. */
const changesSince = (since: number) =>
  sim.proxmox.calls
    .filter((c) => c.at >= since && c.method !== "GET")
    .map((c) => `${c.method} ${c.path} ${c.status}`)
    .join("; ");

/** The members etcd reports through a controller's Talos API (talosctl etcd members), by peer address. */
async function etcdMembersSeenBy(address: string): Promise<string[]> {
  const out = await talosctlAt(address, "etcd", "members");
  return [...out.matchAll(/https:\/\/([\d.]+):2380/g)].map((m) => m[1]).sort();
}

const addressOf = (name: string) => String(allNodes.find((n) => n.name === name)!.address);

describe("./bootstrap.sh on a running cluster, with the real talosctl against the Talos node simulators", () => {
  it("the real talosctl is the client, and every node answers it with the cluster's talosconfig", async () => {
    const client = (await execFileAsync(talosctl, ["version", "--client"])).stdout;
    expect(client).toMatch(/Client:\n\s+Tag:\s+v1\.12\.6\n/);
    for (const n of allNodes)
      expect(await talosctlAt(String(n.address), "version"), String(n.name)).toMatch(
        new RegExp(`Server:\\n\\s+NODE:\\s+\\S+\\n\\s+Tag:\\s+${FROM.replace(/\./g, "\\.")}\\n`),
      );
    expect(await etcdMembersSeenBy(addressOf("tiny0"))).toEqual(["tiny0", "tiny1", "tiny3"].map(addressOf).sort());
  });

  it("every talosctl command line bootstrap builds parses with the real talosctl (upgrade-k8s included, which no simulator serves)", async () => {
    // Each call through a wrapper that adds --help: cobra refuses an unknown subcommand or flag before it prints
    // the help, and exits 0 otherwise.
    const wrapper = join(work.dir, "talosctl-help");
    writeFileSync(wrapper, `#!/bin/sh\nexec "${talosctl}" "$@" --help\n`, { mode: 0o755 });
    const cli = new TalosctlCli({ binary: wrapper, talosconfig: talosconfig() });
    const [c0, c1] = ["tiny0", "tiny1"].map(addressOf);
    await cli.upgrade(c0, `factory.example/installer/abc:${TO}`);
    await cli.health([c0, c1], [addressOf("worker0")]);
    await cli.upgradeKubernetes(c0, "v1.34.2");
    await cli.resetGracefully(c1);
    // (version runs for real below: bootstrap's preflight and waits ask every node.) The check can fail:
    await expect(execFileAsync(wrapper, ["upgrade-k8s", "--no-such-flag"])).rejects.toThrow(
      /unknown flag: --no-such-flag/,
    );
  });

  it(
    "two of three controllers removed at once are refused before anything changes (etcd's quorum)",
    async () => {
      const since = performance.now();
      await writeNodes(["tiny0", "worker0", "worker1"], "two controllers removed");
      const run = await startBootstrap(["--auto-approve", "--only=infrastructure"], env, RUN_TIMEOUT);
      expect(run.status, run.output).toBe(1);
      expect(run.output).toMatch(/removing tiny1, tiny3 at once leaves 1 of 3 controllers, below etcd's quorum of 2/);
      expect(sim.proxmox.calls.filter((c) => c.at >= since && c.method !== "GET")).toEqual([]);
      for (const name of ["tiny1", "tiny3"]) {
        expect(when(simNode(name), /reset|left etcd/, since), name).toBeUndefined();
        expect(existsSync(join(simNode(name).stateDir, "config.yaml")), name).toBe(true);
      }
      expect(
        etcdOf(sim.talos.clusterDir)
          .members.map((m) => m.address)
          .sort(),
      ).toEqual(["tiny0", "tiny1", "tiny3"].map(addressOf).sort());
    },
    RUN_TIMEOUT,
  );

  it(
    "a worker removed from nodes.yaml is reset gracefully before layer 01 destroys its VM, and its Node is deleted",
    async () => {
      const since = performance.now();
      const vmId = vmIdOf("worker1");
      await writeNodes(["tiny0", "tiny1", "tiny3", "worker0"], "worker1 removed");
      const run = await startBootstrap(["--auto-approve", "--only=infrastructure"], env, RUN_TIMEOUT);
      expectDone(run);
      const worker1 = simNode("worker1");
      const wiped = when(worker1, /reset: configuration wiped/, since);
      const stopped = stoppedAt(vmId, since);
      expect(wiped, worker1.log()).toBeDefined();
      expect(stopped, changesSince(since)).toBeDefined();
      expect(destroyed(vmId, since), changesSince(since)).toBe(true);
      // Reset and powered off through Talos before Proxmox was asked to stop or destroy the VM.
      expect(wiped!).toBeLessThan(stopped!);
      expect(when(worker1, /powered off/, since)).toBeLessThan(stopped!);
      expect(existsSync(join(worker1.stateDir, "config.yaml"))).toBe(false);
      expect(sim.proxmox.state.vms[vmId]).toBeUndefined();
      expect(run.output).toContain("Node worker1 deleted from the Kubernetes API");
      const api = kubeClient(join(configDir, "credentials", "kubeconfig"));
      expect(await api.get("/api/v1/nodes/worker1")).toBeUndefined();
      // Nobody else was touched: the others keep their configuration, etcd its three members.
      for (const name of ["tiny0", "tiny1", "tiny3", "worker0"])
        expect(when(simNode(name), /reset|left etcd|applied a configuration/, since), name).toBeUndefined();
      expect(await etcdMembersSeenBy(addressOf("tiny1"))).toEqual(["tiny0", "tiny1", "tiny3"].map(addressOf).sort());
    },
    RUN_TIMEOUT,
  );

  it(
    "a controller removed leaves etcd (gone from the others' member list) before layer 01 destroys its VM",
    async () => {
      const since = performance.now();
      const vmId = vmIdOf("tiny3");
      await writeNodes(["tiny0", "tiny1", "worker0"], "tiny3 removed");
      const run = await startBootstrap(["--auto-approve", "--only=infrastructure"], env, RUN_TIMEOUT);
      expectDone(run);
      const tiny3 = simNode("tiny3");
      const left = when(tiny3, /left etcd/, since);
      const stopped = stoppedAt(vmId, since);
      expect(left, tiny3.log()).toBeDefined();
      expect(stopped, changesSince(since)).toBeDefined();
      expect(destroyed(vmId, since), changesSince(since)).toBe(true);
      expect(left!).toBeLessThan(stopped!);
      expect(when(tiny3, /reset: configuration wiped/, since)).toBeLessThan(stopped!);
      for (const name of ["tiny0", "tiny1"])
        expect(await etcdMembersSeenBy(addressOf(name)), name).toEqual(["tiny0", "tiny1"].map(addressOf).sort());
      expect(sim.proxmox.state.vms[vmId]).toBeUndefined();
      expect(run.output).toContain("Node tiny3 deleted from the Kubernetes API");
    },
    RUN_TIMEOUT,
  );

  it(
    "./bootstrap.sh upgrade rolls Talos v1.11.5 -> v1.11.6 node by node: each rebooted into its installer and the cluster healthy before the next",
    async () => {
      const since = performance.now();
      const file = join(configDir, "cluster.yaml");
      writeFileSync(file, stringify({ ...(parse(readFileSync(file, "utf8")) as object), talos_version: TO }));
      await commit(configDir, `Talos ${TO}`);
      const run = await startBootstrap(["upgrade", "--auto-approve"], env, RUN_TIMEOUT);
      expectDone(run);
      expect(run.output).toContain("Kubernetes stays at v1.34.1, which layer 01 applied already: no upgrade-k8s");
      const order = ["tiny0", "tiny1", "worker0"].map(simNode);
      const tiny0 = simNode("tiny0");
      let previous = since;
      for (const node of order) {
        const state = JSON.parse(readFileSync(join(node.stateDir, "node.json"), "utf8"));
        expect(state.version, node.name).toBe(TO);
        expect(state.upgrades, node.name).toEqual([
          expect.stringMatching(new RegExp(`/installer/[0-9a-f]{64}:${TO}$`)),
        ]);
        const upgrading = when(node, /upgrading to /, since);
        const rebooted = when(node, /rebooted/, since);
        expect(upgrading, node.log()).toBeDefined();
        // One at a time: asked only once the node before it was back and a health check passed after that.
        expect(upgrading!, `${node.name} upgraded before the node before it was back and healthy`).toBeGreaterThan(
          previous,
        );
        expect(rebooted!).toBeGreaterThan(upgrading!);
        const healthy = when(tiny0, /health check passed/, rebooted!);
        expect(healthy, `a health check after ${node.name} rebooted`).toBeDefined();
        previous = healthy!;
      }
    },
    RUN_TIMEOUT,
  );

  it(
    "./bootstrap.sh records Talos v1.11.6 in layer 01, one node's configuration at a time, then plans no change",
    async () => {
      const since = performance.now();
      const run = await startBootstrap(["--auto-approve", "--only=infrastructure"], env, RUN_TIMEOUT);
      expectDone(run);
      expect(run.output).toMatch(/talos_version v1\.11\.6: every node runs it already; layer 01 records it/);
      const applied = ["tiny0", "tiny1", "worker0"].map((name) => {
        const node = simNode(name);
        expect(readFileSync(join(node.stateDir, "config.yaml"), "utf8"), name).toMatch(
          new RegExp(`image: \\S+/installer/[0-9a-f]{64}:${TO}\\n`),
        );
        return { name, at: when(node, /applied a configuration/, since)! };
      });
      // Controllers first, and between two nodes' configurations a health check passed.
      for (const a of applied) expect(a.at, a.name).toBeDefined();
      expect([...applied].sort((a, b) => a.at - b.at).map((a) => a.name)).toEqual(["tiny0", "tiny1", "worker0"]);
      for (const [i, a] of applied.entries()) {
        if (i > 0) {
          const healthy = when(simNode("tiny0"), /health check passed/, applied[i - 1].at);
          expect(healthy, `a health check between ${applied[i - 1].name} and ${a.name}`).toBeLessThan(a.at);
        }
      }
      const plan = await startBootstrap(["--plan"], env, RUN_TIMEOUT);
      expectDone(plan);
      for (const layer of ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"])
        expect(summaryRow(plan.output, layer, "plan")?.[2], layer).toBe("no changes");
    },
    RUN_TIMEOUT,
  );
});
