// The nodes an upgrade works on: names, addresses and roles from the config, each node's installer image from
// layer 01's `talos_nodes` output (the schematic id is only known once the factory answered in layer 01).
import type { ResolvedCluster } from "../../config";
import type { LayerName } from "../../layers/catalog";
import type { UpgradeNode, UpgradeTarget } from "./plan";

/** The layer whose state holds the output, and the output's name (layers/infrastructure.ts). */
export const TALOS_NODES_LAYER: LayerName = "01-infrastructure";
export const TALOS_NODES_OUTPUT = "talos_nodes";
export const CLUSTER_VERSIONS_OUTPUT = "cluster_versions";

/** One entry of layer 01's `talos_nodes` output. */
export interface TalosNodesOutputEntry {
  readonly name: string;
  readonly address: string;
  readonly controller: boolean;
  readonly installer: string;
  /** The VM's id (Proxmox may have chosen it); absent in a state written before it was recorded. */
  readonly vmId?: number;
  /** The Proxmox node the VM was on at the last refresh; absent in a state written before it was recorded. */
  readonly proxmoxNode?: string;
  /** The version contract of its machine configuration, e.g. "v1.13"; absent in a state written before it was recorded. */
  readonly contract?: string;
}

/** Shown instead of an installer image that layer 01 has not recorded yet (`--plan` before the first apply). */
export const UNKNOWN_INSTALLER = "<installer of the node's schematic, known once layer 01 is applied>";

export function upgradeTarget(cluster: ResolvedCluster): UpgradeTarget {
  const { version, kubernetesVersion, contract, contractPinned } = cluster.talos;
  return { talosVersion: version, kubernetesVersion, contract, contractPinned };
}

/** The config's nodes, with their installer image from layer 01's output when it has one for them. */
export function upgradeNodes(cluster: ResolvedCluster, output: readonly TalosNodesOutputEntry[] = []): UpgradeNode[] {
  const recorded = new Map(output.map((n) => [n.name, n]));
  return cluster.nodes.map((node) => {
    const contract = recorded.get(node.name)?.contract;
    return {
      name: node.name,
      address: node.address,
      controller: node.controller,
      installer: recorded.get(node.name)?.installer ?? UNKNOWN_INSTALLER,
      ...(contract ? { contract } : {}),
    };
  });
}

/**
 * The entries of `<engine> output -json talos_nodes`; throws naming what is wrong when the value is not a list of
 * nodes (a state written by another version of this code).
 */
export function parseTalosNodesOutput(json: string): TalosNodesOutputEntry[] {
  const value = JSON.parse(json) as unknown;
  if (!Array.isArray(value)) throw new Error(`${TALOS_NODES_OUTPUT} is not a list`);
  return value.map((entry: Record<string, unknown>, i) => {
    const ok =
      typeof entry?.name === "string" &&
      typeof entry.address === "string" &&
      typeof entry.controller === "boolean" &&
      typeof entry.installer === "string";
    if (!ok) throw new Error(`${TALOS_NODES_OUTPUT}[${i}] lacks name, address, controller or installer`);
    return {
      name: entry.name as string,
      address: entry.address as string,
      controller: entry.controller as boolean,
      installer: entry.installer as string,
      ...(typeof entry.vm_id === "number" ? { vmId: entry.vm_id } : {}),
      ...(typeof entry.proxmox_node === "string" ? { proxmoxNode: entry.proxmox_node } : {}),
      ...(typeof entry.config_contract === "string" ? { contract: entry.config_contract } : {}),
    };
  });
}

/** The Talos and Kubernetes versions layer 01 last applied. */
export type AppliedVersions = Pick<UpgradeTarget, "talosVersion" | "kubernetesVersion">;

/** The versions of layer 01's `cluster_versions` output; undefined when absent or not of that shape (an older state). */
export function parseClusterVersions(value: unknown): AppliedVersions | undefined {
  const v = value as { talos_version?: unknown; kubernetes_version?: unknown } | undefined;
  if (typeof v?.talos_version !== "string" || typeof v.kubernetes_version !== "string") return undefined;
  return { talosVersion: v.talos_version, kubernetesVersion: v.kubernetes_version };
}
