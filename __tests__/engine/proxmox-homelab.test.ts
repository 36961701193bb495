// The homelab's own Proxmox habits, applied by the real bpg/proxmox into the Proxmox simulator: tags written
// as an admin writes them (upper case included, which PVE accepts and stores in lower case), and an appliance
// VM that sets its own static address (no cloud-init).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyLayer,
  changesOf,
  judgedConfig,
  planLayer,
  seedWorkloads,
  startJudgeFor,
  synthesizeFor,
  type Judge,
} from "./proxmox-judge";
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
