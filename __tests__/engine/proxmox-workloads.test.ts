// Proxmox as the judge of workloads.yaml: the real bpg/proxmox applies layers 00 and 01 of the examples with
// guests beside the cluster (containers, VMs cloned from golden templates, PCI mappings, pools) into the
// Proxmox VE API simulator, the stored guests are checked against the config, a second plan must find
// nothing to change, and destroying 01 leaves the cluster as it was before it (layer 00's and the seeded
// templates).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type ContainerConfig, type VmConfig } from "../../config";
import { ctKeysOf } from "../../judges/pve-sim/handlers/lxc-config";
import { keysOf } from "../../judges/pve-sim/handlers/vm-config";
import { parsePropertyString } from "../../judges/pve-sim/params";
import {
  applyLayer,
  changesOf,
  destroyLayer,
  judgedConfig,
  planLayer,
  seedWorkloads,
  startJudgeFor,
  synthesizeFor,
  type Judge,
  type LayerRun,
} from "./proxmox-judge";
import { REPO, tempDir, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("proxmox-workloads");
afterAll(() => work.remove());

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE6judgeKey judge@example";

interface Case {
  readonly example: string;
  /** The environment the layers need (the variables workloads.yaml names). */
  readonly env: Record<string, string>;
}

const CASES: Case[] = [
  {
    example: "lxc-homelab",
    env: { TF_VAR_pbs_password: "pbs-secret", TF_VAR_extra_ssh_keys: KEY },
  },
  { example: "gpu-single-host", env: { TF_VAR_ai_ssh_keys: KEY } },
];

describe.each(CASES)("examples/$example: workloads applied into the Proxmox simulator", (c) => {
  let judge: Judge;
  let configDir: string;
  let stacks: Record<Layer, SynthesizedStack>;
  let run: LayerRun;
  let seeded: { vms: string[]; volumes: string[] };

  beforeAll(async () => {
    const dir = join(work.dir, c.example);
    configDir = judgedConfig(join(dir, "config"), { from: join(REPO, "examples", c.example) });
    judge = await startJudgeFor(configDir);
    await seedWorkloads(judge, configDir);
    seeded = {
      vms: Object.keys(judge.sim.state.vms).sort(),
      volumes: judge.sim.state.volumes.map((v) => v.volid).sort(),
    };
    stacks = await synthesizeFor(configDir, dir);
    // Some container options are root@pam's alone, and an API token never is root@pam: the examples log in.
    run = { env: { ...judge.rootLogin, ...c.env } };
  });
  afterAll(async () => judge?.close());

  it("layers 00 and 01 apply", async () => {
    await applyLayer(judge, stacks["00-persistent-auth"], run);
    await applyLayer(judge, stacks["01-infrastructure"], run);
    expect(judge.sim.calls.filter((call) => call.status === 501)).toEqual([]);
    expect(judge.sim.state.incidents).toEqual([]);
  });

  it("every container is stored as the config describes it", () => {
    const { cluster, workloads } = loadConfig(configDir);
    const problems: string[] = [];
    for (const ct of workloads?.config.containers ?? []) {
      const stored = judge.sim.state.containers[String(ct.id)];
      if (!stored) {
        problems.push(`${ct.name}: no container ${ct.id}`);
        continue;
      }
      problems.push(...containerProblems(ct, stored.node, stored.config, cluster.proxmox_node, stored.status));
    }
    expect(problems).toEqual([]);
  });

  it("every VM is a clone of its template, with its size, PCI devices and pool", () => {
    const { cluster, workloads } = loadConfig(configDir);
    const problems: string[] = [];
    for (const vm of workloads?.config.vms ?? []) {
      const stored = judge.sim.state.vms[String(vm.id)];
      if (!stored) {
        problems.push(`${vm.name}: no VM ${vm.id}`);
        continue;
      }
      const host = vm.clone.host ?? vm.host ?? cluster.proxmox_node;
      const cloned = judge.sim.calls.some(
        (call) =>
          call.method === "POST" &&
          call.path === `/nodes/${host}/qemu/${vm.clone.template}/clone` &&
          call.status === 200,
      );
      if (!cloned) problems.push(`${vm.name}: never cloned from template ${vm.clone.template}`);
      problems.push(...vmProblems(vm, stored.config, stored.status));
      const pool = vm.pool ? judge.sim.state.pools[vm.pool] : undefined;
      if (vm.pool && !pool?.vms.includes(vm.id)) problems.push(`${vm.name}: not in pool ${vm.pool}`);
    }
    expect(problems).toEqual([]);
  });

  it("every PCI mapping is in Proxmox with its devices", () => {
    const { workloads } = loadConfig(configDir);
    for (const mapping of workloads?.config.pci_mappings ?? []) {
      expect(judge.sim.state.pciMappings[mapping.name]?.map).toEqual(
        mapping.devices.map(
          (d) =>
            `id=${d.id},node=${d.host},path=${d.path}${d.iommu_group === undefined ? "" : `,iommugroup=${d.iommu_group}`}${d.subsystem_id ? `,subsystem-id=${d.subsystem_id}` : ""}`,
        ),
      );
    }
  });

  it("a second plan of 00 and 01 finds nothing to change", async () => {
    expect(changesOf(await planLayer(judge, stacks["00-persistent-auth"], run))).toEqual([]);
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"], run))).toEqual([]);
  });

  it("destroying 01 leaves only what was there before it", async () => {
    await destroyLayer(judge, stacks["01-infrastructure"], run);
    const { state } = judge.sim;
    expect(state.containers).toEqual({});
    expect(Object.keys(state.vms).sort()).toEqual(seeded.vms);
    expect(state.volumes.map((v) => v.volid).sort()).toEqual(seeded.volumes);
    expect(state.pciMappings).toEqual({});
    expect(state.pools).toEqual({});
    expect(judge.sim.calls.filter((call) => call.status === 501)).toEqual([]);
  });
});

function containerProblems(
  ct: ContainerConfig,
  node: string,
  config: Readonly<Record<string, string>>,
  defaultHost: string,
  status: string,
): string[] {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`${ct.name}: ${what} (config: ${JSON.stringify(config)})`);
  if (node !== (ct.host ?? defaultHost)) say(`on ${node}`);
  if (status !== (ct.started ? "running" : "stopped")) say(`status ${status}`);
  if (config.unprivileged !== (ct.privileged ? "0" : "1")) say(`unprivileged ${config.unprivileged}`);
  if (ct.privileged && !config.description?.includes(ct.privileged.reason))
    say("the privileged reason is not in the description");
  const features = config.features ? parsePropertyString(ctKeysOf("features"), config.features) : {};
  for (const f of ["nesting", "keyctl", "fuse"] as const) {
    if ((features[f] === "1") !== ct.features[f]) say(`feature ${f} is ${features[f] ?? "unset"}`);
  }
  const rootfs = parsePropertyString(ctKeysOf("rootfs"), config.rootfs ?? "");
  if (rootfs.size !== `${ct.disk.size}G`) say(`rootfs size ${rootfs.size}`);
  ct.mount_points.forEach((mp, i) => {
    const stored = config[`mp${i}`] ? parsePropertyString(ctKeysOf(`mp${i}`), config[`mp${i}`]) : undefined;
    if (!stored) {
      say(`no mp${i} for ${mp.path}`);
      return;
    }
    if (stored.mp !== mp.path) say(`mp${i} at ${stored.mp}`);
    if (mp.host_path !== undefined && stored.volume !== mp.host_path) say(`mp${i} binds ${stored.volume}`);
    if (mp.storage !== undefined && (!stored.volume.startsWith(`${mp.storage}:`) || stored.size !== `${mp.size}G`))
      say(`mp${i} is ${config[`mp${i}`]}`);
    if ((stored.ro === "1") !== mp.read_only) say(`mp${i} read-only ${stored.ro}`);
  });
  ct.devices.forEach((device, i) => {
    const stored = config[`dev${i}`] ? parsePropertyString(ctKeysOf(`dev${i}`), config[`dev${i}`]) : undefined;
    if (
      stored?.path !== device.path ||
      stored.mode !== device.mode ||
      (stored["deny-write"] === "1") !== device.read_only
    )
      say(`dev${i} is ${config[`dev${i}`]}`);
  });
  if (config[`dev${ct.devices.length}`] !== undefined) say(`dev${ct.devices.length} is not in the config`);
  ct.extra_networks.forEach((extra, i) => {
    const stored = parsePropertyString(ctKeysOf(`net${i + 1}`), config[`net${i + 1}`] ?? "");
    if (stored.name !== `eth${i + 1}` || (extra.address.includes("/") && stored.ip !== extra.address))
      say(`net${i + 1} is ${config[`net${i + 1}`]}`);
  });
  const net = parsePropertyString(ctKeysOf("net0"), config.net0 ?? "");
  if (net.ip !== ct.network.address) say(`net0 ip ${net.ip}`);
  if (ct.network.mac_addr && net.hwaddr?.toLowerCase() !== ct.network.mac_addr.toLowerCase())
    say(`net0 hwaddr ${net.hwaddr}`);
  if (config.hostname !== ct.name) say(`hostname ${config.hostname}`);
  if (config.onboot !== (ct.on_boot ? "1" : "0")) say(`onboot ${config.onboot}`);
  if (String(config.memory) !== String(ct.memory) || String(config.swap) !== String(ct.swap))
    say(`memory ${config.memory}/${config.swap}`);
  return problems;
}

function vmProblems(vm: VmConfig, config: Readonly<Record<string, string>>, status: string): string[] {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`${vm.name}: ${what} (config: ${JSON.stringify(config)})`);
  if (status !== (vm.started ? "running" : "stopped")) say(`status ${status}`);
  if (config.template !== undefined) say("is a template");
  if (config.name !== vm.name) say(`name ${config.name}`);
  if (vm.disk.size !== undefined) {
    const disk = parsePropertyString(keysOf(vm.disk.interface), config[vm.disk.interface] ?? "");
    if (disk.size !== `${vm.disk.size}G`) say(`${vm.disk.interface} size ${disk.size}`);
  }
  if (String(config.cores) !== String(vm.cores)) say(`cores ${config.cores}`);
  if (String(config.sockets) !== String(vm.sockets)) say(`sockets ${config.sockets}`);
  if (String(config.memory) !== String(vm.memory)) say(`memory ${config.memory}`);
  if (parsePropertyString(keysOf("cpu"), config.cpu ?? "").cputype !== vm.cpu_type) say(`cpu ${config.cpu}`);
  if (config.onboot !== (vm.on_boot ? "1" : "0")) say(`onboot ${config.onboot}`);
  if (config.machine !== vm.machine) say(`machine ${config.machine}`);
  // The seeded template is OVMF: a clone keeps it unless the config names the firmware.
  if (config.bios !== (vm.bios ?? "ovmf")) say(`bios ${config.bios}`);
  if (config.scsihw !== "virtio-scsi-single") say(`scsihw ${config.scsihw}`);
  const disk = parsePropertyString(keysOf(vm.disk.interface), config[vm.disk.interface] ?? "");
  // The I/O thread virtio-scsi-single exists for, and discard as the template has them (bpg rewrites the
  // whole drive when it resizes it).
  if (/^(scsi|virtio)/.test(vm.disk.interface) && disk.iothread !== "1")
    say(`${vm.disk.interface} iothread ${disk.iothread}`);
  if (disk.discard !== "on") say(`${vm.disk.interface} discard ${disk.discard}`);
  vm.pci.forEach((pci, i) => {
    const stored = parsePropertyString(keysOf(`hostpci${i}`), config[`hostpci${i}`] ?? "");
    if (stored.mapping !== pci.mapping || (stored.pcie === "1") !== pci.pcie)
      say(`hostpci${i} ${config[`hostpci${i}`]}`);
  });
  return problems;
}

describe("examples/lxc-homelab with an API token", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;

  beforeAll(async () => {
    const dir = join(work.dir, "lxc-homelab-token");
    const configDir = judgedConfig(join(dir, "config"), { from: join(REPO, "examples", "lxc-homelab") });
    judge = await startJudgeFor(configDir);
    await seedWorkloads(judge, configDir);
    stacks = await synthesizeFor(configDir, dir);
  });
  afterAll(async () => judge?.close());

  it("is refused the container options PVE keeps to root@pam itself: an API token, even root@pam's, is not root@pam", async () => {
    const run = { env: { TF_VAR_pbs_password: "pbs-secret", TF_VAR_extra_ssh_keys: KEY } };
    await applyLayer(judge, stacks["00-persistent-auth"], run);
    const failure = await applyLayer(judge, stacks["01-infrastructure"], run).then(
      () => "",
      (error: Error) => error.message.replace(/\s+/g, " "),
    );
    // apps asks for keyctl, fuse and /dev/net/tun: PVE refuses the first of them it checks (its options' order).
    expect(failure).toMatch(
      /(changing feature flags \(except nesting\)|configuring device passthrough) is only allowed for root@pam/,
    );
    expect(failure).toMatch(
      /changing feature flags for privileged container is only allowed for root@pam|mount point type bind is only allowed for root@pam/,
    );
    expect(
      Object.values(judge.sim.state.containers)
        .map((ct) => ct.config.hostname)
        .sort(),
    ).toEqual(["dns", "proxy", "uptime"]);
  });
});
