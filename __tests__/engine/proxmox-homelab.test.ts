// The homelab's own Proxmox habits, applied by the real bpg/proxmox into the Proxmox simulator: tags written
// as an admin writes them (upper case included, which PVE accepts and stores in lower case), an appliance
// VM that sets its own static address (no cloud-init), and a router VM with several NICs next to a VPN
// container with /dev/net/tun, across a tagged zone and the bridge's untagged network.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
} from "./proxmox-judge";
import { ctKeysOf } from "../../judges/pve-sim/handlers/lxc-config";
import { keysOf } from "../../judges/pve-sim/handlers/vm-config";
import { parsePropertyString } from "../../judges/pve-sim/params";
import { REPO, tempDir, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("proxmox-homelab");
afterAll(() => work.remove());

describe("tags in upper case (examples/gpu-single-host with a tagged VM)", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;

  beforeAll(async () => {
    const dir = judgedConfig(join(work.dir, "tags", "config"), {
      from: join(REPO, "examples", "gpu-single-host"),
      workloads: () => ({ vms: [{ name: "app", id: 150, clone: { template: 9000 }, tags: ["Web", "prod", "DMZ"] }] }),
    });
    judge = await startJudgeFor(dir);
    await seedWorkloads(judge, dir);
    stacks = await synthesizeFor(dir, join(work.dir, "tags"));
    await applyLayer(judge, stacks["00-persistent-auth"]);
  });
  afterAll(async () => judge?.close());

  it("are stored as PVE stores them (lower case, sorted), and a second plan finds nothing to change", async () => {
    await applyLayer(judge, stacks["01-infrastructure"]);
    expect(judge.sim.state.vms["150"].config.tags).toBe("dmz;prod;web");
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"]))).toEqual([]);
  });
});

describe("an appliance that sets its own static address (network.set_by_guest, no cloud_init)", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;

  beforeAll(async () => {
    const dir = judgedConfig(join(work.dir, "set-by-guest", "config"), {
      from: join(REPO, "examples", "gpu-single-host"),
      workloads: () => ({
        vms: [
          {
            name: "opnsense",
            id: 150,
            clone: { template: 9000 },
            network: { address: "192.168.50.2/24", set_by_guest: true },
          },
        ],
      }),
    });
    judge = await startJudgeFor(dir);
    await seedWorkloads(judge, dir);
    stacks = await synthesizeFor(dir, join(work.dir, "set-by-guest"));
    await applyLayer(judge, stacks["00-persistent-auth"]);
  });
  afterAll(async () => judge?.close());

  it("is cloned and started with nothing of the address given to Proxmox, and a second plan changes nothing", async () => {
    await applyLayer(judge, stacks["01-infrastructure"]);
    const vm = judge.sim.state.vms["150"];
    expect(vm).toMatchObject({ status: "running" });
    expect(vm.config.ipconfig0).toBeUndefined();
    expect(vm.config.nameserver).toBeUndefined();
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"]))).toEqual([]);
  });
});

describe("a router VM with LAN, management and WAN NICs, a VPN container with /dev/net/tun, an untagged zone", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;
  let seededVms: string[];
  // Device passthrough is root@pam's alone: the provider logs in as root@pam with its password.
  const run = () => ({ env: judge.rootLogin });

  beforeAll(async () => {
    const dir = judgedConfig(join(work.dir, "router", "config"), {
      from: join(REPO, "examples", "gpu-single-host"),
      workloads: () => ({
        zones: [
          { name: "mgmt", vlan: 0, cidr: "192.168.60.0/24" },
          { name: "lan", vlan: 20, cidr: "10.20.0.0/24" },
        ],
        vms: [
          {
            name: "router",
            id: 150,
            clone: { template: 9000 },
            cloud_init: {},
            network: { zone: "lan", address: "10.20.0.2" },
            // Filtered NICs need rules: SSH from the management network only, on the management NIC (net1).
            firewall: { rules: [{ action: "ACCEPT", macro: "SSH", source: "mgmt", iface: "net1" }] },
            extra_networks: [
              { zone: "mgmt", address: "192.168.60.2", mac_addr: "bc:24:11:60:00:02", firewall: true },
              { bridge: "vmbr0", vlan: 99 },
            ],
          },
        ],
        containers: [
          {
            name: "vpn",
            id: 151,
            template: { volume: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst" },
            network: { zone: "mgmt", address: "192.168.60.3" },
            extra_networks: [{ zone: "lan" }],
            devices: [{ path: "/dev/net/tun", mode: "0666" }],
          },
        ],
      }),
    });
    judge = await startJudgeFor(dir);
    await seedWorkloads(judge, dir);
    seededVms = Object.keys(judge.sim.state.vms).sort();
    stacks = await synthesizeFor(dir, join(work.dir, "router"));
    await applyLayer(judge, stacks["00-persistent-auth"], run());
  });
  afterAll(async () => judge?.close());

  it("applies: each NIC in order on its VNet or the bare bridge (no tag= on the untagged zone), an ipconfig each", async () => {
    await applyLayer(judge, stacks["01-infrastructure"], run());
    expect(judge.sim.calls.filter((call) => call.status === 501)).toEqual([]);
    expect(judge.sim.state.incidents).toEqual([]);
    const vm = judge.sim.state.vms["150"];
    expect(vm.status).toBe("running");
    const net = (slot: string) => parsePropertyString(keysOf(slot), vm.config[slot] ?? "");
    expect(net("net0")).toMatchObject({ bridge: "lan" });
    expect(net("net1")).toMatchObject({ model: "virtio", bridge: "vmbr0", firewall: "1" });
    expect(net("net1").macaddr?.toLowerCase()).toBe("bc:24:11:60:00:02");
    expect(net("net2")).toMatchObject({ bridge: "vmbr0", tag: "99" });
    expect([net("net0").tag, net("net1").tag]).toEqual([undefined, undefined]);
    expect(vm.config.net3).toBeUndefined();
    expect([vm.config.ipconfig0, vm.config.ipconfig1, vm.config.ipconfig2]).toEqual([
      "gw=10.20.0.1,ip=10.20.0.2/24",
      "ip=192.168.60.2/24",
      "ip=dhcp",
    ]);
    const ct = judge.sim.state.containers["151"];
    expect(ct.status).toBe("running");
    const ctNet = (slot: string) => parsePropertyString(ctKeysOf(slot), ct.config[slot] ?? "");
    expect(ctNet("net0")).toMatchObject({ name: "eth0", bridge: "vmbr0", ip: "192.168.60.3/24", gw: "192.168.60.1" });
    expect(ctNet("net0").tag).toBeUndefined();
    expect(ctNet("net1")).toMatchObject({ name: "eth1", bridge: "lan", ip: "dhcp" });
    expect(parsePropertyString(ctKeysOf("dev0"), ct.config.dev0 ?? "")).toMatchObject({
      path: "/dev/net/tun",
      mode: "0666",
    });
    // The router's rule for its management NIC alone, as PVE stores it.
    expect(judge.sim.state.firewall["150"].rules).toEqual([
      expect.objectContaining({ macro: "SSH", source: "192.168.60.0/24", iface: "net1" }),
    ]);
    // The untagged zone is no VNet: only the tagged one is in PVE's SDN configuration.
    expect(Object.keys(judge.sim.state.sdn.running.vnets)).toEqual(["lan"]);
  });

  it("a second plan finds nothing to change (the NICs' order, the devices and the rule's iface read back as written)", async () => {
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"], run()))).toEqual([]);
  });

  it("destroying 01 leaves only the seeded template; an API token is then refused the device", async () => {
    await destroyLayer(judge, stacks["01-infrastructure"], run());
    expect(judge.sim.state.containers).toEqual({});
    expect(Object.keys(judge.sim.state.vms).sort()).toEqual(seededVms);
    expect(judge.sim.state.sdn.running.vnets).toEqual({});
    const failure = await applyLayer(judge, stacks["01-infrastructure"]).then(
      () => "",
      (error: Error) => error.message.replace(/\s+/g, " "),
    );
    expect(failure).toContain("configuring device passthrough is only allowed for root@pam");
    expect(judge.sim.state.containers).toEqual({});
  });
});
