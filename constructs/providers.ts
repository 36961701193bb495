// The providers of the layers, configured from the cluster. Credentials are never part of it: the Proxmox token
// comes from PROXMOX_VE_API_TOKEN (read by the provider), the cluster's from layer 01's kubeconfig.
import * as helm from "@cdktf/provider-helm/lib/provider";
import * as kubernetes from "@cdktf/provider-kubernetes/lib/provider";
import * as local from "@cdktf/provider-local/lib/provider";
import * as tls from "@cdktf/provider-tls/lib/provider";
import type { Construct } from "constructs";
import { ProxmoxProvider } from "../.gen/providers/proxmox/provider";
import type { ClusterKubeconfig } from "../.gen/providers/talos/cluster-kubeconfig";
import { TalosProvider } from "../.gen/providers/talos/provider";
import { kubernetesAccessFrom } from "./kubernetes-access";

export interface ProxmoxApi {
  /** e.g. https://pve.example.com:8006/ */
  readonly apiUrl: string;
  /** Accept a self-signed certificate. */
  readonly insecure: boolean;
}

export function proxmoxProvider(scope: Construct, api: ProxmoxApi): ProxmoxProvider {
  return new ProxmoxProvider(scope, "proxmox", { endpoint: api.apiUrl, insecure: api.insecure });
}

export function talosProvider(scope: Construct, imageFactoryUrl: string): TalosProvider {
  return new TalosProvider(scope, "talos", { imageFactoryUrl });
}

/** Writes local files (kubeconfig, talosconfig). */
export function localProvider(scope: Construct): local.LocalProvider {
  return new local.LocalProvider(scope, "local");
}

export function tlsProvider(scope: Construct): tls.TlsProvider {
  return new tls.TlsProvider(scope, "tls");
}

/** Helm, talking to the cluster with the admin client certificate of its kubeconfig. */
export function helmProvider(scope: Construct, kubeconfig: ClusterKubeconfig): helm.HelmProvider {
  return new helm.HelmProvider(scope, "helm", { kubernetes: kubernetesAccessFrom(kubeconfig) });
}

/** The kubernetes provider, talking to the cluster with the admin client certificate of its kubeconfig. */
export function kubernetesProvider(scope: Construct, kubeconfig: ClusterKubeconfig): kubernetes.KubernetesProvider {
  return new kubernetes.KubernetesProvider(scope, "kubernetes", kubernetesAccessFrom(kubeconfig));
}
