// The layers, as facts: names, apply order, what each needs reachable to plan, which writes the credentials.
// Imported by layers/app.ts, bootstrap and the PR diff, so no layer fact is defined twice or read back out of
// synthesized JSON. Pure data: importing it must not pull in the provider bindings.

/** An API a layer's providers talk to while planning (refreshing existing resources). */
export type PlanDependency = "proxmox" | "kubernetes";

export interface LayerFacts {
  /** Stack name and folder under cdktf.out/stacks, e.g. "01-infrastructure". */
  readonly name: string;
  /**
   * What must be reachable to plan this layer once it has state: every API a provider of the layer refreshes
   * existing resources against (at most; a switched-off feature takes its provider away).
   */
  readonly plansAgainst: readonly PlanDependency[];
  /** Writes kubeconfig and talosconfig into credentials/ beside cluster.yaml. */
  readonly writesCredentials: boolean;
  /** Everything in it carries prevent_destroy, lifted only by the two-key guard. */
  readonly persistent: boolean;
}

/**
 * In apply order. 01 plans against Kubernetes too: helm_release.cilium (cluster_cni: cilium) is refreshed
 * against the API of the cluster 01 itself builds. Its VMs, firewall and HA need Proxmox alone: with the cluster
 * down they plan with what talks to it excluded (docs/day2.md). 03 holds nothing of Proxmox, but keeps the
 * provider configured for its `removed` blocks: they forget the firewall and HA it held before 01 took them over.
 */
export const LAYER_CATALOG = [
  { name: "00-persistent-auth", plansAgainst: ["proxmox"], writesCredentials: false, persistent: true },
  { name: "01-infrastructure", plansAgainst: ["proxmox", "kubernetes"], writesCredentials: true, persistent: false },
  { name: "02-services", plansAgainst: ["kubernetes"], writesCredentials: false, persistent: false },
  { name: "03-configuration", plansAgainst: ["kubernetes", "proxmox"], writesCredentials: false, persistent: false },
] as const satisfies readonly LayerFacts[];

export type LayerName = (typeof LAYER_CATALOG)[number]["name"];

/** Layer names in apply order. */
export const LAYERS: readonly LayerName[] = LAYER_CATALOG.map((l) => l.name);

export const PERSISTENT_AUTH_LAYER: LayerName = "00-persistent-auth";
export const SERVICES_LAYER: LayerName = "02-services";
export const CONFIGURATION_LAYER: LayerName = "03-configuration";

/** Layer 03's Flux sync objects, of kinds layer 02's Flux release defines (FluxSync's addresses). */
export const FLUX_SYNC_OBJECTS = [
  "kubernetes_manifest.flux_git_repository",
  "kubernetes_manifest.flux_kustomization",
] as const;

/**
 * The synth context key that once lifted prevent_destroy on layer 00. A context comes from cdktf.json or
 * CDKTF_CONTEXT_JSON, where a stray flag lives on unseen: the synth refuses this key (see refusedContext).
 */
export const ALLOW_DESTROY_PERSISTENT_AUTH = "allowDestroyPersistentAuth";

/**
 * Set by bootstrap alone, for one synth, after `--destroy` of layer 00 was confirmed (the typed or given
 * cluster name): lifts prevent_destroy on layer 00 when it equals the cluster name, a second key so that a
 * confirmation meant for another cluster does nothing.
 */
export const ALLOW_DESTROY_ENV = "BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH";

/**
 * Set by bootstrap alone, for the second synth of `migrate-state` (to "previous"): the stacks get
 * previous_state_backend as their backend, so that each layer's stack can be pointed where its state is now.
 */
export const STATE_BACKEND_ENV = "BOOTSTRAP_STATE_BACKEND";

/** Folder beside cluster.yaml where the credentials layer writes kubeconfig and talosconfig. */
export const CREDENTIALS_DIR = "credentials";

/** Several clusters in one repository: clusters/<name>/ holds each one's cluster.yaml, nodes.yaml, workloads.yaml. */
export const CLUSTERS_DIR = "clusters";

export function layerFacts(name: LayerName): LayerFacts {
  return LAYER_CATALOG.find((l) => l.name === name)!;
}
