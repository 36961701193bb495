import type { Construct } from "constructs";
import { Flux } from "../constructs/flux";
import { helmProvider, kubernetesProvider } from "../constructs/providers";
import { ProxmoxCsi } from "../constructs/proxmox-csi";
import { SealedSecrets } from "../constructs/sealed-secrets";
import type { LayerName } from "./catalog";
import type { InfrastructureLayer } from "./infrastructure";
import { LayerStack, type LayerProps } from "./layer-stack";
import type { PersistentAuthLayer } from "./persistent-auth";

export interface ServicesLayerProps extends LayerProps {
  readonly persistentAuth: PersistentAuthLayer;
  readonly infrastructure: InfrastructureLayer;
}

/** Layer 02: core services on the running cluster: sealed-secrets with the persisted key, Proxmox CSI, Flux. */
export class ServicesLayer extends LayerStack {
  constructor(scope: Construct, name: LayerName, props: ServicesLayerProps) {
    super(scope, name, props);
    const { cluster, persistentAuth } = props;
    const { sealedSecrets, proxmoxCsi, flux } = cluster.features;

    // Credentials come from layer 01's state (terraform_remote_state), never from files.
    helmProvider(this, props.infrastructure.talos.kubeconfig);
    kubernetesProvider(this, props.infrastructure.talos.kubeconfig);

    if (sealedSecrets) {
      new SealedSecrets(this, "SealedSecrets", {
        version: sealedSecrets.version,
        repository: cluster.features.chartMirror,
        certificatePem: persistentAuth.sealedSecretsKey.certificatePem,
        privateKeyPem: persistentAuth.sealedSecretsKey.privateKeyPem,
      });
    }
    if (proxmoxCsi && persistentAuth.csiToken) {
      new ProxmoxCsi(this, "ProxmoxCsi", {
        version: proxmoxCsi.version,
        repository: cluster.features.chartMirror,
        apiUrl: cluster.proxmox.apiUrl,
        insecure: cluster.proxmox.insecure,
        region: cluster.proxmox.region,
        tokenId: persistentAuth.csiToken.tokenId,
        tokenValue: persistentAuth.csiToken.tokenSecret,
        storage: proxmoxCsi.storage,
      });
    }
    if (flux) new Flux(this, "Flux", { version: flux.version, repository: cluster.features.chartMirror });
  }
}
