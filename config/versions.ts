// The versions this release is tested with: the defaults of talos_version and kubernetes_version, shown in
// the README's configuration reference and in bootstrap's plan output. Change them here only.

/** Talos version installed when cluster.yaml does not set talos_version. */
export const TESTED_TALOS_VERSION = "v1.12.1";

/** Kubernetes version installed when cluster.yaml does not set kubernetes_version. */
export const TESTED_KUBERNETES_VERSION = "v1.35.0";
