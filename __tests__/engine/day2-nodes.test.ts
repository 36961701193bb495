// Day 2 on the nodes: the node-side change-safety matrix. Layer 01 of examples/single-node, grown to three
// controllers and a worker, is applied by the real OpenTofu with nothing excluded: its VMs into the Proxmox
// simulator, its Talos resources against one Talos node simulator per node (as talos-sim.test.ts). Then, one change
// at a time, the changed config is synthesized and layer 01 planned for real, nothing excluded; what ./bootstrap.sh
// does with that plan is derived by bootstrap's own code: the nodes that leave and the version bumps it refuses
// (running-cluster.ts, against the applied state's outputs) and the steps it applies the plan in (rollout.ts). The
// rule is checked over each step's part of the real plan: no step reconfigures or restarts more than one running
// node (a configuration updated, deleted or replaced; a VM replaced or deleted). The table must equal the one in
// docs/day2.md between the day2-nodes markers.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parseConfig, resolveCluster, type ResolvedCluster } from "../../config";
import type { PlanJson } from "../../scripts/bootstrap/plan-summary";
import { CONFIGURATION_APPLY, planRollout } from "../../scripts/bootstrap/rollout";
import {
  bumpHint,
  bumpRefusal,
  runningClusterChange,
  type LayerOutputs,
} from "../../scripts/bootstrap/running-cluster";
import { applyLayer, judgedConfig, startJudgeFor, synthesizeFor, type Judge } from "./proxmox-judge";
import { REPO, tempDir, tofu, type SynthesizedStack } from "./support";
import { ownLoopbackRange, startTalosNodes, type TalosNodes } from "./talos-sim-judge";

const work = tempDir("day2-nodes");
let judge: Judge;
let talos: TalosNodes;
let configDir: string;
let baseCluster: string;
let baseNodes: string;
let outputs: LayerOutputs;

/** All of layer 01: nothing excluded. */
const EVERYTHING = { excludes: [] };
const VM = "proxmox_virtual_environment_vm";

type Nodes = Array<Record<string, unknown>>;
interface Row {
  readonly change: string;
  readonly cluster?: Record<string, unknown>;
  readonly nodes?: (nodes: Nodes) => Nodes;
  /** The running nodes each step reconfigures or restarts, in order (what the table shows, asserted). */
  readonly steps: readonly (readonly string[])[];
  /** Refused by preflight (a bump until `upgrade` rolled it out, a removal below quorum): the reason's start. */
  readonly refused?: RegExp;
}

const without =
  (...names: string[]) =>
  (nodes: Nodes) =>
    nodes.filter((n) => !names.includes(n.name as string));
const withModule = (name: string) => (nodes: Nodes) =>
  nodes.map((n) => (n.name === name ? { ...n, kernel_modules: ["br_netfilter"] } : n));
/** Each node's configuration alone, controllers first, then what follows (none of them a node). */
const IN_TURN = [["tiny0"], ["tiny1"], ["tiny3"], ["tiny2"], []];
/** The same after the other changes (ISO, VMs in place, schematic), which touch no running node. */
const AFTER_THE_REST = [[], ...IN_TURN];

const ROWS: Row[] = [
  {
    change: "kubernetes_version bump",
    cluster: { kubernetes_version: "v1.34.2" },
    refused: /^kubernetes_version v1\.34\.1 -> v1\.34\.2: /,
    steps: IN_TURN,
  },
  {
    change: "talos_version bump",
    cluster: { talos_version: "v1.11.7" },
    refused: /^talos_version v1\.11\.6 -> v1\.11\.7: /,
    steps: AFTER_THE_REST,
  },
  {
    change: "extension added",
    cluster: { talos_extensions: ["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"] },
    steps: AFTER_THE_REST,
  },
  {
    change: "every node's configuration (node_ntp_servers)",
    cluster: { node_ntp_servers: ["127.0.0.123"] },
    steps: IN_TURN,
  },
  { change: "one node's configuration (a kernel module)", nodes: withModule("tiny2"), steps: [["tiny2"]] },
  // The only worker gone, the controllers take workloads (allowSchedulingOnControlPlanes): each controller's
  // configuration changes too, one at a time after the worker left.
  { change: "worker removed", nodes: without("tiny2"), steps: [["tiny2"], [], ["tiny0"], ["tiny1"], ["tiny3"], []] },
  { change: "controller removed", nodes: without("tiny3"), steps: [["tiny3"], []] },
  {
    change: "two of three controllers removed",
    nodes: without("tiny1", "tiny3"),
    refused: /^removing tiny1, tiny3 at once leaves 1 of 3 controllers, below etcd's quorum of 2/,
    steps: [["tiny1"], ["tiny3"], []],
  },
];

beforeAll(async () => {
  configDir = judgedConfig(join(work.dir, "config"), {
    from: join(REPO, "examples", "single-node"),
    // Talos 1.11, as talos-sim.test.ts (the engine's talos provider cannot configure 1.12 and later nodes).
    cluster: { talos_version: "v1.11.6", kubernetes_version: "v1.34.1" },
    nodes: (nodes) => [
      ...nodes,
      { name: "tiny1", address: "127.0.50.12", controller: true },
      { name: "tiny3", address: "127.0.50.13", controller: true },
      { name: "tiny2", address: "127.0.50.21", controller: false },
    ],
  });
  ownLoopbackRange(configDir);
  judge = await startJudgeFor(configDir);
  // As the judge wrote them (its API and image factory URLs).
  baseCluster = readFileSync(join(configDir, "cluster.yaml"), "utf8");
  baseNodes = readFileSync(join(configDir, "nodes.yaml"), "utf8");
  talos = await startTalosNodes(configDir, { workDir: join(work.dir, "talos") });
  const stacks = await synthesizeFor(configDir, join(work.dir, "base"));
  await applyLayer(judge, stacks["00-persistent-auth"]);
  await applyLayer(judge, stacks["01-infrastructure"], EVERYTHING);
  outputs = JSON.parse((await tofu(stacks["01-infrastructure"], ["output", "-json"], { env: judge.env() })).stdout);
});
afterAll(async () => {
  await talos?.close();
  await judge?.close();
  work.remove();
});

type Change = NonNullable<PlanJson["resource_changes"]>[number] & {
  readonly type: string;
  readonly name: string;
  readonly change: { readonly before?: { node?: string } | null; readonly after?: { node?: string } | null };
};

/** The running nodes a set of changes reconfigures or restarts, by name (`gone`: nodes that left before). */
function touched(
  changes: readonly Change[],
  cluster: ResolvedCluster,
  recorded: Map<string, string>,
  gone: Set<string>,
) {
  const names = new Set<string>();
  for (const rc of changes) {
    const actions = rc.change.actions;
    if (rc.type === CONFIGURATION_APPLY && !(actions.length === 1 && actions[0] === "create")) {
      const address = rc.change.before?.node ?? rc.change.after?.node;
      names.add(recorded.get(String(address)) ?? cluster.nodes.find((n) => n.address === address)?.name ?? rc.address);
    }
    if (rc.type === VM && actions.includes("delete")) names.add(rc.name);
  }
  return [...names].filter((n) => !gone.has(n));
}

interface Result {
  readonly row: Row;
  readonly preflight: string;
  readonly steps: readonly { readonly what: string; readonly nodes: readonly string[] }[];
}

/** What ./bootstrap.sh does with the row's real plan, step by step, by its own code. */
function bootstrapSteps(row: Row, cluster: ResolvedCluster, plan: PlanJson, stack: SynthesizedStack): Result {
  const running = runningClusterChange(cluster, outputs)!;
  const recorded = new Map(
    (outputs.talos_nodes!.value as Array<{ name: string; address: string }>).map((n) => [n.address, n.name]),
  );
  const refusals = [
    ...running.refusals,
    ...(running.bumps.length
      ? [`${bumpRefusal(running.bumps)}; hint: ${bumpHint(running.bumps, cluster.talos.kubernetesVersion)}`]
      : []),
  ];
  const changes = ((plan.resource_changes ?? []) as Change[]).filter(
    (rc) => rc.mode !== "data" && rc.change.actions.some((a) => a !== "no-op" && a !== "read"),
  );
  const gone = new Set<string>();
  const steps: Array<{ what: string; nodes: string[] }> = [];
  for (const node of running.leaving) {
    steps.push({ what: `${node.name} leaves (talosctl reset --graceful)`, nodes: [node.name] });
    gone.add(node.name);
  }
  const rollout = planRollout(plan, stack.json, cluster.nodes);
  const part = (what: string, addresses: readonly string[]) =>
    steps.push({
      what,
      nodes: touched(
        changes.filter((rc) => addresses.includes(rc.address)),
        cluster,
        recorded,
        gone,
      ),
    });
  if (rollout) {
    const rolled = rollout.nodes.map((n) => n.apply);
    // As runRollout: the other changes only when there are any; the last plan always.
    if (rollout.first.length) part(`the ${rollout.first.length} other changes`, rollout.first);
    for (const node of rollout.nodes) part(`${node.name}'s configuration`, [node.apply]);
    const rest = changes.filter((rc) => !rollout.first.includes(rc.address) && !rolled.includes(rc.address));
    part(
      `the rest (${rest.length} changes)`,
      rest.map((rc) => rc.address),
    );
  } else {
    part(
      `the plan (${changes.length} changes)`,
      changes.map((rc) => rc.address),
    );
  }
  return { row, preflight: refusals.length ? `refused: ${refusals.join("; ")}` : "passes", steps };
}

const verdictOf = (result: Result) => {
  const many = result.steps.filter((s) => s.nodes.length > 1);
  return many.length
    ? `DEFECT: ${many.map((s) => `${s.what} touches ${s.nodes.join(", ")} at once`).join("; ")}`
    : "ok: at most one running node per step";
};

function table(results: readonly Result[]): string {
  const cell = (r: Result) =>
    r.steps.map((s, i) => `${i + 1}. ${s.what}${s.nodes.length ? ` [${s.nodes.join(", ")}]` : ""}`).join("; ");
  return [
    "| change | preflight | steps of the apply [running nodes each touches] | verdict |",
    "|---|---|---|---|",
    ...results.map(
      (r) => `| ${r.row.change} | ${r.row.refused ? "refused (see below)" : "passes"} | ${cell(r)} | ${verdictOf(r)} |`,
    ),
  ].join("\n");
}

const DOCS_START = "<!-- day2-nodes:start (generated by npm run test:engine: __tests__/engine/day2-nodes.test.ts) -->";
const DOCS_END = "<!-- day2-nodes:end -->";

describe("the node-side change-safety matrix (layer 01 against the Proxmox and Talos node simulators)", () => {
  const results: Result[] = [];
  let synths = 0;

  it.each(ROWS.map((row) => [row.change, row] as const))("%s", async (_, row) => {
    const cluster = { ...(parse(baseCluster) as Record<string, unknown>), ...row.cluster };
    const nodes = (parse(baseNodes) as { nodes: Nodes }).nodes;
    const sources = { cluster: stringify(cluster), nodes: stringify({ nodes: row.nodes ? row.nodes(nodes) : nodes }) };
    writeFileSync(join(configDir, "cluster.yaml"), sources.cluster);
    writeFileSync(join(configDir, "nodes.yaml"), sources.nodes);
    try {
      const stack = (await synthesizeFor(configDir, join(work.dir, `row-${++synths}`)))["01-infrastructure"];
      await tofu(stack, ["init", "-input=false", "-no-color"], { env: judge.env() });
      await tofu(stack, ["plan", "-input=false", "-no-color", "-out=row.tfplan"], { env: judge.env() });
      const plan = JSON.parse((await tofu(stack, ["show", "-json", "row.tfplan"], { env: judge.env() })).stdout);
      const result = bootstrapSteps(row, resolveCluster(parseConfig(sources)), plan, stack);
      results.push(result);
      expect(result.steps.map((s) => s.nodes)).toEqual(row.steps);
      if (row.refused) expect(result.preflight.replace(/^refused: /, "")).toMatch(row.refused);
      else expect(result.preflight).toBe("passes");
      expect(verdictOf(result)).toMatch(/^ok: /);
    } finally {
      writeFileSync(join(configDir, "cluster.yaml"), baseCluster);
      writeFileSync(join(configDir, "nodes.yaml"), baseNodes);
    }
  });

  it("prints the matrix, and docs/day2.md keeps the same table", () => {
    const text = table(results);
    const reasons = results.filter((r) => r.row.refused).map((r) => `- ${r.row.change}: ${r.preflight}`);
    console.log(`\n${text}\n\n${reasons.join("\n")}\n`);
    const docs = readFileSync(join(REPO, "docs/day2.md"), "utf8");
    const start = docs.indexOf(DOCS_START);
    const end = docs.indexOf(DOCS_END);
    expect(start, `docs/day2.md has the marker ${DOCS_START}`).toBeGreaterThan(-1);
    expect(docs.slice(start + DOCS_START.length, end).trim()).toBe(`${text}\n\n${reasons.join("\n")}`);
  });
});
