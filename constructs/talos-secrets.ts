import { Construct } from "constructs";
import { MachineSecrets } from "../.gen/providers/talos/machine-secrets";

export interface TalosSecretsProps {
  /** Talos version contract the secrets are generated for, e.g. "v1.12.1". */
  readonly talosVersion: string;
  /**
   * Lift `prevent_destroy`. Only an explicit synth flag sets it (see layers/app.ts).
   * @default false
   */
  readonly allowDestroy?: boolean;
}

/**
 * The cluster's PKI and tokens (`talos_machine_secrets`). Losing them means rebuilding every node's trust, so
 * the engine refuses to destroy them unless `allowDestroy` is set.
 */
export class TalosSecrets extends Construct {
  readonly resource: MachineSecrets;

  constructor(scope: Construct, id: string, props: TalosSecretsProps) {
    super(scope, id);
    this.resource = new MachineSecrets(this, "Resource", {
      talosVersion: props.talosVersion,
      lifecycle: {
        preventDestroy: !props.allowDestroy,
        // A Talos upgrade changes talos_version; the existing PKI stays valid and must not be replaced.
        ignoreChanges: ["talos_version"],
      },
    });
    this.resource.overrideLogicalId("cluster");
  }

  /** The secrets bundle the machine configuration is generated from (sensitive). */
  get machineSecrets() {
    return this.resource.machineSecrets;
  }

  /** The admin client certificate for talosctl and the Talos provider (sensitive key). */
  get clientConfiguration() {
    return this.resource.clientConfiguration;
  }
}
