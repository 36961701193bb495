import * as release from "@cdktf/provider-helm/lib/release";
import * as namespaceV1 from "@cdktf/provider-kubernetes/lib/namespace-v1";
import * as secretV1 from "@cdktf/provider-kubernetes/lib/secret-v1";
import { Construct } from "constructs";
import { stringify } from "yaml";

export interface SealedSecretsProps {
  /** Chart repository. @default https://bitnami-labs.github.io/sealed-secrets (upstream) */
  readonly repository?: string;
  /** Helm chart version of sealed-secrets. */
  readonly version: string;
  /** The persisted keypair (PEM), from layer 00. */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** @default "sealed-secrets" */
  readonly namespace?: string;
}

/**
 * The sealed-secrets controller, started with the persisted keypair: the key secret is created first and
 * labelled as the active sealing key, so the controller adopts it instead of generating a new one.
 */
export class SealedSecrets extends Construct {
  readonly keySecret: secretV1.SecretV1;
  readonly release: release.Release;

  constructor(scope: Construct, id: string, props: SealedSecretsProps) {
    super(scope, id);
    const namespace = props.namespace ?? "sealed-secrets";
    const ns = new namespaceV1.NamespaceV1(this, "Namespace", { metadata: { name: namespace } });
    ns.overrideLogicalId("sealed_secrets");

    this.keySecret = new secretV1.SecretV1(this, "KeySecret", {
      metadata: {
        name: "sealed-secrets-key-persisted",
        namespace: ns.metadata.name,
        labels: { "sealedsecrets.bitnami.com/sealed-secrets-key": "active" },
      },
      type: "kubernetes.io/tls",
      data: { "tls.crt": props.certificatePem, "tls.key": props.privateKeyPem },
    });
    this.keySecret.overrideLogicalId("sealed_secrets_key");

    this.release = new release.Release(this, "Release", {
      name: "sealed-secrets",
      namespace: ns.metadata.name,
      repository: props.repository ?? "https://bitnami-labs.github.io/sealed-secrets",
      chart: "sealed-secrets",
      version: props.version,
      values: [stringify({ fullnameOverride: "sealed-secrets-controller", keyrenewperiod: "0" })],
      wait: true,
      dependsOn: [this.keySecret],
    });
    this.release.overrideLogicalId("sealed_secrets");
  }
}
