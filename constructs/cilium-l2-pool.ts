import * as manifest from "@cdktf/provider-kubernetes/lib/manifest";
import { Construct } from "constructs";

export interface CiliumL2PoolProps {
  /** First and last address handed to LoadBalancer services. */
  readonly start: string;
  readonly stop: string;
}

/** A Cilium load-balancer IP pool and the policy that announces its addresses on the nodes' LAN (ARP). */
export class CiliumL2Pool extends Construct {
  constructor(scope: Construct, id: string, props: CiliumL2PoolProps) {
    super(scope, id);
    new manifest.Manifest(this, "Pool", {
      manifest: {
        // Served as v2 since Cilium 1.18 (v2alpha1 deprecated); the L2 announcement policy is still v2alpha1.
        apiVersion: "cilium.io/v2",
        kind: "CiliumLoadBalancerIPPool",
        metadata: { name: "pool" },
        spec: { allowFirstLastIPs: "Yes", blocks: [{ start: props.start, stop: props.stop }] },
      },
    }).overrideLogicalId("cilium_lb_pool");
    new manifest.Manifest(this, "Announcement", {
      manifest: {
        apiVersion: "cilium.io/v2alpha1",
        kind: "CiliumL2AnnouncementPolicy",
        metadata: { name: "l2-policy" },
        spec: {
          loadBalancerIPs: true,
          interfaces: ["^e.*"],
          nodeSelector: { matchLabels: { "kubernetes.io/os": "linux" } },
        },
      },
    }).overrideLogicalId("cilium_l2_policy");
  }
}
