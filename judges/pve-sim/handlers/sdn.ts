/**
 * Software-defined networking (pve-network, PVE::API2::Network::SDN::*): zones (VLAN and simple), VNets and
 * subnets are edited in one configuration and go live only when `PUT /cluster/sdn` applies it (the running
 * configuration); `?pending=1` answers each object as PVE::Network::SDN::pending_config does (the running
 * values at the top, what changed under `pending`, `state` new/changed/deleted). The rules are those of the
 * zone plugins and of VnetPlugin/SubnetPlugin: a VNet needs an existing zone and, in a VLAN zone, a tag of
 * its own; a subnet needs an existing VNet and a gateway inside it; a zone or VNet still in use cannot go.
 */
import { ApiError, need, paramError, str, type Ctx, type Routes } from "../api";
import { NotModelled, parseBoolean } from "../params";
import { apiSchema, type ParamSpec } from "../schema";
import type { SdnConfig, Section, SimState } from "../state";
import {
  assertDigest,
  checkSection,
  deleteFromSection,
  deleteList,
  fileDigest,
  typedSection,
  type SectionOptions,
} from "./section";

/** Zone types and their options (pve-network Zones/VlanPlugin.pm, Zones/SimplePlugin.pm `options`). */
const ZONE_OPTIONS: Readonly<Record<string, SectionOptions>> = {
  vlan: {
    nodes: { optional: true },
    bridge: {},
    "bridge-disable-mac-learning": { optional: true },
    mtu: { optional: true },
    dns: { optional: true },
    reversedns: { optional: true },
    dnszone: { optional: true },
    ipam: { optional: true },
  },
  simple: {
    nodes: { optional: true },
    mtu: { optional: true },
    dns: { optional: true },
    reversedns: { optional: true },
    dnszone: { optional: true },
    ipam: { optional: true },
    dhcp: { optional: true },
  },
};
/** VnetPlugin.pm `options`. */
const VNET_OPTIONS: SectionOptions = {
  zone: {},
  tag: { optional: true },
  alias: { optional: true },
  vlanaware: { optional: true },
  "isolate-ports": { optional: true },
};
/** SubnetPlugin.pm `options` (dhcp-range is not modelled). */
const SUBNET_OPTIONS: SectionOptions = {
  vnet: {},
  gateway: { optional: true },
  snat: { optional: true },
  dnszoneprefix: { optional: true },
  "dhcp-dns-server": { optional: true },
};
/** The parameters of each kind's POST/PUT that are not options of its sections. */
const ZONE_PARAMS = ["zone", "type", "digest", "delete", "lock-token"];
const VNET_PARAMS = ["vnet", "type", "digest", "delete", "lock-token"];
const SUBNET_PARAMS = ["subnet", "type", "digest", "delete", "lock-token"];
/** IPAMs that exist on every cluster: the built-in one (PVE's default ipams.cfg). */
const IPAMS = ["pve"];

const props = (method: string, path: string): Readonly<Record<string, ParamSpec>> =>
  apiSchema().match(method, path)?.method?.parameters?.properties ?? {};
const ZONE_PROPS = () => props("POST", "/cluster/sdn/zones");
const VNET_PROPS = () => props("POST", "/cluster/sdn/vnets");
const SUBNET_PROPS = () => props("POST", "/cluster/sdn/vnets/x/subnets");

function noLocks(ctx: Ctx): void {
  if (str(ctx, "lock-token") !== undefined) throw new NotModelled("SDN configuration locks (lock-token)");
}

/**
 * PVE::Network::SDN::pending_config: the running objects with their running values, and for each key whose
 * configured value differs, the configured one under `pending` (`deleted` for a removed key); `type` and
 * `vnet` always configured; `state` new, changed or deleted.
 */
export function pendingConfig(
  running: Readonly<Record<string, Section>>,
  config: Readonly<Record<string, Section>>,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown> & { pending?: Record<string, string>; state?: string }> = {};
  for (const id of Object.keys(running).sort()) {
    const r = running[id];
    const c = config[id];
    out[id] ??= {};
    const o = out[id];
    for (const key of Object.keys(r).sort()) {
      o[key] = r[key];
      if (!c || Object.keys(c).length === 0) o.state = "deleted";
      else if (c[key] === undefined) {
        o.pending = { ...o.pending, [key]: "deleted" };
        o.state = "changed";
      } else if (c[key] !== r[key]) o.state = "changed";
    }
    if (o.state && !o.pending) o.pending = {};
  }
  for (const id of Object.keys(config).sort()) {
    const r = running[id];
    const c = config[id];
    out[id] ??= {};
    const o = out[id];
    for (const key of Object.keys(c).sort()) {
      const rv = r?.[key];
      if (key === "type" || key === "vnet") o[key] = c[key];
      else if (rv === undefined || rv !== c[key]) o.pending = { ...o.pending, [key]: c[key] };
      if (!r || Object.keys(r).length === 0) o.state = "new";
      else if (rv === undefined) o.state = "changed";
    }
    if (o.state && !o.pending) o.pending = {};
  }
  return out;
}

type Kind = keyof SdnConfig;

/** The objects of one kind as GET shows them: configured, running, or the pending view. */
function view(ctx: Ctx, kind: Kind): Record<string, Record<string, unknown>> {
  const { config, running } = ctx.state.sdn;
  if (parseBoolean(str(ctx, "pending") ?? "0")) return pendingConfig(running[kind], config[kind]);
  if (parseBoolean(str(ctx, "running") ?? "0")) return running[kind];
  return config[kind];
}

/** An object as the API answers it: typed by the schema, with its id key and the file's digest. */
function answer(
  ctx: Ctx,
  kind: Kind,
  idKey: string,
  id: string,
  object: Record<string, unknown>,
  properties: Readonly<Record<string, ParamSpec>>,
) {
  const typed = typedSection(object, properties);
  if (object.pending) typed.pending = typedSection(object.pending as Section, properties);
  return { ...typed, [idKey]: id, digest: fileDigest(ctx.state.sdn.config[kind]) };
}

/** What PVE::Network::SDN::Subnets::sdn_subnets_config derives from a subnet's id `<zone>-<ip>-<mask>`. */
function subnetView(ctx: Ctx, id: string, object: Record<string, unknown>) {
  const [zone, network, mask] = id.split("-");
  return {
    ...answer(ctx, "subnets", "subnet", id, object, SUBNET_PROPS()),
    id,
    cidr: `${network}/${mask}`,
    zone,
    network,
    mask,
    "dhcp-range": [],
  };
}

function zoneOf(state: SimState, id: string): Section {
  const zone = state.sdn.config.zones[id];
  if (!zone) throw new ApiError(500, `sdn '${id}' does not exist`);
  return zone;
}

function vnetOf(state: SimState, id: string): Section {
  const vnet = state.sdn.config.vnets[id];
  if (!vnet) throw new ApiError(500, `sdn vnet '${id}' does not exist`);
  return vnet;
}

/** The zone plugin's on_update_hook checks: the DNS servers and IPAM a zone names must exist. */
function checkZoneReferences(settings: Section): void {
  if (settings.dns) throw paramError("dns", `${settings.dns} don't exist`);
  if (settings.reversedns) throw paramError("reversedns", `${settings.reversedns} don't exist`);
  if (settings.dnszone) throw paramError("dnszone", "missing dns server");
  if (settings.ipam && !IPAMS.includes(settings.ipam)) throw paramError("ipam", `${settings.ipam} not existing`);
}

/** VlanPlugin::vnet_update_hook: a tag, at most 4096, not used by another VNet of the zone. */
function checkVnetInZone(state: SimState, id: string, vnet: Section): void {
  const zone = state.sdn.config.zones[vnet.zone];
  if (!zone) throw new ApiError(500, `zone '${vnet.zone}' does not exist`);
  if (zone.type === "vlan") {
    if (vnet.tag === undefined) throw paramError("tag", "missing vlan tag");
    if (Number(vnet.tag) > 4096) throw paramError("tag", "vlan tag max value is 4096");
    for (const [other, o] of Object.entries(state.sdn.config.vnets)) {
      if (other !== id && o.zone === vnet.zone && o.tag === vnet.tag)
        throw paramError("tag", `tag ${vnet.tag} already exist in vnet ${other}`);
    }
  }
  if (parseBoolean(vnet.vlanaware ?? "0") && subnetsOf(state, id).length)
    throw paramError("vlanaware", "vlanaware vnet is not compatible with subnets");
}

function subnetsOf(state: SimState, vnet: string): string[] {
  return Object.entries(state.sdn.config.subnets)
    .filter(([, s]) => s.vnet === vnet)
    .map(([id]) => id);
}

const ipv4 = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);

/**
 * SubnetPlugin::on_update_hook: the VNet exists and is not VLAN-aware, and the gateway lies inside the
 * subnet (but a /32 point-to-point one).
 */
function checkSubnet(state: SimState, id: string, subnet: Section): void {
  const vnet = state.sdn.config.vnets[subnet.vnet];
  if (!vnet) throw paramError("vnet", `${subnet.vnet} don't exist`);
  if (parseBoolean(vnet.vlanaware ?? "0")) throw paramError("vnet", "you can't add a subnet on a vlanaware vnet");
  const [, network, mask] = id.split("-");
  const gateway = subnet.gateway;
  if (gateway && network.includes(".") && gateway.includes(".") && Number(mask) !== 32) {
    const size = 2 ** (32 - Number(mask));
    if (Math.floor(ipv4(gateway) / size) !== Math.floor(ipv4(network) / size))
      throw paramError("gateway", `${gateway} is not in subnet ${network}/${mask}`);
  }
}

/**
 * The subnet's CIDR must name its network: stricter than PVE, which stores `10.0.0.5/24` as given (its IPAM
 * then works on the network), so that a stack sending a host address as a subnet is caught.
 */
function checkCanonical(cidr: string): void {
  const [ip, mask] = cidr.split("/");
  if (!ip.includes(".")) return;
  const size = 2 ** (32 - Number(mask));
  if (ipv4(ip) % size !== 0)
    throw paramError("subnet", `${cidr} is not a network address (host bits set; the network is ${network(ip, size)})`);
}

const network = (ip: string, size: number) => {
  const n = Math.floor(ipv4(ip) / size) * size;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
};

export const sdnRoutes: Routes = {
  "PUT /cluster/sdn": (ctx) => {
    noLocks(ctx);
    const node = ctx.state.nodes[0];
    return ctx.task(node, "reloadnetworkall", "", () => {
      ctx.state.sdn.running = structuredClone(ctx.state.sdn.config);
      return ctx.state.nodes.map((n) => `${n}: reloading network config`);
    });
  },

  "GET /cluster/sdn/zones": (ctx) => {
    const type = str(ctx, "type");
    return Object.entries(view(ctx, "zones"))
      .filter(([, z]) => type === undefined || z.type === type)
      .map(([id, z]) => answer(ctx, "zones", "zone", id, z, ZONE_PROPS()));
  },
  "GET /cluster/sdn/zones/{zone}": (ctx) => {
    const id = need(ctx, "zone");
    const zone = view(ctx, "zones")[id];
    if (!zone) throw new ApiError(500, `sdn '${id}' does not exist`);
    return answer(ctx, "zones", "zone", id, zone, ZONE_PROPS());
  },
  "POST /cluster/sdn/zones": (ctx) => {
    noLocks(ctx);
    const id = need(ctx, "zone");
    const type = need(ctx, "type");
    const options = ZONE_OPTIONS[type];
    if (!options) throw new NotModelled(`SDN zones of type '${type}'`);
    const settings = checkSection(options, ctx.params, true, ZONE_PARAMS, ZONE_PROPS());
    if (ctx.state.sdn.config.zones[id]) throw new ApiError(500, `sdn zone object ID '${id}' already defined`);
    checkZoneReferences(settings);
    ctx.state.sdn.config.zones[id] = { type, ...settings };
  },
  "PUT /cluster/sdn/zones/{zone}": (ctx) => {
    noLocks(ctx);
    assertDigest(ctx, ctx.state.sdn.config.zones);
    const zone = zoneOf(ctx.state, need(ctx, "zone"));
    const options = ZONE_OPTIONS[zone.type];
    const settings = checkSection(options, ctx.params, false, ZONE_PARAMS, ZONE_PROPS());
    deleteFromSection(zone, options, settings, deleteList(ctx));
    Object.assign(zone, settings);
    checkZoneReferences(settings);
  },
  "DELETE /cluster/sdn/zones/{zone}": (ctx) => {
    noLocks(ctx);
    const id = need(ctx, "zone");
    zoneOf(ctx.state, id);
    for (const [vnet, v] of Object.entries(ctx.state.sdn.config.vnets)) {
      if (v.zone === id) throw new ApiError(500, `zone ${id} is used by vnet ${vnet}`);
    }
    delete ctx.state.sdn.config.zones[id];
  },

  "GET /cluster/sdn/vnets": (ctx) =>
    Object.entries(view(ctx, "vnets")).map(([id, v]) => answer(ctx, "vnets", "vnet", id, v, VNET_PROPS())),
  "GET /cluster/sdn/vnets/{vnet}": (ctx) => {
    const id = need(ctx, "vnet");
    const vnet = view(ctx, "vnets")[id];
    if (!vnet) throw new ApiError(500, `sdn vnet '${id}' does not exist`);
    return answer(ctx, "vnets", "vnet", id, vnet, VNET_PROPS());
  },
  "POST /cluster/sdn/vnets": (ctx) => {
    noLocks(ctx);
    const id = need(ctx, "vnet");
    const settings = checkSection(VNET_OPTIONS, ctx.params, true, VNET_PARAMS, VNET_PROPS());
    if (ctx.state.sdn.config.vnets[id]) throw new ApiError(500, `sdn vnet object ID '${id}' already defined`);
    checkVnetInZone(ctx.state, id, settings);
    ctx.state.sdn.config.vnets[id] = { type: "vnet", ...settings };
  },
  "PUT /cluster/sdn/vnets/{vnet}": (ctx) => {
    noLocks(ctx);
    assertDigest(ctx, ctx.state.sdn.config.vnets);
    const id = need(ctx, "vnet");
    const vnet = vnetOf(ctx.state, id);
    const settings = checkSection(VNET_OPTIONS, ctx.params, false, VNET_PARAMS, VNET_PROPS());
    const updated = { ...vnet };
    deleteFromSection(updated, VNET_OPTIONS, settings, deleteList(ctx));
    Object.assign(updated, settings);
    if (!updated.zone) throw paramError("zone", "cannot delete zone");
    if (updated.zone !== vnet.zone && subnetsOf(ctx.state, id).length)
      throw paramError("zone", "can't change zone if subnets exist");
    checkVnetInZone(ctx.state, id, updated);
    ctx.state.sdn.config.vnets[id] = updated;
  },
  "DELETE /cluster/sdn/vnets/{vnet}": (ctx) => {
    noLocks(ctx);
    const id = need(ctx, "vnet");
    vnetOf(ctx.state, id);
    if (subnetsOf(ctx.state, id).length) throw paramError("vnet", "Can't delete vnet if subnets exists");
    delete ctx.state.sdn.config.vnets[id];
  },

  "GET /cluster/sdn/vnets/{vnet}/subnets": (ctx) => {
    const vnet = need(ctx, "vnet");
    return Object.entries(view(ctx, "subnets"))
      .filter(([, s]) => (s.vnet ?? (s.pending as Section | undefined)?.vnet) === vnet)
      .map(([id, s]) => subnetView(ctx, id, s));
  },
  "GET /cluster/sdn/vnets/{vnet}/subnets/{subnet}": (ctx) => {
    const id = need(ctx, "subnet");
    const subnet = view(ctx, "subnets")[id];
    if (!subnet) throw new ApiError(500, `sdn subnet '${id}' does not exist`);
    return subnetView(ctx, id, subnet);
  },
  "POST /cluster/sdn/vnets/{vnet}/subnets": (ctx) => {
    noLocks(ctx);
    if (ctx.params["dhcp-range"] !== undefined) throw new NotModelled("SDN subnet dhcp-range");
    const cidr = need(ctx, "subnet");
    if (!cidr.includes("/")) throw paramError("subnet", "value does not look like a valid CIDR network");
    checkCanonical(cidr);
    const vnet = need(ctx, "vnet");
    const zone = vnetOf(ctx.state, vnet).zone;
    const id = `${zone}-${cidr.replace("/", "-")}`;
    const settings = checkSection(SUBNET_OPTIONS, ctx.params, true, SUBNET_PARAMS, SUBNET_PROPS());
    if (ctx.state.sdn.config.subnets[id]) throw new ApiError(500, `sdn subnet object ID '${id}' already defined`);
    checkSubnet(ctx.state, id, settings);
    ctx.state.sdn.config.subnets[id] = { type: "subnet", ...settings };
  },
  "PUT /cluster/sdn/vnets/{vnet}/subnets/{subnet}": (ctx) => {
    noLocks(ctx);
    if (ctx.params["dhcp-range"] !== undefined) throw new NotModelled("SDN subnet dhcp-range");
    assertDigest(ctx, ctx.state.sdn.config.subnets);
    const id = need(ctx, "subnet");
    const subnet = ctx.state.sdn.config.subnets[id];
    if (!subnet) throw new ApiError(500, `sdn subnet '${id}' does not exist`);
    const settings = checkSection(SUBNET_OPTIONS, ctx.params, false, SUBNET_PARAMS, SUBNET_PROPS());
    const updated = { ...subnet };
    deleteFromSection(updated, SUBNET_OPTIONS, settings, deleteList(ctx));
    Object.assign(updated, settings);
    checkSubnet(ctx.state, id, updated);
    ctx.state.sdn.config.subnets[id] = updated;
  },
  "DELETE /cluster/sdn/vnets/{vnet}/subnets/{subnet}": (ctx) => {
    noLocks(ctx);
    const id = need(ctx, "subnet");
    if (!ctx.state.sdn.config.subnets[id]) throw new ApiError(500, `sdn subnet '${id}' does not exist`);
    delete ctx.state.sdn.config.subnets[id];
  },
};

/**
 * Why a guest NIC on `bridge` cannot start, when the bridge is an SDN VNet: a VNet exists on the hosts only
 * once applied (`PUT /cluster/sdn`), as the bridge PVE's start then looks for. Undefined for any other bridge
 * (host bridges such as vmbr0 are not modelled: every host has them).
 */
export function sdnBridgeProblem(state: SimState, bridge: string): string | undefined {
  const configured = state.sdn.config.vnets[bridge] !== undefined;
  const running = state.sdn.running.vnets[bridge] !== undefined;
  if (configured && !running) return `bridge '${bridge}' does not exist (SDN VNet not applied yet)`;
  return undefined;
}
