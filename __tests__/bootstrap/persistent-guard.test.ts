import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { persistentLosses, persistentRefusal } from "../../scripts/bootstrap/persistent-guard";
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

describe("persistentRefusal: what bootstrap prints before it refuses a plan of layer 00", () => {
  const losing = {
    resource_changes: [
      change("tls_private_key.orphan", "delete"),
      change("tls_self_signed_cert.sealed_secrets", "delete", "create"),
      change("tls_private_key.flux_deploy_key", "create"),
    ],
  };

  it("names each address with its action, and the two keys that would let it through", () => {
    const lines = persistentRefusal(losing, false);
    expect(lines[0]).toBe("refused: the plan of 00-persistent-auth would lose what cannot be made again:");
    expect(lines.slice(1, 3)).toEqual([
      "  tls_private_key.orphan (delete)",
      "  tls_self_signed_cert.sealed_secrets (replace)",
    ]);
    expect(lines.join("\n")).not.toContain("flux_deploy_key");
    expect(lines.join("\n")).toMatch(/--including-persistent-auth and the cluster name/);
    expect(lines.join("\n")).toMatch(/--yes-destroy-persistent-auth=<cluster name>/);
  });

  it("refuses nothing with both keys, or when nothing is lost", () => {
    expect(persistentRefusal(losing, true)).toEqual([]);
    expect(persistentRefusal(fixture("plan-none"), false)).toEqual([]);
    expect(persistentRefusal({ resource_changes: [change("proxmox_user_token.csi", "forget")] }, false)).toEqual([]);
  });
});
