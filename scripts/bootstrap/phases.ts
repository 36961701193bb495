// Which layers a run touches, in which order, and what it does to each: pure functions of the options, the layer
// catalog and two facts found by preflight (is layer 00's state empty, where the synthesized stacks are). Layer 00
// is planned on every default run: its plan is applied only when it has changes (a feature switched on, the Talos
// client certificate due for renewal), and refused when it deletes or replaces anything (persistent-guard.ts).
import {
  CONFIGURATION_LAYER,
  LAYERS,
  layerFacts,
  PERSISTENT_AUTH_LAYER,
  SERVICES_LAYER,
  type LayerName,
} from "../../layers/catalog";
import { findLayer } from "./layers";
import type { BootstrapOptions } from "./options";
import type { Problem } from "./problem";

export type PhaseAction =
  /** init was done by preflight; plan -out, show the summary, ask, apply the plan. */
  | "apply"
  /** plan only. */
  | "plan"
  /** plan -destroy -out, show the summary, ask, apply the plan. */
  | "destroy"
  /** plan -destroy only. */
  | "plan-destroy"
  /** Poll the Kubernetes API with the kubeconfig the layer wrote. */
  | "wait-api";

export interface Phase {
  readonly action: PhaseAction;
  readonly layer: LayerName;
  /** The stack directory, or the kubeconfig for `wait-api`. */
  readonly target: string;
}

export interface Scope {
  /** Layers in run order: bottom-up to apply or plan, top-down to destroy. */
  readonly layers: readonly LayerName[];
}

/** Resolves --only, --start-from and --destroy against the layer catalog. */
export function resolveScope(
  options: BootstrapOptions,
  layers: readonly LayerName[] = LAYERS,
): { scope?: Scope; problems: Problem[] } {
  const problems: Problem[] = [];
  const resolveName = (option: string, input: string | undefined): LayerName | undefined => {
    if (input === undefined) return undefined;
    const layer = findLayer(input, layers);
    if (!layer) {
      problems.push({
        check: "layers",
        reason: `--${option}=${input} names no layer; the layers are ${layers.join(", ")}`,
        hint: "use a layer's full name, its name without the number, or its number (01-infrastructure, infrastructure, 01)",
      });
    }
    return layer;
  };
  const from = (layer: LayerName) => layers.slice(layers.indexOf(layer));

  if (options.action === "destroy") {
    const input = options.destroyTo ?? (options.includingPersistentAuth ? PERSISTENT_AUTH_LAYER : undefined);
    const lowest =
      input === undefined ? layers.find((l) => l !== PERSISTENT_AUTH_LAYER) : resolveName("destroy", input);
    if (!lowest) return { problems };
    return { scope: { layers: from(lowest).reverse() }, problems };
  }
  if (options.only !== undefined) {
    const layer = resolveName("only", options.only);
    return layer ? { scope: { layers: [layer] }, problems } : { problems };
  }
  if (options.startFrom !== undefined) {
    const layer = resolveName("start-from", options.startFrom);
    return layer ? { scope: { layers: from(layer) }, problems } : { problems };
  }
  return { scope: { layers: [...layers] }, problems };
}

/**
 * Whether preflight must find out if layer 00's state is empty: for an apply that leaves 00 out (the layers
 * above read its outputs, so it must exist).
 */
export function needsPersistentAuthState(options: BootstrapOptions, scope: Scope): boolean {
  if (options.command !== "layers" || options.action !== "apply" || options.planOnly) return false;
  return !scope.layers.includes(PERSISTENT_AUTH_LAYER);
}

export interface PhaseFacts {
  /** Layer 00 has no resources in its state; known when needsPersistentAuthState(). */
  readonly persistentAuthEmpty?: boolean;
  /**
   * Apply 03 before 02: Flux is switched off and 03 still holds its sync, which must be deleted while Flux and its
   * CRDs are there (03 reads nothing of 02 then). @default false
   */
  readonly configurationFirst?: boolean;
  /** The stack folder of each layer. */
  readonly stackDir: (layer: LayerName) => string;
  /** The kubeconfig the credentials layer writes (<config dir>/credentials/kubeconfig). */
  readonly kubeconfig: string;
}

/** The phases of the run, in order. */
export function planPhases(
  options: BootstrapOptions,
  scope: Scope,
  facts: PhaseFacts,
): { phases: Phase[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const layers = scope.layers;
  if (
    options.action === "apply" &&
    !options.planOnly &&
    facts.persistentAuthEmpty === true &&
    layers.length > 0 &&
    !layers.includes(PERSISTENT_AUTH_LAYER)
  ) {
    problems.push({
      check: "sequence",
      reason: `${PERSISTENT_AUTH_LAYER} has never been applied (its state is empty), and ${layers[0]} reads its outputs`,
      hint: "run without --start-from/--only (a first bootstrap starts at 00), or --only=persistent-auth first",
    });
  }
  const phases: Phase[] = [];
  const order = [...layers];
  const services = order.indexOf(SERVICES_LAYER);
  const configuration = order.indexOf(CONFIGURATION_LAYER);
  if (facts.configurationFirst && options.action === "apply" && services >= 0 && configuration > services)
    [order[services], order[configuration]] = [CONFIGURATION_LAYER, SERVICES_LAYER];
  for (const layer of order) {
    const target = facts.stackDir(layer);
    if (options.action === "destroy") {
      phases.push({ action: options.planOnly ? "plan-destroy" : "destroy", layer, target });
      continue;
    }
    phases.push({ action: options.planOnly ? "plan" : "apply", layer, target });
    if (!options.planOnly && layerFacts(layer).writesCredentials)
      phases.push({ action: "wait-api", layer, target: facts.kubeconfig });
  }
  return { phases, problems };
}
