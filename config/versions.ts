// Which versions work together: the Talos minors this project generates machine configurations for, the
// Kubernetes minors each of them supports, and the Kubernetes minors each Cilium minor is tested with; and the
// versions this release is tested with, the defaults of talos_version and kubernetes_version (shown in the
// configuration reference, docs/configuration.md, and in bootstrap's plan output). Change them here only.

// renovate: datasource=github-releases depName=siderolabs/talos
/** Talos version installed when cluster.yaml does not set talos_version. */
export const TESTED_TALOS_VERSION = "v1.14.1";

// renovate: datasource=github-releases depName=kubernetes/kubernetes
/** Kubernetes version installed when cluster.yaml does not set kubernetes_version. */
export const TESTED_KUBERNETES_VERSION = "v1.35.4";

/** A version as [major, minor, patch]; a leading "v" is allowed. */
export type Version = readonly [number, number, number];

export function parseVersion(version: string): Version {
  const [major, minor, patch] = version.replace(/^v/, "").split(".").map(Number);
  return [major, minor, patch ?? 0];
}

/** "1.12" for "v1.12.1". */
export function minorOf(version: string): string {
  const [major, minor] = parseVersion(version);
  return `${major}.${minor}`;
}

/** A Kubernetes minor range, both ends included, e.g. { min: "1.30", max: "1.35" }. */
export interface KubernetesRange {
  readonly min: string;
  readonly max: string;
}

/**
 * Talos minors whose machine configurations this project generates, each judged by Talos' own machinery of that
 * minor in `npm run test:engine` (judges/talos-config/v<minor>/). The Kubernetes ranges are Talos' own
 * (github.com/siderolabs/talos/pkg/machinery/compatibility/talos1xx, what talosctl checks), and the tests hold
 * them against the machinery. `tested` is the patch of that minor whose machinery judges it (a test holds it
 * against judges/talos-config/v<minor>/go.mod): the stop `./bootstrap.sh upgrade` names when a target would
 * skip the minor.
 */
export const TALOS_RELEASES: Readonly<
  Record<string, { readonly kubernetes: KubernetesRange; readonly tested: string }>
> = {
  "1.10": { kubernetes: { min: "1.28", max: "1.33" }, tested: "v1.10.9" },
  "1.11": { kubernetes: { min: "1.29", max: "1.34" }, tested: "v1.11.6" },
  "1.12": { kubernetes: { min: "1.30", max: "1.35" }, tested: "v1.12.7" },
  "1.13": { kubernetes: { min: "1.31", max: "1.36" }, tested: "v1.13.9" },
  "1.14": { kubernetes: { min: "1.32", max: "1.37" }, tested: "v1.14.1" },
};

/**
 * Cilium minors with the Kubernetes minors they are end-to-end tested with, from Cilium's documentation
 * (Documentation/network/kubernetes/compatibility.rst of each release: 1.18.14 lists 1.30-1.33, 1.19.3
 * lists 1.32-1.35).
 */
export const CILIUM_RELEASES: Readonly<Record<string, { readonly kubernetes: KubernetesRange }>> = {
  "1.18": { kubernetes: { min: "1.30", max: "1.33" } },
  "1.19": { kubernetes: { min: "1.32", max: "1.35" } },
};

/** The minors of two versions compared: negative, zero or positive. */
export function compareMinors(a: string, b: string): number {
  const [x, y] = [parseVersion(a), parseVersion(b)];
  return x[0] - y[0] || x[1] - y[1];
}

/** Whether the minor of `version` is within `range`. */
export function inRange(version: string, range: KubernetesRange): boolean {
  const [major, minor] = parseVersion(version);
  return major === 1 && minor >= parseVersion(range.min)[1] && minor <= parseVersion(range.max)[1];
}

/** "1.10 to 1.13" for the keys of a release table. */
export function describeMinors(releases: Readonly<Record<string, unknown>>): string {
  const minors = Object.keys(releases);
  return `${minors[0]} to ${minors[minors.length - 1]}`;
}

/** Whether Talos `version` generates a separate HostnameConfig document (Talos 1.12 and later). */
export function talosHasHostnameConfig(version: string): boolean {
  return atLeast(version, "1.12.0");
}

/**
 * Whether Talos `version` generates the Kubernetes, resolver and install settings as documents of their own
 * (KubeNodeConfig, KubeNetworkConfig, ResolverConfig, UnattendedInstallConfig, ...: Talos 1.14 and later),
 * which refuse the same settings in the v1alpha1 document.
 */
export function talosHasKubernetesDocuments(version: string): boolean {
  return atLeast(version, "1.14.0");
}

/**
 * Whether Talos `version` warns about `machine.files` (deprecated from 1.14, whatever the contract), and writes
 * files of /etc from EtcFileConfig documents instead.
 */
export function talosHasEtcFileConfig(version: string): boolean {
  return atLeast(version, "1.14.0");
}

/**
 * The oldest OpenTofu the stacks with state_encryption declare (`terraform.required_version`) and bootstrap's
 * preflight accepts with it: the release series the engine tests run (judges/engine/build.sh). 1.11 is out of
 * support since 2026-08-01, and 1.12 carries the state-encryption fixes since (TF_ENCRYPTION, key providers).
 */
export const MIN_OPENTOFU_FOR_STATE_ENCRYPTION = "1.12.0";

/** Whether `version` ("1.12.6", "v1.11.14") is at least `min`, compared as major.minor.patch. */
export function atLeast(version: string, min: string): boolean {
  const [a, b] = [parseVersion(version), parseVersion(min)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}
