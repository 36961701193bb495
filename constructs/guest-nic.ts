// The network interface of a container or a cloned VM, as both constructs take it.

export interface GuestNic {
  /**
   * Bridge, or the SDN VNet of the guest's zone.
   * @default "vmbr0"
   */
  readonly bridge?: string;
  /** @default - untagged */
  readonly vlanId?: number;
  /**
   * "dhcp", or a static address with its prefix ("192.168.10.5/24").
   * @default "dhcp"
   */
  readonly address?: string;
  /** Gateway of a static address. @default - none */
  readonly gateway?: string;
  /** @default - the host's (containers) or the template's (VMs) */
  readonly dnsServers?: readonly string[];
  /** @default - assigned by Proxmox */
  readonly macAddress?: string;
  /**
   * Let the Proxmox firewall filter this NIC.
   * @default false
   */
  readonly firewall?: boolean;
}

/** Checks a NIC's address and gateway; returns the problems, for the construct's own error. */
export function nicProblems(nic: GuestNic): string[] {
  const address = nic.address ?? "dhcp";
  const problems: string[] = [];
  if (address !== "dhcp" && !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(address))
    problems.push(`'network.address' must be "dhcp" or in CIDR form, got "${address}"`);
  if (address === "dhcp" && nic.gateway !== undefined)
    problems.push(`'network.gateway' (${nic.gateway}) needs a static 'network.address'`);
  return problems;
}
