import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { persistentLosses } from "../../scripts/bootstrap/persistent-guard";
import type { PlanJson } from "../../scripts/bootstrap/plan-summary";

// Real `tofu show -json` output of plans over terraform_data resources.
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, "fixtures", `${name}.show.json`), "utf8")) as PlanJson;
const change = (address: string, ...actions: string[]) => ({ address, mode: "managed", change: { actions } });

describe("persistentLosses", () => {
  it("names every deletion and replacement, in either order of a replacement's actions", () => {
    expect(persistentLosses(fixture("plan-mixed"))).toEqual([
      "terraform_data.gone (delete)",
      "terraform_data.replace (replace)",
    ]);
    expect(
      persistentLosses({ resource_changes: [change("tls_private_key.sealed_secrets", "create", "delete")] }),
    ).toEqual(["tls_private_key.sealed_secrets (replace)"]);
  });

  it("allows what keeps every object: no-op, create, update, forget, and data sources", () => {
    expect(persistentLosses(fixture("plan-none"))).toEqual([]);
    expect(
      persistentLosses({
        resource_changes: [
          change("proxmox_user_token.csi", "forget"),
          change("talos_machine_secrets.cluster", "update"),
          change("tls_private_key.sealed_secrets", "create"),
          { address: "data.x.y", mode: "data", change: { actions: ["delete"] } },
        ],
      }),
    ).toEqual([]);
  });

  it("refuses a destroy plan resource by resource", () => {
    expect(persistentLosses(fixture("plan-destroy"))).toHaveLength(4);
  });
});
