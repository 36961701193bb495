// Which layers a run touches, in which order, and what it does to each: pure functions of the options, the
// synthesized layers and two facts found by preflight (is layer 00's state empty, which layer writes the kubeconfig).
import { findLayer, PERSISTENT_AUTH, type Layer } from "./layers";
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
  readonly layer: string;
  /** The stack directory, or the kubeconfig for `wait-api`. */
  readonly target: string;
}

export interface Scope {
  /** Layers in run order: bottom-up to apply or plan, top-down to destroy. */
  readonly layers: readonly Layer[];
  /** The default apply scope: layer 00 takes part only when its state is empty (a first bootstrap). */
  readonly persistentAuthIfEmpty: boolean;
}

/** Resolves --only, --start-from and --destroy against the synthesized layers. */
export function resolveScope(options: BootstrapOptions, layers: readonly Layer[]): { scope?: Scope; problems: Problem[] } {
  const problems: Problem[] = [];
  const known = layers.map((l) => l.name).join(", ");
  const resolveName = (option: string, input: string | undefined): Layer | undefined => {
    if (input === undefined) return undefined;
    const layer = findLayer(input, layers);
    if (!layer) {
      problems.push({
        check: "layers",
        reason: `--${option}=${input} names no layer; the layers are ${known}`,
        hint: "use a layer's full name, its name without the number, or its number (01-infrastructure, infrastructure, 01)",
      });
    }
    return layer;
  };
  const index = (layer: Layer) => layers.indexOf(layer);

  if (options.action === "destroy") {
    const input = options.destroyTo ?? (options.includingPersistentAuth ? PERSISTENT_AUTH : undefined);
    const lowest = input === undefined ? layers.find((l) => l.name !== PERSISTENT_AUTH) : resolveName("destroy", input);
    if (!lowest) return { problems };
    return { scope: { layers: layers.slice(index(lowest)).reverse(), persistentAuthIfEmpty: false }, problems };
  }
  if (options.only !== undefined) {
    const layer = resolveName("only", options.only);
    return layer ? { scope: { layers: [layer], persistentAuthIfEmpty: false }, problems } : { problems };
  }
  if (options.startFrom !== undefined) {
    const layer = resolveName("start-from", options.startFrom);
    return layer ? { scope: { layers: layers.slice(index(layer)), persistentAuthIfEmpty: false }, problems } : { problems };
  }
  // --plan shows every layer; an apply touches layer 00 only on a first bootstrap.
  return { scope: { layers: [...layers], persistentAuthIfEmpty: !options.planOnly }, problems };
}

/**
 * Whether preflight must find out if layer 00's state is empty: for the default apply scope (00 takes part
 * only when it is), and for any apply that leaves 00 out (the layers above read its outputs, so it must exist).
 */
export function needsPersistentAuthState(options: BootstrapOptions, scope: Scope): boolean {
  if (options.action !== "apply" || options.planOnly) return false;
  return scope.persistentAuthIfEmpty || !scope.layers.some((l) => l.name === PERSISTENT_AUTH);
}

export interface PhaseFacts {
  /** Layer 00 has no resources in its state; known when needsPersistentAuthState(). */
  readonly persistentAuthEmpty?: boolean;
  /** The kubeconfig each layer writes, by layer name. */
  readonly kubeconfigs: ReadonlyMap<string, string>;
}

/** The phases of the run, in order. */
export function planPhases(options: BootstrapOptions, scope: Scope, facts: PhaseFacts): { phases: Phase[]; problems: Problem[] } {
  const problems: Problem[] = [];
  let layers = scope.layers;
  if (scope.persistentAuthIfEmpty && facts.persistentAuthEmpty === false) layers = layers.filter((l) => l.name !== PERSISTENT_AUTH);
  if (
    options.action === "apply" &&
    !options.planOnly &&
    facts.persistentAuthEmpty === true &&
    layers.length > 0 &&
    !layers.some((l) => l.name === PERSISTENT_AUTH)
  ) {
    problems.push({
      check: "sequence",
      reason: `${PERSISTENT_AUTH} has never been applied (its state is empty), and ${layers[0].name} reads its outputs`,
      hint: "run without --start-from/--only (a first bootstrap starts at 00), or --only=persistent-auth first",
    });
  }
  const phases: Phase[] = [];
  for (const layer of layers) {
    if (options.action === "destroy") {
      phases.push({ action: options.planOnly ? "plan-destroy" : "destroy", layer: layer.name, target: layer.dir });
      continue;
    }
    phases.push({ action: options.planOnly ? "plan" : "apply", layer: layer.name, target: layer.dir });
    const kubeconfig = facts.kubeconfigs.get(layer.name);
    if (!options.planOnly && kubeconfig !== undefined) phases.push({ action: "wait-api", layer: layer.name, target: kubeconfig });
  }
  return { phases, problems };
}

/** What a finished phase left behind, as far as the layers above it care. */
export interface LayerOutcome {
  /** The plan had resource changes that were not applied (a --plan run). */
  readonly pending: boolean;
  /** Not planned at all (validated only), because a layer below had pending changes. */
  readonly skipped: boolean;
}

/**
 * In a --plan run, the layer below `layer` whose pending changes keep it from being planned, or undefined. A
 * plan of a layer is computed against what the layers it reads hold now; when one of them has changes still to
 * apply (on a first bootstrap: everything), the plan would be wrong or fail (outputs that do not exist yet, a
 * Kubernetes API that is not there yet). Such a layer is covered by preflight's `validate` instead.
 */
export function blockedBy(layer: Layer, outcomes: ReadonlyMap<string, LayerOutcome>): string | undefined {
  return layer.dependencies.find((dep) => {
    const outcome = outcomes.get(dep);
    return outcome !== undefined && (outcome.pending || outcome.skipped);
  });
}
