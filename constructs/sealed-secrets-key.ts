import * as privateKey from "@cdktf/provider-tls/lib/private-key";
import * as selfSignedCert from "@cdktf/provider-tls/lib/self-signed-cert";
import { Construct } from "constructs";

export interface SealedSecretsKeyProps {
  /**
   * Lift `prevent_destroy`: without this key no secret sealed for the cluster can be decrypted again.
   * @default false
   */
  readonly allowDestroy?: boolean;
  /**
   * Validity of the certificate, in years. The controller keeps decrypting with the key after it expires.
   * @default 10
   */
  readonly validityYears?: number;
}

/**
 * The sealed-secrets keypair, kept in layer 00 so that a rebuilt cluster starts its controller with the same
 * key and every SealedSecret in git still decrypts.
 */
export class SealedSecretsKey extends Construct {
  readonly key: privateKey.PrivateKey;
  readonly certificate: selfSignedCert.SelfSignedCert;

  constructor(scope: Construct, id: string, props: SealedSecretsKeyProps = {}) {
    super(scope, id);
    const lifecycle = { preventDestroy: !props.allowDestroy };
    this.key = new privateKey.PrivateKey(this, "Key", { algorithm: "RSA", rsaBits: 4096, lifecycle });
    this.key.overrideLogicalId("sealed_secrets");
    this.certificate = new selfSignedCert.SelfSignedCert(this, "Certificate", {
      privateKeyPem: this.key.privateKeyPem,
      subject: [{ commonName: "sealed-secret", organization: "sealed-secret" }],
      validityPeriodHours: (props.validityYears ?? 10) * 365 * 24,
      allowedUses: ["digital_signature", "key_encipherment"],
      lifecycle,
    });
    this.certificate.overrideLogicalId("sealed_secrets");
  }

  get privateKeyPem(): string {
    return this.key.privateKeyPem;
  }

  get certificatePem(): string {
    return this.certificate.certPem;
  }
}
