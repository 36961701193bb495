// Layer 00 holds what cannot be made again (the cluster PKI, the sealed-secrets key). Bootstrap plans it on
// every run and refuses a plan that would delete or replace any of it unless both destroy keys were given.
// Forgetting (a `removed` block with destroy = false, what a switched-off feature plans) keeps the object and
// is allowed.
import { PERSISTENT_AUTH_LAYER } from "../../layers/catalog";
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

/**
 * Why a plan of layer 00 must not be applied, as lines to print (each loss named with its action), or none when it
 * may: it loses nothing, or both keys were given (`unlocked`).
 */
export function persistentRefusal(plan: PlanJson, unlocked: boolean): string[] {
  const losses = persistentLosses(plan);
  if (losses.length === 0 || unlocked) return [];
  return [
    `refused: the plan of ${PERSISTENT_AUTH_LAYER} would lose what cannot be made again:`,
    ...losses.map((loss) => `  ${loss}`),
    "Nothing was applied. Switching a feature off never plans this (its key is kept or forgotten, not destroyed):",
    "a block of layer 00 is gone or changed, or its state holds what the config no longer has. Find out why first.",
    "To apply it anyway, give both keys: --including-persistent-auth and the cluster name (typed when asked, or",
    "--yes-destroy-persistent-auth=<cluster name>).",
  ];
}
