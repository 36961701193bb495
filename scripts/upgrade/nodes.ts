// The nodes an upgrade works on: names, addresses and roles from the config, each node's installer image from
// layer 01's `talos_nodes` output (the schematic id is only known once the factory answered in layer 01).
import type { ResolvedCluster } from "../../config";
import type { UpgradeNode, UpgradeTarget } from "./plan";

/** One entry of layer 01's `talos_nodes` output. */
export interface TalosNodesOutputEntry {
  readonly name: string;
  readonly address: string;
  readonly controller: boolean;
  readonly installer: string;
}

/** Shown instead of an installer image that layer 01 has not recorded yet (`--plan` before the first apply). */
export const UNKNOWN_INSTALLER = "<installer of the node's schematic, known once layer 01 is applied>";

export function upgradeTarget(cluster: ResolvedCluster): UpgradeTarget {
  return { talosVersion: cluster.talos.version, kubernetesVersion: cluster.talos.kubernetesVersion };
}

/** The config's nodes, with their installer image from layer 01's output when it has one for them. */
export function upgradeNodes(cluster: ResolvedCluster, output: readonly TalosNodesOutputEntry[] = []): UpgradeNode[] {
  const installers = new Map(output.map((n) => [n.name, n.installer]));
  return cluster.nodes.map((node) => ({
    name: node.name,
    address: node.address,
    controller: node.controller,
    installer: installers.get(node.name) ?? UNKNOWN_INSTALLER,
  }));
}
