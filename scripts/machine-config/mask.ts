// The secrets of a Talos machine configuration, masked: every field Talos' own machinery redacts
// (`config.Container.RedactSecrets` in github.com/siderolabs/talos/pkg/machinery v1.10-v1.14: the v1alpha1
// document's and each SecretDocument's Redact), the Tailscale auth key of our ExtensionServiceConfig, and any
// value of the secrets bundle the configuration was generated from, wherever it appears.
import { isMap, isScalar, isSeq, type Node, parseAllDocuments, visit } from "yaml";

export const MASK = "******";

type Segment = string | "*";

/** Paths of secret fields per document kind ("v1alpha1" for the document without a kind); "*" is any key or index. */
const SECRET_FIELDS: Readonly<Record<string, readonly (readonly Segment[])[]>> = {
  v1alpha1: [
    ["machine", "token"],
    ["machine", "ca", "key"],
    ["machine", "registries", "config", "*", "auth", "password"],
    ["machine", "registries", "config", "*", "auth", "auth"],
    ["machine", "registries", "config", "*", "auth", "identityToken"],
    ["machine", "registries", "config", "*", "tls", "clientIdentity", "key"],
    ["machine", "network", "interfaces", "*", "wireguard", "privateKey"],
    ["machine", "network", "interfaces", "*", "vip", "equinixMetal", "apiToken"],
    ["machine", "network", "interfaces", "*", "vip", "hcloud", "apiToken"],
    ["machine", "network", "interfaces", "*", "vlans", "*", "vip", "equinixMetal", "apiToken"],
    ["machine", "network", "interfaces", "*", "vlans", "*", "vip", "hcloud", "apiToken"],
    ["machine", "systemDiskEncryption", "*", "keys", "*", "static", "passphrase"],
    ["cluster", "secret"],
    ["cluster", "token"],
    ["cluster", "aescbcEncryptionSecret"],
    ["cluster", "secretboxEncryptionSecret"],
    ["cluster", "serviceAccount", "key"],
    ["cluster", "ca", "key"],
    ["cluster", "aggregatorCA", "key"],
    ["cluster", "etcd", "ca", "key"],
  ],
  KubeAggregatorCAConfig: [["issuingCA", "key"]],
  KubeAPIServerCAConfig: [["issuingCA", "key"]],
  KubeServiceAccountConfig: [["issuer", "privateKey"]],
  DiscoveryIdentityConfig: [["clusterSecret"]],
  SideroLinkConfig: [["uniqueToken"]],
  WireguardConfig: [["privateKey"], ["peers", "*", "presharedKey"]],
  HCloudVIPConfig: [["apiToken"]],
  RegistryAuthConfig: [["password"], ["auth"], ["identityToken"]],
  RegistryTLSConfig: [["clientIdentity", "key"]],
  ...Object.fromEntries(
    ["VolumeConfig", "RawVolumeConfig", "SwapVolumeConfig", "UserVolumeConfig"].map((kind) => [
      kind,
      [["encryption", "keys", "*", "static", "passphrase"]],
    ]),
  ),
};

/** Environment variables of an extension service that hold a credential (TS_AUTHKEY, ...). */
const SECRET_ENVIRONMENT = /KEY|TOKEN|SECRET|PASSWORD|PASSPHRASE|CREDENTIAL/i;

/**
 * `config` (one or more YAML documents, as the talos provider renders them) with every secret replaced by MASK.
 * `known` are the values of the secrets bundle it was generated from: each is masked wherever it appears, and
 * the function throws rather than return a text that still holds one.
 */
export function maskMachineConfig(config: string, known: readonly string[] = []): string {
  const values = secretForms(known);
  const documents = parseAllDocuments(config);
  for (const doc of documents) {
    if (doc.errors.length > 0) throw new Error(`the rendered configuration is not YAML: ${doc.errors[0].message}`);
    const kind = doc.get("kind");
    const fields = SECRET_FIELDS[typeof kind === "string" ? kind : "v1alpha1"] ?? [];
    for (const path of fields) maskAt(doc.contents, path);
    if (kind === "ExtensionServiceConfig") maskEnvironment(doc.get("environment", true));
    if (kind === "KubeEtcdEncryptionConfig") maskKeyNamed(doc.get("config", true), "secret");
    visit(doc, {
      Scalar(_key, node) {
        if (typeof node.value !== "string") return;
        let text = node.value;
        for (const value of values) text = text.replaceAll(value, MASK);
        node.value = text;
      },
    });
  }
  const masked = documents.map((doc) => doc.toString({ lineWidth: 0 })).join("");
  const leak = leftSecret(masked, values);
  if (leak) throw new Error(`a secret is still in the masked configuration (${leak}); nothing is printed`);
  return masked;
}

/** Each value, and for a base64 PEM (the bundle's keys) its PEM text too (Talos 1.14's documents hold keys so). */
function secretForms(known: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const value of known) {
    if (value.length < 8) continue;
    forms.add(value);
    const decoded = Buffer.from(value, "base64").toString("utf8");
    if (decoded.includes("-----BEGIN")) forms.add(decoded.trim());
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/** What still looks secret in `text`: a known value, or a private key in PEM or base64 PEM; undefined when none. */
export function leftSecret(text: string, values: readonly string[] = []): string | undefined {
  for (const doc of parseAllDocuments(text)) {
    let found: string | undefined;
    visit(doc, {
      Scalar(_key, node) {
        if (typeof node.value !== "string" || found) return;
        const value = node.value;
        if (values.some((v) => value.includes(v))) found = "a value of the secrets bundle";
        else if (isPrivateKey(value)) found = "a private key";
      },
    });
    if (found) return found;
  }
  return values.some((v) => text.includes(v)) ? "a value of the secrets bundle" : undefined;
}

function isPrivateKey(value: string): boolean {
  if (value.includes("PRIVATE KEY")) return true;
  const compact = value.replace(/\s+/g, "");
  return (
    /^[A-Za-z0-9+/]{40,}={0,2}$/.test(compact) &&
    Buffer.from(compact, "base64").toString("latin1").includes("PRIVATE KEY")
  );
}

function maskAt(node: unknown, path: readonly Segment[]): void {
  if (path.length === 0 || node === null || node === undefined) return;
  const [head, ...rest] = path;
  const children: [unknown, { value: unknown }][] = isMap(node)
    ? node.items.map((pair) => [isScalar(pair.key) ? pair.key.value : pair.key, pair])
    : isSeq(node)
      ? node.items.map((item, i) => [i, { value: item }])
      : [];
  for (const [key, holder] of children) {
    if (head !== "*" && key !== head) continue;
    if (rest.length > 0) maskAt(holder.value, rest);
    else if (isScalar(holder.value) && holder.value.value !== "" && holder.value.value !== null)
      holder.value.value = MASK;
  }
}

/** `NAME=value` entries whose name says credential: the value masked, the name kept. */
function maskEnvironment(node: unknown): void {
  if (!isSeq(node)) return;
  for (const item of node.items) {
    if (!isScalar(item) || typeof item.value !== "string") continue;
    const eq = item.value.indexOf("=");
    if (eq > 0 && SECRET_ENVIRONMENT.test(item.value.slice(0, eq)))
      item.value = `${item.value.slice(0, eq + 1)}${MASK}`;
  }
}

/** Every value under a key named `name`, at any depth (Kubernetes' EncryptionConfiguration keeps its keys so). */
function maskKeyNamed(node: unknown, name: string): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key.value : undefined;
      if (key === name && isScalar(pair.value)) pair.value.value = MASK;
      else maskKeyNamed(pair.value as Node, name);
    }
  } else if (isSeq(node)) for (const item of node.items) maskKeyNamed(item, name);
}

/**
 * The secret values of a `talos_machine_secrets` bundle (its `machine_secrets` attribute): every private key,
 * token and secret, not the certificates or the cluster id.
 */
export function bundleSecrets(bundle: unknown): string[] {
  const out: string[] = [];
  const walk = (value: unknown, key: string) => {
    if (typeof value === "string") {
      if (key !== "cert" && key !== "id" && value !== "") out.push(value);
    } else if (Array.isArray(value)) for (const v of value) walk(v, key);
    else if (value !== null && typeof value === "object")
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, k);
  };
  walk(bundle, "");
  return out;
}
