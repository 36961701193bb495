import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { parseConfig, resolveCluster } from "../config";
import { sharesTag } from "../config/guests";
import { TalosNodeVm, type TalosNodeVmProps } from "../constructs/talos-node-vm";
import { buildApp } from "../layers/app";

/** Only what a VM cannot do without. */
const essentials: TalosNodeVmProps = {
  name: "n1",
  proxmoxNode: "pve",
  boot: { isoFileId: "local:iso/talos.iso" },
  network: { address: "10.0.0.5/24", gateway: "10.0.0.1" },
};

function synthVm(props: TalosNodeVmProps): { vm: TalosNodeVm; resource: Record<string, any> } {
  const stack = new TerraformStack(Testing.app(), "s");
  const vm = new TalosNodeVm(stack, "n1", props);
  return { vm, resource: JSON.parse(Testing.synth(stack)).resource.proxmox_virtual_environment_vm[props.name] };
}

describe("TalosNodeVm alone, with only the essentials", () => {
  const { vm, resource } = synthVm(essentials);

  it("applies its documented defaults and exposes them", () => {
    expect(vm.hardware).toEqual({
      cores: 4,
      sockets: 1,
      memory: 8192,
      balloon: 0,
      cpuType: "host",
      numa: true,
      diskSize: 128,
      diskStorage: "local-lvm",
      scsiHardware: "virtio-scsi-single",
      diskDiscard: true,
      diskSsd: true,
      qemuAgent: true,
    });
    expect(vm.boot).toEqual({ isoFileId: "local:iso/talos.iso", secureboot: false, bios: "ovmf", machine: "q35" });
    expect(vm.network).toMatchObject({
      dnsServers: ["1.1.1.1", "1.0.0.1"],
      mtu: 1500,
      bridge: "vmbr0",
      queues: 4,
      firewall: false,
    });
    expect(vm.network.macAddress).toBeUndefined();
    expect(vm.tags).toEqual(["kubernetes", "linux", "talos"]);
  });

  it("synthesizes a bootable UEFI VM from them", () => {
    expect(resource).toMatchObject({
      name: "n1",
      node_name: "pve",
      bios: "ovmf",
      cpu: { cores: 4, sockets: 1, type: "host", numa: true },
      memory: { dedicated: 8192, floating: 0 },
      efi_disk: { datastore_id: "local-lvm", pre_enrolled_keys: false },
      cdrom: { file_id: "local:iso/talos.iso" },
      boot_order: ["scsi0", "ide2"],
      initialization: {
        ip_config: [{ ipv4: { address: "10.0.0.5/24", gateway: "10.0.0.1" } }],
        dns: { servers: ["1.1.1.1", "1.0.0.1"] },
      },
    });
    expect(resource.disk).toEqual([
      expect.objectContaining({ size: 128, datastore_id: "local-lvm", discard: "on", ssd: true, iothread: true }),
    ]);
    expect(resource.scsi_hardware).toBe("virtio-scsi-single");
    // The CD-ROM is on ide2, so the cloud-init drive must not be (bpg's default).
    expect(resource.initialization.interface).toBe("ide0");
    // The address is static: a refresh never waits for the guest agent to report it.
    expect(resource.agent).toMatchObject({ enabled: true, wait_for_ip: { disabled: true } });
    expect(resource.hostpci).toBeUndefined();
    expect(resource.network_device[0]).toMatchObject({
      mac_address: null,
      vlan_id: 0,
      mtu: 1500,
      queues: 4,
      firewall: false,
    });
    expect(resource.tpm_state).toBeUndefined();
    expect(resource.startup).toBeUndefined();
    expect(resource.vm_id).toBeUndefined();
  });

  it("has the same defaults as cluster.yaml: a minimal config's VM equals the bare construct", () => {
    const definition = parseConfig({
      cluster: [
        "node_cidr: 10.0.0.0/24",
        "cluster_api_addr: 10.0.0.10",
        "talos_version: v1.12.1",
        "kubernetes_version: v1.35.0",
        "proxmox_api_url: https://pve.example:8006/",
        "proxmox_node: pve",
      ].join("\n"),
      nodes: "nodes:\n  - { name: n1, address: 10.0.0.5, controller: true }\n",
    });
    const dir = mkdtempSync(join(tmpdir(), "talos-node-vm-"));
    try {
      buildApp(resolveCluster(definition), { configDir: dir, outdir: dir }).synth();
      const stack = JSON.parse(readFileSync(join(dir, "stacks", "01-infrastructure", "cdk.tf.json"), "utf8"));
      const fromConfig = stack.resource.proxmox_virtual_environment_vm.n1;
      // What only the layer knows: the ISO it downloads and the start order of controllers.
      const differing = ["//", "cdrom", "startup"];
      const without = (vm: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(vm).filter(([k]) => !differing.includes(k)));
      expect(without(fromConfig)).toEqual(without(resource));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("TalosNodeVm with grouped props", () => {
  it("passes hardware, boot, network and startup through", () => {
    const { resource } = synthVm({
      ...essentials,
      vmId: 1234,
      hardware: {
        cores: 2,
        sockets: 2,
        memory: 4096,
        balloon: 2048,
        diskSize: 20,
        diskStorage: "ceph",
        scsiHardware: "virtio-scsi-single",
        diskDiscard: false,
      },
      boot: { ...essentials.boot, secureboot: true, machine: "pc" },
      network: {
        ...essentials.network,
        macAddress: "bc:24:11:00:00:01",
        vlanId: 20,
        mtu: 9000,
        bridge: "vmbr1",
        queues: 0,
        firewall: true,
      },
      startup: { order: 3, upDelay: 10, downDelay: 20 },
      tags: ["b", "a"],
    });
    expect(resource).toMatchObject({
      vm_id: 1234,
      machine: "pc",
      tags: ["a", "b"],
      cpu: { cores: 2, sockets: 2 },
      memory: { dedicated: 4096, floating: 2048 },
      tpm_state: { datastore_id: "ceph", version: "v2.0" },
      startup: { order: 3, up_delay: 10, down_delay: 20 },
      agent: { enabled: true, trim: false },
    });
    expect(resource.disk[0]).toMatchObject({ datastore_id: "ceph", size: 20, discard: "ignore", iothread: true });
    expect(resource.network_device[0]).toMatchObject({
      mac_address: "bc:24:11:00:00:01",
      vlan_id: 20,
      mtu: 9000,
      bridge: "vmbr1",
      queues: 0,
      firewall: true,
    });
  });

  it("passes PCI devices through, by raw id or resource mapping, in hostpci order", () => {
    const { resource } = synthVm({
      ...essentials,
      pciDevices: [{ id: "0000:01:00" }, { mapping: "nic", pcie: false, rombar: false, primaryGpu: true }],
    });
    expect(resource.hostpci).toEqual([
      { device: "hostpci0", id: "0000:01:00", pcie: true, rombar: true, xvga: false },
      { device: "hostpci1", mapping: "nic", pcie: false, rombar: false, xvga: true },
    ]);
  });

  it("rejects a PCI device with both or neither of id and mapping", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    expect(
      () => new TalosNodeVm(stack, "n1", { ...essentials, pciDevices: [{ id: "0000:01:00", mapping: "gpu" }, {}] }),
    ).toThrow(
      `TalosNodeVm n1: 'pciDevices[0]' needs exactly one of 'id' or 'mapping'; 'pciDevices[1]' needs exactly one of 'id' or 'mapping'`,
    );
  });

  it("uses no EFI disk on SeaBIOS", () => {
    expect(synthVm({ ...essentials, boot: { ...essentials.boot, bios: "seabios" } }).resource.efi_disk).toBeUndefined();
  });

  it("rejects every inconsistent prop at once, naming props and values", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const props: TalosNodeVmProps = {
      ...essentials,
      boot: { ...essentials.boot, secureboot: true, bios: "seabios" },
      network: { ...essentials.network, address: "10.0.0.5" },
      hardware: { memory: 4096, balloon: 8192 },
    };
    expect(() => new TalosNodeVm(stack, "n1", props)).toThrow(
      `TalosNodeVm n1: 'boot.secureboot' needs 'boot.bios' "ovmf", got "seabios"; 'network.address' must be in CIDR form, got "10.0.0.5"; 'hardware.balloon' (8192) must not exceed 'hardware.memory' (4096)`,
    );
  });
});

describe("tags as Proxmox stores them", () => {
  it("are lower case, sorted and unique (PVE's default tag style), whatever case the config writes", () => {
    const { resource } = synthVm({ ...essentials, tags: ["Talos", "kubernetes", "DMZ", "talos"] });
    expect(resource.tags).toEqual(["dmz", "kubernetes", "talos"]);
  });

  it("select backups without case, as Proxmox compares them", () => {
    expect(sharesTag(["Web"], ["web"])).toBe(true);
    expect(sharesTag(["web"], ["db"])).toBe(false);
  });
});
