import { DataResource } from "cdktf";
import { Construct } from "constructs";

/** How a client reaches the Kubernetes API: the talos provider's `kubernetes_client_configuration` (base64 PEM). */
export interface KubernetesApiAccess {
  /** e.g. https://192.168.10.20:6443 */
  readonly host: string;
  readonly caCertificate: string;
  readonly clientCertificate: string;
  readonly clientKey: string;
}

export interface KubernetesApiWaitProps {
  readonly api: KubernetesApiAccess;
  /** A value whose change makes a new wait (the cluster's bootstrap): the wait runs when it is created, never on a plan. */
  readonly replaceWhen: string;
  /**
   * How long to wait for `/readyz` to answer 200.
   * @default 900
   */
  readonly timeoutSeconds?: number;
}

/**
 * Polls `<host>/readyz` with the client certificate every 5 s until it answers 200, or fails after `TIMEOUT`
 * seconds naming the last answer. Run by `node -e` from a local-exec provisioner, so written without `${` or `%{`
 * (the engine would read them as template sequences) and never printing the credentials it is given.
 */
export const WAIT_FOR_READYZ = `
const https = require("node:https");
const env = process.env;
const deadline = Date.now() + Number(env.TIMEOUT) * 1000;
const options = {
  ca: Buffer.from(env.KUBE_CA, "base64"),
  cert: Buffer.from(env.KUBE_CERT, "base64"),
  key: Buffer.from(env.KUBE_KEY, "base64"),
  timeout: 5000,
};
function probe() {
  let settled = false;
  const settle = (ready, detail) => {
    if (settled) return;
    settled = true;
    if (ready) process.exit(0);
    if (Date.now() >= deadline) {
      console.error("the Kubernetes API " + env.KUBE_HOST + " did not become ready in " + env.TIMEOUT + " s: " + detail);
      process.exit(1);
    }
    setTimeout(probe, 5000);
  };
  const req = https.get(env.KUBE_HOST + "/readyz", options, (res) => {
    res.resume();
    settle(res.statusCode === 200, "HTTP " + res.statusCode);
  });
  req.on("timeout", () => req.destroy(new Error("no answer in 5 s")));
  req.on("error", (e) => settle(false, e.message));
}
probe();
`;

/**
 * Waits, once, until the Kubernetes API answers `/readyz`: a `terraform_data` whose creation runs the wait (a
 * provisioner runs on create only). What needs the API in the same apply (a Helm release) depends on it; a plan
 * never contacts the cluster for it, unlike a health data source, which is read on every plan.
 */
export class KubernetesApiWait extends Construct {
  readonly resource: DataResource;
  /** @default 900 */
  readonly timeoutSeconds: number;

  constructor(scope: Construct, id: string, props: KubernetesApiWaitProps) {
    super(scope, id);
    this.timeoutSeconds = props.timeoutSeconds ?? 900;
    if (!Number.isInteger(this.timeoutSeconds) || this.timeoutSeconds <= 0)
      throw new Error(
        `KubernetesApiWait: 'timeoutSeconds' must be a positive whole number, got ${props.timeoutSeconds}`,
      );
    this.resource = new DataResource(this, "Resource", { triggersReplace: { cluster: props.replaceWhen } });
    // The provisioner as raw JSON: cdktf's type lacks `quiet`, which keeps the script out of the engine's output.
    this.resource.addOverride("provisioner", [
      {
        "local-exec": {
          interpreter: ["node", "-e"],
          command: WAIT_FOR_READYZ,
          quiet: true,
          environment: {
            KUBE_HOST: props.api.host,
            KUBE_CA: props.api.caCertificate,
            KUBE_CERT: props.api.clientCertificate,
            KUBE_KEY: props.api.clientKey,
            TIMEOUT: String(this.timeoutSeconds),
          },
        },
      },
    ]);
  }
}
