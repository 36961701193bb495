import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, resolveCluster } from "../config";
import { buildApp } from "../layers/app";
import { REPO } from "./support/synth";

const examples = readdirSync(join(REPO, "examples"));

describe.each(examples)("examples/%s", (example) => {
  it("loads without warnings and synthesizes one VM per node", () => {
    const dir = join(REPO, "examples", example);
    const definition = loadConfig(dir);
    expect(definition.warnings).toEqual([]);
    const out = mkdtempSync(join(tmpdir(), "example-"));
    try {
      buildApp(resolveCluster(definition), { configDir: dir, outdir: out }).synth();
      const stack = JSON.parse(readFileSync(join(out, "stacks/01-infrastructure/cdk.tf.json"), "utf8"));
      expect(Object.keys(stack.resource.proxmox_virtual_environment_vm).sort()).toEqual(definition.nodes.map((n) => n.name).sort());
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

it("the multi-host example downloads each ISO variant to each host that runs it", () => {
  const definition = loadConfig(join(REPO, "examples/multi-host-secureboot"));
  const out = mkdtempSync(join(tmpdir(), "example-"));
  try {
    buildApp(resolveCluster(definition), { configDir: join(REPO, "examples/multi-host-secureboot"), outdir: out }).synth();
    const isos = JSON.parse(readFileSync(join(out, "stacks/01-infrastructure/cdk.tf.json"), "utf8")).resource.proxmox_download_file;
    // SecureBoot default schematic on pve1..3; the GPU schematic (plain) on pve3 only.
    expect(Object.values(isos).map((iso: any) => `${iso.node_name}:${iso.file_name}`).sort()).toEqual([
      "pve1:talos-v1.12.1-5af67aa2-nocloud-amd64-secureboot.iso",
      "pve2:talos-v1.12.1-5af67aa2-nocloud-amd64-secureboot.iso",
      "pve3:talos-v1.12.1-37656798-nocloud-amd64.iso",
      "pve3:talos-v1.12.1-5af67aa2-nocloud-amd64-secureboot.iso",
    ]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
