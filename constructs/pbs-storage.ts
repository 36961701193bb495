import { TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { StoragePbs } from "../.gen/providers/proxmox/storage-pbs";

export interface PbsStorageProps {
  /** Storage id in Proxmox. */
  readonly name: string;
  readonly server: string;
  readonly datastore: string;
  /** user@realm on the backup server. */
  readonly username: string;
  /**
   * OpenTofu variable holding the password (set as TF_VAR_<name>); declared here, sensitive, never in the
   * synthesized files.
   */
  readonly passwordVariable: string;
  /** @default - the system's trust store */
  readonly fingerprint?: string;
  /** @default - the root namespace */
  readonly namespace?: string;
}

/** A Proxmox Backup Server datastore added as a backup storage, its password from the environment. */
export class PbsStorage extends Construct {
  readonly resource: StoragePbs;

  constructor(scope: Construct, id: string, props: PbsStorageProps) {
    super(scope, id);
    const password = new TerraformVariable(this, "Password", {
      type: "string",
      sensitive: true,
      nullable: false,
      description: `Password of ${props.username} on the Proxmox Backup Server ${props.server}`,
    });
    password.overrideLogicalId(props.passwordVariable);
    this.resource = new StoragePbs(this, "Resource", {
      id: props.name,
      server: props.server,
      datastore: props.datastore,
      username: props.username,
      password: password.stringValue,
      fingerprint: props.fingerprint,
      namespace: props.namespace,
      content: ["backup"],
    });
    this.resource.overrideLogicalId(props.name);
  }
}
