import { Construct } from "constructs";
import { VirtualEnvironmentVm } from "../.gen/providers/proxmox/virtual-environment-vm";
import { tfName } from "./names";

export interface TalosNodeVmProps {
  /** VM name and hostname. */
  readonly name: string;
  /** Proxmox host that runs the VM. */
  readonly proxmoxNode: string;
  /** @default - assigned by Proxmox */
  readonly vmId?: number;
  readonly cores: number;
  readonly sockets: number;
  /** Memory in MiB. */
  readonly memory: number;
  /**
   * Minimum memory in MiB for the balloon device.
   * @default 0 (ballooning off)
   */
  readonly balloon?: number;
  /** System disk size in GiB. */
  readonly diskSize: number;
  /** Storage of the system disk, the EFI disk, the TPM state and the cloud-init drive. */
  readonly diskStorage: string;
  /** Volume id of the Talos ISO (nocloud platform) to boot from until Talos is installed. */
  readonly isoFileId: string;
  /** Adds a TPM 2.0; the EFI disk never has pre-enrolled keys, so Talos can enroll its own. */
  readonly secureboot: boolean;
  /** Static address in CIDR form ("192.168.1.21/24"), given through cloud-init so maintenance mode needs no DHCP. */
  readonly address: string;
  readonly gateway: string;
  readonly dnsServers: readonly string[];
  /** @default - assigned by Proxmox */
  readonly macAddress?: string;
  /** @default - untagged */
  readonly vlanId?: number;
  readonly mtu: number;
  /**
   * Let the Proxmox firewall filter this NIC (its rules come in layer 03).
   * @default false
   */
  readonly firewall?: boolean;
  readonly bridge: string;
  /** virtio-net queues; 0 leaves multiqueue off. */
  readonly netQueues: number;
  readonly bios: "ovmf" | "seabios";
  readonly machine: string;
  readonly cpuType: string;
  readonly numa: boolean;
  readonly scsiHardware: string;
  readonly qemuAgent: boolean;
  readonly diskDiscard: boolean;
  readonly diskSsd: boolean;
  readonly tags: readonly string[];
  /** Proxmox start order (lower starts first). */
  readonly startupOrder: number;
  /** @default - Proxmox default */
  readonly startupDelay?: number;
  /** @default - Proxmox default */
  readonly shutdownDelay?: number;
}

/** A Proxmox VM ready for Talos: UEFI, empty system disk, Talos ISO in the CD-ROM, static address via cloud-init. */
export class TalosNodeVm extends Construct {
  readonly resource: VirtualEnvironmentVm;

  constructor(scope: Construct, id: string, props: TalosNodeVmProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.secureboot && props.bios !== "ovmf") problems.push(`'secureboot' needs 'bios' "ovmf", got "${props.bios}"`);
    if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(props.address)) problems.push(`'address' must be in CIDR form, got "${props.address}"`);
    if (props.balloon !== undefined && props.balloon > props.memory) problems.push(`'balloon' (${props.balloon}) must not exceed 'memory' (${props.memory})`);
    if (problems.length) throw new Error(`TalosNodeVm ${props.name}: ${problems.join("; ")}`);

    this.resource = new VirtualEnvironmentVm(this, "Resource", {
      name: props.name,
      nodeName: props.proxmoxNode,
      vmId: props.vmId,
      description: "Talos Linux node, managed by OpenTofu (talos-proxmox-cdktf)",
      tags: [...props.tags].sort(),
      bios: props.bios,
      machine: props.machine,
      scsiHardware: props.scsiHardware,
      onBoot: true,
      started: true,
      stopOnDestroy: true,
      operatingSystem: { type: "l26" },
      cpu: { cores: props.cores, sockets: props.sockets, type: props.cpuType, numa: props.numa },
      memory: { dedicated: props.memory, floating: props.balloon ?? 0 },
      agent: { enabled: props.qemuAgent, trim: props.qemuAgent && props.diskDiscard },
      efiDisk: props.bios === "ovmf" ? { datastoreId: props.diskStorage, type: "4m", preEnrolledKeys: false } : undefined,
      tpmState: props.secureboot ? { datastoreId: props.diskStorage, version: "v2.0" } : undefined,
      disk: [
        {
          interface: "scsi0",
          datastoreId: props.diskStorage,
          size: props.diskSize,
          fileFormat: "raw",
          discard: props.diskDiscard ? "on" : "ignore",
          ssd: props.diskSsd,
          iothread: props.scsiHardware === "virtio-scsi-single",
        },
      ],
      cdrom: { fileId: props.isoFileId, interface: "ide2" },
      // The empty disk is not bootable: the first boot falls through to the ISO, later boots start Talos from disk.
      bootOrder: ["scsi0", "ide2"],
      // network_device is a list-of-objects attribute: in JSON syntax every attribute of the object must be
      // present, so the provider's defaults are spelled out (0 means "none" for vlan_id, rate_limit, queues);
      // the deprecated `enabled`, and mac_address when Proxmox assigns it, are set to null below.
      networkDevice: [
        {
          bridge: props.bridge,
          model: "virtio",
          macAddress: props.macAddress,
          vlanId: props.vlanId ?? 0,
          mtu: props.mtu,
          queues: props.netQueues,
          disconnected: false,
          firewall: props.firewall ?? false,
          rateLimit: 0,
          trunks: "",
        },
      ],
      initialization: {
        datastoreId: props.diskStorage,
        ipConfig: [{ ipv4: { address: props.address, gateway: props.gateway } }],
        dns: { servers: [...props.dnsServers] },
      },
      startup: { order: props.startupOrder, upDelay: props.startupDelay, downDelay: props.shutdownDelay },
      serialDevice: [{ device: "socket" }],
      lifecycle: {
        // Talos upgrades and the ISO swap are Talos' business once the node is installed.
        ignoreChanges: ["cdrom"],
      },
    });
    this.resource.addOverride("network_device.0.enabled", null);
    if (props.macAddress === undefined) this.resource.addOverride("network_device.0.mac_address", null);
    this.resource.overrideLogicalId(tfName(props.name));
  }

  get vmId(): number {
    return this.resource.vmId;
  }
}
