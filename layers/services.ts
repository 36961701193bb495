import * as helmProvider from "@cdktf/provider-helm/lib/provider";
import * as kubernetesProvider from "@cdktf/provider-kubernetes/lib/provider";
import { TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import type { ClusterConfig } from "../config";
import { Flux } from "../constructs/flux";
import { kubernetesAccessFrom } from "../constructs/kubernetes-access";
import { configureLayerState, type LayerStateProps } from "../constructs/layer-state";
import { ProxmoxCsi } from "../constructs/proxmox-csi";
import { SealedSecrets } from "../constructs/sealed-secrets";
import { encryptState } from "../constructs/state-encryption";
import type { InfrastructureLayer } from "./infrastructure";
import type { PersistentAuthLayer } from "./persistent-auth";

export interface ServicesLayerProps {
  readonly cluster: ClusterConfig;
  readonly state: LayerStateProps;
  readonly encryptState: boolean;
  readonly persistentAuth: PersistentAuthLayer;
  readonly infrastructure: InfrastructureLayer;
}

/** Layer 02: core services on the running cluster: sealed-secrets with the persisted key, Proxmox CSI, Flux. */
export class ServicesLayer extends TerraformStack {
  static readonly NAME = "02-services";

  constructor(scope: Construct, props: ServicesLayerProps) {
    super(scope, ServicesLayer.NAME);
    const { cluster, persistentAuth } = props;
    configureLayerState(this, props.state);
    if (props.encryptState) encryptState(this);

    // Credentials come from layer 01's state (terraform_remote_state), never from files.
    const access = kubernetesAccessFrom(props.infrastructure.talos.kubeconfig);
    new helmProvider.HelmProvider(this, "helm", { kubernetes: access });
    new kubernetesProvider.KubernetesProvider(this, "kubernetes", access);

    if (persistentAuth.sealedSecretsKey) {
      new SealedSecrets(this, "SealedSecrets", {
        version: cluster.sealed_secrets_version,
        certificatePem: persistentAuth.sealedSecretsKey.certificatePem,
        privateKeyPem: persistentAuth.sealedSecretsKey.privateKeyPem,
      });
    }
    if (persistentAuth.csiToken) {
      new ProxmoxCsi(this, "ProxmoxCsi", {
        version: cluster.proxmox_csi_version,
        apiUrl: cluster.proxmox_api_url,
        insecure: cluster.proxmox_api_insecure,
        region: cluster.proxmox_region,
        tokenId: persistentAuth.csiToken.tokenId,
        tokenValue: persistentAuth.csiToken.tokenSecret,
        storage: cluster.proxmox_csi_storage ?? cluster.proxmox_disk_storage,
      });
    }
    if (cluster.flux_enabled) new Flux(this, "Flux", { version: cluster.flux_version });
  }
}
