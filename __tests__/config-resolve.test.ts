// The resolved model: every default that depends on another key, computed once after validation.
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig, resolveCluster, type ResolvedCluster } from "../config";

const CLUSTER = {
  node_cidr: "192.168.0.0/23",
  cluster_api_addr: "192.168.1.10",
  talos_version: "v1.12.1",
  kubernetes_version: "v1.35.0",
  proxmox_api_url: "https://pve.example.com:8006/",
  proxmox_node: "pve",
  proxmox_vm_defaults: { cores: 4, memory: 8192 },
};
const NODES = [
  { name: "cp0", address: "192.168.1.21", controller: true },
  {
    name: "w0",
    address: "192.168.1.31",
    controller: false,
    proxmox_node: "pve2",
    vm_memory: 16384,
    vm_startup_order: 7,
    schematic_id: "a".repeat(64),
  },
];

function resolved(cluster: Record<string, unknown> = {}, nodes: Record<string, unknown>[] = NODES): ResolvedCluster {
  return resolveCluster(parseConfig({ cluster: stringify({ ...CLUSTER, ...cluster }), nodes: stringify({ nodes }) }));
}

describe("resolveCluster", () => {
  const model = resolved();
  const [cp0, w0] = model.nodes;

  it("parses node_cidr once: its prefix is on the network and in every node's address", () => {
    expect(model.network.nodes).toEqual({ cidr: "192.168.0.0/23", base: 0xc0a80000, prefix: 23 });
    expect(cp0.addressCidr).toBe("192.168.1.21/23");
  });

  it.each([
    ["the first address of node_cidr without node_default_gateway", {}, "192.168.0.1"],
    ["node_default_gateway when set", { node_default_gateway: "192.168.1.254" }, "192.168.1.254"],
  ])("gateway: %s", (_, cluster, gateway) => {
    expect(resolved(cluster).network.gateway).toBe(gateway);
  });

  it("gives each node its host, sizing and start order, the node's own value first", () => {
    expect([cp0.host, w0.host]).toEqual(["pve", "pve2"]);
    expect(cp0.sizing).toEqual({ cores: 4, sockets: 1, memory: 8192, diskSize: 128 });
    expect(w0.sizing.memory).toBe(16384);
    expect([cp0.startup.order, w0.startup.order]).toEqual([1, 7]);
    expect(resolved({}, [NODES[0], { ...NODES[1], vm_startup_order: undefined }]).nodes[1].startup.order).toBe(2);
  });

  it.each([
    ["/dev/sda without disk or disk_selector", {}, { path: "/dev/sda" }],
    ["the disk path when set", { disk: "/dev/vda" }, { path: "/dev/vda" }],
    ["the selector when set", { disk_selector: { model: "QEMU*" } }, { selector: { model: "QEMU*" } }],
  ])("install disk: %s", (_, settings, installDisk) => {
    expect(resolved({}, [{ ...NODES[0], ...settings }, NODES[1]]).nodes[0].installDisk).toEqual(installDisk);
  });

  it("keeps the node's schematic choice (undefined: the cluster's)", () => {
    expect(cp0.image).toEqual({
      schematicId: undefined,
      extensions: ["siderolabs/qemu-guest-agent"],
      secureboot: false,
    });
    expect(w0.image.schematicId).toBe("a".repeat(64));
  });

  it.each([
    ["proxmox_csi_storage falls back to proxmox_disk_storage", {}, "local-lvm"],
    ["proxmox_csi_storage when set", { proxmox_csi_storage: "fast" }, "fast"],
  ])("CSI storage: %s", (_, cluster, storage) => {
    expect(resolved(cluster).features.proxmoxCsi?.storage).toBe(storage);
  });

  it.each([
    [
      "flux with repository_name syncs it",
      { repository_name: "me/ops" },
      {
        version: "2.15.0",
        sync: { repository: "me/ops", branch: "main", path: "./kubernetes/flux/cluster", private: false },
      },
    ],
    [
      "flux with a private repository syncs it with the deploy key",
      { repository_name: "me/ops", repository_visibility: "private" },
      {
        version: "2.15.0",
        sync: { repository: "me/ops", branch: "main", path: "./kubernetes/flux/cluster", private: true },
      },
    ],
    ["flux without repository_name syncs nothing", {}, { version: "2.15.0", sync: undefined }],
    ["flux_enabled: false wins over repository_name", { flux_enabled: false, repository_name: "me/ops" }, undefined],
  ])("features: %s", (_, cluster, flux) => {
    expect(resolved(cluster).features.flux).toEqual(flux);
  });

  it("folds each switch into its feature, and Cilium's pool into Cilium", () => {
    const pool = { start: "192.168.1.200", stop: "192.168.1.210" };
    const off = resolved({
      proxmox_csi_enabled: false,
      sealed_secrets_enabled: false,
      cluster_cni: "flannel",
      cilium_loadbalancer_pool: pool,
    });
    expect(off.features).toEqual({
      cilium: undefined,
      proxmoxCsi: undefined,
      sealedSecrets: undefined,
      flux: expect.anything(),
      firewall: undefined,
    });
    expect(resolved({ cilium_loadbalancer_pool: pool }).features.cilium).toEqual({
      version: "1.19.3",
      loadBalancerMode: "dsr",
      pool,
    });
    expect(resolved({ proxmox_firewall_enabled: true }).features.firewall).toEqual({ allowFrom: [] });
  });

  it("lets workloads on the controllers only when there are no workers", () => {
    expect(model.schedulingOnControllers).toBe(false);
    expect(resolved({}, [NODES[0]]).schedulingOnControllers).toBe(true);
  });
});
