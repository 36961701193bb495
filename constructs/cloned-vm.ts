import { Construct } from "constructs";
import { VirtualEnvironmentVm } from "../.gen/providers/proxmox/virtual-environment-vm";
import { guestNics, nicProblems, type GuestNic } from "./guest-nic";
import { pveTags, tfName } from "./names";

export interface ClonedVmPci {
  /** Name of a PCI hardware mapping. */
  readonly mapping: string;
  /** @default true */
  readonly pcie?: boolean;
  /** @default false */
  readonly primaryGpu?: boolean;
  /** @default true */
  readonly rombar?: boolean;
}

export interface ClonedVmProps {
  readonly name: string;
  /** Proxmox host of the VM. */
  readonly host: string;
  /** VMID. */
  readonly id: number;
  /** The golden template. */
  readonly template: {
    readonly id: number;
    /** @default - the VM's host */
    readonly host?: string;
    /** @default true */
    readonly full?: boolean;
  };
  readonly hardware?: {
    /** @default 1 */
    readonly cores?: number;
    /** @default 1 */
    readonly sockets?: number;
    /** MiB. @default 512 */
    readonly memory?: number;
    /** @default "host" */
    readonly cpuType?: string;
    /** @default "q35" */
    readonly machine?: string;
    /** @default - the template's */
    readonly bios?: "ovmf" | "seabios";
    /** @default true */
    readonly qemuAgent?: boolean;
  };
  /** The cloned system disk. */
  readonly disk?: {
    /** @default "scsi0" */
    readonly interface?: string;
    /** @default "local-lvm" */
    readonly storage?: string;
    /** Grow to this size in GiB. @default - the template's size */
    readonly sizeGiB?: number;
  };
  /** The NICs, as net0, net1, ... @default - one NIC, DHCP on vmbr0 */
  readonly networks?: readonly GuestNic[];
  /** Configure the clone through cloud-init: network, user, keys. @default - the template's configuration */
  readonly cloudInit?: {
    /** @default - the template's */
    readonly user?: string;
    /** Public keys (may be a token list). @default - none */
    readonly sshKeys?: string[];
    /** Storage of the cloud-init drive. @default - the disk's storage */
    readonly storage?: string;
  };
  /** @default - none */
  readonly pci?: readonly ClonedVmPci[];
  /** @default - Proxmox default */
  readonly startup?: { readonly order: number; readonly upDelay?: number; readonly downDelay?: number };
  /** @default true */
  readonly onBoot?: boolean;
  /** @default true */
  readonly started?: boolean;
  /** @default - none */
  readonly tags?: readonly string[];
  /** @default - none */
  readonly description?: string;
  /** @default - none */
  readonly poolId?: string;
}

/** A VM cloned from a golden template, resized and configured through cloud-init, PCI devices by mapping. */
export class ClonedVm extends Construct {
  readonly resource: VirtualEnvironmentVm;

  constructor(scope: Construct, id: string, props: ClonedVmProps) {
    super(scope, id);
    const nics = guestNics(props.networks);
    const hw = props.hardware ?? {};
    const machine = hw.machine ?? "q35";
    const storage = props.disk?.storage ?? "local-lvm";
    const diskInterface = props.disk?.interface ?? "scsi0";
    const problems = nicProblems(nics);
    nics.forEach((nic, i) => {
      if (!props.cloudInit && (nic.address ?? "dhcp") !== "dhcp")
        problems.push(`a static 'networks[${i}].address' needs 'cloudInit'`);
    });
    if (nics.length > 32) problems.push(`at most 32 NICs (net0-net31), got ${nics.length}`);
    (props.pci ?? []).forEach((pci) => {
      if ((pci.pcie ?? true) && !machine.startsWith("q35"))
        problems.push(`PCI device ${pci.mapping}: 'pcie' needs the q35 machine, got "${machine}"`);
    });
    if (props.pci?.length && props.pci.length > 16) problems.push(`at most 16 PCI devices, got ${props.pci.length}`);
    if (problems.length) throw new Error(`ClonedVm ${props.name}: ${problems.join("; ")}`);

    const ci = props.cloudInit;
    this.resource = new VirtualEnvironmentVm(this, "Resource", {
      name: props.name,
      nodeName: props.host,
      vmId: props.id,
      description: [props.description, "Managed by OpenTofu (talos-proxmox-cdktf)"].filter(Boolean).join("\n\n"),
      tags: pveTags(props.tags ?? []),
      poolId: props.poolId,
      onBoot: props.onBoot ?? true,
      started: props.started ?? true,
      stopOnDestroy: true,
      // Proxmox takes a target storage only for full clones; a linked clone stays on the template's storage.
      clone: {
        vmId: props.template.id,
        nodeName: props.template.host,
        full: props.template.full ?? true,
        datastoreId: (props.template.full ?? true) ? storage : undefined,
      },
      machine,
      bios: hw.bios,
      cpu: { cores: hw.cores ?? 1, sockets: hw.sockets ?? 1, type: hw.cpuType ?? "host" },
      memory: { dedicated: hw.memory ?? 512 },
      // Never make a refresh wait for the guest agent to report an address: bpg waits up to agent.timeout
      // (15 minutes by default) on every read while the agent does not answer (a booting appliance, a
      // template without the agent), and the config knows a static address anyway.
      agent: { enabled: hw.qemuAgent ?? true, timeout: "1m", waitForIp: { disabled: true } },
      // bpg writes the whole drive when it resizes it, with its own defaults for what is left out (iothread
      // and discard off): say what a disk of ours has, as TalosNodeVm does, on the controller iothread needs.
      scsiHardware: "virtio-scsi-single",
      disk:
        props.disk?.sizeGiB === undefined
          ? undefined
          : [
              {
                interface: diskInterface,
                datastoreId: storage,
                size: props.disk.sizeGiB,
                iothread: /^(scsi|virtio)/.test(diskInterface),
                discard: "on",
                ssd: !diskInterface.startsWith("virtio"),
              },
            ],
      // network_device is a list-of-objects attribute: in JSON syntax every attribute must be present (as in TalosNodeVm).
      networkDevice: nics.map((nic) => ({
        bridge: nic.bridge ?? "vmbr0",
        model: "virtio",
        macAddress: nic.macAddress,
        vlanId: nic.vlanId ?? 0,
        mtu: 0,
        queues: 0,
        disconnected: false,
        firewall: nic.firewall ?? false,
        rateLimit: 0,
        trunks: "",
      })),
      // One ipconfig<n> per NIC, in the NICs' order: bpg writes ip_config[n] as ipconfig<n>.
      initialization: ci && {
        datastoreId: ci.storage ?? storage,
        ipConfig: nics.map((nic) => ({ ipv4: { address: nic.address ?? "dhcp", gateway: nic.gateway } })),
        dns: nics[0].dnsServers ? { servers: [...nics[0].dnsServers] } : undefined,
        userAccount: ci.user || ci.sshKeys ? { username: ci.user, keys: ci.sshKeys } : undefined,
      },
      hostpci: props.pci?.length
        ? props.pci.map((pci, i) => ({
            device: `hostpci${i}`,
            mapping: pci.mapping,
            pcie: pci.pcie ?? true,
            xvga: pci.primaryGpu ?? false,
            rombar: pci.rombar ?? true,
          }))
        : undefined,
      startup: props.startup,
    });
    nics.forEach((nic, i) => {
      this.resource.addOverride(`network_device.${i}.enabled`, null);
      if (nic.macAddress === undefined) this.resource.addOverride(`network_device.${i}.mac_address`, null);
    });
    this.resource.overrideLogicalId(tfName(props.name));
  }
}
