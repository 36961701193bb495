// What the end-to-end tests of ./bootstrap.sh against judges/simulated-cluster read of the cluster they built.
import { connect } from "node:tls";
import { parse } from "yaml";
import type { KubeClient } from "../../judges/kubernetes/judge";

/** Helm's record of a release: its latest release secret's status label. */
export async function releaseStatus(api: KubeClient, namespace: string, name: string): Promise<string | undefined> {
  const list = await api.get<{ items: Array<{ metadata: { labels: Record<string, string> } }> }>(
    `/api/v1/namespaces/${namespace}/secrets?labelSelector=owner%3Dhelm%2Cname%3D${name}`,
  );
  const latest = (list?.items ?? []).sort(
    (a, b) => Number(b.metadata.labels.version) - Number(a.metadata.labels.version),
  )[0];
  return latest?.metadata.labels.status;
}

/** An mTLS handshake with a node's Talos API using talosconfig's context: resolves "ok" or the error. */
export function talosHandshake(talosconfig: string, address: string): Promise<string> {
  const config = parse(talosconfig) as {
    context: string;
    contexts: Record<string, { ca: string; crt: string; key: string }>;
  };
  const ctx = config.contexts[config.context];
  const b64 = (s: string) => Buffer.from(s, "base64");
  return new Promise((resolve) => {
    const socket = connect({
      host: address,
      port: 50000,
      ca: b64(ctx.ca),
      cert: b64(ctx.crt),
      // Talos labels its Ed25519 PKCS#8 key "ED25519 PRIVATE KEY"; OpenSSL reads the same bytes as "PRIVATE KEY".
      key: b64(ctx.key).toString().replaceAll("ED25519 PRIVATE KEY", "PRIVATE KEY"),
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      socket.end();
      resolve("ok");
    });
    socket.once("error", (e) => resolve(e.message));
    socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
  });
}
