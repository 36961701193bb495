// The rolling restart of `./bootstrap.sh restart`: a change of cores or memory stays pending in Proxmox
// (reboot_after_update = false, so that an apply never restarts every VM at once); this restarts the VMs that
// have one, one at a time, controllers first, each through Proxmox (which applies what was pending), waiting
// until its node answers again and the cluster is healthy before the next. A rerun finds only what is still
// pending, so it resumes where a failed run stopped.
import type { ResolvedCluster } from "../../config";
import { TALOS_NODES_OUTPUT, type TalosNodesOutputEntry } from "./nodes";
import { ProxmoxError, type ProxmoxVms } from "./proxmox";
import { TalosctlError, type Talosctl } from "./talosctl";

/** A node and its VM. */
export interface RestartNode {
  readonly name: string;
  /** The Talos API address. */
  readonly address: string;
  readonly controller: boolean;
  /** The Proxmox node the VM runs on. */
  readonly host: string;
  readonly vmId: number;
}

export interface PendingRestart {
  readonly node: RestartNode;
  /** The VM's config keys waiting for the restart, e.g. ["cores", "memory"]. */
  readonly keys: readonly string[];
}

/**
 * The config's nodes with their VM as layer 01's state knows it (its id, which Proxmox may have chosen, and the
 * host it runs on); throws naming the nodes the state does not hold.
 */
export function restartNodes(cluster: ResolvedCluster, recorded: readonly TalosNodesOutputEntry[]): RestartNode[] {
  const byName = new Map(recorded.map((n) => [n.name, n]));
  const unknown = cluster.nodes.filter((n) => {
    const entry = byName.get(n.name);
    return entry?.vmId === undefined || entry.proxmoxNode === undefined;
  });
  if (unknown.length > 0)
    throw new Error(
      `${TALOS_NODES_OUTPUT} records no VM for ${unknown.map((n) => n.name).join(", ")} (written by an older version, or the node is new)`,
    );
  return cluster.nodes.map((n) => {
    const entry = byName.get(n.name)!;
    return { name: n.name, address: n.address, controller: n.controller, host: entry.proxmoxNode!, vmId: entry.vmId! };
  });
}

/** The nodes whose VM has changes pending, in restart order: controllers first, then workers. */
export async function pendingRestarts(nodes: readonly RestartNode[], proxmox: ProxmoxVms): Promise<PendingRestart[]> {
  const ordered = [...nodes.filter((n) => n.controller), ...nodes.filter((n) => !n.controller)];
  const restarts: PendingRestart[] = [];
  for (const node of ordered) {
    const keys = await proxmox.pendingKeys(node.host, node.vmId);
    if (keys.length > 0) restarts.push({ node, keys });
  }
  return restarts;
}

/** One line per restart, numbered, or what to say when there is none. */
export function formatRestartPlan(restarts: readonly PendingRestart[]): string {
  if (restarts.length === 0) return "no VM has a change waiting for a restart";
  return restarts
    .map(({ node, keys }, i) => {
      const role = node.controller ? "controller" : "worker";
      return `${`${i + 1}.`.padEnd(4)}${node.name} (${role}, VM ${node.vmId} on ${node.host}): ${keys.join(", ")} pending; restart, then wait until it answers and the cluster is healthy`;
    })
    .join("\n");
}

export interface RestartRunOptions {
  readonly nodes: readonly RestartNode[];
  readonly proxmox: ProxmoxVms;
  readonly talosctl: Talosctl;
  readonly log: (line: string) => void;
  /** How long a node may take to answer after its restart. @default 600_000 */
  readonly rejoinTimeoutMs?: number;
  /** @default 5_000 */
  readonly pollIntervalMs?: number;
  /** @default - a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RestartResult {
  /** Names of the nodes restarted. */
  readonly done: readonly string[];
  /** The node whose restart failed and why; the ones after it were not restarted. */
  readonly failed?: { readonly node: string; readonly error: string };
}

export async function runRestarts(options: RestartRunOptions): Promise<RestartResult> {
  const { nodes, proxmox, talosctl, log } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const interval = options.pollIntervalMs ?? 5_000;
  const timeout = options.rejoinTimeoutMs ?? 600_000;
  const controllers = nodes.filter((n) => n.controller).map((n) => n.address);
  const workers = nodes.filter((n) => !n.controller).map((n) => n.address);
  const done: string[] = [];
  for (const { node, keys } of await pendingRestarts(nodes, proxmox)) {
    try {
      log(`restarting ${node.name} (VM ${node.vmId} on ${node.host}) for ${keys.join(", ")}`);
      await proxmox.reboot(node.host, node.vmId);
      await waitForAnswer(node, talosctl, timeout, interval, sleep);
      log(`${node.name} answers again; waiting for the cluster to be healthy`);
      await talosctl.health(controllers, workers);
      const left = await proxmox.pendingKeys(node.host, node.vmId);
      if (left.length > 0)
        throw new ProxmoxError(`${node.name}'s VM still has ${left.join(", ")} pending after its restart`);
      done.push(node.name);
    } catch (e) {
      if (!(e instanceof TalosctlError || e instanceof ProxmoxError)) throw e;
      log(`stopped: ${e.message}`);
      return { done, failed: { node: node.name, error: e.message } };
    }
  }
  return { done };
}

async function waitForAnswer(
  node: RestartNode,
  talosctl: Talosctl,
  timeoutMs: number,
  interval: number,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  for (let waited = 0; ; waited += interval) {
    if ((await talosctl.serverVersion(node.address)) !== undefined) return;
    if (waited >= timeoutMs) break;
    await sleep(interval);
  }
  throw new TalosctlError(`${node.name} did not answer within ${Math.round(timeoutMs / 1000)} s of its restart`);
}
