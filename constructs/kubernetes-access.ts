import { Fn } from "cdktf";
import type { ClusterKubeconfig } from "../.gen/providers/talos/cluster-kubeconfig";

/** How the helm and kubernetes providers reach the cluster: the admin client certificate from Talos. */
export interface KubernetesAccess {
  readonly host: string;
  readonly clusterCaCertificate: string;
  readonly clientCertificate: string;
  readonly clientKey: string;
}

/** Access from a `talos_cluster_kubeconfig` (its certificates are base64-encoded PEM). */
export function kubernetesAccessFrom(kubeconfig: ClusterKubeconfig): KubernetesAccess {
  const client = kubeconfig.kubernetesClientConfiguration;
  return {
    host: client.host,
    clusterCaCertificate: Fn.base64decode(client.caCertificate),
    clientCertificate: Fn.base64decode(client.clientCertificate),
    clientKey: Fn.base64decode(client.clientKey),
  };
}
