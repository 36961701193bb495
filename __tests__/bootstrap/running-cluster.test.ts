// A plain ./bootstrap.sh on a running cluster: nodes deleted from nodes.yaml leave gracefully, one at a time, before
// layer 01 is applied (etcd quorum and the last controller guarded), and a version bump is refused until
// `./bootstrap.sh upgrade` has rolled it out. Pure rules first, then the real script with the recording fake engine
// (its `output -json` answers what layer 01's state would) and the recording stand-in talosctl.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig, resolveCluster } from "../../config";
import {
  describeLeaving,
  notRolledOut,
  runningClusterChange,
  type LayerOutputs,
} from "../../scripts/bootstrap/running-cluster";
import { nodesAt, standInTalosctl } from "../upgrade/stand-in";
import { configRepo, type ConfigRepo, fakeEngine, REPO, runBootstrap } from "./support";

const run = promisify(execFile);
const VERSIONS = { talos_version: "v1.12.7", kubernetes_version: "v1.35.0" };
const work = mkdtempSync(join(tmpdir(), "running-cluster-"));
const repos: ConfigRepo[] = [];
const repo = async (prefix: string) => {
  const r = await configRepo(prefix, { cluster: { proxmox_csi_enabled: false, ...VERSIONS } });
  repos.push(r);
  return r;
};
const CLEAN_ENV = {
  PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000",
  TF_HTTP_USERNAME: undefined,
  TF_HTTP_PASSWORD: undefined,
  TF_VAR_state_passphrase: undefined,
  CDKTF_OUTDIR: undefined,
  CDKTF_CONTEXT_JSON: undefined,
  BOOTSTRAP_PROVIDER_STAND_INS: undefined,
  BOOTSTRAP_API_TIMEOUT: "1",
  BOOTSTRAP_API_INTERVAL: "1",
};

beforeAll(async () => {
  await run(process.execPath, [join(REPO, "scripts", "build.mjs"), "app", "bootstrap"]);
});
afterAll(() => {
  for (const r of repos) r.remove();
  rmSync(work, { recursive: true, force: true });
});

type Entry = { name: string; address: string; controller: boolean; installer: string; vm_id: number };

/** The config's nodes as layer 01's talos_nodes output records them, plus `extra`. */
function recordedNodes(dir: string, extra: Array<Pick<Entry, "name" | "address" | "controller">> = []): Entry[] {
  const nodes = (parse(readFileSync(join(dir, "nodes.yaml"), "utf8")) as { nodes: Entry[] }).nodes;
  return [...nodes, ...extra].map((n, i) => ({
    name: n.name,
    address: n.address,
    controller: n.controller,
    installer: "factory.talos.dev/installer/abc",
    vm_id: 300 + i,
  }));
}

function outputs(talosNodes: Entry[], versions: Record<string, string> | undefined = VERSIONS): LayerOutputs {
  return {
    talos_nodes: { value: talosNodes },
    ...(versions ? { cluster_versions: { value: versions } } : {}),
  };
}

const clusterOf = (dir: string) =>
  resolveCluster(
    parseConfig({
      cluster: readFileSync(join(dir, "cluster.yaml"), "utf8"),
      nodes: readFileSync(join(dir, "nodes.yaml"), "utf8"),
    }),
  );

describe("the rules", () => {
  it("a state without talos_nodes (never applied) changes nothing", async () => {
    const dir = await repo("rules-empty");
    expect(runningClusterChange(clusterOf(dir.dir), {})).toBeUndefined();
  });

  it("the nodes gone from nodes.yaml leave, workers first, then controllers", async () => {
    const dir = await repo("rules-leave");
    const change = runningClusterChange(
      clusterOf(dir.dir),
      outputs(
        recordedNodes(dir.dir, [
          { name: "old-cp", address: "10.9.9.1", controller: true },
          { name: "old-w", address: "10.9.9.2", controller: false },
        ]),
      ),
    );
    expect(change?.leaving.map((n) => n.name)).toEqual(["old-w", "old-cp"]);
    expect(change?.refusals).toEqual([]);
    expect(change?.bumps).toEqual([]);
    expect(describeLeaving(change!.leaving).join("\n")).toMatch(
      /1\. old-w \(worker.*\n.*2\. old-cp \(controller: leaves etcd first/,
    );
  });

  it("controllers below etcd's quorum in one run, or the last one, are refused", async () => {
    const dir = await repo("rules-quorum");
    const cluster = clusterOf(dir.dir);
    const controllers = cluster.nodes.filter((n) => n.controller).length;
    const extra = Array.from({ length: controllers }, (_, i) => ({
      name: `old-cp-${i}`,
      address: `10.9.9.${i + 1}`,
      controller: true,
    }));
    const change = runningClusterChange(cluster, outputs(recordedNodes(dir.dir, extra)));
    expect(change?.refusals.join("\n")).toMatch(/below etcd's quorum/);

    const onlyOne = recordedNodes(dir.dir).filter((n) => !n.controller);
    onlyOne.push({ name: "solo", address: "10.9.9.9", controller: true, installer: "x", vm_id: 1 });
    expect(runningClusterChange(cluster, outputs(onlyOne))?.refusals.join("\n")).toMatch(/leaves no controller/);
  });

  it("a version the config moves is a bump; a state written before cluster_versions knows none", async () => {
    const dir = await repo("rules-bump");
    const cluster = clusterOf(dir.dir);
    const nodes = recordedNodes(dir.dir);
    expect(
      runningClusterChange(cluster, outputs(nodes, { talos_version: "v1.12.1", kubernetes_version: "v1.35.0" }))?.bumps,
    ).toEqual([{ what: "talos_version", from: "v1.12.1", to: "v1.12.7" }]);
    expect(runningClusterChange(cluster, outputs(nodes, undefined))?.bumps).toEqual([]);
  });

  it("a bump is rolled out only when every node and the API server answer the new versions", async () => {
    const nodes = [
      { name: "a", address: "1" },
      { name: "b", address: "2" },
    ];
    const bumps = [
      { what: "talos_version" as const, from: "v1.12.1", to: "v1.12.7" },
      { what: "kubernetes_version" as const, from: "v1.35.0", to: "v1.35.4" },
    ];
    const probes = (talos: Record<string, string | undefined>, kubernetes?: string) => ({
      talosVersion: async (address: string) => talos[address],
      kubernetesVersion: async () => kubernetes,
    });
    expect(await notRolledOut(bumps, nodes, probes({ 1: "v1.12.7", 2: "v1.12.7" }, "v1.35.4"))).toEqual([]);
    expect(await notRolledOut(bumps, nodes, probes({ 1: "v1.12.7", 2: "v1.12.1" }, "v1.35.0"))).toEqual([
      "b runs Talos v1.12.1",
      "the API server runs Kubernetes v1.35.0",
    ]);
    expect(await notRolledOut(bumps, nodes, probes({ 1: "v1.12.7" }, "v1.35.4"))).toEqual(["b runs Talos (no answer)"]);
  });
});

// Each case runs the whole script (synthesis included): minutes on a loaded machine, seconds on a quiet one.
describe("./bootstrap.sh on a running cluster", { timeout: 300_000 }, () => {
  /** The stand-in talosctl with every recorded node at `version`. */
  const talosctl = (name: string, nodes: Entry[], version: string) =>
    standInTalosctl(join(work, `${name}-talosctl`), {
      client: "v1.12.7",
      nodes: nodesAt(
        nodes.map((n) => n.address),
        version,
      ),
    });
  function engineWith(name: string, layerOutputs: LayerOutputs) {
    const file = join(work, `${name}-outputs.json`);
    writeFileSync(file, JSON.stringify(layerOutputs));
    const engine = fakeEngine(join(work, `${name}-engine`));
    return { ...engine, env: { ...engine.env, FAKE_OUTPUTS: file, FAKE_STATE_RESOURCES: "1" } };
  }

  it("a node deleted from nodes.yaml is reset gracefully after the plan is confirmed and before 01 is applied", async () => {
    const dir = await repo("leave");
    const recorded = recordedNodes(dir.dir, [{ name: "old-w", address: "127.0.9.9", controller: false }]);
    const engine = engineWith("leave", outputs(recorded));
    const fake = talosctl("leave", recorded, "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.output).toMatch(/state: 01-infrastructure: old-w leaves; no version moves/);
    expect(result.output).toMatch(/1\. old-w \(worker, 127\.0\.9\.9\): talosctl reset --graceful/);
    expect(fake.calls().filter((c) => c[0] === "reset")).toEqual([
      [
        "reset",
        "--nodes=127.0.9.9",
        "--endpoints=127.0.9.9",
        "--graceful=true",
        "--reboot=false",
        "--wait",
        "--timeout=10m",
      ],
    ]);
    // The reset ran between the confirmation of the plan and its apply.
    const resetAt = result.output.indexOf("resetting old-w");
    expect(resetAt).toBeGreaterThan(result.output.indexOf("plan: "));
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(true);
    // No kubeconfig here: the Node object is left with the command to delete it.
    expect(result.output).toMatch(/warning: Node old-w could not be deleted .*kubectl delete node old-w/);
  });

  it("a node that does not leave gracefully stops the run before 01 is applied", async () => {
    const dir = await repo("leave-fails");
    const recorded = recordedNodes(dir.dir, [{ name: "old-w", address: "127.0.9.9", controller: false }]);
    const engine = engineWith("leave-fails", outputs(recorded));
    // The stand-in knows no node at that address: its reset fails.
    const fake = talosctl("leave-fails", recorded.slice(0, -1), "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/a node did not leave the cluster gracefully; 01-infrastructure was not applied/);
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(false);
  });

  it("removing controllers below etcd's quorum is refused by preflight: nothing planned, nobody reset", async () => {
    const dir = await repo("quorum");
    const controllers = recordedNodes(dir.dir).filter((n) => n.controller).length;
    const recorded = recordedNodes(
      dir.dir,
      Array.from({ length: controllers }, (_, i) => ({
        name: `old-cp-${i}`,
        address: `127.0.9.${i + 1}`,
        controller: true,
      })),
    );
    const engine = engineWith("quorum", outputs(recorded));
    const fake = talosctl("quorum", recorded, "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(
      /✗ state: removing old-cp-0, .* at once leaves \d+ of \d+ controllers, below etcd's quorum/,
    );
    expect(engine.calls().some((c) => c.startsWith("plan"))).toBe(false);
    expect(fake.calls()).toEqual([]);
  });

  it("a Talos bump is refused until every node runs it, naming ./bootstrap.sh upgrade; then 01 records it", async () => {
    const dir = await repo("bump");
    const recorded = recordedNodes(dir.dir);
    const engine = engineWith("bump", outputs(recorded, { ...VERSIONS, talos_version: "v1.12.1" }));
    const behind = talosctl("bump-behind", recorded, "v1.12.1");
    const refused = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...behind.env },
    });
    expect(refused.status).toBe(1);
    expect(refused.output).toMatch(
      /✗ versions: talos_version v1\.12\.1 -> v1\.12\.7: layer 01 would apply it to every node's machine configuration at once/,
    );
    expect(refused.output).toMatch(
      /run \.\/bootstrap\.sh upgrade first \(talosctl upgrade to v1\.12\.7, node by node, .*then talosctl upgrade-k8s --to v1\.35\.0;/,
    );
    expect(engine.calls().some((c) => c.startsWith("plan"))).toBe(false);

    const rolled = talosctl("bump-rolled", recorded, "v1.12.7");
    const applied = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...rolled.env },
    });
    expect(applied.output).toMatch(/talos_version v1\.12\.7: every node runs it already; layer 01 records it/);
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(true);
  });

  /** A plan of layer 01 that changes every node's configuration in place (and one VM, and the ISO). */
  function everyNodeReconfigured(recorded: Entry[], extra: object[] = []) {
    return {
      resource_changes: [
        ...[...recorded].reverse().map((n) => ({
          address: `talos_machine_configuration_apply.${n.name}`,
          mode: "managed",
          change: { actions: ["update"], after: { node: n.address } },
        })),
        { address: "proxmox_virtual_environment_vm.worker0", mode: "managed", change: { actions: ["update"] } },
        ...extra,
      ],
    };
  }
  async function rollingRepo(name: string, recorded: (dir: string) => Entry[]) {
    const dir = await repo(name);
    const nodes = recorded(dir.dir);
    mkdirSync(join(dir.dir, "credentials"), { recursive: true });
    writeFileSync(join(dir.dir, "credentials", "talosconfig"), "context: stand-in\n");
    return { dir, nodes };
  }
  /** The engine's calls, each as its verb and its -target or plan file. */
  const steps = (calls: string[]) =>
    calls
      .filter((c) => /^(plan|apply) /.test(c))
      .map((c) =>
        [
          c.split(" ")[0],
          ...[...c.matchAll(/-target=(\S+)/g)].map((m) => m[1]),
          /(rollout-\d+|01-infrastructure)\.tfplan/.exec(c)?.[1],
        ].join(" "),
      );

  it("a plan changing every running node's configuration is applied one node at a time, controllers first, each healthy before the next", async () => {
    const { dir, nodes } = await rollingRepo("rollout", (d) => recordedNodes(d));
    const engine = fakeEngine(join(work, "rollout-engine"), everyNodeReconfigured(nodes));
    const fake = talosctl("rollout", nodes, "v1.12.7");
    const env = { FAKE_OUTPUTS: join(work, "rollout-outputs.json"), FAKE_STATE_RESOURCES: "1" };
    writeFileSync(env.FAKE_OUTPUTS, JSON.stringify(outputs(nodes)));
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...env, ...fake.env, BOOTSTRAP_UPGRADE_INTERVAL: "0.05" },
    });
    // Layer 01 applied (the API wait after it has no kubeconfig here).
    expect(result.output, result.output).toMatch(/^-- 01-infrastructure: applied in \d+s$/m);
    expect(result.output).toMatch(/the machine configurations of 5 running nodes change: applied one node at a time/);
    const order = ["controlplane0", "controlplane1", "controlplane2", "worker0", "worker1"];
    expect(steps(engine.calls())).toEqual([
      "plan 01-infrastructure",
      "plan proxmox_virtual_environment_vm.worker0 rollout-1",
      "apply rollout-1",
      ...order.flatMap((n, i) => [
        `plan talos_machine_configuration_apply.${n} rollout-${i + 2}`,
        `apply rollout-${i + 2}`,
      ]),
      "plan rollout-7",
      "apply rollout-7",
    ]);
    // After each node: it is asked until it answers, then the cluster's health; five times, in the nodes' order.
    const asked = fake.calls().filter((c) => c[0] !== "version" || !c.includes("--client"));
    const address = (n: string) => nodes.find((e) => e.name === n)!.address;
    expect(asked.map((c) => `${c[0]} ${c.find((a) => a.startsWith("--nodes="))?.slice(8)}`)).toEqual(
      order.flatMap((n) => [`version ${address(n)}`, `health ${address("controlplane0")}`]),
    );
    expect(result.output.indexOf("step 3/7: controlplane1's configuration")).toBeGreaterThan(
      result.output.indexOf("controlplane0 has its configuration; waiting until it answers and talosctl health passes"),
    );
  });

  it("a node that does not become healthy stops the rollout: the next node's configuration is not applied", async () => {
    const { dir, nodes } = await rollingRepo("rollout-unhealthy", (d) => recordedNodes(d));
    const engine = fakeEngine(join(work, "rollout-unhealthy-engine"), everyNodeReconfigured(nodes));
    const fake = talosctl("rollout-unhealthy", nodes, "v1.12.7");
    fake.set({ failHealth: true });
    const env = { FAKE_OUTPUTS: join(work, "rollout-unhealthy-outputs.json"), FAKE_STATE_RESOURCES: "1" };
    writeFileSync(env.FAKE_OUTPUTS, JSON.stringify(outputs(nodes)));
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...env, ...fake.env, BOOTSTRAP_UPGRADE_INTERVAL: "0.05" },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/stopped at controlplane0's configuration: .*etcd is unhealthy/);
    expect(result.output).toMatch(/the node-by-node apply of 01-infrastructure stopped/);
    expect(steps(engine.calls()).filter((c) => c.startsWith("apply"))).toEqual(["apply rollout-1", "apply rollout-2"]);
  });

  it("a step whose plan holds what the confirmed plan did not is not applied", async () => {
    const { dir, nodes } = await rollingRepo("rollout-moved", (d) => recordedNodes(d));
    const engine = fakeEngine(join(work, "rollout-moved-engine"), everyNodeReconfigured(nodes));
    const moved = join(work, "rollout-moved-step.json");
    const stray = {
      address: "proxmox_virtual_environment_vm.worker1",
      mode: "managed",
      change: { actions: ["delete"] },
    };
    writeFileSync(moved, JSON.stringify(everyNodeReconfigured(nodes, [stray])));
    const fake = talosctl("rollout-moved", nodes, "v1.12.7");
    const env = {
      FAKE_OUTPUTS: join(work, "rollout-moved-outputs.json"),
      FAKE_STATE_RESOURCES: "1",
      FAKE_ROLLOUT_PLAN: moved,
    };
    writeFileSync(env.FAKE_OUTPUTS, JSON.stringify(outputs(nodes)));
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...env, ...fake.env },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(
      /stopped at the other changes: its plan holds what the confirmed plan did not .*proxmox_virtual_environment_vm\.worker1 \(delete\)/,
    );
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(false);
  });

  it("--plan shows the node-by-node order and applies nothing", async () => {
    const { dir, nodes } = await rollingRepo("rollout-plan", (d) => recordedNodes(d));
    const engine = fakeEngine(join(work, "rollout-plan-engine"), everyNodeReconfigured(nodes));
    const fake = talosctl("rollout-plan", nodes, "v1.12.7");
    const env = { FAKE_OUTPUTS: join(work, "rollout-plan-outputs.json"), FAKE_STATE_RESOURCES: "1" };
    writeFileSync(env.FAKE_OUTPUTS, JSON.stringify(outputs(nodes)));
    const result = await runBootstrap(dir.dir, ["--plan", "--only=infrastructure"], {
      env: { ...CLEAN_ENV, ...engine.env, ...env, ...fake.env },
    });
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/2\. controlplane0 \(controller, [\d.]+\): its configuration alone; then wait/);
    expect(result.output).toMatch(/6\. worker1 \(worker, [\d.]+\): its configuration alone/);
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(false);
    expect(fake.calls()).toEqual([]);
  });

  it("--plan shows a bump and what the apply will require, asking no node", async () => {
    const dir = await repo("bump-plan");
    const recorded = recordedNodes(dir.dir);
    const engine = engineWith("bump-plan", outputs(recorded, { ...VERSIONS, kubernetes_version: "v1.34.2" }));
    const fake = talosctl("bump-plan", recorded, "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--plan", "--only=infrastructure"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/note: kubernetes_version v1\.34\.2 -> v1\.35\.0: layer 01 would apply it/);
    expect(result.output).toMatch(
      /An apply is refused until the nodes run it: run \.\/bootstrap\.sh upgrade first \(talosctl upgrade-k8s --to v1\.35\.0;/,
    );
    expect(fake.calls()).toEqual([]);
  });
});
