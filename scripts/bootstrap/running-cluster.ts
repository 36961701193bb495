// What a plain ./bootstrap.sh would do to the nodes that run now, read from layer 01's state (its talos_nodes and
// cluster_versions outputs) against the config: the nodes that left nodes.yaml, which must leave the cluster
// gracefully, one at a time, before layer 01 destroys their VMs; and a Talos or Kubernetes version bump, which
// layer 01 would otherwise push into every node's machine configuration at once.
import type { ResolvedCluster } from "../../config";
import {
  type CLUSTER_VERSIONS_OUTPUT,
  parseClusterVersions,
  type AppliedVersions,
  parseTalosNodesOutput,
  type TALOS_NODES_OUTPUT,
} from "../upgrade/nodes";
import { planRemoval, type UpgradeNode } from "../upgrade/plan";

export interface VersionBump {
  readonly what: "talos_version" | "kubernetes_version";
  readonly from: string;
  readonly to: string;
}

export interface RunningClusterChange {
  /** The nodes recorded in layer 01 and no longer in nodes.yaml, in the order they leave (workers first). */
  readonly leaving: readonly UpgradeNode[];
  /** Why the removal is refused (etcd quorum, the last controller); then nothing may be applied. */
  readonly refusals: readonly string[];
  /** The versions the config moves the nodes to, against what layer 01 last applied. */
  readonly bumps: readonly VersionBump[];
}

/** `tofu output -json` of layer 01 (every output), as far as this needs it. */
export type LayerOutputs = Partial<
  Record<typeof TALOS_NODES_OUTPUT | typeof CLUSTER_VERSIONS_OUTPUT, { value: unknown }>
>;

/** undefined when layer 01 records no nodes yet (never applied, or by a version without the outputs). */
export function runningClusterChange(
  cluster: ResolvedCluster,
  outputs: LayerOutputs,
): RunningClusterChange | undefined {
  if (outputs.talos_nodes === undefined) return undefined;
  const recorded = parseTalosNodesOutput(JSON.stringify(outputs.talos_nodes.value));
  if (recorded.length === 0) return undefined;
  const current: UpgradeNode[] = recorded.map((n) => ({
    name: n.name,
    address: n.address,
    controller: n.controller,
    installer: n.installer,
  }));
  const removal = planRemoval(current, new Set(cluster.nodes.map((n) => n.name)));
  const applied = parseClusterVersions(outputs.cluster_versions?.value);
  return { leaving: removal.remove, refusals: removal.problems, bumps: applied ? versionBumps(applied, cluster) : [] };
}

function versionBumps(applied: AppliedVersions, cluster: ResolvedCluster): VersionBump[] {
  const bumps: VersionBump[] = [];
  if (applied.talosVersion !== cluster.talos.version)
    bumps.push({ what: "talos_version", from: applied.talosVersion, to: cluster.talos.version });
  if (applied.kubernetesVersion !== cluster.talos.kubernetesVersion)
    bumps.push({ what: "kubernetes_version", from: applied.kubernetesVersion, to: cluster.talos.kubernetesVersion });
  return bumps;
}

/** The lines --plan and the confirmation show for the leaving nodes. */
export function describeLeaving(leaving: readonly UpgradeNode[]): string[] {
  if (leaving.length === 0) return [];
  return [
    "before layer 01 destroys their VMs, these nodes leave the cluster, one at a time:",
    ...leaving.map(
      (n, i) =>
        `  ${i + 1}. ${n.name} (${n.controller ? "controller: leaves etcd first" : "worker"}, ${n.address}): talosctl reset --graceful (cordon, drain), then its Node object is deleted`,
    ),
  ];
}

/** Why a bump must not be applied by a plain run, with the command that rolls it out one node at a time. */
export function bumpRefusal(bumps: readonly VersionBump[]): string {
  const what = bumps.map((b) => `${b.what} ${b.from} -> ${b.to}`).join(" and ");
  return `${what}: layer 01 would apply it to every node's machine configuration at once`;
}

/** The command that rolls the bumps out one node at a time, and what it runs (`kubernetesVersion`: the config's). */
export function bumpHint(bumps: readonly VersionBump[], kubernetesVersion: string): string {
  const talos = bumps.find((b) => b.what === "talos_version");
  const steps = [
    ...(talos ? [`talosctl upgrade to ${talos.to}, node by node, each back and healthy before the next`] : []),
    `talosctl upgrade-k8s --to ${kubernetesVersion}`,
  ];
  return `run ./bootstrap.sh upgrade first (${steps.join(", then ")}; ./bootstrap.sh upgrade --plan shows the order), then ./bootstrap.sh: it applies layer 01 once every node runs the new versions`;
}

export interface RolloutProbes {
  /** The Talos version a node answers (`talosctl version`), undefined when it does not answer. */
  talosVersion(address: string): Promise<string | undefined>;
  /** The Kubernetes API server's version (GET /version), undefined when it does not answer. */
  kubernetesVersion(): Promise<string | undefined>;
}

/**
 * The nodes (and the API server) not yet at the versions the bumps move to, asked live: empty when
 * `./bootstrap.sh upgrade` has rolled them out and layer 01 only has to record them.
 */
export async function notRolledOut(
  bumps: readonly VersionBump[],
  nodes: readonly { readonly name: string; readonly address: string }[],
  probes: RolloutProbes,
): Promise<string[]> {
  const behind: string[] = [];
  for (const bump of bumps) {
    if (bump.what === "talos_version") {
      for (const node of nodes) {
        const running = await probes.talosVersion(node.address);
        if (running !== bump.to) behind.push(`${node.name} runs Talos ${running ?? "(no answer)"}`);
      }
    } else {
      const running = await probes.kubernetesVersion();
      if (running !== bump.to) behind.push(`the API server runs Kubernetes ${running ?? "(no answer)"}`);
    }
  }
  return behind;
}
