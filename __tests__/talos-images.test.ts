import { TerraformOutput, Testing, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { TalosImages, type TalosImagesProps } from "../constructs/talos-images";

const GPU = `37656798${"0".repeat(56)}`;
const props: TalosImagesProps = {
  talosVersion: "v1.12.1",
  extensions: ["siderolabs/qemu-guest-agent"],
  schematicIds: [GPU],
  isoStorage: "local",
};

function synthWith(use: (images: TalosImages) => void): { images: TalosImages; json: any } {
  const stack = new TerraformStack(Testing.app(), "s");
  const images = new TalosImages(stack, "Images", props);
  use(images);
  return { images, json: JSON.parse(Testing.synth(stack)) };
}

describe("TalosImages", () => {
  it("downloads each image once per Proxmox host, however many nodes boot it", () => {
    const { json } = synthWith((images) => {
      for (const host of ["pve1", "pve1", "pve2"]) images.isoOn(host, {});
      images.isoOn("pve1", { secureboot: true });
      images.isoOn("pve2", { schematicId: GPU });
      images.isoOn("pve2", { schematicId: GPU });
    });
    const isos = Object.values(json.resource.proxmox_download_file).map(
      (iso: any) => `${iso.node_name}:${iso.file_name}`,
    );
    const digest = Object.keys(json.data.talos_image_factory_urls)[0].replace("talos_", "");
    expect(isos.sort()).toEqual(
      [
        `pve1:talos-v1.12.1-${digest}-nocloud-amd64.iso`,
        `pve2:talos-v1.12.1-${digest}-nocloud-amd64.iso`,
        `pve1:talos-v1.12.1-${digest}-nocloud-amd64-secureboot.iso`,
        "pve2:talos-v1.12.1-37656798-nocloud-amd64.iso",
      ].sort(),
    );
    expect(Object.keys(json.data.talos_image_factory_urls).sort()).toEqual(
      [`talos_${digest}`, `talos_${digest}_secureboot`, "talos_37656798"].sort(),
    );
  });

  it("on shared ISO storage downloads each image once, from the given host, and every host's VMs use that one file", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const images = new TalosImages(stack, "Images", { ...props, isoStorage: "cephfs", sharedIsoHost: "pve1" });
    for (const host of ["pve1", "pve2", "pve3"])
      new TerraformOutput(stack, `iso-${host}`, { value: images.isoOn(host, {}) });
    images.isoOn("pve3", { schematicId: GPU });
    const json = JSON.parse(Testing.synth(stack));
    const ids = Object.values(json.output).map((o: any) => o.value);
    const isos = Object.entries(json.resource.proxmox_download_file).map(
      ([name, iso]: [string, any]) => `${name} ${iso.node_name}:${iso.datastore_id}`,
    );
    const digest = Object.keys(json.data.talos_image_factory_urls)
      .find((k) => k !== "talos_37656798")!
      .replace("talos_", "");
    expect(isos.sort()).toEqual(
      [`talos_${digest}_on_cephfs pve1:cephfs`, "talos_37656798_on_cephfs pve1:cephfs"].sort(),
    );
    expect(new Set(ids)).toEqual(new Set([`\${proxmox_download_file.talos_${digest}_on_cephfs.id}`]));
  });

  it("builds the cluster's schematic from the extensions, and uses a node's own schematic as given", () => {
    const { images, json } = synthWith(() => {});
    expect(json.resource.talos_image_factory_schematic.default.schematic).toContain("siderolabs/qemu-guest-agent");
    const stack = new TerraformStack(Testing.app(), "t");
    const own = new TalosImages(stack, "Images", props).image({ schematicId: GPU });
    new TerraformOutput(stack, "installer", { value: own.installerImage });
    const synthesized = JSON.parse(Testing.synth(stack));
    expect(synthesized.data.talos_image_factory_urls.talos_37656798.schematic_id).toBe(GPU);
    expect(synthesized.output.installer.value).toBe("${data.talos_image_factory_urls.talos_37656798.urls.installer}");
    expect(images.image({ secureboot: false })).toBe(images.image({}));
  });

  it("lengthens the labels until the schematics are told apart", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const twins = [`abcdef01${"1".repeat(56)}`, `abcdef01${"2".repeat(56)}`];
    const images = new TalosImages(stack, "Images", { ...props, schematicIds: twins });
    expect(twins.map((id) => images.image({ schematicId: id }).name)).toEqual(["abcdef011", "abcdef012"]);
  });

  it("refuses a schematic it was not told about, since labels depend on all of them", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    expect(() => new TalosImages(stack, "Images", props).image({ schematicId: "f".repeat(64) })).toThrow(
      /is not among 'schematicIds'/,
    );
  });
});
