import { Construct } from "constructs";
import { HardwareMappingPci } from "../.gen/providers/proxmox/hardware-mapping-pci";

export interface PciMappingDevice {
  readonly host: string;
  /** PCI address, e.g. "0000:01:00.0". */
  readonly path: string;
  /** vendor:device, e.g. "10de:2204". */
  readonly id: string;
  /** @default - not checked */
  readonly subsystemId?: string;
  /** @default - not checked */
  readonly iommuGroup?: number;
}

export interface PciMappingProps {
  readonly name: string;
  readonly devices: readonly PciMappingDevice[];
  /** @default - none */
  readonly comment?: string;
}

/** A PCI hardware mapping: one name for a device on each host, which VMs reference instead of raw addresses. */
export class PciMapping extends Construct {
  readonly resource: HardwareMappingPci;

  constructor(scope: Construct, id: string, props: PciMappingProps) {
    super(scope, id);
    this.resource = new HardwareMappingPci(this, "Resource", {
      name: props.name,
      comment: props.comment,
      map: props.devices.map((d) => ({
        nodeAttribute: d.host,
        path: d.path,
        id: d.id,
        subsystemId: d.subsystemId,
        iommuGroup: d.iommuGroup,
      })),
    });
    this.resource.overrideLogicalId(props.name);
  }
}
