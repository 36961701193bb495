import { describe, expect, it } from "vitest";
import { FLUX_DEPLOY_KEY_OUTPUT as LAYER_OUTPUT } from "../../layers/persistent-auth";
import { deployKeyNotice, FLUX_DEPLOY_KEY_OUTPUT } from "../../scripts/bootstrap/deploy-key";

describe("the Flux deploy key printed after layer 00 is applied", () => {
  it("reads the output layer 00 writes", () => {
    expect(FLUX_DEPLOY_KEY_OUTPUT).toBe(LAYER_OUTPUT);
  });

  it("prints the public key for the user to add to the repository", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest";
    const lines = deployKeyNotice(
      JSON.stringify({ [FLUX_DEPLOY_KEY_OUTPUT]: { sensitive: false, type: "string", value: `${key}\n` } }),
      "me/home-ops",
    );
    expect(lines[0]).toContain("me/home-ops");
    expect(lines.join("\n")).toContain("Deploy keys");
    expect(lines[lines.length - 1]).toBe(`  ${key}`);
  });

  it("prints nothing for a public repository (no such output)", () => {
    expect(deployKeyNotice(JSON.stringify({ other: { value: "x" } }))).toEqual([]);
    expect(deployKeyNotice("{}")).toEqual([]);
  });
});
