// What the project knows of Tailscale: the extension that runs it on Talos, and the shape of an auth key.

/** The official extension that runs Tailscale (containerboot) on a node. */
export const TAILSCALE_EXTENSION = "siderolabs/tailscale";

/**
 * An auth key as the extension's TS_AUTHKEY takes it: Tailscale's "tskey-auth-...", an OAuth client secret with
 * its "?ephemeral=false&preauthorized=true" options, or a Headscale pre-auth key. The key is written into a JSON
 * config patch at apply time, so nothing else (no quote, backslash, space or newline) may be in it.
 */
export const TAILSCALE_AUTH_KEY_PATTERN = "^[A-Za-z0-9_-]+([?][A-Za-z0-9_=&-]+)?$";
