// Runs the rolling upgrade planned by plan.ts, one step at a time: a node is upgraded only after the one
// before it is back at the target version and the cluster is healthy. The first failure stops the run; a
// rerun asks every node its version again and resumes with the first that is not at the target.
import {
  compareVersions,
  contractProblem,
  currentContract,
  formatUpgradePlan,
  minorSkipProblem,
  planUpgrade,
  type UpgradeNode,
  type UpgradeStep,
  type UpgradeTarget,
} from "./plan";
import { UNKNOWN_INSTALLER } from "./nodes";
import { TalosctlError, type Talosctl } from "./talosctl";

export interface UpgradeRunOptions {
  readonly nodes: readonly UpgradeNode[];
  readonly target: UpgradeTarget;
  readonly talosctl: Talosctl;
  /** The Kubernetes version layer 01 last applied; the target's already: no `upgrade-k8s` (planUpgrade). */
  readonly appliedKubernetes?: string;
  readonly log: (line: string) => void;
  /** How long a node may take to answer with the target version after its upgrade. @default 600_000 */
  readonly rejoinTimeoutMs?: number;
  /** @default 5_000 */
  readonly pollIntervalMs?: number;
  /** @default - a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface UpgradeResult {
  /** Steps done, as formatted in the plan. */
  readonly done: readonly UpgradeStep[];
  /** The step that failed and why; the steps after it did not run. */
  readonly failed?: { readonly step: UpgradeStep; readonly error: string };
}

/**
 * Every problem that stops an upgrade before it starts: talosctl missing or older than the target, a node
 * whose installer image layer 01 has not recorded, a version contract the config would move without being asked
 * (when layer 01 recorded no contract, the nodes' running versions stand for it), a node that would skip a Talos
 * minor. `askNodes`: ask each node the version it runs; otherwise `applied`, the Talos version layer 01 last
 * applied (its cluster_versions output), stands for every node.
 */
export async function upgradePreflight(
  talosctl: Talosctl,
  target: UpgradeTarget,
  nodes: readonly UpgradeNode[] = [],
  askNodes = false,
  applied?: string,
): Promise<string[]> {
  const problems: string[] = [];
  const unknown = nodes.filter((n) => n.installer === UNKNOWN_INSTALLER).map((n) => n.name);
  if (unknown.length)
    problems.push(
      `layer 01 has recorded no installer image for ${unknown.join(", ")}; apply layer 01 first (./bootstrap.sh)`,
    );
  let client: string;
  try {
    client = await talosctl.clientVersion();
  } catch (e) {
    return [
      ...problems,
      `talosctl is not usable (${(e as Error).message}); install talosctl ${target.talosVersion} or newer`,
    ];
  }
  // talosctl drives upgrades to versions up to its own; an older client may not know the target's API.
  const minor = (v: string) => v.replace(/^v?(\d+\.\d+).*$/, "$1");
  if (compareVersions(`${minor(client)}.0`, `${minor(target.talosVersion)}.0`) < 0) {
    problems.push(
      `talosctl ${client} is older than the target Talos ${target.talosVersion}; install talosctl ${minor(target.talosVersion)} or newer`,
    );
    return problems;
  }
  const running = askNodes ? await runningVersions(nodes, talosctl) : undefined;
  const contract = contractProblem(target, currentContract(nodes, running));
  if (contract) problems.push(contract);
  const from = running ?? new Map(applied ? nodes.map((n) => [n.name, applied]) : []);
  const skip = minorSkipProblem(target, from);
  if (skip) problems.push(skip);
  return problems;
}

/** Each node's running Talos version (nodes that do not answer are left out, so they are upgraded). */
export async function runningVersions(nodes: readonly UpgradeNode[], talosctl: Talosctl): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  for (const node of nodes) {
    const version = await talosctl.serverVersion(node.address);
    if (version) versions.set(node.name, version);
  }
  return versions;
}

/** The plan against the nodes' running versions, printed. */
export async function describeUpgrade(
  nodes: readonly UpgradeNode[],
  target: UpgradeTarget,
  talosctl: Talosctl,
  appliedKubernetes?: string,
): Promise<string> {
  const running = await runningVersions(nodes, talosctl);
  const steps = planUpgrade(nodes, target, running, appliedKubernetes);
  return formatUpgradePlan(
    steps,
    nodes.filter((n) => running.get(n.name) === target.talosVersion).map((n) => n.name),
    target,
  );
}

export async function runUpgrade(options: UpgradeRunOptions): Promise<UpgradeResult> {
  const { nodes, target, talosctl, log } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const interval = options.pollIntervalMs ?? 5_000;
  const controllers = nodes.filter((n) => n.controller).map((n) => n.address);
  const workers = nodes.filter((n) => !n.controller).map((n) => n.address);

  const running = await runningVersions(nodes, talosctl);
  const steps = planUpgrade(nodes, target, running, options.appliedKubernetes);
  const skipped = nodes.filter((n) => running.get(n.name) === target.talosVersion).map((n) => n.name);
  if (skipped.length) log(`already at Talos ${target.talosVersion}: ${skipped.join(", ")}`);

  const done: UpgradeStep[] = [];
  for (const step of steps) {
    try {
      if (step.kind === "talos") {
        log(`upgrading ${step.node.name} (${step.node.address}) to ${step.image}`);
        await talosctl.upgrade(step.node.address, step.image);
        await waitForVersion(
          step.node,
          target.talosVersion,
          talosctl,
          options.rejoinTimeoutMs ?? 600_000,
          interval,
          sleep,
        );
        log(`${step.node.name} runs Talos ${target.talosVersion}; waiting for the cluster to be healthy`);
        await talosctl.health(controllers, workers);
      } else {
        log(`upgrading Kubernetes to ${step.to} through ${step.via.name}`);
        await talosctl.upgradeKubernetes(step.via.address, step.to);
      }
      done.push(step);
    } catch (e) {
      if (!(e instanceof TalosctlError)) throw e;
      log(`stopped: ${e.message}`);
      return { done, failed: { step, error: e.message } };
    }
  }
  return { done };
}

async function waitForVersion(
  node: UpgradeNode,
  version: string,
  talosctl: Talosctl,
  timeoutMs: number,
  interval: number,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  let last: string | undefined;
  for (let waited = 0; ; waited += interval) {
    last = await talosctl.serverVersion(node.address);
    if (last === version) return;
    if (waited >= timeoutMs) break;
    await sleep(interval);
  }
  throw new TalosctlError(
    `${node.name} did not come back with Talos ${version} within ${Math.round(timeoutMs / 1000)} s (it answers ${last ?? "nothing"})`,
  );
}

/** Resets the leaving nodes gracefully, one at a time, in the plan's order (workers, then controllers). */
export async function runRemoval(
  remove: readonly UpgradeNode[],
  talosctl: Talosctl,
  log: (line: string) => void,
): Promise<{ readonly done: readonly string[]; readonly failed?: string }> {
  const done: string[] = [];
  for (const node of remove) {
    log(`resetting ${node.name} (${node.address}) gracefully${node.controller ? ", leaving etcd first" : ""}`);
    try {
      await talosctl.resetGracefully(node.address);
    } catch (e) {
      if (!(e instanceof TalosctlError)) throw e;
      log(`stopped: ${e.message}`);
      return { done, failed: e.message };
    }
    done.push(node.name);
  }
  return { done };
}
