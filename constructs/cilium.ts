import * as release from "@cdktf/provider-helm/lib/release";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { stringify } from "yaml";
import { KUBEPRISM_PORT } from "./talos-machine-config";

export interface CiliumProps {
  /** Chart repository. @default https://helm.cilium.io (upstream) */
  readonly repository?: string;
  /** Helm chart version, e.g. "1.19.3". */
  readonly version: string;
  /** Pod network, routed natively between nodes. */
  readonly podCidr: string;
  readonly loadBalancerMode: "dsr" | "snat";
  /** Announce LoadBalancer addresses on layer 2 (the pool and policy come in layer 03). */
  readonly l2Announcements: boolean;
  /** What must be up first: the Kubernetes API. */
  readonly dependsOn: readonly ITerraformDependable[];
}

/** Cilium's Helm values for Talos: kube-proxy replacement, API through KubePrism, Talos' cgroup mount, no SYS_MODULE. */
export function ciliumValues(
  props: Pick<CiliumProps, "podCidr" | "loadBalancerMode" | "l2Announcements">,
): Record<string, unknown> {
  return {
    ipam: { mode: "kubernetes" },
    kubeProxyReplacement: true,
    k8sServiceHost: "localhost",
    k8sServicePort: KUBEPRISM_PORT,
    routingMode: "native",
    autoDirectNodeRoutes: true,
    ipv4NativeRoutingCIDR: props.podCidr,
    loadBalancer: { mode: props.loadBalancerMode, algorithm: "maglev" },
    l2announcements: { enabled: props.l2Announcements },
    externalIPs: { enabled: true },
    cgroup: { autoMount: { enabled: false }, hostRoot: "/sys/fs/cgroup" },
    securityContext: {
      capabilities: {
        ciliumAgent: [
          "CHOWN",
          "KILL",
          "NET_ADMIN",
          "NET_RAW",
          "IPC_LOCK",
          "SYS_ADMIN",
          "SYS_RESOURCE",
          "DAC_OVERRIDE",
          "FOWNER",
          "SETGID",
          "SETUID",
        ],
        cleanCiliumState: ["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"],
      },
    },
    operator: { replicas: 1 },
  };
}

/** Cilium as the cluster's CNI, installed as soon as the API answers: nodes only become Ready with it. */
export class Cilium extends Construct {
  readonly release: release.Release;

  constructor(scope: Construct, id: string, props: CiliumProps) {
    super(scope, id);
    this.release = new release.Release(this, "Release", {
      name: "cilium",
      namespace: "kube-system",
      repository: props.repository ?? "https://helm.cilium.io",
      chart: "cilium",
      version: props.version,
      values: [stringify(ciliumValues(props))],
      wait: true,
      timeout: 900,
      dependsOn: [...props.dependsOn],
    });
    this.release.overrideLogicalId("cilium");
  }
}
