// Layer 00 holds what cannot be made again (the cluster PKI, the sealed-secrets key). Bootstrap plans it on
// every run and refuses a plan that would delete or replace any of it unless both destroy keys were given.
// Forgetting (a `removed` block with destroy = false, what a switched-off feature plans) keeps the object and
// is allowed.
import type { PlanJson } from "./plan-summary";

/** `address (delete)` or `address (replace)` for every managed resource the plan would delete or replace. */
export function persistentLosses(plan: PlanJson): string[] {
  const losses: string[] = [];
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === "data" || !rc.change.actions.includes("delete")) continue;
    losses.push(`${rc.address} (${rc.change.actions.includes("create") ? "replace" : "delete"})`);
  }
  return losses;
}
