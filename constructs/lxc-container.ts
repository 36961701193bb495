import { Construct } from "constructs";
import { VirtualEnvironmentContainer } from "../.gen/providers/proxmox/virtual-environment-container";
import { guestNics, nicProblems, type GuestNic } from "./guest-nic";
import { pveTags, tfName } from "./names";

export interface LxcMountPoint {
  /** Path inside the container. */
  readonly path: string;
  /** A storage id (a new volume of `sizeGiB`) or an absolute host path (a bind mount). */
  readonly volume: string;
  /** Size of a new volume in GiB; only with a storage id. @default - none (bind mount) */
  readonly sizeGiB?: number;
  /** @default false */
  readonly readOnly?: boolean;
  /** Include the volume in backups. @default false */
  readonly backup?: boolean;
}

export interface LxcDevice {
  /** Device node on the host, e.g. "/dev/net/tun". */
  readonly path: string;
  /** @default 0 */
  readonly uid?: number;
  /** @default 0 */
  readonly gid?: number;
  /** Octal access mode. @default "0660" */
  readonly mode?: string;
  /** Deny the container writing to it. @default false */
  readonly readOnly?: boolean;
}

export interface LxcFeatures {
  /** @default false */
  readonly nesting?: boolean;
  /** Only for unprivileged containers. @default false */
  readonly keyctl?: boolean;
  /** @default false */
  readonly fuse?: boolean;
}

export interface LxcContainerProps {
  /** Hostname and name in Proxmox. */
  readonly name: string;
  /** Proxmox host. */
  readonly host: string;
  /** VMID. */
  readonly id: number;
  /** Volume id of the OS template, e.g. "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst". */
  readonly templateFileId: string;
  /** @default "unmanaged" */
  readonly osType?: string;
  /** @default 1 */
  readonly cores?: number;
  /** MiB. @default 512 */
  readonly memory?: number;
  /** MiB. @default 512 */
  readonly swap?: number;
  /** Root volume. @default - 8 GiB on "local-lvm" */
  readonly rootDisk?: { readonly storage?: string; readonly sizeGiB?: number };
  /** @default - none */
  readonly mountPoints?: readonly LxcMountPoint[];
  /** The NICs, as net0 (eth0), net1 (eth1), ... @default - one NIC, DHCP on vmbr0 */
  readonly networks?: readonly GuestNic[];
  /** Host devices passed in (dev0, dev1, ...); only root@pam itself may configure them. @default - none */
  readonly devices?: readonly LxcDevice[];
  /**
   * Why the container runs privileged; written into its description. Unprivileged when undefined.
   * @default - unprivileged
   */
  readonly privilegedReason?: string;
  /** @default - none */
  readonly features?: LxcFeatures;
  /** @default - Proxmox default */
  readonly startup?: { readonly order: number; readonly upDelay?: number; readonly downDelay?: number };
  /** @default true */
  readonly onBoot?: boolean;
  /** @default true */
  readonly started?: boolean;
  /** @default - none */
  readonly tags?: readonly string[];
  /** Public keys for root (may be a token list). @default - none */
  readonly sshKeys?: string[];
  /** @default - none */
  readonly description?: string;
  /** @default - none */
  readonly poolId?: string;
}

/** An LXC container: unprivileged unless a reason says otherwise, its NIC, volumes and features. */
export class LxcContainer extends Construct {
  readonly resource: VirtualEnvironmentContainer;
  readonly unprivileged: boolean;

  constructor(scope: Construct, id: string, props: LxcContainerProps) {
    super(scope, id);
    const features = { nesting: false, keyctl: false, fuse: false, ...props.features };
    this.unprivileged = props.privilegedReason === undefined;
    const nics = guestNics(props.networks);
    const problems = nicProblems(nics);
    if (nics.length > 32) problems.push(`at most 32 NICs (net0-net31), got ${nics.length}`);
    for (const device of props.devices ?? []) {
      if (!device.path.startsWith("/dev/")) problems.push(`device ${device.path}: a device path is under /dev/`);
      if (device.mode !== undefined && !/^0[0-7]{3}$/.test(device.mode))
        problems.push(`device ${device.path}: 'mode' must be octal like "0660", got "${device.mode}"`);
    }
    if (!this.unprivileged && features.keyctl) problems.push("'features.keyctl' is for unprivileged containers only");
    if (props.privilegedReason !== undefined && !props.privilegedReason.trim())
      problems.push("'privilegedReason' must say why");
    for (const mp of props.mountPoints ?? []) {
      const bind = mp.volume.startsWith("/");
      if (bind === (mp.sizeGiB !== undefined))
        problems.push(
          `mount point ${mp.path}: a storage volume needs 'sizeGiB', a bind mount ('volume' "${mp.volume}") has none`,
        );
    }
    if (problems.length) throw new Error(`LxcContainer ${props.name}: ${problems.join("; ")}`);

    const description = [
      props.description,
      this.unprivileged ? undefined : `Privileged: ${props.privilegedReason}`,
      "Managed by OpenTofu (talos-proxmox-cdktf)",
    ].filter(Boolean);
    this.resource = new VirtualEnvironmentContainer(this, "Resource", {
      nodeName: props.host,
      vmId: props.id,
      description: description.join("\n\n"),
      tags: pveTags(props.tags ?? []),
      unprivileged: this.unprivileged,
      startOnBoot: props.onBoot ?? true,
      started: props.started ?? true,
      poolId: props.poolId,
      operatingSystem: { templateFileId: props.templateFileId, type: props.osType ?? "unmanaged" },
      cpu: { cores: props.cores ?? 1 },
      memory: { dedicated: props.memory ?? 512, swap: props.swap ?? 512 },
      disk: { datastoreId: props.rootDisk?.storage ?? "local-lvm", size: props.rootDisk?.sizeGiB ?? 8 },
      mountPoint: props.mountPoints?.length
        ? props.mountPoints.map((mp) => ({
            path: mp.path,
            volume: mp.volume,
            size: mp.sizeGiB === undefined ? undefined : `${mp.sizeGiB}G`,
            readOnly: mp.readOnly ?? false,
            backup: mp.backup ?? false,
          }))
        : undefined,
      // No block when nothing is on: Proxmox lets only root@pam change features other than nesting.
      features: features.nesting || features.keyctl || features.fuse ? features : undefined,
      networkInterface: nics.map((nic, i) => ({
        name: `eth${i}`,
        bridge: nic.bridge ?? "vmbr0",
        vlanId: nic.vlanId,
        macAddress: nic.macAddress,
        firewall: nic.firewall ?? false,
      })),
      devicePassthrough: props.devices?.length
        ? props.devices.map((device) => ({
            path: device.path,
            uid: device.uid,
            gid: device.gid,
            mode: device.mode ?? "0660",
            denyWrite: device.readOnly ?? false,
          }))
        : undefined,
      // One ip_config per NIC, in the NICs' order: bpg gives ip_config[n] to net<n>.
      initialization: {
        hostname: props.name,
        ipConfig: nics.map((nic) => ({ ipv4: { address: nic.address ?? "dhcp", gateway: nic.gateway } })),
        dns: nics[0].dnsServers ? { servers: [...nics[0].dnsServers] } : undefined,
        userAccount: props.sshKeys ? { keys: props.sshKeys } : undefined,
      },
      startup: props.startup,
    });
    this.resource.overrideLogicalId(tfName(props.name));
  }
}
