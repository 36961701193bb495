// The rolling order of `./bootstrap.sh upgrade`: Talos first, one node at a time (controllers first, so etcd
// loses at most one member at a time), each to the factory installer image of its own schematic; then
// Kubernetes, once, with `talosctl upgrade-k8s` (it orders the control plane before the kubelets), unless layer
// 01 last applied the target Kubernetes version already (a Talos bump alone leaves Kubernetes as it is). Pure:
// what runs it is run.ts.
import { parseVersion, TALOS_RELEASES } from "../../config/versions";

/** A node as the upgrade needs it. */
export interface UpgradeNode {
  readonly name: string;
  /** The Talos API address. */
  readonly address: string;
  readonly controller: boolean;
  /** The installer image without its tag, e.g. `factory.talos.dev/installer/<schematic id>` (or `installer-secureboot`). */
  readonly installer: string;
  /** The version contract of the machine configuration layer 01 last applied to it, e.g. "v1.13", when recorded. */
  readonly contract?: string;
}

export interface UpgradeTarget {
  /** e.g. "v1.12.2" */
  readonly talosVersion: string;
  /** e.g. "v1.35.1" */
  readonly kubernetesVersion: string;
  /** The version contract the config gives the machine configurations, e.g. "v1.13". */
  readonly contract: string;
  /** Whether cluster.yaml sets it (talos_config_contract), rather than following talosVersion's minor. */
  readonly contractPinned: boolean;
}

export type UpgradeStep =
  | { readonly kind: "talos"; readonly node: UpgradeNode; readonly image: string; readonly from?: string }
  | { readonly kind: "kubernetes"; readonly to: string; readonly via: UpgradeNode };

/**
 * The steps, in order. `running` holds each node's current Talos version when known: a node already at the
 * target is left out, so a run that stopped midway resumes where it stopped. Kubernetes comes last, unless
 * `appliedKubernetes`, the version layer 01 last applied to the machine configurations (what the control plane
 * and the kubelets run), is the target already; unknown, it comes (`upgrade-k8s` skips what is up to date).
 */
export function planUpgrade(
  nodes: readonly UpgradeNode[],
  target: UpgradeTarget,
  running: ReadonlyMap<string, string> = new Map(),
  appliedKubernetes?: string,
): UpgradeStep[] {
  const controllers = nodes.filter((n) => n.controller);
  if (controllers.length === 0) throw new Error("planUpgrade: 'nodes' has no controller");
  const ordered = [...controllers, ...nodes.filter((n) => !n.controller)];
  const steps: UpgradeStep[] = ordered
    .filter((node) => running.get(node.name) !== target.talosVersion)
    .map((node) => ({
      kind: "talos",
      node,
      image: `${node.installer}:${target.talosVersion}`,
      from: running.get(node.name),
    }));
  if (appliedKubernetes !== target.kubernetesVersion)
    steps.push({ kind: "kubernetes", to: target.kubernetesVersion, via: controllers[0] });
  return steps;
}

/**
 * Why the upgrade is refused when it would move the machine configurations to another version contract without
 * being asked: the contract follows talos_version's minor unless cluster.yaml pins it, and Talos advises keeping
 * the contract a cluster's configuration was made with across upgrades (a new contract changes defaults and
 * moves settings between documents). `current` is the contract layer 01 recorded, else the minor the nodes run.
 */
export function contractProblem(target: UpgradeTarget, current: string | undefined): string | undefined {
  if (target.contractPinned || current === undefined) return undefined;
  const minor = (v: string) => v.replace(/^v?(\d+\.\d+).*$/, "v$1");
  if (minor(current) === minor(target.contract)) return undefined;
  return (
    `Talos ${target.talosVersion} would move the machine configurations from the ${minor(current)} version contract to ` +
    `${minor(target.contract)} (talos_config_contract, unset, follows talos_version's minor); Talos advises keeping a ` +
    `cluster's contract across upgrades: add "talos_config_contract: ${minor(current)}" to cluster.yaml (or ` +
    `"talos_config_contract: ${minor(target.contract)}" to move it on purpose)`
  );
}

/**
 * Why the upgrade is refused when a node would skip a Talos minor: Talos upgrades one minor at a time (its
 * upgrade notes: 1.12 to 1.14 goes through 1.13), so the target may be at most one minor above the lowest
 * version a node runs. `from` maps node names to the Talos version each runs (or, unasked, the version layer 01
 * last applied). Names the patch of the next minor this release is tested with as the stop in between.
 */
export function minorSkipProblem(target: UpgradeTarget, from: ReadonlyMap<string, string>): string | undefined {
  const [major, targetMinor] = parseVersion(target.talosVersion);
  const behind = [...from].filter(([, version]) => {
    const [m, minor] = parseVersion(version);
    return m !== major || targetMinor - minor > 1;
  });
  if (behind.length === 0) return undefined;
  const lowest = behind.map(([, v]) => v).sort(compareVersions)[0];
  const [lowMajor, lowMinor] = parseVersion(lowest);
  if (lowMajor !== major)
    return `Talos ${target.talosVersion} is another major version than ${lowest}, which ${behind.map(([n]) => n).join(", ")} run`;
  const next = `${major}.${lowMinor + 1}`;
  const stop = TALOS_RELEASES[next]?.tested;
  const nodes = behind.map(([name, version]) => `${name} (${version})`).join(", ");
  return (
    `Talos upgrades one minor at a time, and ${nodes} would skip from ${major}.${lowMinor} to ${major}.${targetMinor}: ` +
    `set "talos_version: ${stop ?? `v${next}.x`}" in cluster.yaml${stop ? ` (the ${next} patch this release is tested with)` : ""} and run ./bootstrap.sh upgrade, ` +
    `then ${target.talosVersion}`
  );
}

/** The contract layer 01 recorded for the nodes, else the lowest minor they run (a state written before it was recorded). */
export function currentContract(
  nodes: readonly UpgradeNode[],
  running: ReadonlyMap<string, string> = new Map(),
): string | undefined {
  const recorded = nodes.find((n) => n.contract)?.contract;
  if (recorded) return recorded;
  const versions = [...running.values()].sort(compareVersions);
  return versions[0]?.replace(/^v?(\d+\.\d+).*$/, "v$1");
}

/**
 * One line per step, numbered, as `upgrade --plan` prints it; `target` given, a plan without a Kubernetes step
 * says that Kubernetes stays at the target, which layer 01 applied already.
 */
export function formatUpgradePlan(
  steps: readonly UpgradeStep[],
  skipped: readonly string[] = [],
  target?: UpgradeTarget,
): string {
  const lines = steps.map((step, i) => {
    const n = `${i + 1}.`.padEnd(4);
    if (step.kind === "kubernetes")
      return `${n}kubernetes  talosctl upgrade-k8s --to ${step.to} (through ${step.via.name}; control plane first, then every kubelet)`;
    const role = step.node.controller ? "controller" : "worker";
    return `${n}talos       ${step.node.name} (${role}, ${step.node.address})${step.from ? ` ${step.from} →` : ""} ${step.image}; then wait until it is back and etcd is healthy`;
  });
  if (skipped.length) lines.push(`already at the target Talos version, skipped: ${skipped.join(", ")}`);
  if (target && !steps.some((s) => s.kind === "kubernetes"))
    lines.push(`Kubernetes stays at ${target.kubernetesVersion}, which layer 01 applied already: no upgrade-k8s`);
  return lines.join("\n");
}

/** Talos versions `vMAJOR.MINOR.PATCH`, compared numerically; a pre-release suffix is ignored. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => (/^v?(\d+)\.(\d+)\.(\d+)/.exec(v)?.slice(1) ?? ["0", "0", "0"]).map(Number);
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/** What leaving the cluster takes, for the nodes that are in the cluster now and no longer in nodes.yaml. */
export interface RemovalPlan {
  /** In order: workers first, then controllers one at a time. */
  readonly remove: readonly UpgradeNode[];
  /** Why the change is refused (then nothing is removed). */
  readonly problems: readonly string[];
}

/**
 * Nodes that leave: each is reset gracefully (cordoned, drained, and a controller leaves etcd first) before
 * its VM is destroyed. Removing several controllers at once is refused when the remaining ones would not be a
 * majority of the current etcd members (etcd could lose quorum on the way): remove them over several runs.
 */
export function planRemoval(current: readonly UpgradeNode[], keep: ReadonlySet<string>): RemovalPlan {
  const leaving = current.filter((n) => !keep.has(n.name));
  const controllers = current.filter((n) => n.controller);
  const leavingControllers = leaving.filter((n) => n.controller);
  const remaining = controllers.length - leavingControllers.length;
  const quorum = Math.floor(controllers.length / 2) + 1;
  const names = leavingControllers.map((n) => n.name).join(", ");
  const problems: string[] = [];
  if (leavingControllers.length > 0 && remaining === 0) {
    problems.push(`removing ${names} leaves no controller: the cluster would be gone; keep at least one`);
  } else if (leavingControllers.length > 1 && remaining < quorum) {
    // One member leaving gracefully is always safe; several at once can leave etcd without a majority.
    problems.push(
      `removing ${names} at once leaves ${remaining} of ${controllers.length} controllers, below etcd's quorum of ${quorum}: ` +
        `remove at most ${Math.max(1, controllers.length - quorum)} controller${controllers.length - quorum > 1 ? "s" : ""} per run`,
    );
  }
  return { remove: [...leaving.filter((n) => !n.controller), ...leavingControllers], problems };
}
