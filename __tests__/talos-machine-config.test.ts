import { describe, expect, it } from "vitest";
import {
  diskMatch,
  machineConfigPatches,
  type DeleteHostnameConfigPatch,
  type TalosConfigPatch,
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

describe("machineConfigPatches for the Talos 1.14 contract: the settings in the documents 1.14 moved them to", () => {
  const patches = (n: TalosNodeSpec = node, c: TalosClusterNetwork = network) => machineConfigPatches(n, c, "v1.14.1");
  const byKind = (all: TalosConfigPatch[]) =>
    Object.fromEntries(all.map((p) => ["kind" in p ? p.kind : "v1alpha1", p])) as Record<string, any>;

  it("keeps in v1alpha1 only what 1.14 still reads there: links, time servers, certificates, kernel, disks", () => {
    const v1alpha1 = byKind(patches({ ...node, certSans: ["cp0.example.com"], kernelModules: ["drbd"] })).v1alpha1;
    expect(Object.keys(v1alpha1)).toEqual(["machine"]);
    expect(Object.keys(v1alpha1.machine).sort()).toEqual(["certSANs", "kernel", "network", "time"]);
    expect(Object.keys(v1alpha1.machine.network)).toEqual(["interfaces"]);
  });

  it("moves the hostname, resolvers, install, kubelet node IP, labels, taints, KubePrism and the pod/service networks", () => {
    const docs = byKind(patches({ ...node, nodeLabels: { role: "db" }, nodeTaints: { dedicated: "db:NoSchedule" } }));
    expect(docs.HostnameConfig).toEqual({
      apiVersion: "v1alpha1",
      kind: "HostnameConfig",
      auto: { $patch: "delete" },
      hostname: "cp0",
    });
    expect(docs.ResolverConfig.nameservers).toEqual([{ address: "10.0.0.1" }]);
    expect(docs.UnattendedInstallConfig).toMatchObject({
      installer: { image: "factory/installer/x:v1" },
      provisioning: { diskSelector: { match: 'disk.dev_path == "/dev/vda"' } },
    });
    expect(docs.KubeNodeConfig).toMatchObject({
      nodeIP: { validSubnets: ["10.0.0.0/23"] },
      labels: { role: "db" },
      taints: { dedicated: "db:NoSchedule" },
    });
    expect(docs.KubePrismConfig.port).toBe(7445);
    expect(docs.KubeNetworkConfig).toMatchObject({ podSubnets: ["10.42.0.0/16"], serviceSubnets: ["10.43.0.0/16"] });
  });

  it("patches the control plane's documents on controllers only", () => {
    const controller = byKind(patches({ ...node, certSans: ["cp0.example.com"] }));
    expect(controller.KubeAPIServerConfig.certExtraSANs).toEqual(["10.0.0.10", "k8s.example.com", "cp0.example.com"]);
    expect(controller.KubeProxyConfig.enabled).toBe(false);
    expect(controller.KubeFlannelCNIConfig.$patch).toBe("delete");
    const worker = byKind(patches({ ...node, controller: false }));
    expect(Object.keys(worker).filter((k) => /APIServer|Proxy|Flannel/.test(k))).toEqual([]);
  });

  it.each([
    ["cilium", true, true],
    ["none", true, false],
    ["flannel", false, false],
  ] as const)("cni %s: Flannel deleted %s, kube-proxy off %s", (cni, noFlannel, noProxy) => {
    const docs = byKind(patches(node, { ...network, cni }));
    expect("KubeFlannelCNIConfig" in docs).toBe(noFlannel);
    expect("KubeProxyConfig" in docs).toBe(noProxy);
  });

  it("allows workloads on controllers by deleting the control-plane taint Talos generates", () => {
    expect(byKind(patches()).KubeNodeConfig.taints).toBeUndefined();
    const scheduling = { ...network, schedulingOnControllers: true };
    expect(byKind(patches(node, scheduling)).KubeNodeConfig.taints).toEqual({
      "node-role.kubernetes.io/control-plane": { $patch: "delete" },
    });
    expect(byKind(patches({ ...node, controller: false }, scheduling)).KubeNodeConfig.taints).toBeUndefined();
  });

  it.each([
    [{ path: "/dev/sda" }, 'disk.dev_path == "/dev/sda"'],
    [{ selector: { size: ">= 100GB" } }, "disk.size >= 100000000000u"],
    [{ selector: { size: "64GiB" } }, "disk.size == 68719476736u"],
    [{ selector: { size: "<1.5 TB" } }, "disk.size < 1500000000000u"],
    [{ selector: { size: "512" } }, "disk.size == 512u"],
    [
      { selector: { model: 'QEMU "HARD"*', serial: "drive-scsi0" } },
      'glob("QEMU \\"HARD\\"*", disk.model) && glob("drive-scsi0", disk.serial)',
    ],
  ] as const)("the install disk %j as CEL: %s", (disk, cel) => {
    expect(diskMatch(disk)).toBe(cel);
  });
});
