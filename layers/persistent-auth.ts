import * as tlsProvider from "@cdktf/provider-tls/lib/provider";
import { TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ProxmoxProvider } from "../.gen/providers/proxmox/provider";
import { TalosProvider } from "../.gen/providers/talos/provider";
import type { ClusterConfig } from "../config";
import { configureLayerState, type LayerStateProps } from "../constructs/layer-state";
import { encryptState } from "../constructs/state-encryption";
import { ProxmoxCsiToken } from "../constructs/proxmox-csi-token";
import { SealedSecretsKey } from "../constructs/sealed-secrets-key";
import { TalosSecrets } from "../constructs/talos-secrets";

export interface PersistentAuthLayerProps {
  readonly cluster: ClusterConfig;
  readonly state: LayerStateProps;
  /** Encrypt state and plans at rest (OpenTofu). */
  readonly encryptState: boolean;
  /** Lifts prevent_destroy on everything in this layer; only an explicit synth flag sets it. */
  readonly allowDestroy: boolean;
}

/** Layer 00: secrets that outlive the VMs (Talos PKI, Proxmox CSI token, sealed-secrets key). Never destroyed by accident. */
export class PersistentAuthLayer extends TerraformStack {
  static readonly NAME = "00-persistent-auth";
  readonly talosSecrets: TalosSecrets;
  readonly csiToken?: ProxmoxCsiToken;
  readonly sealedSecretsKey?: SealedSecretsKey;

  constructor(scope: Construct, props: PersistentAuthLayerProps) {
    super(scope, PersistentAuthLayer.NAME);
    const { cluster, allowDestroy } = props;
    configureLayerState(this, props.state);
    if (props.encryptState) encryptState(this);

    new TalosProvider(this, "talos", { imageFactoryUrl: cluster.talos_image_factory_url });
    this.talosSecrets = new TalosSecrets(this, "TalosSecrets", { talosVersion: cluster.talos_version, allowDestroy });

    if (cluster.sealed_secrets_enabled) {
      new tlsProvider.TlsProvider(this, "tls");
      this.sealedSecretsKey = new SealedSecretsKey(this, "SealedSecretsKey", { allowDestroy });
    }

    if (cluster.proxmox_csi_enabled) {
      new ProxmoxProvider(this, "proxmox", { endpoint: cluster.proxmox_api_url, insecure: cluster.proxmox_api_insecure });
      this.csiToken = new ProxmoxCsiToken(this, "ProxmoxCsiToken", { clusterName: cluster.cluster_name, allowDestroy });
    }
  }
}
