import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, resolveCluster } from "../config";
import { buildApp } from "../layers/app";
import { REPO } from "./support/synth";

const examples = readdirSync(join(REPO, "examples"));

describe.each(examples)("examples/%s", (example) => {
  it("loads without warnings and synthesizes one VM per node and per workloads.yaml VM", () => {
    const dir = join(REPO, "examples", example);
    const definition = loadConfig(dir);
    expect(definition.warnings).toEqual([]);
    const out = mkdtempSync(join(tmpdir(), "example-"));
    try {
      buildApp(resolveCluster(definition), { configDir: dir, outdir: out }).synth();
      const stack = JSON.parse(readFileSync(join(out, "stacks/01-infrastructure/cdk.tf.json"), "utf8"));
      const names = [
        ...definition.nodes.map((n) => n.name),
        ...(definition.workloads?.config.vms.map((v) => v.name) ?? []),
      ];
      expect(Object.keys(stack.resource.proxmox_virtual_environment_vm).sort()).toEqual(names.sort());
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

it("the multi-host example downloads each ISO variant once to its shared CephFS, and passes the GPU through", () => {
  const definition = loadConfig(join(REPO, "examples/multi-host-secureboot"));
  const out = mkdtempSync(join(tmpdir(), "example-"));
  try {
    buildApp(resolveCluster(definition), {
      configDir: join(REPO, "examples/multi-host-secureboot"),
      outdir: out,
    }).synth();
    const resources = JSON.parse(readFileSync(join(out, "stacks/01-infrastructure/cdk.tf.json"), "utf8")).resource;
    // The SecureBoot default schematic (pve1..3) and the GPU schematic (plain, pve3), each once, from proxmox_node.
    expect(
      Object.values(resources.proxmox_download_file)
        .map((iso: any) => `${iso.node_name}:${iso.datastore_id}:${iso.file_name}`)
        .sort(),
    ).toEqual([
      "pve1:cephfs:talos-v1.12.1-37656798-nocloud-amd64.iso",
      "pve1:cephfs:talos-v1.12.1-5af67aa2-nocloud-amd64-secureboot.iso",
    ]);
    expect(resources.proxmox_virtual_environment_vm.gpu1.hostpci).toEqual([
      { device: "hostpci0", id: "0000:01:00", pcie: true, rombar: true, xvga: false },
    ]);
    expect(resources.proxmox_virtual_environment_vm.w1.hostpci).toBeUndefined();
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
