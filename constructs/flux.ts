import * as release from "@cdktf/provider-helm/lib/release";
import { Construct } from "constructs";

export interface FluxProps {
  /** Chart repository. @default https://fluxcd-community.github.io/helm-charts (upstream) */
  readonly repository?: string;
  /** Helm chart version of flux2 (fluxcd-community). */
  readonly version: string;
}

/** The Flux controllers; what they sync is configured in layer 03, once their CRDs exist. */
export class Flux extends Construct {
  readonly release: release.Release;

  constructor(scope: Construct, id: string, props: FluxProps) {
    super(scope, id);
    this.release = new release.Release(this, "Release", {
      name: "flux",
      namespace: "flux-system",
      createNamespace: true,
      repository: props.repository ?? "https://fluxcd-community.github.io/helm-charts",
      chart: "flux2",
      version: props.version,
      wait: true,
    });
    this.release.overrideLogicalId("flux");
  }
}
