import * as privateKey from "@cdktf/provider-tls/lib/private-key";
import { Construct } from "constructs";

export interface FluxDeployKeyProps {
  /**
   * Lift `prevent_destroy`: a new key has to be added to the repository again before Flux can sync.
   * @default false
   */
  readonly allowDestroy?: boolean;
}

/**
 * The SSH deploy key Flux clones a private repository with, kept in layer 00 so that a rebuilt cluster uses
 * the key already added to the repository. Its public key is printed by bootstrap for the user to add.
 */
export class FluxDeployKey extends Construct {
  readonly key: privateKey.PrivateKey;

  constructor(scope: Construct, id: string, props: FluxDeployKeyProps = {}) {
    super(scope, id);
    this.key = new privateKey.PrivateKey(this, "Key", {
      algorithm: "ED25519",
      lifecycle: { preventDestroy: !props.allowDestroy },
    });
    this.key.overrideLogicalId("flux_deploy_key");
  }

  /** The public key in OpenSSH format, for the repository's deploy keys. */
  get publicKeyOpenssh(): string {
    return this.key.publicKeyOpenssh;
  }

  /** The private key in OpenSSH format, for Flux's secret. */
  get privateKeyOpenssh(): string {
    return this.key.privateKeyOpenssh;
  }
}
