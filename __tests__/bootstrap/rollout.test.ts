// A plan of layer 01 that reconfigures several running nodes is applied one node at a time: the steps bootstrap
// derives from the plan and the synthesized stack (the real one of the example), the check that each step's plan
// is part of the confirmed one, and the runner stopping at the first failure.
import { describe, expect, it } from "vitest";
import { parseConfig, resolveCluster } from "../../config";
import type { PlanJson } from "../../scripts/bootstrap/plan-summary";
import {
  dependentsOf,
  describeRollout,
  outsideConfirmed,
  planRollout,
  RolloutError,
  runRollout,
} from "../../scripts/bootstrap/rollout";
import { TalosctlError } from "../../scripts/upgrade/talosctl";
import { exampleSources, synth } from "../support/synth";

const stack = synth({ cluster: { proxmox_firewall_enabled: true } }).infrastructure;
const nodes = resolveCluster(parseConfig(exampleSources())).nodes;
const address = (name: string) => nodes.find((n) => n.name === name)!.address;
const NAMES = ["controlplane0", "controlplane1", "controlplane2", "worker0", "worker1"];

type Change = [address: string, actions: string[], after?: Record<string, unknown>];
const planOf = (...changes: Change[]): PlanJson =>
  ({
    resource_changes: changes.map(([a, actions, after]) => ({
      address: a,
      type: a.split(".")[0],
      mode: "managed",
      change: { actions, after },
    })),
  }) as PlanJson;
const apply = (name: string, actions = ["update"]): Change => [
  `talos_machine_configuration_apply.${name}`,
  actions,
  { node: address(name) },
];

describe("the steps of a plan", () => {
  it("the applies follow from the VMs; bootstrap, kubeconfig, the API wait, Cilium and the credential files follow from the controllers' applies", () => {
    const after = dependentsOf(stack, ["talos_machine_configuration_apply.controlplane0"]);
    expect([...after].sort()).toEqual([
      "helm_release.cilium",
      "local_sensitive_file.kubeconfig",
      "talos_cluster_kubeconfig.homelab",
      "talos_machine_bootstrap.homelab",
      "terraform_data.homelab_api_ready",
    ]);
    expect(dependentsOf(stack, ["talos_machine_configuration_apply.worker0"])).toEqual(new Set());
    expect(dependentsOf(stack, ["proxmox_virtual_environment_vm.worker0"])).toEqual(
      new Set([
        "talos_machine_configuration_apply.worker0",
        "proxmox_virtual_environment_firewall_options.worker0",
        "proxmox_virtual_environment_firewall_rules.worker0",
      ]),
    );
  });

  it("every node reconfigured: the rest first, then each node alone, controllers first in nodes.yaml's order", () => {
    const plan = planOf(
      ...[...NAMES].reverse().map((n) => apply(n)),
      ...NAMES.map((n): Change => [`proxmox_virtual_environment_vm.${n}`, ["update"]]),
      ["proxmox_download_file.talos_a21512b3_on_pve", ["create", "delete"]],
      ["talos_machine_bootstrap.homelab", ["update"]],
      ["terraform_data.homelab_api_ready", ["no-op"]],
    );
    const rollout = planRollout(plan, stack, nodes)!;
    expect(rollout.nodes.map((n) => n.name)).toEqual(NAMES);
    expect(rollout.nodes.map((n) => n.apply)).toEqual(NAMES.map((n) => `talos_machine_configuration_apply.${n}`));
    expect(rollout.first).toEqual([
      ...NAMES.map((n) => `proxmox_virtual_environment_vm.${n}`),
      "proxmox_download_file.talos_a21512b3_on_pve",
    ]);
    const lines = describeRollout(rollout);
    expect(lines[0]).toBe(
      "the machine configurations of 5 running nodes change: applied one node at a time, not at once:",
    );
    expect(lines.slice(2, 7).map((l) => l.trim().split(" ")[1])).toEqual(NAMES);
  });

  it("one node reconfigured, or new nodes configured for the first time, is no rollout: the plan is applied whole", () => {
    expect(planRollout(planOf(apply("worker0"), apply("worker1", ["create"])), stack, nodes)).toBeUndefined();
    // A replaced VM's configuration is replaced with it: a new machine, not a running node reconfigured.
    expect(
      planRollout(planOf(apply("worker0", ["delete", "create"]), apply("worker1", ["create", "delete"])), stack, nodes),
    ).toBeUndefined();
    expect(planRollout(planOf(apply("worker0"), apply("worker1")), stack, nodes)?.nodes).toHaveLength(2);
  });

  it("a configuration for an address no node of nodes.yaml has is an internal error, not a silent skip", () => {
    const stray: Change = ["talos_machine_configuration_apply.ghost", ["update"], { node: "10.9.9.9" }];
    expect(() => planRollout(planOf(apply("worker0"), stray), stack, nodes)).toThrow(/no node of nodes\.yaml/);
  });

  it("a step's plan must hold nothing the confirmed plan did not, with the same actions", () => {
    const confirmed = planOf(apply("worker0"), apply("worker1"), [
      "proxmox_virtual_environment_vm.worker0",
      ["update"],
    ]);
    expect(outsideConfirmed(planOf(apply("worker0")), confirmed)).toEqual([]);
    expect(outsideConfirmed(planOf(apply("worker0", ["delete", "create"])), confirmed)).toEqual([
      "talos_machine_configuration_apply.worker0 (delete, create)",
    ]);
    expect(outsideConfirmed(planOf(apply("controlplane0")), confirmed)).toEqual([
      "talos_machine_configuration_apply.controlplane0 (update)",
    ]);
    expect(outsideConfirmed(planOf(["x.y", ["no-op"]]), confirmed)).toEqual([]);
  });
});

describe("the runner", () => {
  const rollout = planRollout(
    planOf(apply("controlplane1"), apply("worker0"), ["proxmox_virtual_environment_vm.worker1", ["update"]]),
    stack,
    nodes,
  )!;

  it("runs the steps in order, settling each node before the next", async () => {
    const events: string[] = [];
    const result = await runRollout({
      rollout,
      log: () => {},
      step: async (targets) => {
        events.push(`apply ${targets?.join(",") ?? "everything"}`);
      },
      settle: async (node) => {
        events.push(`settle ${node.name}`);
      },
    });
    expect(result).toEqual({
      done: [
        "the other changes",
        "controlplane1's configuration",
        "worker0's configuration",
        "what follows from the configurations",
      ],
    });
    expect(events).toEqual([
      "apply proxmox_virtual_environment_vm.worker1",
      "apply talos_machine_configuration_apply.controlplane1",
      "settle controlplane1",
      "apply talos_machine_configuration_apply.worker0",
      "settle worker0",
      "apply everything",
    ]);
  });

  it.each([
    ["a node that does not settle", new TalosctlError("talosctl health: etcd is unhealthy"), "settle"],
    [
      "a step's plan outside the confirmed one",
      new RolloutError("its plan holds what the confirmed plan did not"),
      "step",
    ],
  ])("stops at %s: nothing after it is applied", async (_, error, where) => {
    const events: string[] = [];
    const result = await runRollout({
      rollout,
      log: () => {},
      step: async (targets) => {
        events.push(`apply ${targets?.join(",") ?? "everything"}`);
        if (where === "step" && targets?.[0]?.endsWith("controlplane1")) throw error;
      },
      settle: async (node) => {
        events.push(`settle ${node.name}`);
        if (where === "settle") throw error;
      },
    });
    expect(result.failed).toBe(`controlplane1's configuration: ${error.message}`);
    expect(result.done).toEqual(["the other changes"]);
    expect(events.at(-1)).toBe(
      where === "settle" ? "settle controlplane1" : "apply talos_machine_configuration_apply.controlplane1",
    );
    expect(events.some((e) => e.includes("worker0") || e === "apply everything")).toBe(false);
  });

  it("any other error is a bug, and is thrown", async () => {
    await expect(
      runRollout({
        rollout,
        log: () => {},
        step: async () => Promise.reject(new TypeError("boom")),
        settle: async () => {},
      }),
    ).rejects.toThrow(TypeError);
  });
});
