import * as manifest from "@cdktf/provider-kubernetes/lib/manifest";
import * as secretV1 from "@cdktf/provider-kubernetes/lib/secret-v1";
import { Construct } from "constructs";

/**
 * github.com's SSH host key (docs.github.com, "GitHub's SSH key fingerprints"), so that Flux checks whom it
 * clones from.
 */
export const GITHUB_KNOWN_HOSTS =
  "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

export interface FluxSyncProps {
  /** GitHub repository, "owner/name". */
  readonly repository: string;
  readonly branch: string;
  /** Path of the Kustomization in the repository. */
  readonly path: string;
  /**
   * SSH deploy key of a private repository (OpenSSH format): Flux clones over SSH with it.
   * @default - a public repository, cloned over HTTPS
   */
  readonly deployKey?: { readonly privateKey: string; readonly publicKey: string };
}

/** Flux's GitRepository and root Kustomization: from here on the cluster follows the repository. */
export class FluxSync extends Construct {
  readonly gitRepository: manifest.Manifest;
  readonly kustomization: manifest.Manifest;
  /** The secret with the deploy key, for a private repository. */
  readonly deployKeySecret?: secretV1.SecretV1;

  constructor(scope: Construct, id: string, props: FluxSyncProps) {
    super(scope, id);
    const metadata = { name: "flux-system", namespace: "flux-system" };
    const source = { interval: "1h", ref: { branch: props.branch }, ignore: "/*\n!/kubernetes\n" };
    if (props.deployKey) {
      // The keys Flux's source-controller reads from an SSH secret.
      this.deployKeySecret = new secretV1.SecretV1(this, "DeployKey", {
        metadata,
        data: {
          identity: props.deployKey.privateKey,
          "identity.pub": props.deployKey.publicKey,
          known_hosts: GITHUB_KNOWN_HOSTS,
        },
      });
      this.deployKeySecret.overrideLogicalId("flux_deploy_key");
    }
    this.gitRepository = new manifest.Manifest(this, "GitRepository", {
      manifest: {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "GitRepository",
        metadata,
        spec: props.deployKey
          ? { ...source, url: `ssh://git@github.com/${props.repository}.git`, secretRef: { name: "flux-system" } }
          : { ...source, url: `https://github.com/${props.repository}.git` },
      },
      dependsOn: this.deployKeySecret ? [this.deployKeySecret] : undefined,
    });
    this.gitRepository.overrideLogicalId("flux_git_repository");
    this.kustomization = new manifest.Manifest(this, "Kustomization", {
      manifest: {
        apiVersion: "kustomize.toolkit.fluxcd.io/v1",
        kind: "Kustomization",
        metadata,
        spec: {
          interval: "1h",
          path: props.path,
          prune: true,
          sourceRef: { kind: "GitRepository", name: "flux-system" },
          wait: false,
        },
      },
      dependsOn: [this.gitRepository],
    });
    this.kustomization.overrideLogicalId("flux_kustomization");
  }
}
