// The counts of a saved plan, from `<engine> show -json <plan>`, as the engine's own "Plan: N to add, ..." line
// counts them (a replacement is one add and one destroy).

/** The parts of the engine's JSON plan representation used here. */
export interface PlanJson {
  readonly errored?: boolean;
  readonly resource_changes?: ReadonlyArray<{
    readonly address: string;
    readonly mode?: string;
    readonly change: { readonly actions: readonly string[]; readonly importing?: unknown };
  }>;
  readonly output_changes?: Readonly<Record<string, { readonly actions: readonly string[] }>>;
}

export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  /** Resources removed from the state without being destroyed (`removed` blocks). */
  readonly forget: number;
  /** Resources imported into the state. */
  readonly import: number;
  /** Root outputs whose value changes. */
  readonly outputs: number;
  /** Anything to apply at all. */
  readonly hasChanges: boolean;
}

export function summarizePlan(plan: PlanJson): PlanSummary {
  if (plan.errored) throw new Error("the plan errored; the engine's output above says why");
  let add = 0;
  let change = 0;
  let destroy = 0;
  let forget = 0;
  let imports = 0;
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === "data") continue;
    const actions = rc.change.actions;
    if (rc.change.importing) imports++;
    if (actions.includes("create")) add++;
    if (actions.includes("delete")) destroy++;
    if (actions.includes("update")) change++;
    if (actions.includes("forget")) forget++;
  }
  const outputs = Object.values(plan.output_changes ?? {}).filter((o) => !o.actions.every((a) => a === "no-op")).length;
  return {
    add,
    change,
    destroy,
    forget,
    import: imports,
    outputs,
    hasChanges: add + change + destroy + forget + imports + outputs > 0,
  };
}

/** `1 to add, 0 to change, 0 to destroy` (+ forget, import, outputs when there are any), or `no changes`. */
export function describePlan(s: PlanSummary): string {
  if (!s.hasChanges) return "no changes";
  const parts = [`${s.add} to add`, `${s.change} to change`, `${s.destroy} to destroy`];
  if (s.forget) parts.push(`${s.forget} to forget`);
  if (s.import) parts.push(`${s.import} to import`);
  if (s.outputs) parts.push(`${s.outputs} output${s.outputs === 1 ? "" : "s"} changed`);
  return parts.join(", ");
}
