// The rolling upgrade and node removal, driven through the real talosctl seam (TalosctlCli) against a
// recording stand-in for talosctl (fake-talosctl.mjs): order, waits, a failure midway, a rerun.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatUpgradePlan, planRemoval, planUpgrade, type UpgradeNode } from "../../scripts/upgrade/plan";
import { UNKNOWN_INSTALLER } from "../../scripts/upgrade/nodes";
import { describeUpgrade, runRemoval, runUpgrade, upgradePreflight } from "../../scripts/upgrade/run";
import { TalosctlCli, tagIn } from "../../scripts/upgrade/talosctl";
import { TALOS_RELEASES } from "../../config/versions";
import { nodesAt, standInTalosctl, type StandInWorld } from "./stand-in";

const FACTORY = "factory.talos.dev/installer";
const node = (name: string, address: string, controller: boolean, schematic = "a215"): UpgradeNode => ({
  name,
  address,
  controller,
  installer: `${FACTORY}/${schematic}`,
});
// Listed workers first, to show the order comes from the roles, not the list.
const NODES = [
  node("worker0", "127.0.10.31", false),
  node("controlplane0", "127.0.10.21", true),
  node("controlplane1", "127.0.10.22", true),
  node("gpu0", "127.0.10.32", false, "abab"),
  node("controlplane2", "127.0.10.23", true),
];
const TARGET = { talosVersion: "v1.12.2", kubernetesVersion: "v1.35.1", contract: "v1.12", contractPinned: false };

let dir: string | undefined;
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

/** A stand-in talosctl with every node at v1.12.1, in a folder of its own. */
function standIn(world: Partial<StandInWorld> = {}) {
  dir = mkdtempSync(join(tmpdir(), "talosctl-"));
  return standInTalosctl(dir, {
    client: "v1.12.2",
    nodes: nodesAt(
      NODES.map((n) => n.address),
      "v1.12.1",
    ),
    rejoinPolls: 2,
    ...world,
  });
}

/** The calls that change something, as "verb address-or-version". */
const actions = (calls: string[][]) =>
  calls
    .filter((c) => c[0] !== "version")
    .map(
      (c) =>
        `${c[0]} ${(c.find((a) => a.startsWith("--to=")) ?? c.find((a) => a.startsWith("--nodes=")) ?? "").replace(/^--\w+=/, "")}`,
    );
const noSleep = async () => {};
const run = (talosctl: TalosctlCli, log: string[] = []) =>
  runUpgrade({
    nodes: NODES,
    target: TARGET,
    talosctl,
    log: (l) => log.push(l),
    sleep: noSleep,
    pollIntervalMs: 5,
    rejoinTimeoutMs: 20,
  });

describe("planUpgrade", () => {
  it("upgrades controllers one at a time first, then workers, each to its own schematic's installer, Kubernetes last", async () => {
    const steps = planUpgrade(NODES, TARGET);
    expect(
      steps.map((s) => (s.kind === "talos" ? `${s.node.name} ${s.image}` : `kubernetes ${s.to} via ${s.via.name}`)),
    ).toEqual([
      `controlplane0 ${FACTORY}/a215:v1.12.2`,
      `controlplane1 ${FACTORY}/a215:v1.12.2`,
      `controlplane2 ${FACTORY}/a215:v1.12.2`,
      `worker0 ${FACTORY}/a215:v1.12.2`,
      `gpu0 ${FACTORY}/abab:v1.12.2`,
      "kubernetes v1.35.1 via controlplane0",
    ]);
  });

  it("leaves out nodes already at the target", async () => {
    const running = new Map([
      ["controlplane0", "v1.12.2"],
      ["worker0", "v1.12.2"],
      ["gpu0", "v1.12.1"],
    ]);
    const steps = planUpgrade(NODES, TARGET, running);
    expect(steps.map((s) => (s.kind === "talos" ? s.node.name : s.kind))).toEqual([
      "controlplane1",
      "controlplane2",
      "gpu0",
      "kubernetes",
    ]);
    expect(formatUpgradePlan(steps, ["controlplane0", "worker0"])).toMatch(
      /^1\. +talos +controlplane1 .*\n(.*\n){3}already at the target Talos version, skipped: controlplane0, worker0$/,
    );
  });

  it("leaves Kubernetes out when layer 01 applied the target Kubernetes version already (a Talos bump alone), and says so", async () => {
    const kept = planUpgrade(NODES, TARGET, new Map(), TARGET.kubernetesVersion);
    expect(kept.map((s) => s.kind)).toEqual(Array(5).fill("talos"));
    expect(formatUpgradePlan(kept, [], TARGET)).toMatch(
      /\nKubernetes stays at v1\.35\.1, which layer 01 applied already: no upgrade-k8s$/,
    );
    // Another applied version, or none recorded: upgrade-k8s last.
    for (const applied of ["v1.35.0", undefined])
      expect(planUpgrade(NODES, TARGET, new Map(), applied).at(-1)).toMatchObject({ kind: "kubernetes" });
    expect(formatUpgradePlan(planUpgrade(NODES, TARGET), [], TARGET)).not.toMatch(/stays at/);
  });

  it("refuses a cluster without controllers", async () => {
    expect(() =>
      planUpgrade(
        NODES.filter((n) => !n.controller),
        TARGET,
      ),
    ).toThrow(/no controller/);
  });
});

describe("runUpgrade against the stand-in talosctl", () => {
  it("upgrades node by node, each only after the one before is back at the target and the cluster is healthy", async () => {
    const fake = standIn();
    const result = await run(fake.talosctl);
    expect(result.failed).toBeUndefined();
    expect(actions(fake.calls())).toEqual([
      "upgrade 127.0.10.21",
      "health 127.0.10.21",
      "upgrade 127.0.10.22",
      "health 127.0.10.21",
      "upgrade 127.0.10.23",
      "health 127.0.10.21",
      "upgrade 127.0.10.31",
      "health 127.0.10.21",
      "upgrade 127.0.10.32",
      "health 127.0.10.21",
      "upgrade-k8s v1.35.1",
    ]);
    // After each upgrade the node was asked its version until it answered again (2 refused calls, then the target).
    const calls = fake.calls();
    const firstUpgrade = calls.findIndex((c) => c[0] === "upgrade");
    expect(
      calls.slice(firstUpgrade + 1, firstUpgrade + 4).map((c) => `${c[0]} ${c.find((a) => a.startsWith("--nodes="))}`),
    ).toEqual(Array(3).fill("version --nodes=127.0.10.21"));
    expect(calls[firstUpgrade]).toContain(`--image=${FACTORY}/a215:v1.12.2`);
    expect(calls.find((c) => c[0] === "health")).toContain("--control-plane-nodes=127.0.10.21,127.0.10.22,127.0.10.23");
    expect(Object.values(fake.world().nodes).map((n) => n.version)).toEqual(Array(5).fill("v1.12.2"));
    expect(fake.world().kubernetes).toBe("v1.35.1");
  });

  it("runs no upgrade-k8s when layer 01 applied the target Kubernetes version already", async () => {
    const fake = standIn();
    const result = await runUpgrade({
      nodes: NODES,
      target: TARGET,
      appliedKubernetes: TARGET.kubernetesVersion,
      talosctl: fake.talosctl,
      log: () => {},
      sleep: noSleep,
      pollIntervalMs: 5,
      rejoinTimeoutMs: 20,
    });
    expect(result.failed).toBeUndefined();
    expect(actions(fake.calls()).filter((a) => !a.startsWith("health"))).toEqual(
      ["127.0.10.21", "127.0.10.22", "127.0.10.23", "127.0.10.31", "127.0.10.32"].map((a) => `upgrade ${a}`),
    );
    expect(fake.world().kubernetes).toBeUndefined();
  });

  it("stops at the first failure: no later node and no Kubernetes upgrade; a rerun resumes where it stopped", async () => {
    const fake = standIn({ failUpgradeOn: "127.0.10.22" });
    const log: string[] = [];
    const first = await run(fake.talosctl, log);
    expect(first.failed?.step).toMatchObject({ kind: "talos", node: { name: "controlplane1" } });
    expect(first.failed?.error).toMatch(/upgrade .*127\.0\.10\.22.*image pull error/);
    expect(first.done.map((s) => (s.kind === "talos" ? s.node.name : s.kind))).toEqual(["controlplane0"]);
    expect(actions(fake.calls())).toEqual(["upgrade 127.0.10.21", "health 127.0.10.21", "upgrade 127.0.10.22"]);
    expect(log.at(-1)).toMatch(/^stopped: /);
    expect(fake.world().kubernetes).toBeUndefined();

    fake.set({ failUpgradeOn: undefined });
    const before = fake.calls().length;
    const second = await run(fake.talosctl, log);
    expect(second.failed).toBeUndefined();
    expect(actions(fake.calls().slice(before)).filter((a) => a.startsWith("upgrade"))).toEqual([
      "upgrade 127.0.10.22",
      "upgrade 127.0.10.23",
      "upgrade 127.0.10.31",
      "upgrade 127.0.10.32",
      "upgrade-k8s v1.35.1",
    ]);
    expect(log).toContain("already at Talos v1.12.2: controlplane0");
  });

  it("stops when a node does not come back with the target version in time", async () => {
    const fake = standIn({ rejoinPolls: 1000 });
    const result = await run(fake.talosctl);
    expect(result.failed?.error).toMatch(
      /controlplane0 did not come back with Talos v1\.12\.2 within 0 s \(it answers nothing\)/,
    );
    expect(actions(fake.calls())).toEqual(["upgrade 127.0.10.21"]);
  });

  it("stops when the cluster is not healthy after a node", async () => {
    const fake = standIn({ failHealth: true });
    expect((await run(fake.talosctl)).failed?.error).toMatch(/health.*etcd is unhealthy/);
    expect(actions(fake.calls())).toEqual(["upgrade 127.0.10.21", "health 127.0.10.21"]);
  });

  it("--plan prints the rolling order from the nodes' running versions and changes nothing", async () => {
    const fake = standIn();
    fake.set({ nodes: { ...fake.world().nodes, "127.0.10.21": { version: "v1.12.2" } } });
    const text = await describeUpgrade(NODES, TARGET, fake.talosctl);
    expect(text.split("\n").map((l) => l.split(/\s+/).slice(0, 3).join(" "))).toEqual([
      "1. talos controlplane1",
      "2. talos controlplane2",
      "3. talos worker0",
      "4. talos gpu0",
      "5. kubernetes talosctl",
      "already at the",
    ]);
    expect(text).toContain(
      "controlplane1 (controller, 127.0.10.22) v1.12.1 → factory.talos.dev/installer/a215:v1.12.2",
    );
    expect(actions(fake.calls())).toEqual([]);
  });
});

describe("upgradePreflight", () => {
  it.each([
    ["a client at the target", "v1.12.2", []],
    ["a newer client", "v1.13.0", []],
    ["an older patch of the same minor", "v1.12.0", []],
    [
      "an older minor",
      "v1.11.5",
      [/talosctl v1\.11\.5 is older than the target Talos v1\.12\.2; install talosctl 1\.12 or newer/],
    ],
  ])("%s", async (_, client, expected) => {
    const fake = standIn({ client });
    const problems = await upgradePreflight(fake.talosctl, TARGET);
    expect(problems).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(problems[i]).toMatch(re));
  });

  it("reports nodes whose installer image layer 01 has not recorded, beside the talosctl problem", async () => {
    const nodes = [...NODES.slice(0, 2), { ...NODES[2], installer: UNKNOWN_INSTALLER }];
    const fake = standIn({ client: "v1.11.0" });
    expect(await upgradePreflight(fake.talosctl, TARGET, nodes)).toEqual([
      "layer 01 has recorded no installer image for controlplane1; apply layer 01 first (./bootstrap.sh)",
      expect.stringMatching(/^talosctl v1\.11\.0 is older/),
    ]);
  });

  it("reports a missing talosctl", async () => {
    const missing = new TalosctlCli({ binary: "/nonexistent/talosctl", talosconfig: "x" });
    expect(await upgradePreflight(missing, TARGET)).toEqual([
      expect.stringMatching(/^talosctl is not usable \(.*ENOENT.*\); install talosctl v1\.12\.2 or newer$/),
    ]);
  });

  describe("across a minor, 1.13 to 1.14: the configurations' version contract stays until cluster.yaml moves it", () => {
    const to114 = { talosVersion: "v1.14.1", kubernetesVersion: "v1.35.4", contract: "v1.14", contractPinned: false };
    const at113 = NODES.map((n) => ({ ...n, contract: "v1.13" }));
    const refusal =
      /^Talos v1\.14\.1 would move the machine configurations from the v1\.13 version contract to v1\.14 .*add "talos_config_contract: v1\.13" to cluster\.yaml/;

    const running113 = { nodes: Object.fromEntries(NODES.map((n) => [n.address, { version: "v1.13.9" }])) };

    it("refuses while talos_config_contract is unset, naming the contract layer 01 recorded", async () => {
      const fake = standIn({ client: "v1.14.1", ...running113 });
      expect(await upgradePreflight(fake.talosctl, to114, at113, true)).toEqual([expect.stringMatching(refusal)]);
      // Unasked (--plan), the recorded contract alone decides.
      expect(await upgradePreflight(fake.talosctl, to114, at113, false, "v1.13.9")).toEqual([
        expect.stringMatching(refusal),
      ]);
    });

    it("with no contract recorded (a state from before), takes the lowest minor the nodes run, when asked", async () => {
      const fake = standIn({ client: "v1.14.1" });
      fake.set({ nodes: Object.fromEntries(NODES.map((n) => [n.address, { version: "v1.13.3" }])) });
      expect(await upgradePreflight(fake.talosctl, to114, NODES, true)).toEqual([expect.stringMatching(refusal)]);
      expect(await upgradePreflight(fake.talosctl, to114, NODES, false)).toEqual([]);
    });

    it("goes ahead with the contract pinned to 1.13 (or moved on purpose), each node to its schematic's 1.14 installer", async () => {
      const fake = standIn({ client: "v1.14.1", ...running113 });
      const pinned = { ...to114, contract: "v1.13", contractPinned: true };
      expect(await upgradePreflight(fake.talosctl, pinned, at113, true)).toEqual([]);
      expect(await upgradePreflight(fake.talosctl, { ...to114, contractPinned: true }, at113, true)).toEqual([]);
      // Within a minor the contract does not move: no refusal.
      expect(
        await upgradePreflight(fake.talosctl, { ...to114, talosVersion: "v1.13.4", contract: "v1.13" }, at113),
      ).toEqual([]);
      const steps = planUpgrade(at113, pinned);
      expect(steps.flatMap((s) => (s.kind === "talos" ? [s.image] : []))).toEqual([
        `${FACTORY}/a215:v1.14.1`,
        `${FACTORY}/a215:v1.14.1`,
        `${FACTORY}/a215:v1.14.1`,
        `${FACTORY}/a215:v1.14.1`,
        `${FACTORY}/abab:v1.14.1`,
      ]);
    });
  });

  describe("one Talos minor at a time: a target two minors above a node is refused, naming the stop in between", () => {
    const to114 = { talosVersion: "v1.14.1", kubernetesVersion: "v1.35.4", contract: "v1.13", contractPinned: true };
    const runs = (versions: Record<string, string>) => ({
      nodes: Object.fromEntries(NODES.map((n) => [n.address, { version: versions[n.name] ?? "v1.13.9" }])),
    });
    const skip = (nodes: string) =>
      `Talos upgrades one minor at a time, and ${nodes} would skip from 1.12 to 1.14: set "talos_version: v1.13.9" in ` +
      `cluster.yaml (the 1.13 patch this release is tested with) and run ./bootstrap.sh upgrade, then v1.14.1`;

    it("asks every node its version and names those that are behind, and the 1.13 patch to go through", async () => {
      const fake = standIn({ client: "v1.14.1", ...runs({ worker0: "v1.12.7", controlplane1: "v1.12.1" }) });
      expect(await upgradePreflight(fake.talosctl, to114, NODES, true)).toEqual([
        skip("worker0 (v1.12.7), controlplane1 (v1.12.1)"),
      ]);
      expect(fake.calls().filter((c) => c[0] === "version" && c[1] !== "--client")).toHaveLength(NODES.length);
    });

    it("unasked (--plan), takes the Talos version layer 01 last applied; asks no node", async () => {
      const fake = standIn({ client: "v1.14.1", ...runs({}) });
      const names = NODES.map((n) => `${n.name} (v1.12.7)`).join(", ");
      expect(await upgradePreflight(fake.talosctl, to114, NODES, false, "v1.12.7")).toEqual([skip(names)]);
      expect(fake.calls()).toEqual([["version", "--client"]]);
    });

    it("lets one minor up, a patch, and a node already at the target through", async () => {
      const fake = standIn({ client: "v1.14.1", ...runs({ worker0: "v1.14.1" }) });
      expect(await upgradePreflight(fake.talosctl, to114, NODES, true)).toEqual([]);
      expect(await upgradePreflight(fake.talosctl, to114, NODES, false, "v1.13.3")).toEqual([]);
      expect(
        await upgradePreflight(fake.talosctl, { ...to114, talosVersion: "v1.14.2" }, NODES, false, "v1.14.1"),
      ).toEqual([]);
      // A state from before cluster_versions, unasked: nothing to judge by.
      expect(await upgradePreflight(fake.talosctl, to114, NODES, false)).toEqual([]);
    });
  });

  it.each(["talos-config", "talos-sim"])(
    "the stop between two minors is the patch whose machinery judges that minor (judges/%s)",
    (judge) => {
      const judged = Object.keys(TALOS_RELEASES).map((minor) => {
        const goMod = readFileSync(join(__dirname, "../../judges", judge, `v${minor}`, "go.mod"), "utf8");
        return [minor, /^(?:require)?\s*github\.com\/siderolabs\/talos\/pkg\/machinery (v\S+)/m.exec(goMod)?.[1]];
      });
      expect(Object.entries(TALOS_RELEASES).map(([minor, r]) => [minor, r.tested])).toEqual(judged);
    },
  );

  it("reads the tag of the right section", async () => {
    const out = "Client:\n\tTag:         v1.13.0\nServer:\n\tNODE:        1.2.3.4\n\tTag:         v1.12.1\n";
    expect([tagIn(out, "Client"), tagIn(out, "Server"), tagIn("Client:\n\tTag: v1\n", "Server")]).toEqual([
      "v1.13.0",
      "v1.12.1",
      undefined,
    ]);
  });
});

describe("node removal", () => {
  const cp = (i: number) => node(`controlplane${i}`, `127.0.10.2${i}`, true);
  const names = (nodes: readonly UpgradeNode[]) => nodes.map((n) => n.name);

  it.each([
    ["one of three controllers", 3, 1, []],
    ["two of five", 5, 2, []],
    ["one of two", 2, 1, []],
    [
      "two of three at once",
      3,
      2,
      [
        /removing controlplane1, controlplane2 at once leaves 1 of 3 controllers, below etcd's quorum of 2: remove at most 1 controller per run/,
      ],
    ],
    [
      "three of five at once",
      5,
      3,
      [/leaves 2 of 5 controllers, below etcd's quorum of 3: remove at most 2 controllers per run/],
    ],
    ["the only controller", 1, 1, [/leaves no controller/]],
  ])("%s", (_, total, leaving, expected) => {
    const controllers = Array.from({ length: total }, (_, i) => cp(i));
    const keep = new Set(names(controllers.slice(0, total - leaving)));
    const plan = planRemoval(controllers, keep);
    expect(plan.problems).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(plan.problems[i]).toMatch(re));
    expect(names(plan.remove)).toEqual(names(controllers.slice(total - leaving)));
  });

  it("resets the leaving nodes gracefully, workers first, one at a time, and stops at a failure", async () => {
    const keep = new Set(["controlplane0", "controlplane2", "gpu0"]);
    const plan = planRemoval(NODES, keep);
    expect(plan.problems).toEqual([]);
    expect(names(plan.remove)).toEqual(["worker0", "controlplane1"]);
    const fake = standIn();
    const result = await runRemoval(plan.remove, fake.talosctl, () => {});
    expect(result).toEqual({ done: ["worker0", "controlplane1"] });
    const resets = fake.calls().filter((c) => c[0] === "reset");
    expect(resets.map((c) => c.find((a) => a.startsWith("--nodes=")))).toEqual([
      "--nodes=127.0.10.31",
      "--nodes=127.0.10.22",
    ]);
    for (const call of resets) expect(call).toEqual(expect.arrayContaining(["--graceful=true", "--reboot=false"]));
    expect(fake.world().nodes["127.0.10.22"].reset).toBe(true);
    expect(fake.world().nodes["127.0.10.21"].reset).toBeUndefined();

    const failing = new TalosctlCli({ binary: "/nonexistent/talosctl", talosconfig: "x" });
    expect(await runRemoval(plan.remove, failing, () => {})).toMatchObject({
      done: [],
      failed: expect.stringMatching(/ENOENT/),
    });
  });
});
