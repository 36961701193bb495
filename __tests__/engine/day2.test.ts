// Day 2 without fear: the change-safety matrix. Layers 00 and 01 of the root example (three controllers, two
// workers; Proxmox firewall on, controllers HA) are applied into the Proxmox simulator by the real tofu and
// bpg/proxmox; then, one change at a time, the changed config is synthesized and every affected layer gets a
// real `tofu plan -json` against that applied state. The actions per resource address are asserted, a verdict
// is derived by the rules below, and the matrix is printed as a table that must equal the one in docs/day2.md
// (between the day2-matrix markers), so the documentation cannot drift from what the engine does.
//
// Rules: no VM is replaced or deleted unless the row asks for a new machine; nothing in layer 00 is deleted or
// replaced; a replaced VM gets its firewall and HA replaced too (Proxmox drops both with the VM). What needs
// a live cluster (Talos applies, bootstrap, kubeconfig, health, Helm) is excluded from every plan, as
// everywhere on this harness: the matrix cannot judge it (docs/day2.md).
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { relocateVm } from "../../judges/pve-sim/handlers/qemu";
import {
  applyLayer,
  judgedConfig,
  liveClusterAddresses,
  planLayer,
  startJudgeFor,
  synthesizeFor,
  vmsByName,
  type Judge,
  type PlanJson,
} from "./proxmox-judge";
import { REPO, tempDir, tofu, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("day2");
afterAll(() => work.remove());

type Nodes = Array<Record<string, unknown>>;
/** The root example with the firewall on and the controllers HA, so that the matrix covers both. */
const BASE = {
  cluster: { proxmox_firewall_enabled: true } as Record<string, unknown>,
  nodes: (nodes: Nodes): Nodes => nodes.map((n) => ({ ...n, vm_ha: n.controller === true })),
};

/** Short resource types for the table. */
const SHORT: Record<string, string> = {
  proxmox_virtual_environment_vm: "vm",
  proxmox_download_file: "iso",
  proxmox_virtual_environment_firewall_rules: "fw_rules",
  proxmox_virtual_environment_firewall_options: "fw_options",
  proxmox_haresource: "ha",
  talos_image_factory_schematic: "schematic",
  proxmox_virtual_environment_role: "role",
  proxmox_virtual_environment_user: "user",
  proxmox_user_token: "token",
  proxmox_acl: "acl",
};
const short = (address: string) => {
  const [type, ...name] = address.split(".");
  return `${SHORT[type] ?? type}.${name.join(".")}`;
};

type Action = "create" | "update" | "replace" | "delete" | "forget";

/** The action of each resource a plan changes, by short address. */
function actionsOf(plan: PlanJson): Record<string, Action> {
  const out: Record<string, Action> = {};
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode !== "managed") continue;
    const a = rc.change.actions;
    const action: Action | undefined =
      a.includes("create") && a.includes("delete")
        ? "replace"
        : a.includes("create")
          ? "create"
          : a.includes("delete")
            ? "delete"
            : a.includes("update")
              ? "update"
              : a.includes("forget")
                ? "forget"
                : undefined;
    if (action) out[short(rc.address)] = action;
  }
  return out;
}

interface Row {
  readonly change: string;
  /** cluster.yaml keys merged over the base. @default {} */
  readonly cluster?: Record<string, unknown>;
  /** Rewrites the base node list. @default unchanged */
  readonly nodes?: (nodes: Nodes) => Nodes;
  readonly layers: readonly Layer[];
  /** What happens outside the engine before the plan, and how it is undone after the row. */
  readonly outside?: { readonly before: (judge: Judge) => void; readonly after: (judge: Judge) => void };
  /** Nodes the user asked to add, remove or make new: their VM may be created, replaced or deleted. @default none */
  readonly asked?: readonly string[];
  /** The planned action per short address, per layer (everything else: no change). */
  readonly expected: Partial<Record<Layer, Record<string, Action>>>;
  /** Apply the planned layers afterwards: the rows after it start from there. @default false */
  readonly apply?: boolean;
  /** Extra environment of the engine. @default {} */
  readonly env?: Record<string, string>;
  /** Extra arguments of the plan (`-replace=...`). @default none */
  readonly planArgs?: readonly string[];
  /** A further check once a layer is planned (an apply that must be refused, ...). */
  readonly afterPlan?: (judge: Judge, stack: SynthesizedStack) => Promise<void>;
  /**
   * Apply the change, check what Proxmox holds then, and apply the base config again (the next row starts from
   * it): for what a plan cannot show, like the order of an ISO's deletion and the CD-ROMs' move.
   */
  readonly applied?: (judge: Judge) => void;
  /** What the verdict says when every rule holds. */
  readonly ok: string;
}

const each = (names: readonly string[], action: Action, types: readonly string[] = ["vm"]) =>
  Object.fromEntries(types.flatMap((type) => names.map((n) => [`${type}.${n}`, action])));
const CONTROLLERS = ["controlplane0", "controlplane1", "controlplane2"];
const ALL = [...CONTROLLERS, "worker0", "worker1"];
const FIREWALL = ["fw_rules", "fw_options"];
const L00: Layer = "00-persistent-auth";
const L01: Layer = "01-infrastructure";
const ISO = "iso.talos_a21512b3_on_pve";
const newNode = (name: string, octet: number, controller: boolean) => ({
  name,
  address: `127.168.10.${octet}`,
  controller,
  mac_addr: `bc:24:11:00:10:${octet}`,
  vm_id: 1000 + octet,
  vm_ha: controller,
});
const change = (name: string, keys: Record<string, unknown>) => (nodes: Nodes) =>
  nodes.map((n) => (n.name === name ? { ...n, ...keys } : n));
const without = (name: string) => (nodes: Nodes) => nodes.filter((n) => n.name !== name);
const vmOf = (judge: Judge, name: string) => vmsByName(judge.sim)[name];
const withHost = (judge: Judge, host: string) => judge.sim.state.nodes.push(host);
const withoutHost = (judge: Judge, host: string) => {
  judge.sim.state.nodes = judge.sim.state.nodes.filter((n) => n !== host);
};
const PRIVATE_REPOSITORY = { repository_name: "me/home-ops", repository_visibility: "private" };
const PASSPHRASE = { TF_VAR_state_passphrase: "day-2 matrix passphrase, not a secret" };

/** A layer-00 switch turned off, then on again: each planned, then applied. */
const toggle = (
  feature: string,
  keys: { off: Record<string, unknown>; on: Record<string, unknown> },
  expected: { off: Record<string, Action>; on: Record<string, Action> },
  ok: { off: string; on: string },
): Row[] => [
  {
    change: `${feature} off`,
    cluster: keys.off,
    layers: [L00],
    expected: { [L00]: expected.off },
    apply: true,
    ok: ok.off,
  },
  {
    change: `${feature} on again`,
    cluster: keys.on,
    layers: [L00],
    expected: { [L00]: expected.on },
    apply: true,
    ok: ok.on,
  },
];

const CSI = ["role", "user", "token", "acl"];
/**
 * Turned on again, the CSI token cannot be adopted (Proxmox never shows a token's secret again): the forgotten
 * objects still in Proxmox make the apply fail, until the README's runbook step removes them.
 */
const csiOnAgain = async (judge: Judge, stack: SynthesizedStack) => {
  const apply = await tofu(stack, ["apply", "-auto-approve", "-input=false", "-no-color"], {
    env: judge.env(),
    ok: [1],
  });
  expect(apply.stderr).toMatch(/already exists/);
  // The runbook step (README "Turn Proxmox CSI on again"): pveum user delete homelab-csi@pve; pveum role delete homelab-csi.
  const { state } = judge.sim;
  delete state.users["homelab-csi@pve"];
  delete state.roles["homelab-csi"];
  state.acl = state.acl.filter((e) => !e.ugid.startsWith("homelab-csi@pve"));
};

/** Every VM's CD-ROM holds the one ISO left on the storage, which is the file `name`. */
const cdromsOn = (name: RegExp) => (judge: Judge) => {
  const isos = judge.sim.state.volumes.filter((v) => v.content === "iso").map((v) => v.volid);
  expect(isos).toHaveLength(1);
  expect(isos[0]).toMatch(name);
  for (const vm of Object.values(vmsByName(judge.sim))) expect(vm.config.ide2).toMatch(new RegExp(`^${isos[0]},`));
};

const ROWS: Row[] = [
  {
    change: "talos_version bump",
    cluster: { talos_version: "v1.12.7" },
    layers: [L01],
    expected: { [L01]: { [ISO]: "replace", ...each(ALL, "update") } },
    applied: cdromsOn(/^local:iso\/talos-v1\.12\.7-/),
    ok: "new ISO before the old goes, CD-ROMs follow in place",
  },
  {
    change: "kubernetes_version bump",
    cluster: { kubernetes_version: "v1.35.4" },
    layers: [L01],
    expected: { [L01]: {} },
    ok: "nothing in Proxmox (Talos side not judged here)",
  },
  {
    change: "extension added",
    cluster: {
      talos_extensions: ["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools", "siderolabs/util-linux-tools"],
    },
    layers: [L01],
    expected: {
      [L01]: {
        "iso.talos_5af67aa2_on_pve": "create",
        [ISO]: "delete",
        "schematic.default": "update",
        ...each(ALL, "update"),
      },
    },
    applied: cdromsOn(/^local:iso\/talos-v1\.12\.1-5af67aa2/),
    ok: "new schematic and ISO, CD-ROMs moved before the old ISO goes",
  },
  {
    change: "cores and memory changed",
    nodes: (nodes) => change("controlplane0", { vm_memory: 12288 })(change("worker0", { vm_cores: 12 })(nodes)),
    layers: [L01],
    expected: { [L01]: each(["controlplane0", "worker0"], "update") },
    ok: "in place, restart left pending",
  },
  {
    change: "disk grown",
    nodes: change("worker0", { vm_disk_size: 300 }),
    layers: [L01],
    expected: { [L01]: each(["worker0"], "update") },
    ok: "resized in place",
  },
  {
    change: "disk shrunk",
    nodes: change("worker0", { vm_disk_size: 128 }),
    layers: [L01],
    expected: { [L01]: each(["worker0"], "update") },
    afterPlan: async (judge, stack) => {
      const before = JSON.stringify(vmOf(judge, "worker0").config);
      const apply = await tofu(
        stack,
        ["apply", "-auto-approve", "-input=false", "-no-color", "-target=proxmox_virtual_environment_vm.worker0"],
        { env: judge.env(), ok: [1] },
      );
      expect(apply.stderr).toMatch(/Cannot shrink local-lvm:vm-1031-disk-\d+ in VM 1031, it is not supported/);
      expect(JSON.stringify(vmOf(judge, "worker0").config)).toBe(before);
    },
    ok: "refused by bpg at apply (a config check cannot know the old size), VM untouched",
  },
  {
    change: "worker added",
    nodes: (nodes) => [...nodes, newNode("worker2", 33, false)],
    layers: [L01],
    asked: ["worker2"],
    expected: { [L01]: each(["worker2"], "create", ["vm", ...FIREWALL]) },
    ok: "only the new machine",
  },
  {
    change: "worker removed",
    nodes: without("worker1"),
    layers: [L01],
    asked: ["worker1"],
    expected: { [L01]: each(["worker1"], "delete", ["vm", ...FIREWALL]) },
    ok: "only the removed machine",
  },
  {
    change: "controller added",
    nodes: (nodes) => [...nodes, newNode("controlplane3", 24, true)],
    layers: [L01],
    asked: ["controlplane3"],
    // etcd is open to the controllers' addresses only: each controller's rules learn the new one, in place.
    expected: {
      [L01]: {
        ...each(["controlplane3"], "create", ["vm", ...FIREWALL, "ha"]),
        ...each(CONTROLLERS, "update", ["fw_rules"]),
      },
    },
    ok: "only the new machine; the other controllers' etcd rule updated in place",
  },
  {
    change: "controller removed",
    nodes: without("controlplane2"),
    layers: [L01],
    asked: ["controlplane2"],
    expected: {
      [L01]: {
        ...each(["controlplane2"], "delete", ["vm", ...FIREWALL, "ha"]),
        ...each(["controlplane0", "controlplane1"], "update", ["fw_rules"]),
      },
    },
    ok: "only the removed machine; the other controllers' etcd rule updated in place (the etcd member leaves through ./bootstrap.sh, not judged here)",
  },
  {
    change: "VM replaced (tofu -replace)",
    planArgs: ["-replace=proxmox_virtual_environment_vm.controlplane0"],
    layers: [L01],
    asked: ["controlplane0"],
    expected: { [L01]: each(["controlplane0"], "replace", ["vm", ...FIREWALL, "ha"]) },
    ok: "a new machine as asked, its firewall and HA with it",
  },
  {
    change: "node moved to another host (proxmox_node)",
    nodes: change("worker0", { proxmox_node: "pve2" }),
    outside: { before: (judge) => withHost(judge, "pve2"), after: (judge) => withoutHost(judge, "pve2") },
    layers: [L01],
    expected: {
      [L01]: { "iso.talos_a21512b3_on_pve2": "create", ...each(["worker0"], "update", ["vm", ...FIREWALL]) },
    },
    ok: "migrated in place, the new host gets its ISO (local ISO storage: see runbook)",
  },
  {
    change: "VM moved by HA outside the engine",
    outside: {
      before: (judge) => {
        withHost(judge, "pve2");
        relocateVm(judge.sim.state, vmOf(judge, "controlplane1"), "pve2");
      },
      after: (judge) => {
        relocateVm(judge.sim.state, vmOf(judge, "controlplane1"), "pve");
        withoutHost(judge, "pve2");
      },
    },
    layers: [L01],
    expected: { [L01]: each(["controlplane1"], "update") },
    ok: "no replacement: migrated back to its proxmox_node (local ISO storage: see runbook)",
  },
  ...toggle(
    "sealed_secrets_enabled",
    { off: { sealed_secrets_enabled: false }, on: { sealed_secrets_enabled: true } },
    { off: {}, on: {} },
    { off: "key kept", on: "the same key" },
  ),
  ...toggle(
    "proxmox_csi_enabled",
    { off: { proxmox_csi_enabled: false }, on: { proxmox_csi_enabled: true } },
    { off: each(["csi"], "forget", CSI), on: each(["csi"], "create", CSI) },
    { off: "forgotten, kept in Proxmox", on: "made again after the README's runbook step" },
  ).map((row) => (row.change.endsWith("on again") ? { ...row, afterPlan: csiOnAgain } : row)),
  {
    change: "Flux deploy key (private repository) on",
    cluster: PRIVATE_REPOSITORY,
    layers: [L00],
    expected: { [L00]: {} },
    apply: true,
    ok: "the key layer 00 keeps from the start",
  },
  ...toggle(
    "Flux deploy key (private repository)",
    { off: {}, on: PRIVATE_REPOSITORY },
    { off: {}, on: {} },
    { off: "key kept", on: "the same key" },
  ),
  {
    change: "state_encryption turned on (state_encryption_migrate)",
    cluster: { state_encryption: true, state_encryption_migrate: true },
    env: PASSPHRASE,
    layers: [L00, L01],
    expected: { [L00]: {}, [L01]: {} },
    ok: "no resource change",
  },
];

/** `tofu plan -json` of a layer without what needs a live cluster (as planLayer), with `args`. */
async function plan(judge: Judge, stack: SynthesizedStack, env: Record<string, string>, args: readonly string[] = []) {
  if (args.length === 0) return planLayer(judge, stack, { env });
  const excludes = liveClusterAddresses(stack).map((a) => `-exclude=${a}`);
  await tofu(stack, ["plan", "-input=false", "-no-color", "-out=day2.tfplan", ...excludes, ...args], {
    env: judge.env(env),
  });
  return JSON.parse((await tofu(stack, ["show", "-json", "day2.tfplan"], { env: judge.env(env) })).stdout) as PlanJson;
}

interface Result {
  readonly change: string;
  readonly layer: Layer;
  readonly actions: Record<string, Action>;
  readonly verdict: string;
}

/** The verdict of a row's plan of one layer, by the rules at the top of this file. */
function verdict(row: Row, layer: Layer, actions: Record<string, Action>): string {
  const problems: string[] = [];
  for (const [address, action] of Object.entries(actions)) {
    const [type, name] = address.split(".");
    if (layer === L00 && (action === "replace" || action === "delete")) problems.push(`layer 00 ${action}s ${address}`);
    if (type === "vm" && (action === "replace" || action === "delete") && !row.asked?.includes(name))
      problems.push(`${action}s ${address}, which the user did not ask to be a new machine`);
    if (type === "vm" && action === "replace") {
      for (const other of [`fw_rules.${name}`, `fw_options.${name}`, `ha.${name}`])
        if (actions[other] === undefined || actions[other] === "update")
          problems.push(`${address} is replaced but ${other} is not`);
    }
  }
  return problems.length ? `DEFECT: ${problems.join("; ")}` : `ok: ${row.ok}`;
}

function table(results: readonly Result[]): string {
  // Per type and action: up to two names, else a count (`vm ×5`), so a row stays readable.
  const list = (actions: Record<string, Action>, wanted: readonly Action[]) => {
    const groups = new Map<string, string[]>();
    for (const [address, action] of Object.entries(actions)) {
      if (!wanted.includes(action)) continue;
      const [type, ...name] = address.split(".");
      const key = `${type} ${action}`;
      groups.set(key, [...(groups.get(key) ?? []), name.join(".")]);
    }
    const parts = [...groups.keys()].sort().map((key) => {
      const [type, action] = key.split(" ");
      const names = groups.get(key)!.sort();
      const what = names.length > 2 ? `${type} ×${names.length}` : names.map((n) => `${type}.${n}`).join(", ");
      return wanted.length > 1 ? `${what} (${action})` : what;
    });
    return parts.length ? parts.join(", ") : "-";
  };
  const lines = [
    "| change | layer | resources changed | replaced | deleted | verdict |",
    "|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.change} | ${r.layer} | ${list(r.actions, ["create", "update", "forget"])} | ${list(r.actions, ["replace"])} | ${list(r.actions, ["delete"])} | ${r.verdict} |`,
    ),
  ];
  return lines.join("\n");
}

const DOCS_START = "<!-- day2-matrix:start (generated by npm run test:engine: __tests__/engine/day2.test.ts) -->";
const DOCS_END = "<!-- day2-matrix:end -->";

describe.each([
  { order: "01 then 03, as bootstrap applies them", first: L01 },
  { order: "03 alone first, then 01", first: "03-configuration" as Layer },
])("firewall and HA moved from layer 03 to 01, on a cluster applied before the move: $order", ({ first }) => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;
  const dir = join(work.dir, `moved-${first}`);
  const configDir = join(dir, "config");
  const L03: Layer = "03-configuration";
  const proxmoxOf = (text: string) =>
    Object.fromEntries(
      Object.entries(JSON.parse(text).resource as Record<string, Record<string, unknown>>).filter(([type]) =>
        [
          "proxmox_virtual_environment_firewall_rules",
          "proxmox_virtual_environment_firewall_options",
          "proxmox_haresource",
        ].includes(type),
      ),
    );

  beforeAll(async () => {
    judgedConfig(configDir, { from: REPO, cluster: BASE.cluster, nodes: BASE.nodes });
    judge = await startJudgeFor(configDir);
    stacks = await synthesizeFor(configDir, dir);
    await applyLayer(judge, stacks[L00]);
  });
  afterAll(async () => judge?.close());

  it("before: 01 held the VMs, 03 their firewall and HA (as the old layer 03 wrote them, VM ids from 01)", async () => {
    const layer01 = readFileSync(join(stacks[L01].dir, "cdk.tf.json"), "utf8");
    const moved = Object.keys(proxmoxOf(layer01)).flatMap((type) =>
      Object.keys(proxmoxOf(layer01)[type]).map((name) => `-exclude=${type}.${name}`),
    );
    await tofu(stacks[L01], ["init", "-input=false", "-no-color"], { env: judge.env() });
    const excludes = [...liveClusterAddresses(stacks[L01]), ...moved.map((m) => m.slice("-exclude=".length))];
    await applyLayer(judge, stacks[L01], { excludes });
    expect(judge.sim.state.ha).toEqual({});

    // The old layer 03: the same constructs at the same addresses, with the VM ids layer 01 exported.
    const ids = Object.fromEntries(Object.values(vmsByName(judge.sim)).map((vm) => [vm.config.name, vm.vmid]));
    const resources = JSON.parse(
      JSON.stringify(proxmoxOf(layer01)).replace(/\$\{proxmox_virtual_environment_vm\.([\w-]+)\.vm_id\}/g, (_, n) =>
        String(ids[n]),
      ),
    ) as Record<string, Record<string, Record<string, unknown>>>;
    for (const byName of Object.values(resources)) for (const r of Object.values(byName)) delete r.lifecycle;
    const file = join(stacks[L03].dir, "cdk.tf.json");
    const current = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(
      file,
      JSON.stringify({
        terraform: {
          backend: current.terraform.backend,
          required_providers: { proxmox: current.terraform.required_providers.proxmox },
        },
        provider: { proxmox: current.provider.proxmox },
        resource: resources,
      }),
    );
    await applyLayer(judge, stacks[L03], { excludes: [] });
    writeFileSync(file, JSON.stringify(current));
    expect(Object.keys(judge.sim.state.ha).sort()).toEqual(["vm:1021", "vm:1022", "vm:1023"]);
    expect(Object.keys(judge.sim.state.firewall).sort()).toEqual(["1021", "1022", "1023", "1031", "1032"]);
  });

  const adopt = async () => {
    const before = JSON.stringify(judge.sim.state.firewall);
    await tofu(stacks[L01], ["init", "-input=false", "-no-color"], { env: judge.env() });
    const plan = await planLayer(judge, stacks[L01]);
    const moved = (plan.resource_changes ?? []).filter((rc) =>
      [
        "proxmox_virtual_environment_firewall_rules",
        "proxmox_virtual_environment_firewall_options",
        "proxmox_haresource",
      ].includes(rc.type),
    );
    expect(moved).toHaveLength(5 * 2 + 3);
    for (const rc of moved) {
      expect((rc.change as { importing?: { id: string } }).importing?.id, rc.address).toBeDefined();
      expect(rc.change.actions, rc.address).toEqual(["no-op"]);
    }
    expect(actionsOf(plan)).toEqual({});
    await applyLayer(judge, stacks[L01]);
    expect(JSON.stringify(judge.sim.state.firewall)).toBe(before);
    expect(Object.keys(judge.sim.state.ha).sort()).toEqual(["vm:1021", "vm:1022", "vm:1023"]);
  };
  const forget = async () => {
    const before = JSON.stringify({ firewall: judge.sim.state.firewall, ha: judge.sim.state.ha });
    await tofu(stacks[L03], ["init", "-input=false", "-no-color"], { env: judge.env() });
    const plan = await planLayer(judge, stacks[L03]);
    expect(Object.values(actionsOf(plan))).toEqual(Array(5 * 2 + 3).fill("forget"));
    await applyLayer(judge, stacks[L03]);
    expect(JSON.stringify({ firewall: judge.sim.state.firewall, ha: judge.sim.state.ha })).toBe(before);
  };
  const steps = [
    {
      name: "01 adopts every firewall and HA resource Proxmox has: imported, nothing created twice or deleted",
      run: adopt,
    },
    { name: "03 forgets them without destroying: Proxmox keeps them", run: forget },
  ];
  for (const step of first === L01 ? steps : [...steps].reverse()) it(step.name, step.run);

  it("afterwards neither layer plans anything", async () => {
    expect(actionsOf(await planLayer(judge, stacks[L03]))).toEqual({});
    expect(actionsOf(await planLayer(judge, stacks[L01]))).toEqual({});
  });
});

describe("the change-safety matrix (layers 00 and 01 of the root example, applied into the Proxmox simulator)", () => {
  let judge: Judge;
  const configDir = join(work.dir, "config");
  const results: Result[] = [];
  let synths = 0;

  /** Writes the base config with `row`'s change and synthesizes it into a folder of its own (same state). */
  async function stacksFor(row: Pick<Row, "cluster" | "nodes"> = {}): Promise<Record<Layer, SynthesizedStack>> {
    const clusterFile = join(configDir, "cluster.yaml");
    const nodesFile = join(configDir, "nodes.yaml");
    const base = parse(readFileSync(join(work.dir, "base-cluster.yaml"), "utf8")) as Record<string, unknown>;
    const baseNodes = (parse(readFileSync(join(work.dir, "base-nodes.yaml"), "utf8")) as { nodes: Nodes }).nodes;
    writeFileSync(clusterFile, stringify({ ...base, ...row.cluster }));
    writeFileSync(nodesFile, stringify({ nodes: row.nodes ? row.nodes(baseNodes) : baseNodes }));
    return synthesizeFor(configDir, join(work.dir, `synth-${++synths}`));
  }

  beforeAll(async () => {
    judgedConfig(configDir, { from: REPO, cluster: BASE.cluster, nodes: BASE.nodes });
    judge = await startJudgeFor(configDir);
    copyFileSync(join(configDir, "cluster.yaml"), join(work.dir, "base-cluster.yaml"));
    copyFileSync(join(configDir, "nodes.yaml"), join(work.dir, "base-nodes.yaml"));
    const stacks = await stacksFor();
    await applyLayer(judge, stacks[L00]);
    await applyLayer(judge, stacks[L01]);
    expect(Object.keys(vmsByName(judge.sim)).sort()).toEqual(ALL);
    expect(Object.keys(judge.sim.state.ha).sort()).toEqual(["vm:1021", "vm:1022", "vm:1023"]);
  });
  afterAll(async () => judge?.close());

  it.each(ROWS.map((row) => [row.change, row] as const))("%s", async (_, row) => {
    row.outside?.before(judge);
    try {
      const stacks = await stacksFor(row);
      const run = { env: row.env ?? {} };
      for (const layer of row.layers) {
        await tofu(stacks[layer], ["init", "-input=false", "-no-color"], { env: judge.env(run.env) });
        const actions = actionsOf(await plan(judge, stacks[layer], run.env, row.planArgs));
        results.push({ change: row.change, layer, actions, verdict: verdict(row, layer, actions) });
        expect(actions, `${row.change}: ${layer}`).toEqual(row.expected[layer] ?? {});
        expect(verdict(row, layer, actions)).toMatch(/^ok: /);
        await row.afterPlan?.(judge, stacks[layer]);
        if (row.apply || row.applied) await applyLayer(judge, stacks[layer], run);
        if (row.applied) {
          row.applied(judge);
          const base = (await stacksFor())[layer];
          await applyLayer(judge, base, run);
          expect(actionsOf(await planLayer(judge, base, run)), "back to the base config").toEqual({});
        }
      }
    } finally {
      row.outside?.after(judge);
    }
  });

  it("prints the matrix, and docs/day2.md keeps the same table", () => {
    const text = table(results);
    console.log(`\n${text}\n`);
    const docs = readFileSync(join(REPO, "docs/day2.md"), "utf8");
    const start = docs.indexOf(DOCS_START);
    const end = docs.indexOf(DOCS_END);
    expect(start, `docs/day2.md has the marker ${DOCS_START}`).toBeGreaterThan(-1);
    expect(docs.slice(start + DOCS_START.length, end).trim()).toBe(text);
  });
});
