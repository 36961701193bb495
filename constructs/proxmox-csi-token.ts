import { Construct } from "constructs";
import { Acl } from "../.gen/providers/proxmox/acl";
import { UserToken } from "../.gen/providers/proxmox/user-token";
import { VirtualEnvironmentRole } from "../.gen/providers/proxmox/virtual-environment-role";
import { VirtualEnvironmentUser } from "../.gen/providers/proxmox/virtual-environment-user";

/**
 * What the Proxmox CSI plugin's controller needs to create, attach, resize, detach and delete volumes, each proven
 * necessary and together sufficient by the plugin itself against the Proxmox simulator
 * (__tests__/engine/proxmox-csi.test.ts). Its docs' role also lists Datastore.Audit, which none of its calls
 * needs once Datastore.Allocate is held: PVE accepts Datastore.Allocate or .AllocateSpace wherever it accepts
 * .Audit (storage status and content, check_volume_access).
 */
export const PROXMOX_CSI_PRIVILEGES = [
  "Datastore.Allocate",
  "Datastore.AllocateSpace",
  "VM.Audit",
  "VM.Config.Disk",
] as const;

/** Every resource's logical id: one of each type per stack. */
const LOGICAL_ID = "csi";

export interface ProxmoxCsiTokenProps {
  /** Prefix of the role and user, so that several clusters can share one Proxmox. */
  readonly clusterName: string;
  /**
   * Lift `prevent_destroy` (the token is the CSI driver's only credential).
   * @default false
   */
  readonly allowDestroy?: boolean;
}

/** A Proxmox role, user, API token and ACL for the Proxmox CSI driver; the token secret stays in state. */
export class ProxmoxCsiToken extends Construct {
  /** The addresses (`type.name`) of everything this construct creates. */
  static readonly ADDRESSES = [VirtualEnvironmentRole, VirtualEnvironmentUser, UserToken, Acl].map(
    (r) => `${r.tfResourceType}.${LOGICAL_ID}`,
  );

  readonly role: VirtualEnvironmentRole;
  readonly user: VirtualEnvironmentUser;
  readonly token: UserToken;
  readonly acl: Acl;

  constructor(scope: Construct, id: string, props: ProxmoxCsiTokenProps) {
    super(scope, id);
    // Replacing any of these invalidates the secret the CSI driver holds: they live as long as layer 00.
    const lifecycle = { preventDestroy: !props.allowDestroy };

    this.role = new VirtualEnvironmentRole(this, "Role", {
      roleId: `${props.clusterName}-csi`,
      privileges: [...PROXMOX_CSI_PRIVILEGES],
      lifecycle,
    });
    this.role.overrideLogicalId(LOGICAL_ID);

    this.user = new VirtualEnvironmentUser(this, "User", {
      userId: `${props.clusterName}-csi@pve`,
      comment: `Proxmox CSI driver of Kubernetes cluster ${props.clusterName} (managed by OpenTofu)`,
      enabled: true,
      lifecycle,
    });
    this.user.overrideLogicalId(LOGICAL_ID);

    this.token = new UserToken(this, "Token", {
      userId: this.user.userId,
      tokenName: "csi",
      comment: "Proxmox CSI driver",
      privilegesSeparation: false,
      lifecycle,
    });
    this.token.overrideLogicalId(LOGICAL_ID);

    this.acl = new Acl(this, "Acl", {
      path: "/",
      userId: this.user.userId,
      roleId: this.role.roleId,
      propagate: true,
      lifecycle,
    });
    this.acl.overrideLogicalId(LOGICAL_ID);
  }

  /** `user@realm!token` (not secret). */
  get tokenId(): string {
    return this.token.id;
  }

  /** The token secret (sensitive). */
  get tokenSecret(): string {
    return this.token.value;
  }
}
