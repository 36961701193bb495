import { createHash } from "node:crypto";
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

it("the multi-host example downloads each ISO variant once to its shared CephFS, and passes the GPU through its mapping", () => {
  const definition = loadConfig(join(REPO, "examples/multi-host-secureboot"));
  const out = mkdtempSync(join(tmpdir(), "example-"));
  try {
    buildApp(resolveCluster(definition), {
      configDir: join(REPO, "examples/multi-host-secureboot"),
      outdir: out,
    }).synth();
    const resources = JSON.parse(readFileSync(join(out, "stacks/01-infrastructure/cdk.tf.json"), "utf8")).resource;
    // The SecureBoot default schematic (pve1..3) and the GPU's NVIDIA schematic (pve3), each once, from proxmox_node.
    expect(
      Object.values(resources.proxmox_download_file)
        .map((iso: any) => `${iso.node_name}:${iso.datastore_id}:${iso.file_name}`)
        .sort(),
    ).toEqual([
      "pve1:cephfs:talos-v1.12.1-5af67aa2-nocloud-amd64-secureboot.iso",
      "pve1:cephfs:talos-v1.12.1-c35d5bd1-nocloud-amd64.iso",
    ]);
    expect(resources.proxmox_virtual_environment_vm.gpu1.hostpci).toEqual([
      { device: "hostpci0", mapping: "gpu", pcie: true, rombar: true, xvga: false },
    ]);
    expect(resources.proxmox_virtual_environment_vm.w1.hostpci).toBeUndefined();
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

/**
 * The image factory's schematic id: the SHA-256 of the schematic as its Go package marshals it (gopkg.in/yaml.v3,
 * four-space indent; github.com/siderolabs/image-factory pkg/schematic `ID`). The empty schematic gives the
 * well-known vanilla id, which checks the transcription.
 */
function schematicId(officialExtensions: readonly string[]): string {
  const yaml =
    officialExtensions.length === 0
      ? "customization: {}\n"
      : `customization:\n    systemExtensions:\n        officialExtensions:\n${officialExtensions.map((e) => `            - ${e}\n`).join("")}`;
  return createHash("sha256").update(yaml).digest("hex");
}

it("a node that loads NVIDIA's kernel modules has a schematic with NVIDIA's extensions and the cluster's", () => {
  expect(schematicId([])).toBe("376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba");
  const nvidia = ["siderolabs/nonfree-kmod-nvidia-production", "siderolabs/nvidia-container-toolkit-production"];
  const gpuNodes = examples.flatMap((example) => {
    const definition = loadConfig(join(REPO, "examples", example));
    return definition.nodes
      .filter((n) => n.kernel_modules.some((m) => m.startsWith("nvidia")))
      .map((n) => ({
        node: `${example}/${n.name}`,
        id: n.schematic_id,
        extensions: definition.cluster.talos_extensions,
      }));
  });
  expect(gpuNodes.map((g) => g.node)).toContain("multi-host-secureboot/gpu1");
  for (const g of gpuNodes) expect(g.id, g.node).toBe(schematicId([...g.extensions, ...nvidia].sort()));
});
