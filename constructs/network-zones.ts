import { Construct } from "constructs";
import { SdnApplier } from "../.gen/providers/proxmox/sdn-applier";
import { SdnSubnet } from "../.gen/providers/proxmox/sdn-subnet";
import { SdnVnet } from "../.gen/providers/proxmox/sdn-vnet";
import { SdnZoneVlan } from "../.gen/providers/proxmox/sdn-zone-vlan";

export interface NetworkZone {
  /** VNet id (at most 8 characters); guests attach to it as their bridge. */
  readonly name: string;
  readonly vlan: number;
  readonly cidr: string;
  readonly gateway: string;
  /** @default - none */
  readonly alias?: string;
}

export interface NetworkZonesProps {
  /** Id of the SDN VLAN zone. */
  readonly sdnZone: string;
  /** Bridge the VLANs ride on, present on every host. */
  readonly bridge: string;
  readonly zones: readonly NetworkZone[];
}

/**
 * VLAN zones as Proxmox SDN: one VLAN zone, a VNet and subnet per zone, and the applies that make them live.
 * Proxmox keeps SDN changes pending until `PUT /cluster/sdn`, so two appliers (bpg's pattern): `applier` runs
 * after the objects and again whenever one of them changes (`replace_triggered_by`); `finalizer`, which every
 * object depends on, is destroyed after them, so removed zones are applied too instead of staying pending.
 */
export class NetworkZones extends Construct {
  readonly zone: SdnZoneVlan;
  readonly vnets: ReadonlyMap<string, SdnVnet>;
  /** Guests attach after this, when the VNets exist on the hosts. */
  readonly applier: SdnApplier;
  /** Applies the objects' deletion on destroy (created first, destroyed last). */
  readonly finalizer: SdnApplier;

  constructor(scope: Construct, id: string, props: NetworkZonesProps) {
    super(scope, id);
    this.finalizer = new SdnApplier(this, "Finalizer", {});
    this.finalizer.overrideLogicalId(`${props.sdnZone}_finalizer`);
    this.zone = new SdnZoneVlan(this, "Zone", {
      id: props.sdnZone,
      bridge: props.bridge,
      dependsOn: [this.finalizer],
    });
    this.zone.overrideLogicalId(props.sdnZone);
    const vnets = new Map<string, SdnVnet>();
    const subnets: SdnSubnet[] = [];
    for (const zone of props.zones) {
      const vnet = new SdnVnet(this, `Vnet-${zone.name}`, {
        id: zone.name,
        zone: this.zone.id,
        tag: zone.vlan,
        alias: zone.alias,
        dependsOn: [this.finalizer],
      });
      vnet.overrideLogicalId(zone.name);
      const subnet = new SdnSubnet(this, `Subnet-${zone.name}`, {
        vnet: vnet.id,
        cidr: zone.cidr,
        gateway: zone.gateway,
      });
      subnet.overrideLogicalId(zone.name);
      vnets.set(zone.name, vnet);
      subnets.push(subnet);
    }
    this.vnets = vnets;
    const objects = [this.zone, ...vnets.values(), ...subnets];
    this.applier = new SdnApplier(this, "Apply", {
      dependsOn: objects,
      lifecycle: { replaceTriggeredBy: objects.map((o) => `${o.terraformResourceType}.${o.friendlyUniqueId}`) },
    });
    this.applier.overrideLogicalId(props.sdnZone);
  }
}
