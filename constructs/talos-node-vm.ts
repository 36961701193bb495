import { Construct } from "constructs";
import { VirtualEnvironmentVm } from "../.gen/providers/proxmox/virtual-environment-vm";
import { pveTags, tfName } from "./names";

export interface TalosNodeVmHardware {
  /** @default 4 */
  readonly cores?: number;
  /** @default 1 */
  readonly sockets?: number;
  /**
   * Memory in MiB.
   * @default 8192
   */
  readonly memory?: number;
  /**
   * Minimum memory in MiB for the balloon device; 0 turns ballooning off (Kubernetes wants fixed memory).
   * @default 0
   */
  readonly balloon?: number;
  /** @default "host" */
  readonly cpuType?: string;
  /** @default true */
  readonly numa?: boolean;
  /**
   * System disk size in GiB.
   * @default 128
   */
  readonly diskSize?: number;
  /**
   * Storage of the system disk, the EFI disk, the TPM state and the cloud-init drive.
   * @default "local-lvm"
   */
  readonly diskStorage?: string;
  /** With virtio-scsi-single the disk gets its own I/O thread. @default "virtio-scsi-single" */
  readonly scsiHardware?: string;
  /**
   * Pass TRIM/discard through to the storage.
   * @default true
   */
  readonly diskDiscard?: boolean;
  /** @default true */
  readonly diskSsd?: boolean;
  /**
   * QEMU guest agent (the image needs the qemu-guest-agent extension).
   * @default true
   */
  readonly qemuAgent?: boolean;
}

export interface TalosNodeVmBoot {
  /** Volume id of the Talos ISO (nocloud platform) to boot from until Talos is installed. */
  readonly isoFileId: string;
  /**
   * Adds a TPM 2.0; the EFI disk never has pre-enrolled keys, so Talos can enroll its own. Needs "ovmf".
   * @default false
   */
  readonly secureboot?: boolean;
  /** @default "ovmf" */
  readonly bios?: "ovmf" | "seabios";
  /** @default "q35" */
  readonly machine?: string;
}

export interface TalosNodeVmNetwork {
  /** Static address in CIDR form ("192.168.1.21/24"), given through cloud-init so maintenance mode needs no DHCP. */
  readonly address: string;
  readonly gateway: string;
  /** @default ["1.1.1.1", "1.0.0.1"] */
  readonly dnsServers?: readonly string[];
  /** @default - assigned by Proxmox */
  readonly macAddress?: string;
  /** @default - untagged */
  readonly vlanId?: number;
  /** @default 1500 */
  readonly mtu?: number;
  /** @default "vmbr0" */
  readonly bridge?: string;
  /**
   * virtio-net queues; 0 leaves multiqueue off.
   * @default 4
   */
  readonly queues?: number;
  /**
   * Let the Proxmox firewall filter this NIC (its rules come separately).
   * @default false
   */
  readonly firewall?: boolean;
}

export interface TalosNodeVmStartup {
  /** Proxmox start order (lower starts first). */
  readonly order: number;
  /** @default - Proxmox default */
  readonly upDelay?: number;
  /** @default - Proxmox default */
  readonly downDelay?: number;
}

/** A host PCI device passed through to the VM. */
export interface TalosNodeVmPciDevice {
  /** Raw PCI address on the host, e.g. "0000:01:00.0". @default - (one of id or mapping) */
  readonly id?: string;
  /** Name of a Proxmox PCI resource mapping. @default - (one of id or mapping) */
  readonly mapping?: string;
  /** @default true */
  readonly pcie?: boolean;
  /** @default true */
  readonly rombar?: boolean;
  /** The VM's primary display (x-vga). @default false */
  readonly primaryGpu?: boolean;
}

export interface TalosNodeVmProps {
  /** VM name and hostname. */
  readonly name: string;
  /** Proxmox host that runs the VM. */
  readonly proxmoxNode: string;
  /** @default - assigned by Proxmox */
  readonly vmId?: number;
  readonly boot: TalosNodeVmBoot;
  readonly network: TalosNodeVmNetwork;
  /** @default - the defaults of each field */
  readonly hardware?: TalosNodeVmHardware;
  /** @default - no start order */
  readonly startup?: TalosNodeVmStartup;
  /**
   * Proxmox tags (lower case and sorted, as Proxmox stores them).
   * @default ["kubernetes", "linux", "talos"]
   */
  readonly tags?: readonly string[];
  /** @default - none */
  readonly pciDevices?: readonly TalosNodeVmPciDevice[];
}

type Resolved<T, Optional extends keyof T = never> = Required<Omit<T, Optional>> & Pick<T, Optional>;

/** A Proxmox VM ready for Talos: UEFI, empty system disk, Talos ISO in the CD-ROM, static address via cloud-init. */
export class TalosNodeVm extends Construct {
  readonly resource: VirtualEnvironmentVm;
  readonly hardware: Resolved<TalosNodeVmHardware>;
  readonly boot: Resolved<TalosNodeVmBoot>;
  readonly network: Resolved<TalosNodeVmNetwork, "macAddress" | "vlanId">;
  readonly tags: readonly string[];

  constructor(scope: Construct, id: string, props: TalosNodeVmProps) {
    super(scope, id);
    const h = props.hardware ?? {};
    const hardware = {
      cores: h.cores ?? 4,
      sockets: h.sockets ?? 1,
      memory: h.memory ?? 8192,
      balloon: h.balloon ?? 0,
      cpuType: h.cpuType ?? "host",
      numa: h.numa ?? true,
      diskSize: h.diskSize ?? 128,
      diskStorage: h.diskStorage ?? "local-lvm",
      scsiHardware: h.scsiHardware ?? "virtio-scsi-single",
      diskDiscard: h.diskDiscard ?? true,
      diskSsd: h.diskSsd ?? true,
      qemuAgent: h.qemuAgent ?? true,
    };
    this.hardware = hardware;
    const b = props.boot;
    const boot = {
      isoFileId: b.isoFileId,
      secureboot: b.secureboot ?? false,
      bios: b.bios ?? "ovmf",
      machine: b.machine ?? "q35",
    };
    this.boot = boot;
    const n = props.network;
    const network = {
      address: n.address,
      gateway: n.gateway,
      dnsServers: n.dnsServers ?? ["1.1.1.1", "1.0.0.1"],
      macAddress: n.macAddress,
      vlanId: n.vlanId,
      mtu: n.mtu ?? 1500,
      bridge: n.bridge ?? "vmbr0",
      queues: n.queues ?? 4,
      firewall: n.firewall ?? false,
    };
    this.network = network;
    this.tags = props.tags ?? ["kubernetes", "linux", "talos"];

    const problems: string[] = [];
    if (boot.secureboot && boot.bios !== "ovmf")
      problems.push(`'boot.secureboot' needs 'boot.bios' "ovmf", got "${boot.bios}"`);
    if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(network.address))
      problems.push(`'network.address' must be in CIDR form, got "${network.address}"`);
    if (hardware.balloon > hardware.memory)
      problems.push(`'hardware.balloon' (${hardware.balloon}) must not exceed 'hardware.memory' (${hardware.memory})`);
    (props.pciDevices ?? []).forEach((d, i) => {
      if ((d.id === undefined) === (d.mapping === undefined))
        problems.push(`'pciDevices[${i}]' needs exactly one of 'id' or 'mapping'`);
    });
    if (problems.length) throw new Error(`TalosNodeVm ${props.name}: ${problems.join("; ")}`);

    this.resource = new VirtualEnvironmentVm(this, "Resource", {
      name: props.name,
      nodeName: props.proxmoxNode,
      vmId: props.vmId,
      description: "Talos Linux node, managed by OpenTofu (talos-proxmox-cdktf)",
      tags: pveTags(this.tags),
      bios: boot.bios,
      machine: boot.machine,
      scsiHardware: hardware.scsiHardware,
      onBoot: true,
      started: true,
      stopOnDestroy: true,
      // A change that needs a restart (cores, memory) stays pending in Proxmox instead of restarting the VM:
      // otherwise one apply would restart every control plane at once. The restart is rolled out node by node.
      rebootAfterUpdate: false,
      // A new proxmox_node, or a host that HA moved the VM to, migrates the VM instead of replacing it.
      migrate: true,
      operatingSystem: { type: "l26" },
      cpu: { cores: hardware.cores, sockets: hardware.sockets, type: hardware.cpuType, numa: hardware.numa },
      memory: { dedicated: hardware.memory, floating: hardware.balloon },
      // The address is static and known: never make a refresh wait for the guest agent to report it (bpg waits
      // up to agent.timeout, 15 minutes by default, for a node whose image lacks the agent extension).
      agent: {
        enabled: hardware.qemuAgent,
        trim: hardware.qemuAgent && hardware.diskDiscard,
        timeout: "1m",
        waitForIp: { disabled: true },
      },
      efiDisk:
        boot.bios === "ovmf" ? { datastoreId: hardware.diskStorage, type: "4m", preEnrolledKeys: false } : undefined,
      tpmState: boot.secureboot ? { datastoreId: hardware.diskStorage, version: "v2.0" } : undefined,
      disk: [
        {
          interface: "scsi0",
          datastoreId: hardware.diskStorage,
          size: hardware.diskSize,
          fileFormat: "raw",
          discard: hardware.diskDiscard ? "on" : "ignore",
          ssd: hardware.diskSsd,
          iothread: hardware.scsiHardware === "virtio-scsi-single",
        },
      ],
      // The CD-ROM follows the ISO (swapped in place, no restart), so that an ISO of an old Talos version is
      // never deleted while a VM still points at it: Proxmox would refuse to start that VM.
      cdrom: { fileId: boot.isoFileId, interface: "ide2" },
      // The empty disk is not bootable: the first boot falls through to the ISO, later boots start Talos from disk.
      bootOrder: ["scsi0", "ide2"],
      // network_device is a list-of-objects attribute: in JSON syntax every attribute of the object must be
      // present, so the provider's defaults are spelled out (0 means "none" for vlan_id, rate_limit, queues);
      // the deprecated `enabled`, and mac_address when Proxmox assigns it, are set to null below.
      networkDevice: [
        {
          bridge: network.bridge,
          model: "virtio",
          macAddress: network.macAddress,
          vlanId: network.vlanId ?? 0,
          mtu: network.mtu,
          queues: network.queues,
          disconnected: false,
          firewall: network.firewall,
          rateLimit: 0,
          trunks: "",
        },
      ],
      initialization: {
        // bpg puts the cloud-init drive on ide2 unless told otherwise, where the CD-ROM already is (the CD-ROM
        // would replace it); ide0 exists on every machine type.
        interface: "ide0",
        datastoreId: hardware.diskStorage,
        ipConfig: [{ ipv4: { address: network.address, gateway: network.gateway } }],
        dns: { servers: [...network.dnsServers] },
      },
      startup: props.startup && {
        order: props.startup.order,
        upDelay: props.startup.upDelay,
        downDelay: props.startup.downDelay,
      },
      serialDevice: [{ device: "socket" }],
      hostpci: props.pciDevices?.length
        ? props.pciDevices.map((d, i) => ({
            device: `hostpci${i}`,
            id: d.id,
            mapping: d.mapping,
            pcie: d.pcie ?? true,
            rombar: d.rombar ?? true,
            xvga: d.primaryGpu ?? false,
          }))
        : undefined,
    });
    this.resource.addOverride("network_device.0.enabled", null);
    if (network.macAddress === undefined) this.resource.addOverride("network_device.0.mac_address", null);
    this.resource.overrideLogicalId(tfName(props.name));
  }

  get vmId(): number {
    return this.resource.vmId;
  }
}
