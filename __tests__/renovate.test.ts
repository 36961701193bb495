// renovate.json5: Renovate's own validator accepts it (run by .ci/run, and here when RENOVATE_VALIDATOR names
// the command), and its regex managers find every pin they are meant to move, with the value that is there now.
// Renovate itself needs a newer Node.js than the product, so extraction is proven with its regular expressions
// (the same named-group syntax) over the files they match.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { TESTED_KUBERNETES_VERSION, TESTED_TALOS_VERSION } from "../config/versions";
import { REPO } from "./support/synth";

interface RegexManager {
  readonly managerFilePatterns: string[];
  readonly matchStrings: string[];
  readonly datasourceTemplate?: string;
}

/** renovate.json5: JSON once its comment lines are dropped. */
function renovateConfig(): { customManagers: RegexManager[] } {
  const text = readFileSync(join(REPO, "renovate.json5"), "utf8")
    .split("\n")
    .filter((line) => !/^\s*\/\//.test(line))
    .join("\n");
  return JSON.parse(text);
}

/** What the regex managers extract from `file`: depName, datasource and currentValue of each match. */
function extract(file: string): Array<{ depName: string; datasource?: string; currentValue: string }> {
  const found = [];
  for (const manager of renovateConfig().customManagers) {
    const pattern = manager.managerFilePatterns[0].replace(/^\/|\/$/g, "");
    if (!new RegExp(pattern).test(file)) continue;
    const text = readFileSync(join(REPO, file), "utf8");
    for (const source of manager.matchStrings)
      for (const m of text.matchAll(new RegExp(source, "g"))) {
        const { depName, datasource, currentValue } = m.groups ?? {};
        found.push({ depName, datasource: datasource ?? manager.datasourceTemplate, currentValue });
      }
  }
  return found;
}

const cdktfProviders = (): string[] =>
  JSON.parse(readFileSync(join(REPO, "cdktf.json"), "utf8")).terraformProviders as string[];

describe("renovate.json5", () => {
  it("finds the tested Talos and Kubernetes versions in config/versions.ts", () => {
    expect(extract("config/versions.ts")).toEqual([
      { depName: "siderolabs/talos", datasource: "github-releases", currentValue: TESTED_TALOS_VERSION },
      { depName: "kubernetes/kubernetes", datasource: "github-releases", currentValue: TESTED_KUBERNETES_VERSION },
    ]);
  });

  it("finds every default chart version in config/schema.ts", () => {
    const charts = extract("config/schema.ts");
    const calls = [
      ...readFileSync(join(REPO, "config/schema.ts"), "utf8").matchAll(/chartVersion\("[^"]+", "([^"]+)"\)/g),
    ];
    expect(charts.map((c) => c.currentValue)).toEqual(calls.map((c) => c[1]));
    expect(charts.map((c) => c.depName)).toEqual([
      "ghcr.io/sergelogvinov/charts/proxmox-csi-plugin",
      "cilium",
      "sealed-secrets",
      "flux2",
    ]);
  });

  it("finds the engine's OpenTofu and bpg/proxmox in judges/engine/build.sh, and bpg/proxmox's pin in cdktf.json", () => {
    const engine = extract("judges/engine/build.sh");
    expect(engine.map((d) => d.depName)).toEqual([
      "github.com/opentofu/opentofu",
      "github.com/bpg/terraform-provider-proxmox",
    ]);
    const bpg = engine[1].currentValue;
    expect(cdktfProviders()).toContain(`bpg/proxmox@${bpg}`);
    // The tool module builds the same version the row names.
    const goMod = readFileSync(join(REPO, "judges/engine/tools/proxmox/go.mod"), "utf8");
    expect(goMod).toContain(`github.com/bpg/terraform-provider-proxmox v${bpg} `);
    const tofuMod = readFileSync(join(REPO, "judges/engine/tools/tofu/go.mod"), "utf8");
    expect(tofuMod).toContain(`github.com/opentofu/opentofu v${engine[0].currentValue} `);
    expect(extract("cdktf.json").map((d) => `${d.depName}@${d.currentValue}`)).toEqual(cdktfProviders());
  });

  it("is accepted by Renovate's own validator", async (ctx) => {
    // .ci/run exports RENOVATE_VALIDATOR (`npx --yes --package renovate@<pinned> renovate-config-validator`) and
    // runs it once before the tests; elsewhere this is skipped, as it downloads Renovate (minutes cold). In the
    // repository folder it validates renovate.json5 as a repository config (given a path it would take it as a
    // global config and accept unknown options).
    const command = process.env.RENOVATE_VALIDATOR;
    if (!command) {
      if (process.env.CI) expect.fail("CI is set but RENOVATE_VALIDATOR is not: .ci/run sets it");
      ctx.skip("RENOVATE_VALIDATOR is not set (.ci/run sets it)");
    }
    const [bin, ...args] = command!.split(" ");
    const { stdout } = await promisify(execFile)(bin, [...args, "--strict"], {
      cwd: REPO,
      timeout: 600_000,
    });
    expect(stdout).toMatch(/Config validated successfully/);
  }, 660_000);
});
