import { TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import { FluxDeployKey } from "../constructs/flux-deploy-key";
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
  readonly sealedSecretsKey?: SealedSecretsKey;
  /** The SSH key Flux clones a private repository with. */
  readonly fluxDeployKey?: FluxDeployKey;

  constructor(scope: Construct, name: LayerName, props: PersistentAuthLayerProps) {
    super(scope, name, props);
    const { cluster, allowDestroy } = props;

    talosProvider(this, cluster.talos.imageFactoryUrl);
    this.talosSecrets = new TalosSecrets(this, "TalosSecrets", { talosVersion: cluster.talos.version, allowDestroy });

    const privateRepository = cluster.features.flux?.sync?.private ?? false;
    if (cluster.features.sealedSecrets || privateRepository) tlsProvider(this);
    if (cluster.features.sealedSecrets) {
      this.sealedSecretsKey = new SealedSecretsKey(this, "SealedSecretsKey", { allowDestroy });
    }
    if (privateRepository) {
      this.fluxDeployKey = new FluxDeployKey(this, "FluxDeployKey", { allowDestroy });
      // Printed by bootstrap: the user adds it to the repository's deploy keys.
      new TerraformOutput(this, FLUX_DEPLOY_KEY_OUTPUT, {
        value: this.fluxDeployKey.publicKeyOpenssh,
        description: "Public SSH key to add (read-only) to the deploy keys of the Flux repository",
      });
    }

    if (cluster.features.proxmoxCsi) {
      proxmoxProvider(this, cluster.proxmox);
      this.csiToken = new ProxmoxCsiToken(this, "ProxmoxCsiToken", { clusterName: cluster.name, allowDestroy });
    }
  }
}
