import { TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import { FluxDeployKey } from "../constructs/flux-deploy-key";
import { forgetWithoutDestroying } from "../constructs/forget-without-destroying";
import { ProxmoxCsiToken } from "../constructs/proxmox-csi-token";
import { proxmoxProvider, talosProvider, tlsProvider } from "../constructs/providers";
import { SealedSecretsKey } from "../constructs/sealed-secrets-key";
import { TalosSecrets } from "../constructs/talos-secrets";
import type { LayerName } from "./catalog";
import { LayerStack, type LayerProps } from "./layer-stack";

export interface PersistentAuthLayerProps extends LayerProps {
  /** Lifts prevent_destroy on everything in this layer; only an explicit synth flag sets it. */
  readonly allowDestroy: boolean;
}

/** Name of layer 00's output with the public half of Flux's deploy key. */
export const FLUX_DEPLOY_KEY_OUTPUT = "flux_deploy_key_public";

/** Layer 00: secrets that outlive the VMs (Talos PKI, Proxmox CSI token, sealed-secrets key, Flux deploy key). Never destroyed by accident. */
export class PersistentAuthLayer extends LayerStack {
  readonly talosSecrets: TalosSecrets;
  readonly csiToken?: ProxmoxCsiToken;
  /** Always present: kept while sealed-secrets is off. */
  readonly sealedSecretsKey: SealedSecretsKey;
  /** The SSH key Flux clones a private repository with. Always present: kept while the repository is public or unset. */
  readonly fluxDeployKey: FluxDeployKey;

  constructor(scope: Construct, name: LayerName, props: PersistentAuthLayerProps) {
    super(scope, name, props);
    const { cluster, allowDestroy } = props;

    talosProvider(this, cluster.talos.imageFactoryUrl);
    this.talosSecrets = new TalosSecrets(this, "TalosSecrets", { talosVersion: cluster.talos.version, allowDestroy });

    // Kept whether sealed-secrets is on or off (it is local and cheap): switching the controller off and on
    // again must find the same key, or every secret sealed in git is lost.
    tlsProvider(this);
    this.sealedSecretsKey = new SealedSecretsKey(this, "SealedSecretsKey", { allowDestroy });
    // Kept the same way: a private repository made public (or its sync switched off) and private again must find
    // the key already in its deploy keys. Its block gone, prevent_destroy would not stop the engine deleting it.
    this.fluxDeployKey = new FluxDeployKey(this, "FluxDeployKey", { allowDestroy });
    if (cluster.features.deployKeyRepository) {
      // Printed by bootstrap: the user adds it to the repository's deploy keys.
      new TerraformOutput(this, FLUX_DEPLOY_KEY_OUTPUT, {
        value: this.fluxDeployKey.publicKeyOpenssh,
        description: "Public SSH key to add (read-only) to the deploy keys of the Flux repository",
      });
    }

    // What layers 02 and 03 read of these keys is exported whatever their switches say: cdktf makes an output
    // only for a value another stack reads, so switching sealed-secrets or Flux off would remove outputs and
    // make this layer change (and be applied) for a switch of a layer above it.
    for (const [resource, attribute] of [
      [this.sealedSecretsKey.key, "private_key_pem"],
      [this.sealedSecretsKey.certificate, "cert_pem"],
      [this.fluxDeployKey.key, "private_key_openssh"],
      [this.fluxDeployKey.key, "public_key_openssh"],
    ] as const)
      this.registerOutgoingCrossStackReference(
        `${resource.terraformResourceType}.${resource.friendlyUniqueId}.${attribute}`,
      );

    // Also with CSI off: forgetting the token's resources needs the provider configured.
    proxmoxProvider(this, cluster.proxmox);
    if (cluster.features.proxmoxCsi) {
      this.csiToken = new ProxmoxCsiToken(this, "ProxmoxCsiToken", { clusterName: cluster.name, allowDestroy });
    } else {
      // Switched off, the state forgets the token and Proxmox keeps it.
      forgetWithoutDestroying(this, ProxmoxCsiToken.ADDRESSES);
    }
  }
}
