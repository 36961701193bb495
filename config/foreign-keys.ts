// Keys that are not ours but that users bring along: cluster-template keys we do not use (accepted, reported
// as ignored) and credentials (rejected, with the environment variable to use instead).

/** onedr0p/cluster-template cluster.yaml keys (YAML generation) this project does not use (yet). */
export const IGNORED_CLUSTER_KEYS: ReadonlySet<string> = new Set([
  "cluster_gateway_addr",
  "cluster_dns_gateway_addr",
  "cloudflare_domain",
  "cloudflare_gateway_addr",
  "cilium_bgp_router_addr",
  "cilium_bgp_router_asn",
  "cilium_bgp_node_asn",
]);

/** onedr0p/cluster-template nodes.yaml node keys this project does not use (none at the moment). */
export const IGNORED_NODE_KEYS: ReadonlySet<string> = new Set();

const CREDENTIAL_HINTS: Readonly<Record<string, string>> = {
  proxmox_api_token: "set PROXMOX_VE_API_TOKEN in the environment (user@realm!token-name=secret)",
  proxmox_api_token_id: "set PROXMOX_VE_API_TOKEN in the environment (user@realm!token-name=secret)",
  proxmox_api_token_secret: "set PROXMOX_VE_API_TOKEN in the environment (user@realm!token-name=secret)",
  proxmox_password:
    "set PROXMOX_VE_USERNAME and PROXMOX_VE_PASSWORD in the environment, or better PROXMOX_VE_API_TOKEN",
  proxmox_csi_token_id: "layer 00-persistent-auth creates the CSI token itself (proxmox_csi_enabled); remove this key",
  proxmox_csi_token_secret:
    "layer 00-persistent-auth creates the CSI token itself (proxmox_csi_enabled); remove this key",
  proxmox_ccm_token_id: "remove this key; credentials never go in cluster.yaml",
  proxmox_ccm_token_secret: "remove this key; credentials never go in cluster.yaml",
  tfstate_username: "set TF_HTTP_USERNAME in the environment",
  tfstate_password: "set TF_HTTP_PASSWORD in the environment",
  username: "set TF_HTTP_USERNAME in the environment",
  password: "set TF_HTTP_PASSWORD in the environment",
  access_key: "set AWS_ACCESS_KEY_ID in the environment (the S3 state backend reads it itself)",
  secret_key: "set AWS_SECRET_ACCESS_KEY in the environment (the S3 state backend reads it itself)",
  session_token: "set AWS_SESSION_TOKEN in the environment (the S3 state backend reads it itself)",
  conn_str: "set PG_CONN_STR in the environment (the pg state backend reads it itself)",
  encryption_passphrase: "set TF_VAR_state_passphrase in the environment (with state_encryption: true)",
  state_passphrase: "set TF_VAR_state_passphrase in the environment (with state_encryption: true)",
  cloudflare_token: "this project does not use Cloudflare; remove the key (credentials never go in cluster.yaml)",
  auth_key:
    "set TF_VAR_tailscale_auth_key in the environment (tailscale.auth_key_env names another variable if you like)",
  authkey:
    "set TF_VAR_tailscale_auth_key in the environment (tailscale.auth_key_env names another variable if you like)",
  client_secret: "an OIDC client secret stays with kubectl oidc-login users; the API server needs none",
};

const CREDENTIAL_PATTERN = /(token|password|passphrase|secret|private_key|api_key|auth_?key|credential)/i;

const WORKLOADS_CREDENTIAL_HINT =
  "credentials never go in workloads.yaml: SSH keys come from files or TF_VAR_ variables (ssh_keys: [{file: ...}] or [{env: TF_VAR_...}]), the Proxmox Backup Server password from the variable named by password_env";

/** For a key that looks like a credential: what to do instead. Undefined for ordinary keys. */
export function credentialHint(key: string, file?: string): string | undefined {
  if (file === "workloads.yaml") return CREDENTIAL_PATTERN.test(key) ? WORKLOADS_CREDENTIAL_HINT : undefined;
  if (Object.hasOwn(CREDENTIAL_HINTS, key)) return CREDENTIAL_HINTS[key];
  if (CREDENTIAL_PATTERN.test(key)) {
    return "credentials never go in the config files; Proxmox takes PROXMOX_VE_API_TOKEN, the HTTP state backend TF_HTTP_USERNAME / TF_HTTP_PASSWORD, from the environment";
  }
  return undefined;
}

// scheme://userinfo@ : everything up to the last "@" before the path is userinfo (passwords may contain "@").
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/gi;

/** True when the text contains a URL with a user name or password in it. */
export function hasUrlCredentials(text: string): boolean {
  return new RegExp(URL_USERINFO.source, "i").test(text) || parsedUserinfo(text);
}

/**
 * Whether a URL parser finds a user name or password where the pattern does not ("https:user:pw@host",
 * "https:\\user@host": WHATWG URLs read both as credentials, and so does the provider's Go client for some).
 */
function parsedUserinfo(text: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text.trim()) || !URL.canParse(text.trim())) return false;
  const url = new URL(text.trim());
  return url.username !== "" || url.password !== "";
}

/** The text with the user:password@ part of every URL replaced by "***@". */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, "$1***@");
}

/** The text with the user:password@ part of every URL removed. */
export function withoutUrlCredentials(text: string): string {
  const stripped = text.replace(URL_USERINFO, "$1");
  if (!parsedUserinfo(stripped)) return stripped;
  const url = new URL(stripped.trim());
  url.username = "";
  url.password = "";
  return url.href;
}

/** What to use instead of credentials in the URL at a key. */
export function urlCredentialHint(key: string): string {
  if (key === "proxmox_api_url") return "set PROXMOX_VE_API_TOKEN in the environment (user@realm!token-name=secret)";
  if (key.endsWith("address")) return "set TF_HTTP_USERNAME and TF_HTTP_PASSWORD in the environment";
  if (key === "endpoint") return "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment";
  return "credentials never go in the config files; Proxmox takes PROXMOX_VE_API_TOKEN, the HTTP state backend TF_HTTP_USERNAME / TF_HTTP_PASSWORD, from the environment";
}
