import { describe, expect, it } from "vitest";
import {
  machineConfigPatches,
  type DeleteHostnameConfigPatch,
  type TalosClusterNetwork,
  type TalosNodeSpec,
  type V1Alpha1Patch,
} from "../constructs/talos-machine-config";

const network: TalosClusterNetwork = {
  nodeCidr: "10.0.0.0/23",
  nodePrefix: 23,
  gateway: "10.0.0.1",
  dnsServers: ["10.0.0.1"],
  ntpServers: ["pool.ntp.org"],
  podCidr: "10.42.0.0/16",
  serviceCidr: "10.43.0.0/16",
  apiAddress: "10.0.0.10",
  apiVip: true,
  certSans: ["k8s.example.com", "10.0.0.10"],
  cni: "cilium",
  schedulingOnControllers: false,
};
const node: TalosNodeSpec = {
  name: "cp0",
  address: "10.0.1.5",
  controller: true,
  installDisk: { path: "/dev/vda" },
  installImage: "factory/installer/x:v1",
  mtu: 9000,
};

/** The v1alpha1 patch for Talos 1.12. */
const v1alpha1 = (n: TalosNodeSpec = node, c: TalosClusterNetwork = network, talos = "v1.12.1") =>
  machineConfigPatches(n, c, talos)[0] as V1Alpha1Patch;

describe("machineConfigPatches", () => {
  it("selects the only physical NIC when no MAC is configured, with the CIDR's prefix", () => {
    const iface = v1alpha1().machine.network.interfaces[0];
    expect(iface.deviceSelector).toEqual({ physical: true });
    expect(iface.addresses).toEqual(["10.0.1.5/23"]);
    expect(iface.mtu).toBe(9000);
    expect(v1alpha1({ ...node, macAddress: "bc:24:11:00:00:01" }).machine.network.interfaces[0].deviceSelector).toEqual(
      { hardwareAddr: "bc:24:11:00:00:01" },
    );
  });

  it.each([
    ["v1.10.9", false],
    ["v1.11.6", false],
    ["v1.12.1", true],
    ["v1.13.0", true],
  ])("Talos %s: the static hostname, and the generated HostnameConfig document deleted: %s", (talos, document) => {
    const patches = machineConfigPatches(node, network, talos);
    expect((patches[0] as V1Alpha1Patch).machine.network.hostname).toBe("cp0");
    expect(patches.slice(1)).toEqual(
      document
        ? [{ apiVersion: "v1alpha1", kind: "HostnameConfig", $patch: "delete" } satisfies DeleteHostnameConfigPatch]
        : [],
    );
  });

  it("puts the VIP only on controllers, and not at all when cluster_api_vip is off", () => {
    expect(v1alpha1().machine.network.interfaces[0].vip).toEqual({ ip: "10.0.0.10" });
    expect(v1alpha1({ ...node, controller: false }).machine.network.interfaces[0].vip).toBeUndefined();
    expect(v1alpha1(node, { ...network, apiVip: false }).machine.network.interfaces[0].vip).toBeUndefined();
  });

  it("lists the API address once among the API server certificate SANs, with the node's own, on controllers only", () => {
    expect(v1alpha1().cluster.apiServer?.certSANs).toEqual(["10.0.0.10", "k8s.example.com"]);
    expect(v1alpha1({ ...node, certSans: ["cp0.example.com"] }).cluster.apiServer?.certSANs).toEqual([
      "10.0.0.10",
      "k8s.example.com",
      "cp0.example.com",
    ]);
    expect(v1alpha1({ ...node, certSans: ["cp0.example.com"] }).machine.certSANs).toEqual(["cp0.example.com"]);
    expect(v1alpha1({ ...node, controller: false }).cluster.apiServer).toBeUndefined();
  });

  it("encrypts STATE and EPHEMERAL only when asked, with the key sealed as asked", () => {
    expect(v1alpha1().machine.systemDiskEncryption).toBeUndefined();
    for (const key of ["tpm", "nodeID"] as const) {
      const luks2 = { provider: "luks2", keys: [{ slot: 0, [key]: {} }] };
      expect(v1alpha1({ ...node, diskEncryption: key }).machine.systemDiskEncryption).toEqual({
        state: luks2,
        ephemeral: luks2,
      });
    }
  });

  it("installs to a disk path, or to the disk a selector finds with Talos' default path deleted", () => {
    expect(v1alpha1().machine.install).toEqual({ disk: "/dev/vda", image: "factory/installer/x:v1" });
    expect(
      v1alpha1({ ...node, installDisk: { selector: { size: ">= 100GB", model: "QEMU*" } } }).machine.install,
    ).toEqual({
      image: "factory/installer/x:v1",
      disk: { $patch: "delete" },
      diskSelector: { size: ">= 100GB", model: "QEMU*" },
    });
  });

  it("writes kernel modules, sysctls, labels and taints only when there are any", () => {
    const bare = v1alpha1({ ...node, kernelModules: [], sysctls: {}, nodeLabels: {}, nodeTaints: {} }).machine;
    expect([bare.kernel, bare.sysctls, bare.nodeLabels, bare.nodeTaints, bare.certSANs]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    const full = v1alpha1({
      ...node,
      kernelModules: ["drbd", "zfs"],
      sysctls: { "vm.max_map_count": "262144" },
      nodeLabels: { role: "db" },
      nodeTaints: { dedicated: "db:NoSchedule" },
    }).machine;
    expect(full.kernel).toEqual({ modules: [{ name: "drbd" }, { name: "zfs" }] });
    expect(full.sysctls).toEqual({ "vm.max_map_count": "262144" });
    expect(full.nodeLabels).toEqual({ role: "db" });
    expect(full.nodeTaints).toEqual({ dedicated: "db:NoSchedule" });
  });

  it.each([
    ["cilium", { name: "none" }, { disabled: true }],
    ["none", { name: "none" }, undefined],
    ["flannel", undefined, undefined],
  ] as const)("cni %s", (cni, expectedCni, expectedProxy) => {
    const patch = v1alpha1(node, { ...network, cni });
    expect(patch.cluster.network.cni).toEqual(expectedCni);
    expect(patch.cluster.proxy).toEqual(expectedProxy);
  });

  it("allows workloads on controllers only when asked", () => {
    expect(v1alpha1().cluster.allowSchedulingOnControlPlanes).toBeUndefined();
    expect(v1alpha1(node, { ...network, schedulingOnControllers: true }).cluster.allowSchedulingOnControlPlanes).toBe(
      true,
    );
  });
});
