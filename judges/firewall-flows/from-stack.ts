/**
 * What a synthesized layer-01 stack (its Terraform JSON) gives Proxmox and Cilium: every NIC of each VM and
 * container (`network_device` / `network_interface` n is net<n>, its address `ip_config` n) with the guest's
 * firewall rules and options as the bpg provider writes them (`enabled` is PVE's `enable`, `input_policy` its
 * `policy_in`, ...; the provider moves the rules into the order of the list), the nodes of the `talos_nodes`
 * output, and Cilium's Helm values with the chart's defaults where a value is not given (routingMode tunnel,
 * loadBalancer.mode snat, encryption off).
 */
import { parse } from "yaml";
import type { ClusterNode, ClusterShape } from "./flows";
import { nicKey } from "./network";
import type { FirewallRule, VmFirewallOptions, VmNic } from "./pve-firewall";

// biome-ignore lint/suspicious/noExplicitAny: synthesized Terraform JSON, read field by field as bpg writes it
type Json = any;
type Resources = Record<string, Record<string, Record<string, Json>>>;
export interface StackJson {
  readonly resource?: Resources;
  readonly output?: Record<string, { value: unknown }>;
}

/**
 * `${proxmox_virtual_environment_vm.<key>.<attr>}` (or `_container`) → key; a literal is returned as it is.
 */
function vmKey(reference: unknown): string {
  const match = /^\$\{proxmox_virtual_environment_(?:vm|container)\.([\w-]+)\.\w+\}$/.exec(String(reference));
  return match ? match[1] : String(reference);
}

/** Every NIC of each VM and container with its firewall, by `nicKey` (the guest's resource key for net0). */
export function vmNics(stack: StackJson): Record<string, VmNic> {
  const resources = stack.resource ?? {};
  const vms = resources.proxmox_virtual_environment_vm ?? {};
  const containers = resources.proxmox_virtual_environment_container ?? {};
  const byVm = <T>(type: string, read: (r: Record<string, Json>) => T) =>
    new Map(Object.values(resources[type] ?? {}).map((r) => [vmKey(r.vm_id ?? r.container_id), read(r)]));
  const rules = byVm("proxmox_virtual_environment_firewall_rules", (r) =>
    (r.rule as Record<string, Json>[]).map(
      (rule): FirewallRule => ({
        type: rule.type ?? (rule.security_group ? "group" : "in"),
        action: rule.action ?? rule.security_group,
        enable: rule.enabled ?? true,
        iface: rule.iface,
        source: rule.source,
        dest: rule.dest,
        proto: rule.proto,
        dport: rule.dport,
        sport: rule.sport,
        macro: rule.macro,
      }),
    ),
  );
  const options = byVm(
    "proxmox_virtual_environment_firewall_options",
    (o): VmFirewallOptions => ({
      enable: o.enabled,
      policy_in: o.input_policy,
      policy_out: o.output_policy,
      dhcp: o.dhcp,
      macfilter: o.macfilter,
    }),
  );
  const nicsOf = (key: string, guest: Record<string, Json>, devices: Record<string, Json>[] = []) =>
    devices.map((device, n): [string, VmNic] => {
      const netid = `net${n}`;
      // "dhcp", or the address with its prefix; a VM without cloud-init has no ip_config (Proxmox knows no address).
      const address = guest.initialization?.ip_config?.[n]?.ipv4?.address;
      return [
        nicKey(key, netid),
        {
          vm: key,
          host: guest.node_name,
          netid,
          firewall: device.firewall === true,
          address: address === undefined || address === "dhcp" ? undefined : String(address).split("/")[0],
          options: options.get(key) ?? {},
          rules: rules.get(key) ?? [],
        },
      ];
    });
  return Object.fromEntries([
    ...Object.entries(vms).flatMap(([key, vm]) => nicsOf(key, vm, vm.network_device)),
    ...Object.entries(containers).flatMap(([key, ct]) => nicsOf(key, ct, ct.network_interface)),
  ]);
}

/** The cluster's nodes (named by their VM's resource key) from the `talos_nodes` output. */
export function talosNodes(stack: StackJson): ClusterNode[] {
  const entries = stack.output?.talos_nodes?.value as Array<Record<string, Json>>;
  return entries.map((n) => ({ name: vmKey(n.proxmox_node), address: n.address, controller: n.controller }));
}

/** How Cilium runs, from its Helm release; undefined without Cilium. */
export function ciliumShape(stack: StackJson):
  | (Omit<NonNullable<ClusterShape["cilium"]>, "loadBalancerAddress"> & {
      readonly l2Announcements: boolean;
    })
  | undefined {
  const release = Object.values(stack.resource?.helm_release ?? {}).find((r) => r.chart === "cilium");
  if (!release) return undefined;
  const values = Object.assign({}, ...(release.values as string[]).map((v) => parse(v)));
  return {
    routing: values.routingMode ?? "tunnel",
    loadBalancer: values.loadBalancer?.mode ?? "snat",
    wireguard: values.encryption?.enabled === true && values.encryption?.type === "wireguard",
    l2Announcements: values.l2announcements?.enabled === true,
  };
}
