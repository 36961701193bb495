import { describe, expect, it } from "vitest";
import { machineConfigPatch, type TalosClusterNetwork, type TalosNodeSpec } from "../constructs/talos-machine-config";

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
const node: TalosNodeSpec = { name: "cp0", address: "10.0.1.5", controller: true, installDisk: "/dev/vda", installImage: "factory/installer/x:v1", mtu: 9000, kernelModules: [] };

describe("machineConfigPatch", () => {
  it("selects the only physical NIC when no MAC is configured, with the CIDR's prefix", () => {
    const iface = (machineConfigPatch(node, network) as any).machine.network.interfaces[0];
    expect(iface.deviceSelector).toEqual({ physical: true });
    expect(iface.addresses).toEqual(["10.0.1.5/23"]);
    expect(iface.mtu).toBe(9000);
  });

  it("puts the VIP only on controllers, and not at all when cluster_api_vip is off", () => {
    expect((machineConfigPatch(node, network) as any).machine.network.interfaces[0].vip).toEqual({ ip: "10.0.0.10" });
    expect((machineConfigPatch({ ...node, controller: false }, network) as any).machine.network.interfaces[0].vip).toBeUndefined();
    expect((machineConfigPatch(node, { ...network, apiVip: false }) as any).machine.network.interfaces[0].vip).toBeUndefined();
  });

  it("lists the API address once among the certificate SANs, on controllers only", () => {
    expect((machineConfigPatch(node, network) as any).cluster.apiServer.certSANs).toEqual(["10.0.0.10", "k8s.example.com"]);
    expect((machineConfigPatch({ ...node, controller: false }, network) as any).cluster.apiServer).toBeUndefined();
  });

  it("encrypts STATE and EPHEMERAL only when asked, with the key sealed as asked", () => {
    expect((machineConfigPatch(node, network) as any).machine.systemDiskEncryption).toBeUndefined();
    for (const key of ["tpm", "nodeID"] as const) {
      const luks2 = { provider: "luks2", keys: [{ slot: 0, [key]: {} }] };
      expect((machineConfigPatch({ ...node, diskEncryption: key }, network) as any).machine.systemDiskEncryption).toEqual({ state: luks2, ephemeral: luks2 });
    }
  });

  it("loads extra kernel modules only when asked", () => {
    expect((machineConfigPatch(node, network) as any).machine.kernel).toBeUndefined();
    expect((machineConfigPatch({ ...node, kernelModules: ["drbd", "zfs"] }, network) as any).machine.kernel).toEqual({ modules: [{ name: "drbd" }, { name: "zfs" }] });
  });

  it.each([
    ["cilium", { name: "none" }, { disabled: true }],
    ["none", { name: "none" }, undefined],
    ["flannel", undefined, undefined],
  ] as const)("cni %s", (cni, expectedCni, expectedProxy) => {
    const patch = machineConfigPatch(node, { ...network, cni }) as any;
    expect(patch.cluster.network.cni).toEqual(expectedCni);
    expect(patch.cluster.proxy).toEqual(expectedProxy);
  });
});
