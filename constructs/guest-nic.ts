// The network interfaces of a container or a cloned VM, as both constructs take them.

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
  /** Gateway of a static address (the default route: on one NIC at most). @default - none */
  readonly gateway?: string;
  /** The guest's DNS servers (one setting per guest: on the first NIC only). @default - the host's (containers) or the template's (VMs) */
  readonly dnsServers?: readonly string[];
  /** @default - assigned by Proxmox */
  readonly macAddress?: string;
  /**
   * Let the Proxmox firewall filter this NIC.
   * @default false
   */
  readonly firewall?: boolean;
}

/** The NICs a guest gets: the ones given, in order (net0, net1, ...), or one NIC on DHCP. */
export function guestNics(networks: readonly GuestNic[] | undefined): readonly GuestNic[] {
  return networks?.length ? networks : [{}];
}

/** Checks the NICs' addresses, gateways and DNS servers; returns the problems, for the construct's own error. */
export function nicProblems(nics: readonly GuestNic[]): string[] {
  const problems: string[] = [];
  nics.forEach((nic, i) => {
    const at = `networks[${i}]`;
    const address = nic.address ?? "dhcp";
    if (address !== "dhcp" && !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(address))
      problems.push(`'${at}.address' must be "dhcp" or in CIDR form, got "${address}"`);
    if (address === "dhcp" && nic.gateway !== undefined)
      problems.push(`'${at}.gateway' (${nic.gateway}) needs a static '${at}.address'`);
    if (i > 0 && nic.dnsServers !== undefined)
      problems.push(`'${at}.dnsServers': a guest has one DNS setting, given on networks[0]`);
  });
  const routed = nics.flatMap((nic, i) => (nic.gateway === undefined ? [] : [i]));
  if (routed.length > 1)
    problems.push(`networks ${routed.join(", ")} each have a gateway: a guest has one default route`);
  return problems;
}
