/**
 * A VM's or a container's firewall (PVE::API2::Firewall::VM, ::CT): its options and its rule list. As PVE does, a
 * new rule goes in at `pos` (0, the top, when not given), `moveto` moves one, a rule is read back with its
 * position, and a rule created or changed is verified (PVE::Firewall verify_rule: the macro, the protocol and its
 * ports, the addresses, a macro's fields not contradicted; config/pve-firewall.ts holds PVE's tables). The
 * datacenter's and each host's options (PVE::API2::Firewall::Cluster, ::Host `get_options`/`set_options`): only
 * the keys set are answered, booleans as 1/0, `enable` of the datacenter an integer.
 */
import { firewallRuleProblems } from "../../../config/pve-firewall";
import { ApiError, need, str, type Ctx, type Routes } from "../api";
import { booleanString } from "../params";
import type { SimState } from "../state";

const RULE_FIELDS = [
  "type",
  "action",
  "enable",
  "iface",
  "log",
  "macro",
  "source",
  "dest",
  "proto",
  "dport",
  "sport",
  "comment",
  "icmp-type",
];
const OPTION_FIELDS = [
  "enable",
  "dhcp",
  "ipfilter",
  "macfilter",
  "ndp",
  "radv",
  "log_level_in",
  "log_level_out",
  "policy_in",
  "policy_out",
];
const BOOLEAN_FIELDS = new Set(["dhcp", "ipfilter", "macfilter", "ndp", "radv"]);

type Guest = "qemu" | "lxc";

function firewallOf(ctx: Ctx, guest: Guest): SimState["firewall"][string] {
  const vmid = need(ctx, "vmid");
  // PVE keeps a guest's firewall in /etc/pve/firewall/<vmid>.fw, one file for the cluster: the API proxies to the
  // named host and reads it there, wherever the guest runs (after an HA relocation too).
  const exists = guest === "qemu" ? ctx.state.vms[vmid] : ctx.state.containers[vmid];
  if (!exists || !ctx.state.nodes.includes(need(ctx, "node")))
    throw new ApiError(
      500,
      `Configuration file 'nodes/${need(ctx, "node")}/${guest === "qemu" ? "qemu-server" : "lxc"}/${vmid}.conf' does not exist`,
    );
  ctx.state.firewall[vmid] ??= { options: {}, rules: [] };
  return ctx.state.firewall[vmid];
}

function ruleAt(ctx: Ctx, guest: Guest): { rules: Array<Record<string, string>>; pos: number } {
  const { rules } = firewallOf(ctx, guest);
  const pos = Number(need(ctx, "pos"));
  if (!rules[pos]) throw new ApiError(500, `no rule at position ${pos}`);
  return { rules, pos };
}

function fields(ctx: Ctx, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = str(ctx, name);
    if (value !== undefined) out[name] = BOOLEAN_FIELDS.has(name) || name === "enable" ? booleanString(value) : value;
  }
  return out;
}

/** A rule with `set` applied as PVE::Firewall::copy_rule_data does: an empty value (or "-") deletes the key. */
function withRuleFields(rule: Record<string, string>, set: Record<string, string>): Record<string, string> {
  const out = { ...rule };
  for (const [key, value] of Object.entries(set)) {
    if (value === "" || value === "-") delete out[key];
    else out[key] = value;
  }
  return out;
}

const typed = (rule: Record<string, string>) =>
  Object.fromEntries(Object.entries(rule).map(([k, v]) => [k, k === "enable" ? Number(v) : v]));

const deletes = (ctx: Ctx) => (str(ctx, "delete") ?? "").split(/[,; ]+/).filter(Boolean);

/** verify_rule on the rule as it would be stored: a 400 naming each parameter PVE names. */
function verified(rule: Record<string, string>): Record<string, string> {
  const problems = firewallRuleProblems({ type: rule.type ?? "", action: rule.action ?? "", ...rule });
  if (problems.length)
    throw new ApiError(
      400,
      "Parameter verification failed.",
      Object.fromEntries(problems.map((p) => [p.param, p.message])),
    );
  return rule;
}

function guestFirewallRoutes(guest: Guest): Routes {
  const base = `/nodes/{node}/${guest}/{vmid}/firewall`;
  return {
    [`GET ${base}/options`]: (ctx) => {
      const { options } = firewallOf(ctx, guest);
      return Object.fromEntries(
        Object.entries(options).map(([k, v]) => [k, BOOLEAN_FIELDS.has(k) || k === "enable" ? Number(v) : v]),
      );
    },
    [`PUT ${base}/options`]: (ctx) => {
      const firewall = firewallOf(ctx, guest);
      firewall.options = { ...firewall.options, ...fields(ctx, OPTION_FIELDS) };
      for (const key of deletes(ctx)) delete firewall.options[key];
    },
    [`GET ${base}/rules`]: (ctx) => firewallOf(ctx, guest).rules.map((rule, pos) => ({ pos, ...typed(rule) })),
    [`POST ${base}/rules`]: (ctx) => {
      const { rules } = firewallOf(ctx, guest);
      if (str(ctx, "macro") === undefined && str(ctx, "type") !== "group" && str(ctx, "action") === undefined)
        throw new ApiError(400, "Parameter verification failed.", {
          action: "missing property - 'action' is required",
        });
      const pos = Math.min(Number(str(ctx, "pos") ?? 0), rules.length);
      rules.splice(pos, 0, verified(withRuleFields({}, fields(ctx, RULE_FIELDS))));
    },
    [`GET ${base}/rules/{pos}`]: (ctx) => {
      const { rules, pos } = ruleAt(ctx, guest);
      // PVE answers a single rule's position as a string (the provider's types note it).
      return { ...typed(rules[pos]), pos: String(pos) };
    },
    [`PUT ${base}/rules/{pos}`]: (ctx) => {
      const { rules, pos } = ruleAt(ctx, guest);
      const moveto = str(ctx, "moveto");
      if (moveto !== undefined) {
        const [rule] = rules.splice(pos, 1);
        rules.splice(Math.min(Number(moveto), rules.length), 0, rule);
        return;
      }
      const rule = withRuleFields(rules[pos], fields(ctx, RULE_FIELDS));
      for (const key of deletes(ctx)) delete rule[key];
      rules[pos] = verified(rule);
    },
    [`DELETE ${base}/rules/{pos}`]: (ctx) => {
      const { rules, pos } = ruleAt(ctx, guest);
      rules.splice(pos, 1);
    },
  };
}

export const firewallRoutes: Routes = { ...guestFirewallRoutes("qemu"), ...guestFirewallRoutes("lxc") };

const CLUSTER_OPTION_FIELDS = ["ebtables", "enable", "log_ratelimit", "policy_forward", "policy_in", "policy_out"];
const HOST_OPTION_FIELDS = [
  "enable",
  "log_level_forward",
  "log_level_in",
  "log_level_out",
  "log_nf_conntrack",
  "ndp",
  "nf_conntrack_allow_invalid",
  "nf_conntrack_helpers",
  "nf_conntrack_max",
  "nf_conntrack_tcp_timeout_established",
  "nf_conntrack_tcp_timeout_syn_recv",
  "nftables",
  "nosmurfs",
  "protection_synflood",
  "protection_synflood_burst",
  "protection_synflood_rate",
  "smurf_log_level",
  "tcp_flags_log_level",
  "tcpflags",
];
const HOST_BOOLEANS = new Set([
  "enable",
  "log_nf_conntrack",
  "ndp",
  "nf_conntrack_allow_invalid",
  "nftables",
  "nosmurfs",
  "protection_synflood",
  "tcpflags",
]);
const NUMBER_FIELDS = /^(enable|ebtables|nf_conntrack_max|nf_conntrack_tcp_timeout_.*|protection_synflood_.*)$/;

function clusterOptions(ctx: Ctx): Record<string, string> {
  ctx.state.clusterFirewall ??= {};
  return ctx.state.clusterFirewall;
}

function hostOptions(ctx: Ctx): Record<string, string> {
  const node = need(ctx, "node");
  if (!ctx.state.nodes.includes(node))
    throw new ApiError(
      500,
      `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`,
    );
  ctx.state.hostFirewall ??= {};
  ctx.state.hostFirewall[node] ??= {};
  return ctx.state.hostFirewall[node];
}

function setOptions(
  ctx: Ctx,
  options: Record<string, string>,
  names: readonly string[],
  booleans: ReadonlySet<string>,
) {
  for (const name of names) {
    const value = str(ctx, name);
    if (value !== undefined) options[name] = booleans.has(name) ? booleanString(value) : value;
  }
  for (const key of deletes(ctx)) delete options[key];
}

const answered = (options: Record<string, string>) =>
  Object.fromEntries(Object.entries(options).map(([k, v]) => [k, NUMBER_FIELDS.test(k) ? Number(v) : v]));

export const clusterFirewallRoutes: Routes = {
  "GET /cluster/firewall/options": (ctx) => answered(clusterOptions(ctx)),
  "PUT /cluster/firewall/options": (ctx) => {
    setOptions(ctx, clusterOptions(ctx), CLUSTER_OPTION_FIELDS, new Set(["ebtables"]));
  },
  "GET /nodes/{node}/firewall/options": (ctx) => answered(hostOptions(ctx)),
  "PUT /nodes/{node}/firewall/options": (ctx) => {
    setOptions(ctx, hostOptions(ctx), HOST_OPTION_FIELDS, HOST_BOOLEANS);
  },
};
