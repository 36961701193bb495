import * as manifest from "@cdktf/provider-kubernetes/lib/manifest";
import { Construct } from "constructs";

export interface FluxSyncProps {
  /** GitHub repository, "owner/name". */
  readonly repository: string;
  readonly branch: string;
  /** Path of the Kustomization in the repository. */
  readonly path: string;
}

/** Flux's GitRepository and root Kustomization: from here on the cluster follows the repository. */
export class FluxSync extends Construct {
  readonly gitRepository: manifest.Manifest;
  readonly kustomization: manifest.Manifest;

  constructor(scope: Construct, id: string, props: FluxSyncProps) {
    super(scope, id);
    const metadata = { name: "flux-system", namespace: "flux-system" };
    this.gitRepository = new manifest.Manifest(this, "GitRepository", {
      manifest: {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata,
        spec: { interval: "1h", url: `https://github.com/${props.repository}.git`, ref: { branch: props.branch }, ignore: "/*\n!/kubernetes\n" },
      },
    });
    this.gitRepository.overrideLogicalId("flux_git_repository");
    this.kustomization = new manifest.Manifest(this, "Kustomization", {
      manifest: {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata,
        spec: { interval: "1h", path: props.path, prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" }, wait: false },
      },
      dependsOn: [this.gitRepository],
    });
    this.kustomization.overrideLogicalId("flux_kustomization");
  }
}
