import { Testing, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { TalosNodeVm, type TalosNodeVmProps } from "../constructs/talos-node-vm";

const props: TalosNodeVmProps = {
  name: "n1", proxmoxNode: "pve", cores: 2, sockets: 1, memory: 4096, diskSize: 20, diskStorage: "local-lvm",
  isoFileId: "local:iso/talos.iso", secureboot: false, address: "10.0.0.5/24", gateway: "10.0.0.1", dnsServers: ["10.0.0.1"],
  mtu: 1500, bridge: "vmbr0", netQueues: 0, bios: "ovmf", machine: "q35", cpuType: "host", numa: false,
  scsiHardware: "virtio-scsi-pci", qemuAgent: true, diskDiscard: true, diskSsd: true, tags: ["b", "a"], startupOrder: 1,
};

describe("TalosNodeVm", () => {
  it("names the VM resource after the node and sorts tags", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    new TalosNodeVm(stack, "n1", props);
    const vm = JSON.parse(Testing.synth(stack)).resource.proxmox_virtual_environment_vm.n1;
    expect(vm.tags).toEqual(["a", "b"]);
    expect(vm.efi_disk).toMatchObject({ pre_enrolled_keys: false });
  });

  it("uses no EFI disk on SeaBIOS", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    new TalosNodeVm(stack, "n1", { ...props, bios: "seabios" });
    expect(JSON.parse(Testing.synth(stack)).resource.proxmox_virtual_environment_vm.n1.efi_disk).toBeUndefined();
  });

  it("rejects every inconsistent prop at once, naming props and values", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    expect(() => new TalosNodeVm(stack, "n1", { ...props, secureboot: true, bios: "seabios", address: "10.0.0.5", balloon: 8192 })).toThrow(
      `TalosNodeVm n1: 'secureboot' needs 'bios' "ovmf", got "seabios"; 'address' must be in CIDR form, got "10.0.0.5"; 'balloon' (8192) must not exceed 'memory' (4096)`,
    );
  });
});
