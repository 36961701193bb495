// What the VMs' firewall needs of Proxmox beyond the VMs' own rules, checked by bootstrap's preflight through the
// Proxmox API: the datacenter firewall on (without it pve-firewall compiles no rule at all, so the VMs' are
// written and do nothing), and with Cilium's DSR load balancing each host's conntrack letting through what it
// sees only half of (a backend on another node answers the client directly, so every host sees one direction
// of the connection and its conntrack calls the rest INVALID, which PVEFW-FORWARD drops unless the host's
// nf_conntrack_allow_invalid is on). judges/firewall-flows shows both. The guests' firewalls (workloads.yaml)
// need the datacenter firewall as much.
import type { ResolvedCluster } from "../../config";
import type { Problem } from "./problem";

/** The host firewall options (`/nodes/{node}/firewall/options`) the cluster's traffic needs on every host. */
export function hostFirewallRequirements(cluster: ResolvedCluster): { readonly nf_conntrack_allow_invalid?: true } {
  if (!cluster.features.firewall) return {};
  return cluster.features.cilium?.loadBalancerMode === "dsr" ? { nf_conntrack_allow_invalid: true } : {};
}

/** The two reads the check makes. */
export interface FirewallOptionsApi {
  get(path: string): Promise<unknown>;
}

const isOn = (value: unknown) => value === 1 || value === "1" || value === true;

/** The guests of workloads.yaml whose firewall layer 01 writes. */
function firewalledGuests(cluster: ResolvedCluster): string[] {
  return (cluster.workloads?.guests ?? []).filter((g) => g.firewall).map((g) => g.config.name);
}

/**
 * The problems of the datacenter's and the hosts' firewall options for `cluster`, with a line for each thing
 * checked; none when neither the cluster's firewall nor a guest's is on.
 */
export async function proxmoxFirewallProblems(
  cluster: ResolvedCluster,
  api: FirewallOptionsApi,
): Promise<{ ok: string[]; problems: Omit<Problem, "check">[] }> {
  const ok: string[] = [];
  const problems: Omit<Problem, "check">[] = [];
  const guests = firewalledGuests(cluster);
  if (!cluster.features.firewall && guests.length === 0) return { ok, problems };
  const read = async (path: string) => {
    try {
      return (await api.get(path)) as Record<string, unknown>;
    } catch (e) {
      problems.push({
        reason: `could not read ${path} from ${cluster.proxmox.apiUrl}: ${(e as Error).message}`,
        hint: "the API user needs Sys.Audit on / to read the firewall options (PVEAuditor has it)",
      });
      return undefined;
    }
  };
  const datacenter = await read("cluster/firewall/options");
  if (datacenter && !isOn(datacenter.enable)) {
    const who = [
      ...(cluster.features.firewall ? ["proxmox_firewall_enabled is true"] : []),
      ...(guests.length ? [`workloads.yaml gives ${guests.join(", ")} a firewall`] : []),
    ].join(" and ");
    problems.push({
      reason: `${who}, and the datacenter firewall is off in Proxmox: pve-firewall applies no VM or container rule at all without it, so they would run unfiltered`,
      hint: `turn it on (Datacenter → Firewall → Options → Firewall: Yes, or pvesh set /cluster/firewall/options --enable 1) after checking that the hosts' own rules let you in (8006 and 22 are open only to the hosts' local network by default); or ${[
        ...(cluster.features.firewall ? ["set proxmox_firewall_enabled: false"] : []),
        ...(guests.length ? ["remove the guests' and zones' firewall blocks"] : []),
      ].join(" and ")}`,
    });
  } else if (datacenter) ok.push("the datacenter firewall is on");

  if (hostFirewallRequirements(cluster).nf_conntrack_allow_invalid) {
    const hosts = [...new Set(cluster.nodes.map((n) => n.host))].sort();
    const off: string[] = [];
    let unread = false;
    for (const host of hosts) {
      const options = await read(`nodes/${encodeURIComponent(host)}/firewall/options`);
      if (!options) unread = true;
      else if (!isOn(options.nf_conntrack_allow_invalid)) off.push(host);
    }
    if (off.length > 0) {
      problems.push({
        reason: `cilium_loadbalancer_mode is dsr, and nf_conntrack_allow_invalid is off on ${off.join(", ")}: a backend on another node answers a service's client directly, each host sees half of the connection, and pve-firewall drops the rest as INVALID, so NodePorts and LoadBalancer addresses fail whenever the backend is elsewhere`,
        hint: `turn it on for each (Datacenter → <host> → Firewall → Options → nf_conntrack_allow_invalid: Yes, or ${off.map((h) => `pvesh set /nodes/${h}/firewall/options --nf_conntrack_allow_invalid 1`).join("; ")}); or set cilium_loadbalancer_mode: snat`,
      });
    } else if (!unread) ok.push(`nf_conntrack_allow_invalid on for Cilium's DSR on ${hosts.join(", ")}`);
  }
  return { ok, problems };
}
