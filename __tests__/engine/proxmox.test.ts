// Proxmox as the judge: the real bpg/proxmox provider applies layers 00 and 01 of every example into the
// Proxmox VE API simulator (every request checked against the official PVE API schema), the stored VM configs
// are checked against what each node needs, a second plan must find nothing to change, and a destroy of 01
// leaves only what layer 00 keeps.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { firstHost, loadConfig, parseCidr, resolveCluster } from "../../config";
import { PROPERTY_FORMATS } from "../../judges/pve-sim/formats";
import { parsePropertyString } from "../../judges/pve-sim/params";
import { keysOf } from "../../judges/pve-sim/handlers/vm-config";
import type { VmState } from "../../judges/pve-sim/state";
import {
  applyLayer,
  changesOf,
  destroyLayer,
  judgedConfig,
  planLayer,
  startJudgeFor,
  synthesizeFor,
  vmsByName,
  type Judge,
  type SimulatedClusterExtra,
} from "./proxmox-judge";
import { REPO, tempDir, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("proxmox");
afterAll(() => work.remove());

interface Case {
  readonly name: string;
  readonly from: string;
  readonly cluster?: Record<string, unknown>;
  readonly nodes?: (nodes: Array<Record<string, unknown>>) => Array<Record<string, unknown>>;
  readonly extra?: SimulatedClusterExtra;
}

const CASES: Case[] = [
  { name: "root example", from: REPO },
  { name: "examples/single-node", from: join(REPO, "examples", "single-node") },
  {
    name: "examples/multi-host-secureboot (shared ISO storage)",
    from: join(REPO, "examples", "multi-host-secureboot"),
    extra: { pciDevices: { pve3: ["0000:01:00.0", "0000:01:00.1"] }, pciMappings: { gpu: { pve3: "0000:01:00" } } },
  },
  {
    name: "multi-host with local ISO storage",
    from: REPO,
    nodes: (nodes) => nodes.map((n, i) => ({ ...n, proxmox_node: `pve${(i % 2) + 1}` })),
    cluster: { proxmox_node: "pve1" },
  },
];

const drive = (key: string, value: string) => parsePropertyString(keysOf(key), value);

describe.each(CASES)("$name: layers 00 and 01 applied into the Proxmox simulator", (c) => {
  let judge: Judge;
  let configDir: string;
  let stacks: Record<Layer, SynthesizedStack>;

  beforeAll(async () => {
    const dir = join(work.dir, c.name.replace(/\W+/g, "-"));
    configDir = judgedConfig(join(dir, "config"), { from: c.from, cluster: c.cluster, nodes: c.nodes });
    judge = await startJudgeFor(configDir, c.extra);
    stacks = await synthesizeFor(configDir, dir);
  });
  afterAll(async () => judge?.close());

  it("layer 00 applies; with Proxmox CSI its role, user, token and ACL are in Proxmox", async () => {
    const { cluster } = loadConfig(configDir);
    await applyLayer(judge, stacks["00-persistent-auth"]);
    const { state } = judge.sim;
    if (!cluster.proxmox_csi_enabled) {
      expect(Object.keys(state.users)).toEqual(["root@pam"]);
      return;
    }
    const user = `${cluster.cluster_name}-csi@pve`;
    expect(state.roles[`${cluster.cluster_name}-csi`]?.privs.sort()).toEqual([
      "Datastore.Allocate",
      "Datastore.AllocateSpace",
      "VM.Audit",
      "VM.Config.Disk",
    ]);
    expect(state.users[user]?.enable).toBe(1);
    expect(Object.keys(state.users[user].tokens)).toEqual(["csi"]);
    expect(state.users[user].tokens.csi.privsep).toBe(0);
    expect(state.acl).toEqual([
      { path: "/", type: "user", ugid: user, roleid: `${cluster.cluster_name}-csi`, propagate: 1 },
    ]);
  });

  it("layer 01's Proxmox resources apply, and every VM is configured as its node needs", async () => {
    await applyLayer(judge, stacks["01-infrastructure"]);
    const { cluster, nodes } = loadConfig(configDir);
    const { state } = judge.sim;
    const vms = vmsByName(judge.sim);
    expect(Object.keys(vms).sort()).toEqual(nodes.map((n) => n.name).sort());
    const prefix = parseCidr(cluster.node_cidr).prefix;
    const gateway = cluster.node_default_gateway ?? firstHost(parseCidr(cluster.node_cidr));
    const problems: string[] = [];
    for (const node of nodes) {
      const vm: VmState = vms[node.name];
      const config = vm.config;
      const say = (what: string) => problems.push(`${node.name}: ${what} (config: ${JSON.stringify(config)})`);
      expect(vm.node).toBe(node.proxmox_node ?? cluster.proxmox_node);
      expect(vm.status).toBe("running");
      if (node.vm_id !== undefined) expect(vm.vmid).toBe(node.vm_id);
      const drives = Object.entries(config)
        .filter(([k]) => /^(ide|sata|scsi)\d+$/.test(k))
        .map(([k, v]): Record<string, string> => ({ ...drive(k, v), key: k }));
      const cloudinit = drives.filter((d) => d.file.includes("-cloudinit"));
      if (cloudinit.length !== 1)
        say(`expected one cloud-init drive, found ${cloudinit.map((d) => d.key).join(", ") || "none"}`);
      const ipconfig = parsePropertyString(PROPERTY_FORMATS["pve-qm-ipconfig"], config.ipconfig0 ?? "");
      if (JSON.stringify(ipconfig) !== JSON.stringify({ ...ipconfig, ip: `${node.address}/${prefix}`, gw: gateway }))
        say(`ipconfig0 is ${config.ipconfig0}`);
      if (config.nameserver !== cluster.node_dns_servers.join(" ")) say(`nameserver is ${config.nameserver}`);
      const isos = drives.filter(
        (d) => d.media === "cdrom" && d.file.startsWith(`${cluster.proxmox_iso_storage}:iso/talos-`),
      );
      if (isos.length !== 1) say(`expected the Talos ISO on one CD-ROM, found ${isos.length}`);
      if (isos.length === 1 && cloudinit.length === 1 && isos[0].key === cloudinit[0].key)
        say("ISO and cloud-init on one slot");
      const order = parsePropertyString(keysOf("boot"), config.boot ?? "").order?.split(";") ?? [];
      if (order[0] !== "scsi0") say(`boot order ${config.boot} does not start with the disk`);
      const efi = drive("efidisk0", config.efidisk0 ?? "");
      if (efi["pre-enrolled-keys"] !== "0" || efi.efitype !== "4m") say(`efidisk0 ${config.efidisk0}`);
      const net = parsePropertyString(keysOf("net0"), config.net0 ?? "");
      if (node.mac_addr && net.macaddr?.toLowerCase() !== node.mac_addr.toLowerCase()) say(`net0 MAC ${net.macaddr}`);
      if (net.tag !== (cluster.node_vlan_tag === undefined ? undefined : String(cluster.node_vlan_tag)))
        say(`net0 tag ${net.tag}`);
      if (net.mtu !== String(node.mtu)) say(`net0 mtu ${net.mtu}`);
      if (node.secureboot !== (config.tpmstate0 !== undefined))
        say(`tpmstate0 ${config.tpmstate0} with secureboot ${node.secureboot}`);
      if (node.secureboot && !config.tpmstate0?.includes("version=v2.0")) say("TPM is not 2.0");
      const hostpci = Object.keys(config)
        .filter((k) => /^hostpci\d+$/.test(k))
        .sort();
      if (hostpci.length !== node.pci_devices.length)
        say(`${hostpci.length} hostpci entries for ${node.pci_devices.length} pci_devices`);
      node.pci_devices.forEach((device, i) => {
        const pci = parsePropertyString(PROPERTY_FORMATS["pve-qm-hostpci"], config[`hostpci${i}`] ?? "");
        const want = {
          ...(device.id ? { host: device.id } : { mapping: device.mapping! }),
          pcie: device.pcie ? "1" : "0",
          rombar: device.rombar ? "1" : "0",
          "x-vga": device.primary_gpu ? "1" : "0",
        };
        if (JSON.stringify(pci, Object.keys(want).sort()) !== JSON.stringify(want, Object.keys(want).sort()))
          say(`hostpci${i} is ${config[`hostpci${i}`]}`);
      });
    }
    expect(problems).toEqual([]);
    expect(state.incidents).toEqual([]);
  });

  it("every VM setting the simulator stores is the one the config asks for (CPU, NUMA, memory, balloon, SCSI controller, disk, onboot)", () => {
    const resolved = resolveCluster(loadConfig(configDir));
    const { hardware, boot } = resolved.proxmox.vm;
    const vms = vmsByName(judge.sim);
    const problems: string[] = [];
    for (const node of resolved.nodes) {
      const config = vms[node.name].config;
      const want = (key: string, got: string | undefined, expected: string) => {
        if (got !== expected) problems.push(`${node.name}: ${key} is ${got}, the config asks for ${expected}`);
      };
      const singleController = hardware.scsiHardware === "virtio-scsi-single";
      want("onboot", config.onboot, "1");
      want("cores", config.cores, String(node.sizing.cores));
      want("sockets", config.sockets, String(node.sizing.sockets));
      want("memory", config.memory, String(node.sizing.memory));
      // PVE's default balloon is the memory itself (ballooning on): 0 must be stored to turn it off.
      want("balloon", config.balloon, String(hardware.balloon));
      want("numa", config.numa, hardware.numa ? "1" : "0");
      want("cpu type", parsePropertyString(keysOf("cpu"), config.cpu ?? "").cputype, hardware.cpuType);
      want("scsihw", config.scsihw, hardware.scsiHardware);
      want("machine", config.machine, boot.machine);
      want("bios", config.bios, boot.bios);
      const disk = drive("scsi0", config.scsi0 ?? "");
      // Without an I/O thread the disk shares the main loop: virtio-scsi-single exists to give it one.
      want("scsi0 iothread", disk.iothread, singleController ? "1" : "0");
      want("scsi0 discard", disk.discard, hardware.diskDiscard ? "on" : "ignore");
      want("scsi0 ssd", disk.ssd, hardware.diskSsd ? "1" : "0");
      want("scsi0 size", disk.size, `${node.sizing.diskSize}G`);
      want("scsi0 storage", disk.file.split(":")[0], resolved.proxmox.diskStorage);
      want("agent", parsePropertyString(keysOf("agent"), config.agent ?? "").enabled, hardware.qemuAgent ? "1" : "0");
      want("startup order", /(?:^|,)order=(\d+)/.exec(config.startup ?? "")?.[1], String(node.startup.order));
    }
    expect(problems).toEqual([]);
  });

  it("the Talos ISO is downloaded once per datastore: once on shared storage, once per host on local storage", () => {
    const { cluster, nodes } = loadConfig(configDir);
    const storage = judge.sim.state.storages.find((s) => s.id === cluster.proxmox_iso_storage)!;
    const hosts = new Set(nodes.map((n) => n.proxmox_node ?? cluster.proxmox_node));
    const files = new Set(judge.sim.state.downloads.map((d) => d.filename));
    const expected = files.size * (storage.shared ? 1 : hosts.size);
    expect(judge.sim.state.downloads).toHaveLength(expected);
    expect(judge.sim.state.volumes.filter((v) => v.content === "iso")).toHaveLength(expected);
  });

  it("a second plan of 00 and 01 finds nothing to change, and never waits for a guest agent", async () => {
    expect(changesOf(await planLayer(judge, stacks["00-persistent-auth"]))).toEqual([]);
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"]))).toEqual([]);
    // bpg waits up to agent.timeout (15 minutes by default) for the agent to report an address; the
    // addresses are static and known, so it must not even ask.
    expect(judge.sim.calls.filter((call) => call.path.includes("/agent/"))).toEqual([]);
  });

  it("destroying 01 leaves only what layer 00 keeps", async () => {
    const before = JSON.stringify({
      users: judge.sim.state.users,
      roles: judge.sim.state.roles,
      acl: judge.sim.state.acl,
    });
    await destroyLayer(judge, stacks["01-infrastructure"]);
    const { state } = judge.sim;
    expect(state.vms).toEqual({});
    expect(state.volumes).toEqual([]);
    expect(JSON.stringify({ users: state.users, roles: state.roles, acl: state.acl })).toBe(before);
    expect(judge.sim.calls.filter((call) => call.status === 501)).toEqual([]);
  });
});
