// ./bootstrap.sh upgrade against applied state: the root example (addresses moved to loopback) with layers 00 and
// 01 applied by the real OpenTofu into the Proxmox simulator (proxmox-judge.ts), so layer 01's state holds the
// talos_nodes output a real apply writes. talosctl is the recording stand-in (__tests__/upgrade/fake-talosctl.mjs):
// no Talos node exists here. Proved: --plan prints the rolling order and asks nothing but the state; a run upgrades
// node by node with its waits; a failure midway stops with a clear message; a rerun resumes.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { engineEnv, startBootstrap, type BootstrapRun } from "./bootstrap-support";
import { applyLayer, judgedConfig, startJudgeFor, synthesizeFor, vmsByName, type Judge } from "./proxmox-judge";
import { nodesAt, standInTalosctl, type StandInWorld } from "../upgrade/stand-in";
import { tempDir, tofu } from "./support";

const work = tempDir("upgrade");
let judge: Judge;
let configDir: string;
/** Layer 01's talos_nodes output as the applied state holds it. */
let recorded: Array<{ name: string; address: string; controller: boolean; installer: string; vm_id: number }>;
/** The versions of the config (the target). */
let talosVersion: string;
let kubernetesVersion: string;

beforeAll(async () => {
  configDir = judgedConfig(join(work.dir, "config"));
  judge = await startJudgeFor(configDir);
  const stacks = await synthesizeFor(configDir, join(work.dir, "applied"));
  await applyLayer(judge, stacks["00-persistent-auth"]);
  await applyLayer(judge, stacks["01-infrastructure"]);
  const output = await tofu(stacks["01-infrastructure"], ["output", "-json", "talos_nodes"], { env: judge.env() });
  recorded = JSON.parse(output.stdout);
  const cluster = parse(readFileSync(join(configDir, "cluster.yaml"), "utf8")) as Record<string, string>;
  talosVersion = cluster.talos_version;
  // A Kubernetes bump on top of what layer 01 applied (v1.35.0): the upgrade ends with upgrade-k8s.
  kubernetesVersion = "v1.35.1";
  writeFileSync(join(configDir, "cluster.yaml"), stringify({ ...cluster, kubernetes_version: kubernetesVersion }));
  // What layer 01 writes beside the config on a real cluster (its file resource needs a live cluster here).
  mkdirSync(join(configDir, "credentials"), { recursive: true });
  writeFileSync(join(configDir, "credentials", "talosconfig"), "context: stand-in\n");
});
afterAll(async () => {
  await judge?.close();
  work.remove();
});

/** The stand-in talosctl with every recorded node at `from`, in a folder of its own. */
function standIn(name: string, from: string, world: Partial<StandInWorld> = {}) {
  return standInTalosctl(join(work.dir, name), {
    client: talosVersion,
    nodes: nodesAt(
      recorded.map((n) => n.address),
      from,
    ),
    rejoinPolls: 2,
    ...world,
  });
}

function upgrade(args: string[], env: Record<string, string>, command = "upgrade"): Promise<BootstrapRun> {
  return startBootstrap([command, "--allow-dirty", ...args], {
    ...engineEnv(),
    CONFIG_DIR: configDir,
    CDKTF_OUTDIR: undefined,
    CDKTF_CONTEXT_JSON: undefined,
    PROXMOX_VE_API_TOKEN: command === "restart" ? judge.token : undefined,
    BOOTSTRAP_UPGRADE_INTERVAL: "0.05",
    BOOTSTRAP_UPGRADE_TIMEOUT: "5",
    ...env,
  });
}

/** The calls that change something, as "verb node-or-version". */
const actions = (calls: string[][]) =>
  calls
    .filter((c) => c[0] !== "version")
    .map(
      (c) =>
        `${c[0]} ${(c.find((a) => a.startsWith("--to=")) ?? c.find((a) => a.startsWith("--nodes=")) ?? "").replace(/^--\w+=/, "")}`,
    );

const address = (name: string) => recorded.find((n) => n.name === name)!.address;

function expectStatus(run: BootstrapRun, status: number): void {
  expect(run.status, run.output).toBe(status);
}

describe("./bootstrap.sh upgrade, layer 01 applied", () => {
  it("the applied state records every node of the example with its installer image", () => {
    expect(recorded.map((n) => n.name)).toEqual([
      "controlplane0",
      "controlplane1",
      "controlplane2",
      "worker0",
      "worker1",
    ]);
    for (const n of recorded) {
      expect(n.address).toMatch(/^127\./);
      // The factory's host (the stand-in's here), /installer/ and the schematic id.
      expect(n.installer).toMatch(/^127\.0\.0\.1:\d+\/installer\/[0-9a-f]{64}$/);
    }
  });

  it("--plan prints the rolling order, controllers one at a time, then workers, then upgrade-k8s; it asks no node anything", async () => {
    const talosctl = standIn("plan", "v1.11.0");
    const simCalls = judge.sim.calls.length;
    const run = await upgrade(["--plan"], talosctl.env);
    expectStatus(run, 0);
    const steps = [...run.output.matchAll(/^(\d+)\. +(talos|kubernetes) +(\S+)/gm)].map(
      (m) => `${m[1]} ${m[2]} ${m[3]}`,
    );
    expect(steps).toEqual([
      "1 talos controlplane0",
      "2 talos controlplane1",
      "3 talos controlplane2",
      "4 talos worker0",
      "5 talos worker1",
      "6 kubernetes talosctl",
    ]);
    for (const n of recorded)
      expect(run.output).toContain(
        `${n.name} (${n.controller ? "controller" : "worker"}, ${n.address}) ${n.installer}:${talosVersion}`,
      );
    expect(run.output).toContain(`talosctl upgrade-k8s --to ${kubernetesVersion}`);
    expect(run.output).toContain(
      `rolling order to Talos ${talosVersion}, Kubernetes ${kubernetesVersion} (no node was asked its version):`,
    );
    // Only the client's own version was asked; the Proxmox API was not called.
    expect(talosctl.calls()).toEqual([["version", "--client"]]);
    expect(judge.sim.calls.length).toBe(simCalls);
    expect(run.output).not.toMatch(/^=== upgrade$/m);
  });

  it("a failure midway stops with a clear message, and a rerun resumes after the nodes already upgraded", async () => {
    const talosctl = standIn("run", "v1.11.0", { failUpgradeOn: address("controlplane1") });
    const first = await upgrade(["--auto-approve"], talosctl.env);
    expectStatus(first, 1);
    expect(actions(talosctl.calls())).toEqual([
      `upgrade ${address("controlplane0")}`,
      `health ${address("controlplane0")}`,
      `upgrade ${address("controlplane1")}`,
    ]);
    expect(first.output).toMatch(
      new RegExp(
        `^stopped at Talos on controlplane1: .*upgrade of ${address("controlplane1").replace(/\./g, "\\.")} failed: image pull error$`,
        "m",
      ),
    );
    expect(first.output).toContain("done before it: Talos on controlplane0; the steps after it did not run.");
    expect(first.output).toMatch(
      /^bootstrap: error: the upgrade stopped after \d+s \(see above\); run \.\/bootstrap\.sh upgrade again to resume$/m,
    );
    expect(talosctl.world().nodes[address("controlplane0")].version).toBe(talosVersion);
    expect(talosctl.world().nodes[address("controlplane2")].version).toBe("v1.11.0");
    expect(talosctl.world().kubernetes).toBeUndefined();

    // The cause fixed, the rerun skips controlplane0 and goes on.
    talosctl.set({ failUpgradeOn: undefined });
    const before = talosctl.calls().length;
    const second = await upgrade(["--auto-approve"], talosctl.env);
    expectStatus(second, 0);
    expect(second.output).toContain(`already at the target Talos version, skipped: controlplane0`);
    const calls = talosctl.calls().slice(before);
    expect(actions(calls)).toEqual([
      ...["controlplane1", "controlplane2", "worker0", "worker1"].flatMap((n) => [
        `upgrade ${address(n)}`,
        `health ${address("controlplane0")}`,
      ]),
      `upgrade-k8s ${kubernetesVersion}`,
    ]);
    // Each upgraded node was asked its version until it answered with the target (it answers nothing twice).
    const upgradeAt = calls.findIndex((c) => c[0] === "upgrade");
    expect(
      calls.slice(upgradeAt + 1, upgradeAt + 4).map((c) => `${c[0]} ${c.find((a) => a.startsWith("--nodes="))}`),
    ).toEqual(Array(3).fill(`version --nodes=${address("controlplane1")}`));
    expect(calls.find((c) => c[0] === "upgrade")).toContain(`--image=${recorded[1].installer}:${talosVersion}`);
    expect(Object.values(talosctl.world().nodes).map((n) => n.version)).toEqual(Array(5).fill(talosVersion));
    expect(talosctl.world().kubernetes).toBe(kubernetesVersion);
    expect(second.output).toContain(
      "Now apply the new versions to layer 01 (ISO, machine configurations): ./bootstrap.sh",
    );
  });

  it.each<[string, Record<string, string>, RegExp]>([
    [
      "talosctl missing",
      { TALOSCTL: join(work.dir, "no-talosctl") },
      /✗ talosctl: talosctl is not usable \(.*\); install talosctl v\S+ or newer/,
    ],
    [
      "talosctl older than the target",
      {},
      /✗ talosctl: talosctl v1\.10\.3 is older than the target Talos v\S+; install talosctl \d+\.\d+ or newer/,
    ],
  ])("preflight refuses: %s; nothing is upgraded", async (_, env, message) => {
    const talosctl = standIn("old", "v1.11.0", { client: "v1.10.3" });
    const run = await upgrade(["--auto-approve"], { ...talosctl.env, ...env });
    expectStatus(run, 1);
    expect(run.output).toMatch(message);
    expect(run.output).toMatch(/^bootstrap: error: preflight failed; nothing was changed$/m);
    expect(actions(talosctl.calls())).toEqual([]);
  });
});

describe("./bootstrap.sh restart, a change of cores left pending in Proxmox by layer 01", () => {
  const changed = ["controlplane1", "worker0"];
  const pendingOf = (name: string) => vmsByName(judge.sim)[name].pending;

  beforeAll(async () => {
    // Their cores raised: layer 01 changes the running VMs in place and restarts none of them.
    const file = join(configDir, "nodes.yaml");
    const nodes = parse(readFileSync(file, "utf8")) as { nodes: Array<Record<string, unknown>> };
    for (const n of nodes.nodes) if (changed.includes(n.name as string)) n.vm_cores = 6;
    writeFileSync(file, stringify(nodes));
    const stacks = await synthesizeFor(configDir, join(work.dir, "cores"));
    await applyLayer(judge, stacks["01-infrastructure"]);
  });

  it("the simulator holds the new cores as pending on exactly those VMs", () => {
    for (const n of recorded) expect(pendingOf(n.name).cores, n.name).toBe(changed.includes(n.name) ? "6" : undefined);
  });

  it("--plan lists them, controllers first, and restarts nothing", async () => {
    const talosctl = standIn("restart-plan", talosVersion);
    const run = await upgrade(["--plan"], talosctl.env, "restart");
    expectStatus(run, 0);
    const lines = [
      ...run.output.matchAll(/^(\d+)\. +(\S+) \((controller|worker), VM (\d+) on (\S+)\): (.*) pending;/gm),
    ];
    // bpg sends the whole CPU block, so Proxmox lists its other keys as pending too; cores is among them.
    expect(lines.map((m) => `${m[2]} ${m[6].split(", ").includes("cores")}`)).toEqual([
      "controlplane1 true",
      "worker0 true",
    ]);
    expect(lines.map((m) => Number(m[4]))).toEqual(changed.map((n) => recorded.find((r) => r.name === n)!.vm_id));
    expect(judge.sim.calls.filter((c) => c.path.endsWith("/status/reboot"))).toEqual([]);
    expect(actions(talosctl.calls())).toEqual([]);
  });

  it("restarts them one at a time through Proxmox, each once its node answers and the cluster is healthy; a rerun finds nothing", async () => {
    const talosctl = standIn("restart-run", talosVersion);
    const from = judge.sim.calls.length;
    const run = await upgrade(["--auto-approve"], talosctl.env, "restart");
    expectStatus(run, 0);
    const reboots = judge.sim.calls.slice(from).filter((c) => c.method === "POST" && c.path.endsWith("/status/reboot"));
    const vmIds = changed.map((n) => recorded.find((r) => r.name === n)!.vm_id);
    expect(reboots.map((c) => c.path)).toEqual(
      vmIds.map((id) => expect.stringMatching(new RegExp(`/qemu/${id}/status/reboot$`))),
    );
    for (const name of changed) expect(pendingOf(name)).toEqual({});
    expect(vmsByName(judge.sim).worker0.config.cores).toBe("6");
    expect(actions(talosctl.calls())).toEqual([
      `health ${address("controlplane0")}`,
      `health ${address("controlplane0")}`,
    ]);
    expect(run.output).toContain("done: restarted controlplane1, worker0");

    const again = await upgrade(["--auto-approve"], talosctl.env, "restart");
    expectStatus(again, 0);
    expect(again.output).toContain("no VM has a change waiting for a restart");
  });
});

describe("./bootstrap.sh upgrade across a minor, Talos 1.13 to 1.14", () => {
  const editCluster = (change: Record<string, unknown>) => {
    const file = join(configDir, "cluster.yaml");
    writeFileSync(file, stringify({ ...parse(readFileSync(file, "utf8")), ...change }));
  };
  let at113: Array<(typeof recorded)[number] & { config_contract: string }>;

  beforeAll(async () => {
    // The cluster as layer 01 applied it at Talos 1.13: its configurations carry the 1.13 contract.
    editCluster({ talos_version: "v1.13.0", kubernetes_version: "v1.35.0" });
    const stacks = await synthesizeFor(configDir, join(work.dir, "at-1.13"));
    await applyLayer(judge, stacks["01-infrastructure"]);
    const output = await tofu(stacks["01-infrastructure"], ["output", "-json", "talos_nodes"], { env: judge.env() });
    at113 = JSON.parse(output.stdout);
    editCluster({ talos_version: "v1.14.1" });
  });

  it("layer 01 recorded the 1.13 contract of every node's configuration", () => {
    expect(at113.map((n) => n.config_contract)).toEqual(Array(5).fill("v1.13"));
  });

  it("refuses while talos_config_contract is unset (it would follow talos_version to 1.14); nothing is upgraded", async () => {
    const talosctl = standIn("contract-unset", "v1.13.0", { client: "v1.14.1" });
    for (const args of [["--plan"], ["--auto-approve"]]) {
      const run = await upgrade(args, talosctl.env);
      expectStatus(run, 1);
      expect(run.output).toMatch(
        /✗ contract: Talos v1\.14\.1 would move the machine configurations from the v1\.13 version contract to v1\.14 .*add "talos_config_contract: v1\.13" to cluster\.yaml/,
      );
      expect(run.output).toMatch(/^bootstrap: error: preflight failed; nothing was changed$/m);
    }
    expect(actions(talosctl.calls())).toEqual([]);
  });

  it("with talos_config_contract: v1.13, upgrades every node to its schematic's 1.14 installer; layer 01 then keeps the 1.13 contract and its v1alpha1 form", async () => {
    editCluster({ talos_config_contract: "v1.13" });
    const talosctl = standIn("contract-pinned", "v1.13.0", { client: "v1.14.1" });
    const run = await upgrade(["--auto-approve"], talosctl.env);
    expectStatus(run, 0);
    const images = talosctl
      .calls()
      .filter((c) => c[0] === "upgrade")
      .map((c) => c.find((a) => a.startsWith("--image="))!.slice("--image=".length));
    // Controllers first, as recorded; each from its own factory schematic, at the new version.
    expect(images).toEqual(at113.map((n) => `${n.installer}:v1.14.1`));
    expect(Object.values(talosctl.world().nodes).map((n) => n.version)).toEqual(Array(5).fill("v1.14.1"));

    const stacks = await synthesizeFor(configDir, join(work.dir, "at-1.14"));
    const { data } = stacks["01-infrastructure"].json as { data: Record<string, Record<string, any>> };
    const configs = Object.values(data.talos_machine_configuration);
    expect(new Set(configs.map((c) => c.talos_version))).toEqual(new Set(["v1.13"]));
    for (const config of configs)
      expect(config.config_patches.map((p: string) => JSON.parse(p).kind ?? "v1alpha1")).toEqual([
        "v1alpha1",
        "HostnameConfig",
      ]);
    const urls = Object.values(data.talos_image_factory_urls) as Array<{ talos_version: string }>;
    expect(new Set(urls.map((u) => u.talos_version))).toEqual(new Set(["v1.14.1"]));
  });
});
