// A plan of layer 01 that changes the machine configuration of several running nodes is applied one node at a
// time. The talos provider's talos_machine_configuration_apply returns as soon as the node accepted the
// configuration (its Create and Update call ApplyConfiguration and return; with apply_mode auto a change Talos
// cannot apply live reboots the node after the call returned), so chaining the applies with depends_on would
// only serialise the calls: every node would still restart its kubelet, control plane or itself at once.
// Bootstrap therefore applies the confirmed plan in steps, each a targeted plan of the engine that must be part
// of the confirmed one: first everything that is no running node's configuration (and does not follow from one),
// then each node's configuration alone, controllers first, waiting after each until the node answers and
// `talosctl health` passes, and last what follows from the configurations (bootstrap, kubeconfig, ...).
import { TalosctlError } from "../upgrade/talosctl";
import type { PlanJson } from "./plan-summary";

export const CONFIGURATION_APPLY = "talos_machine_configuration_apply";

export interface RolloutNode {
  readonly name: string;
  readonly address: string;
  readonly controller: boolean;
}

export interface Rollout {
  /** The running nodes whose configuration the plan changes in place, in the order they get it. */
  readonly nodes: readonly (RolloutNode & { readonly apply: string })[];
  /** Step 1: the changes that are no running node's configuration and follow from none (targets, plan order). */
  readonly first: readonly string[];
}

/** The stack's JSON (cdk.tf.json) as far as its dependencies go. */
export interface StackJson {
  readonly resource?: Record<string, Record<string, unknown>>;
  readonly data?: Record<string, Record<string, unknown>>;
}

type ResourceChange = NonNullable<PlanJson["resource_changes"]>[number] & {
  readonly type?: string;
  readonly change: { readonly after?: unknown; readonly before?: unknown };
};

const changed = (rc: ResourceChange) =>
  rc.mode !== "data" && rc.change.actions.some((a) => a !== "no-op" && a !== "read");

/**
 * What bootstrap applies node by node; undefined when the plan changes the configuration of at most one running
 * node (then it is applied whole, as confirmed). A configuration created (a new node) or replaced (its VM was
 * replaced: a new machine) is no running node's, and goes with step 1.
 */
export function planRollout(plan: PlanJson, stack: StackJson, nodes: readonly RolloutNode[]): Rollout | undefined {
  const changes = (plan.resource_changes ?? []) as readonly ResourceChange[];
  const byAddress = new Map(nodes.map((n) => [n.address, n]));
  const reconfigured = changes
    .filter((rc) => rc.mode !== "data" && rc.address.startsWith(`${CONFIGURATION_APPLY}.`))
    .filter((rc) => rc.change.actions.length === 1 && rc.change.actions[0] === "update")
    .map((rc) => {
      const node = byAddress.get(String((rc.change.after as { node?: unknown } | undefined)?.node));
      if (!node) throw new Error(`${rc.address} configures ${JSON.stringify(rc.change.after)}, no node of nodes.yaml`);
      return { ...node, apply: rc.address };
    });
  if (reconfigured.length < 2) return undefined;
  const rolled = reconfigured.map((n) => n.apply);
  const after = dependentsOf(stack, rolled);
  const first = changes.filter((rc) => changed(rc) && !rolled.includes(rc.address) && !after.has(rc.address));
  const order = [...nodes.filter((n) => n.controller), ...nodes.filter((n) => !n.controller)].map((n) => n.name);
  return {
    nodes: [...reconfigured].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name)),
    first: first.map((rc) => rc.address),
  };
}

/** Every address of the stack that depends on one of `roots`, directly or not (references and depends_on). */
export function dependentsOf(stack: StackJson, roots: readonly string[]): Set<string> {
  const blocks = new Map<string, unknown>();
  for (const [type, byName] of Object.entries(stack.resource ?? {}))
    for (const [name, block] of Object.entries(byName)) blocks.set(`${type}.${name}`, block);
  for (const [type, byName] of Object.entries(stack.data ?? {}))
    for (const [name, block] of Object.entries(byName)) blocks.set(`data.${type}.${name}`, block);
  const refs = new Map<string, Set<string>>();
  for (const [address, block] of blocks) {
    const found = new Set<string>();
    for (const m of JSON.stringify(block).matchAll(/(?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z0-9_-]+/g))
      if (blocks.has(m[0]) && m[0] !== address) found.add(m[0]);
    refs.set(address, found);
  }
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [address, found] of refs) {
      if (out.has(address)) continue;
      if ([...found].some((r) => roots.includes(r) || out.has(r))) {
        out.add(address);
        grew = true;
      }
    }
  }
  return out;
}

/** The changes of a step's plan that the confirmed plan does not hold with the same actions. */
export function outsideConfirmed(step: PlanJson, confirmed: PlanJson): string[] {
  const actions = new Map(
    ((confirmed.resource_changes ?? []) as readonly ResourceChange[]).map((rc) => [
      rc.address,
      rc.change.actions.join(","),
    ]),
  );
  return ((step.resource_changes ?? []) as readonly ResourceChange[])
    .filter((rc) => changed(rc) && actions.get(rc.address) !== rc.change.actions.join(","))
    .map((rc) => `${rc.address} (${rc.change.actions.join(", ")})`);
}

/** The lines the plan's summary and the log show for a rollout. */
export function describeRollout(rollout: Rollout): string[] {
  return [
    `the machine configurations of ${rollout.nodes.length} running nodes change: applied one node at a time, not at once:`,
    `  1. ${rollout.first.length ? `${rollout.first.length} other change${rollout.first.length === 1 ? "" : "s"} (VMs, ISOs, firewall, new nodes)` : "nothing else"} first`,
    ...rollout.nodes.map(
      (n, i) =>
        `  ${i + 2}. ${n.name} (${n.controller ? "controller" : "worker"}, ${n.address}): its configuration alone; then wait until it answers and talosctl health passes`,
    ),
    `  ${rollout.nodes.length + 2}. what follows from the configurations, if anything`,
  ];
}

export class RolloutError extends Error {}

export interface RolloutRun {
  readonly rollout: Rollout;
  /**
   * Plans one step (`targets`; undefined: everything left), refuses a plan that holds what the confirmed plan
   * did not, and applies it; throws (RolloutError, TalosctlError) when it cannot.
   */
  readonly step: (targets?: readonly string[]) => Promise<void>;
  /** Waits until `node` answers again and the cluster is healthy; throws when it does not in time. */
  readonly settle: (node: RolloutNode) => Promise<void>;
  readonly log: (line: string) => void;
}

/** Runs the steps in order; the first failure stops the rollout (nothing after it is applied). */
export async function runRollout(
  run: RolloutRun,
): Promise<{ readonly done: readonly string[]; readonly failed?: string }> {
  const { rollout, log } = run;
  const done: string[] = [];
  const steps: Array<{ name: string; go: () => Promise<void> }> = [];
  if (rollout.first.length) steps.push({ name: "the other changes", go: () => run.step(rollout.first) });
  for (const node of rollout.nodes)
    steps.push({
      name: `${node.name}'s configuration`,
      go: async () => {
        await run.step([node.apply]);
        log(`${node.name} has its configuration; waiting until it answers and talosctl health passes`);
        await run.settle(node);
      },
    });
  steps.push({ name: "what follows from the configurations", go: () => run.step() });
  for (const [i, step] of steps.entries()) {
    log(`step ${i + 1}/${steps.length}: ${step.name}`);
    try {
      await step.go();
    } catch (e) {
      if (!(e instanceof RolloutError || e instanceof TalosctlError)) throw e;
      return { done, failed: `${step.name}: ${e.message}` };
    }
    done.push(step.name);
  }
  return { done };
}
