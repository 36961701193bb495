// ./bootstrap.sh end to end for examples/multi-host-secureboot, the example with every Proxmox feature the root
// example lacks: three hosts, SecureBoot (OVMF with pre-enrolled keys, a TPM) on every node but the GPU worker,
// disk encryption, a tagged VLAN and jumbo frames, an install disk found by size, the GPU worker's own schematic,
// kernel modules and its host's GPU through a resource mapping, the Proxmox firewall, HA for the controllers, the
// ISOs on shared CephFS, Flux syncing a public repository. Against judges/simulated-cluster, as the root
// example's shape in bootstrap-e2e.test.ts; the hosts' GPU and its mapping are what pve3 has (the rig's
// `proxmox` option), the datacenter firewall is on as the README asks before a first run.
//
// Simulated, not real: Proxmox checks each VM's devices against its schema and the hosts' storages and PCI
// devices, not against hardware (no UEFI variable store, no TPM, no GPU); Talos' machinery judges each
// configuration (encryption with a TPM key, kernel modules; the VLAN is the Proxmox NIC's tag) as a node would load it, but nothing boots, so
// SecureBoot and the TPM sealing are never exercised.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type KubeClient, kubeClient } from "../../judges/kubernetes/judge";
import { type SimulatedCluster, simulatedConfig, startSimulatedCluster } from "../../judges/simulated-cluster/rig";
import { etcdOf } from "../../judges/simulated-cluster/talos-nodes";
import { REPO } from "../support/synth";
import { startBootstrap, summaryRow } from "./bootstrap-support";
import { releaseStatus, talosHandshake } from "./simulated-cluster-support";
import { tempDir } from "./support";

const work = tempDir("bootstrap-e2e-multi-host");
const configDir = join(work.dir, "config");
const LAYERS = ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"];
const RUN_TIMEOUT = 1_200_000;
let sim: SimulatedCluster;
let api: KubeClient;

beforeAll(async () => {
  await simulatedConfig(configDir, { from: join(REPO, "examples", "multi-host-secureboot") });
  sim = await startSimulatedCluster({
    configDir,
    workDir: work.dir,
    proxmox: { pciDevices: { pve3: ["0000:01:00.0", "0000:01:00.1"] }, pciMappings: { gpu: { pve3: "0000:01:00" } } },
  });
});
afterAll(async () => {
  await sim?.close();
  work.remove();
});

const vmOf = (name: string) => {
  const vm = Object.values(sim.proxmox.state.vms).find((v) => v.config.name === name);
  if (!vm) throw new Error(`no VM ${name}`);
  return vm;
};

/** The documents of a node's applied configuration. */
const appliedConfig = (name: string) =>
  parseAllDocuments(
    readFileSync(join(sim.talos.nodes.find((n) => n.name === name)!.stateDir, "config.yaml"), "utf8"),
  ).map((d) => d.toJS() as Record<string, any>);

describe("./bootstrap.sh for examples/multi-host-secureboot, from an empty Proxmox of three hosts", () => {
  it(
    "applies every layer with nothing excluded",
    async () => {
      expect(Object.keys(sim.proxmox.state.vms)).toEqual([]);
      const run = await startBootstrap(["--auto-approve"], sim.env, RUN_TIMEOUT);
      expect(run.status, run.output).toBe(0);
      for (const layer of LAYERS) expect(summaryRow(run.output, layer, "apply")?.[2], layer).toBe("applied");
      api = kubeClient(join(configDir, "credentials", "kubeconfig"));
    },
    RUN_TIMEOUT,
  );

  it("each VM is on its host with SecureBoot (OVMF, no pre-enrolled keys) and a TPM, the VLAN tag, the GPU through its mapping, firewall and HA", () => {
    const placed = Object.fromEntries(sim.talos.nodes.map((n) => [n.name, vmOf(n.name).node]));
    expect(placed).toEqual({ cp1: "pve1", cp2: "pve2", cp3: "pve3", w1: "pve1", w2: "pve2", gpu1: "pve3" });
    for (const n of sim.talos.nodes) {
      const { vmid, config } = vmOf(n.name);
      expect(config.net0, n.name).toMatch(/tag=20/);
      expect(sim.proxmox.state.firewall[String(vmid)]?.options.enable, n.name).toBe("1");
      if (n.name === "gpu1") {
        expect(config.tpmstate0, n.name).toBeUndefined();
        expect(config.hostpci0, n.name).toMatch(/mapping=gpu/);
      } else {
        expect(config.bios, n.name).toBe("ovmf");
        // No pre-enrolled keys: the firmware starts in setup mode and Talos' SecureBoot ISO enrolls its own.
        expect(config.efidisk0, n.name).toMatch(/pre-enrolled-keys=0/);
        expect(config.tpmstate0, n.name).toMatch(/version=v2\.0/);
      }
      expect(Object.hasOwn(sim.proxmox.state.ha, `vm:${vmid}`), n.name).toBe(n.controller);
    }
    // One ISO per schematic and variant on the shared CephFS, not one per host.
    const isos = sim.proxmox.state.volumes.filter((v) => v.content === "iso").map((v) => v.volid);
    expect(isos.every((v) => v.startsWith("cephfs:"))).toBe(true);
    expect(new Set(isos).size).toBe(isos.length);
    expect(isos.some((v) => /secureboot/.test(v))).toBe(true);
  });

  it("Talos' machinery accepted each configuration: disk encryption (TPM on SecureBoot, node id without), the GPU worker's modules; etcd bootstrapped once", () => {
    // Read as booleans and names only: an applied configuration holds the cluster's secrets.
    const machine = (name: string) => appliedConfig(name).find((d) => d?.machine)!.machine;
    const keys = (name: string) =>
      ((machine(name).systemDiskEncryption?.state?.keys ?? []) as Array<Record<string, unknown>>).flatMap((k) =>
        Object.keys(k).filter((key) => key === "tpm" || key === "nodeID"),
      );
    expect(keys("w1")).toEqual(["tpm"]);
    expect(keys("gpu1")).toEqual(["nodeID"]);
    expect(keys("w2")).toEqual([]);
    expect(machine("gpu1").kernel.modules.map((m: { name: string }) => m.name)).toEqual([
      "nvidia",
      "nvidia_uvm",
      "nvidia_drm",
      "nvidia_modeset",
    ]);
    for (const n of sim.talos.nodes)
      expect(machine(n.name).type, n.name).toBe(n.controller ? "controlplane" : "worker");
    const etcd = etcdOf(sim.talos.clusterDir);
    const controllers = sim.talos.nodes.filter((n) => n.controller);
    expect(etcd.members.map((m) => m.address).sort()).toEqual(controllers.map((n) => n.address).sort());
    expect(sim.talos.nodes.map((n) => n.log().match(/bootstrapped etcd/g)?.length ?? 0)).toEqual(
      sim.talos.nodes.map((n) => (n.address === etcd.bootstrapNode ? 1 : 0)),
    );
  });

  it("the kubeconfig and talosconfig work; Cilium, sealed-secrets, CSI and Flux deployed, Flux syncs the repository", async () => {
    const nodes = await api.get<{ items: Array<{ metadata: { name: string } }> }>("/api/v1/nodes");
    expect(nodes?.items.map((n) => n.metadata.name).sort()).toEqual(sim.talos.nodes.map((n) => n.name).sort());
    const talosconfig = readFileSync(join(configDir, "credentials", "talosconfig"), "utf8");
    for (const n of sim.talos.nodes) expect(await talosHandshake(talosconfig, n.address), n.name).toBe("ok");
    expect(await releaseStatus(api, "kube-system", "cilium")).toBe("deployed");
    expect(await releaseStatus(api, "sealed-secrets", "sealed-secrets")).toBe("deployed");
    expect(await releaseStatus(api, "csi-proxmox", "proxmox-csi-plugin")).toBe("deployed");
    expect(await releaseStatus(api, "flux-system", "flux")).toBe("deployed");
    const repo = await api.get<{ spec: { url: string; ref: { branch: string } } }>(
      "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system",
    );
    expect(repo?.spec).toMatchObject({ url: "https://github.com/example/lab-ops.git", ref: { branch: "production" } });
  });
});
