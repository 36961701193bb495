/**
 * HA rules of PVE 9 (pve-ha-manager PVE::API2::HA::Rules, PVE::HA::Rules::NodeAffinity and ::ResourceAffinity):
 * a node-affinity rule keeps HA resources on preferred nodes (`node[:priority]`, `strict` to never leave them),
 * a resource-affinity rule keeps resources together (`positive`) or apart (`negative`). A rule may name only
 * resources HA already manages and nodes of the cluster; a rule that makes the set infeasible is refused
 * ("Rule '<id>' is invalid.", its problems per option), as the checks registered by the rule plugins find:
 * a resource in two node-affinity rules, a resource-affinity rule with fewer than two resources, a negative
 * one with more resources than nodes, positive and negative rules sharing two resources; and between the
 * types: a resource-affinity rule over a node-affinity rule with several priorities, a positive rule over
 * two node-affinity rules, a negative rule whose resources node affinity confines to fewer nodes than they are.
 */
import { ApiError, need, str, type Ctx, type Routes } from "../api";
import { parseBoolean, type ParamValue } from "../params";
import { apiSchema, type ParamSpec } from "../schema";
import type { Section, SimState } from "../state";
import {
  assertDigest,
  checkSection,
  deleteFromSection,
  deleteList,
  fileDigest,
  typedSection,
  type SectionOptions,
} from "./section";

/** The rule types' `options` (NodeAffinity.pm, ResourceAffinity.pm). */
const OPTIONS: Readonly<Record<string, SectionOptions>> = {
  "node-affinity": {
    resources: {},
    nodes: {},
    strict: { optional: true },
    disable: { optional: true },
    comment: { optional: true },
  },
  "resource-affinity": {
    resources: {},
    affinity: {},
    disable: { optional: true },
    comment: { optional: true },
  },
};
const NOT_OPTIONS = ["rule", "type", "digest", "delete"];

const props = (): Readonly<Record<string, ParamSpec>> =>
  apiSchema().match("POST", "/cluster/ha/rules")?.method?.parameters?.properties ?? {};

const split = (list: string | undefined) => (list ?? "").split(/[,;\s]+/).filter(Boolean);

/** Rules.pm encode_value: resources sorted; NodeAffinity encode_plugin_value: `node:prio` sorted by node. */
function encoded(rule: Section): Section {
  const out = { ...rule };
  if (rule.resources) out.resources = [...new Set(split(rule.resources))].sort().join(",");
  if (rule.nodes) {
    const nodes = new Map(split(rule.nodes).map((n) => n.split(":") as [string, string | undefined]));
    out.nodes = [...nodes.keys()]
      .sort()
      .map((n) => (nodes.get(n) && Number(nodes.get(n)) ? `${n}:${Number(nodes.get(n))}` : n))
      .join(",");
  }
  return out;
}

/** API2::HA::Rules create/update: the resources are HA resources, the nodes exist. */
function checkReferences(state: SimState, settings: Section): void {
  if (settings.resources !== undefined) {
    const resources = split(settings.resources);
    if (resources.length === 0) throw new ApiError(500, "no resources were specified");
    const unmanaged = resources.filter((sid) => !state.ha[sid]).sort();
    if (unmanaged.length) throw new ApiError(500, `cannot use unmanaged resource(s) ${unmanaged.join(", ")}.`);
  }
  if (settings.nodes !== undefined) {
    const nodes = split(settings.nodes).map((n) => n.split(":")[0]);
    if (nodes.length === 0) throw new ApiError(500, "no nodes were specified");
    const missing = nodes.filter((n) => !state.nodes.includes(n)).sort();
    if (missing.length) throw new ApiError(500, `cannot use non-existent node(s) ${missing.join(", ")}.`);
  }
}

/** The problems of each rule, as the rule plugins' registered checks report them (disabled rules skipped). */
export function ruleProblems(state: SimState, rules: Readonly<Record<string, Section>>): Record<string, string[]> {
  const problems: Record<string, string[]> = {};
  const add = (id: string, message: string) => {
    problems[id] = [...(problems[id] ?? []), message];
  };
  const enabled = Object.entries(rules).filter(([, r]) => r.disable !== "1");
  const users = new Map<string, string[]>();
  for (const [id, rule] of enabled.filter(([, r]) => r.type === "node-affinity")) {
    for (const sid of split(rule.resources)) users.set(sid, [...(users.get(sid) ?? []), id]);
  }
  for (const [sid, ids] of users) {
    if (ids.length > 1)
      for (const id of ids) add(id, `resource '${sid}' is already used in another node affinity rule`);
  }
  const affinity = enabled.filter(([, r]) => r.type === "resource-affinity");
  for (const [id, rule] of affinity) {
    if (split(rule.resources).length < 2) add(id, "rule is ineffective as there are less than two resources");
    if (rule.affinity === "negative" && split(rule.resources).length > state.nodes.length)
      add(id, "rule defines more resources than available nodes");
  }
  const positives = disjointSets(affinity.filter(([, r]) => r.affinity === "positive"));
  const negatives = affinity.filter(([, r]) => r.affinity === "negative");
  for (const set of positives) {
    for (const [nid, negative] of negatives) {
      if (split(negative.resources).filter((sid) => set.resources.has(sid)).length < 2) continue;
      for (const pid of set.ids) add(pid, "rule shares two or more resources with a negative resource affinity rule");
      add(nid, "rule shares two or more resources with a positive resource affinity rule");
    }
  }
  // Rules.pm's inter-plugin checks, between node-affinity and resource-affinity rules.
  const nodeRules = enabled.filter(([, r]) => r.type === "node-affinity");
  const sharing = (resources: ReadonlySet<string>) =>
    nodeRules.filter(([, n]) => split(n.resources).some((sid) => resources.has(sid)));
  for (const [id, rule] of affinity) {
    const paired = sharing(new Set(split(rule.resources)));
    if (!paired.some(([, n]) => new Set(split(n.nodes).map((x) => Number(x.split(":")[1] ?? 0))).size > 1)) continue;
    add(id, "resources are in node affinity rules with multiple priorities");
    for (const [nid] of paired)
      add(
        nid,
        "resources are in a resource affinity rule and cannot be in a node affinity rule with multiple priorities",
      );
  }
  for (const set of positives) {
    const paired = sharing(set.resources);
    if (paired.length < 2) continue;
    for (const pid of set.ids) add(pid, "resources are in multiple node affinity rules");
    for (const [nid] of paired)
      add(
        nid,
        "at least one resource is in a positive resource affinity rule and there are other resources in at least one other node affinity rule already",
      );
  }
  for (const [id, negative] of negatives) {
    const resources = new Set(split(negative.resources));
    const paired = sharing(resources);
    const located = new Set(paired.flatMap(([, n]) => split(n.resources).filter((sid) => resources.has(sid))));
    const allowed = new Set(paired.flatMap(([, n]) => split(n.nodes).map((x) => x.split(":")[0])));
    if (allowed.size >= located.size) continue;
    add(id, "two or more resources are restricted to less nodes than available to the resources");
    for (const [nid] of paired)
      add(
        nid,
        "at least one resource is in a negative resource affinity rule and this rule would restrict these to less nodes than available to the resources",
      );
  }
  return problems;
}

/** PVE::HA::Rules::Helpers::find_disjoint_rules_resource_sets: rules sharing resources, merged. */
function disjointSets(rules: ReadonlyArray<[string, Section]>): Array<{ ids: string[]; resources: Set<string> }> {
  const lowest = (r: Section) => split(r.resources).sort()[0] ?? "";
  const sorted = [...rules].sort(([a, ra], [b, rb]) => lowest(ra).localeCompare(lowest(rb)) || a.localeCompare(b));
  const sets: Array<{ ids: string[]; resources: Set<string> }> = [];
  for (const [id, rule] of sorted) {
    const resources = split(rule.resources);
    const entry = sets.find((e) => resources.some((sid) => e.resources.has(sid)));
    if (entry) {
      entry.ids.push(id);
      for (const sid of resources) entry.resources.add(sid);
    } else sets.push({ ids: [id], resources: new Set(resources) });
  }
  return sets;
}

function assertFeasible(state: SimState, rules: Record<string, Section>, id: string): void {
  const problems = ruleProblems(state, rules)[id];
  if (problems) throw new ApiError(400, `Rule '${id}' is invalid.`, { resources: problems.join(", ") });
}

function ruleView(ctx: Ctx, id: string, rule: Section) {
  const problems = ruleProblems(ctx.state, ctx.state.haRules)[id];
  return {
    ...typedSection(encoded(rule), props()),
    rule: id,
    order: Number(rule.order),
    digest: fileDigest(ctx.state.haRules),
    ...(problems ? { errors: { resources: problems.join(", ") } } : {}),
  };
}

/** The rule's parameters; `disable` only when true (`delete $param->{disable} if !$param->{disable}`). */
function ruleParams(ctx: Ctx): Record<string, ParamValue> {
  const params = { ...ctx.params };
  if (!parseBoolean(str(ctx, "disable") ?? "0")) delete params.disable;
  return params;
}

function ruleOf(ctx: Ctx): [string, Section] {
  const id = need(ctx, "rule");
  const rule = ctx.state.haRules[id];
  if (!rule) throw new ApiError(500, `no such ha rule '${id}'`);
  return [id, rule];
}

export const haRuleRoutes: Routes = {
  "GET /cluster/ha/rules": (ctx) => {
    const type = str(ctx, "type");
    const resource = str(ctx, "resource");
    return Object.entries(ctx.state.haRules)
      .filter(([, r]) => type === undefined || r.type === type)
      .filter(([, r]) => resource === undefined || split(r.resources).includes(resource))
      .sort(([, a], [, b]) => Number(a.order) - Number(b.order))
      .map(([id, r]) => ruleView(ctx, id, r));
  },
  "GET /cluster/ha/rules/{rule}": (ctx) => ruleView(ctx, ...ruleOf(ctx)),
  "POST /cluster/ha/rules": (ctx) => {
    const id = need(ctx, "rule");
    const type = need(ctx, "type");
    const settings = checkSection(OPTIONS[type], ruleParams(ctx), true, NOT_OPTIONS, props());
    if (ctx.state.haRules[id]) throw new ApiError(500, `HA rule '${id}' already defined`);
    checkReferences(ctx.state, settings);
    const order = Math.max(0, ...Object.values(ctx.state.haRules).map((r) => Number(r.order))) + 1;
    const rules = { ...ctx.state.haRules, [id]: { type, ...settings, order: String(order) } };
    assertFeasible(ctx.state, rules, id);
    ctx.state.haRules = rules;
  },
  "PUT /cluster/ha/rules/{rule}": (ctx) => {
    assertDigest(ctx, ctx.state.haRules);
    const [id, current] = ruleOf(ctx);
    if (need(ctx, "type") !== current.type) throw new ApiError(500, "unexpected property 'type'");
    const settings = checkSection(OPTIONS[current.type], ruleParams(ctx), false, NOT_OPTIONS, props());
    checkReferences(ctx.state, settings);
    const rule = { ...current };
    deleteFromSection(rule, OPTIONS[current.type], settings, deleteList(ctx));
    Object.assign(rule, settings);
    const rules = { ...ctx.state.haRules, [id]: rule };
    assertFeasible(ctx.state, rules, id);
    ctx.state.haRules = rules;
  },
  "DELETE /cluster/ha/rules/{rule}": (ctx) => {
    delete ctx.state.haRules[need(ctx, "rule")];
  },
};

/** PVE::HA::Config::delete_service_from_config with purge: the resource leaves every rule; emptied rules go. */
export function purgeFromRules(state: SimState, sid: string): void {
  for (const [id, rule] of Object.entries(state.haRules)) {
    const rest = split(rule.resources).filter((r) => r !== sid);
    if (rest.length === 0) delete state.haRules[id];
    else rule.resources = rest.join(",");
  }
}
