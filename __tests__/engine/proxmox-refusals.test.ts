// What a real Proxmox refuses, proven twice: the config gate refuses it first (file:line:column key, nothing
// synthesized), and with that check bypassed (the synthesized stack edited afterwards) the real bpg/proxmox
// applying into the simulator meets PVE's refusal (which bpg, for an id in use, swallows). A guest id in use, and a linked clone onto another
// host than its template's; beside them what is allowed: a full clone from a template on another host, which bpg
// makes on the template's host and migrates with its disks.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keysOf } from "../../judges/pve-sim/handlers/vm-config";
import { parsePropertyString } from "../../judges/pve-sim/params";
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

const work = tempDir("proxmox-refusals");
afterAll(() => work.remove());

const FROM = join(REPO, "examples", "gpu-single-host");
const HOSTS = ["pve", "pve2"];

/** examples/gpu-single-host (Talos node talos0 is VM 210 on pve) with these VMs instead of its own. */
function configWith(name: string, vms: Array<Record<string, unknown>>): string {
  return judgedConfig(join(work.dir, name, "config"), { from: FROM, workloads: () => ({ hosts: HOSTS, vms }) });
}

/** The synthesis's failure output (stdout and stderr), or "" when it succeeded. */
async function synthesisFailure(configDir: string, outdir: string): Promise<string> {
  return synthesizeFor(configDir, outdir).then(
    () => "",
    (error: Error & { stdout?: string; stderr?: string }) => `${error.stdout ?? ""}${error.stderr ?? ""}`,
  );
}

/** Edits layer 01's synthesized VM `name` (the stack as tofu reads it) with `edit`. */
function editVm(stack: SynthesizedStack, name: string, edit: (vm: Record<string, unknown>) => void): void {
  const file = join(stack.dir, "cdk.tf.json");
  const json = JSON.parse(readFileSync(file, "utf8")) as {
    resource: Record<string, Record<string, Record<string, unknown>>>;
  };
  const vm = json.resource.proxmox_virtual_environment_vm[name];
  if (!vm) throw new Error(`no VM ${name} in ${file}`);
  edit(vm);
  writeFileSync(file, JSON.stringify(json, null, 2));
}

async function applyFailure(judge: Judge, stack: SynthesizedStack): Promise<string> {
  return applyLayer(judge, stack).then(
    () => "",
    (error: Error) => error.message.replace(/\s+/g, " "),
  );
}

describe("the config gate refuses before anything is synthesized", () => {
  it("a guest id a Talos node holds: workloads.yaml:line:column vms[0].id", async () => {
    const dir = configWith("gate-id", [{ name: "app", id: 210, clone: { template: 9000 } }]);
    const failure = await synthesisFailure(dir, join(work.dir, "gate-id"));
    expect(failure).toMatch(
      /workloads\.yaml:\d+:\d+ vms\[0\]\.id: id 210 is already used by nodes\.yaml nodes\[0\] \(talos0\)/,
    );
    expect(failure).toContain("Nothing was synthesized.");
  });

  it("a linked clone onto another host than its template's: workloads.yaml:line:column vms[0].clone.full", async () => {
    const dir = configWith("gate-linked", [
      { name: "app", id: 150, host: "pve", clone: { template: 9000, host: "pve2", full: false } },
    ]);
    const failure = await synthesisFailure(dir, join(work.dir, "gate-linked"));
    expect(failure).toMatch(
      /workloads\.yaml:\d+:\d+ vms\[0\]\.clone\.full: a linked clone is made on its template's host pve2, not on pve/,
    );
    expect(failure).toContain("Nothing was synthesized.");
  });
});

describe("a clone's firmware switched to SeaBIOS", () => {
  it("is refused by the gate: workloads.yaml:line:column vms[0].bios", async () => {
    const dir = configWith("gate-bios", [{ name: "app", id: 150, clone: { template: 9000 }, bios: "seabios" }]);
    const failure = await synthesisFailure(dir, join(work.dir, "gate-bios"));
    expect(failure).toMatch(/workloads\.yaml:\d+:\d+ vms\[0\]\.bios: a clone cannot be switched to seabios/);
  });

  it("bypassed, is silently not applied: bpg never sends its default firmware, the clone stays OVMF and nothing is planned", async () => {
    const dir = configWith("sim-bios", [{ name: "app", id: 150, clone: { template: 9000 } }]);
    const judge = await startJudgeFor(dir);
    try {
      await seedWorkloads(judge, dir);
      const stacks = await synthesizeFor(dir, join(work.dir, "sim-bios"));
      editVm(stacks["01-infrastructure"], "app", (vm) => {
        vm.bios = "seabios";
      });
      await applyLayer(judge, stacks["00-persistent-auth"]);
      await applyLayer(judge, stacks["01-infrastructure"]);
      expect(judge.sim.state.vms["150"].config.bios).toBe("ovmf");
      expect(changesOf(await planLayer(judge, stacks["01-infrastructure"]))).toEqual([]);
    } finally {
      await judge.close();
    }
  });
});

describe("with the config check bypassed, Proxmox refuses as PVE does", () => {
  it("a VM id in use: Proxmox refuses the second guest, and bpg takes the refusal for its own first attempt (one guest silently missing)", async () => {
    // bpg retries a create or clone answered 5xx, and on the retry reads "already exists" as its own first
    // attempt having succeeded (proxmox/retry WithAlreadyDoneCheck): the apply passes with two resources
    // on one VM. Only the config gate stands in the way.
    const dir = configWith("sim-id", [{ name: "app", id: 150, clone: { template: 9000 } }]);
    const judge = await startJudgeFor(dir);
    try {
      await seedWorkloads(judge, dir);
      const stacks = await synthesizeFor(dir, join(work.dir, "sim-id"));
      editVm(stacks["01-infrastructure"], "app", (vm) => {
        vm.vm_id = 210;
      });
      await applyLayer(judge, stacks["00-persistent-auth"]);
      expect(await applyFailure(judge, stacks["01-infrastructure"])).toBe("");
      const creates = judge.sim.calls.filter(
        (c) => c.method === "POST" && (c.path === "/nodes/pve/qemu" || c.path === "/nodes/pve/qemu/9000/clone"),
      );
      expect(creates.filter((c) => c.status === 500).length).toBeGreaterThan(0);
      const guests = Object.values(judge.sim.state.vms).filter((vm) => vm.vmid !== 9000);
      expect(guests.map((vm) => vm.vmid)).toEqual([210]);
    } finally {
      await judge.close();
    }
  });

  it("a linked clone onto another host: bpg clones on the template's host, and the migration is refused", async () => {
    // Valid as written (the VM beside its template on pve2); then moved to pve as the check would refuse.
    const dir = configWith("sim-linked", [
      { name: "app", id: 150, host: "pve2", clone: { template: 9000, full: false } },
    ]);
    const judge = await startJudgeFor(dir);
    try {
      await seedWorkloads(judge, dir);
      const stacks = await synthesizeFor(dir, join(work.dir, "sim-linked"));
      editVm(stacks["01-infrastructure"], "app", (vm) => {
        vm.node_name = "pve";
        (vm.clone as Record<string, unknown>).node_name = "pve2";
      });
      await applyLayer(judge, stacks["00-persistent-auth"]);
      const failure = await applyFailure(judge, stacks["01-infrastructure"]);
      expect(failure).toMatch(
        /can't migrate 'local-lvm:base-9000-disk-0\/vm-150-disk-\d+' as it's a clone of 'base-9000-disk-0'/,
      );
      // The linked clone stays on the template's host: never on pve.
      expect(judge.sim.state.vms["150"]?.node).toBe("pve2");
    } finally {
      await judge.close();
    }
  });
});

describe("a full clone from a template on another host (the homelab's golden templates on one host)", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;

  beforeAll(async () => {
    const dir = configWith("full-cross-host", [
      { name: "app", id: 150, host: "pve", clone: { template: 9000, host: "pve2" }, disk: { size: 8 } },
    ]);
    judge = await startJudgeFor(dir);
    await seedWorkloads(judge, dir);
    stacks = await synthesizeFor(dir, join(work.dir, "full-cross-host"));
  });
  afterAll(async () => judge?.close());

  it("is cloned on the template's host, migrated with its disks onto the VM's storage, and runs on its host", async () => {
    await applyLayer(judge, stacks["00-persistent-auth"]);
    await applyLayer(judge, stacks["01-infrastructure"]);
    const { state, calls } = judge.sim;
    expect(calls.some((c) => c.method === "POST" && c.path === "/nodes/pve2/qemu/9000/clone" && c.status === 200)).toBe(
      true,
    );
    expect(
      calls.some((c) => c.method === "POST" && c.path === "/nodes/pve2/qemu/150/migrate" && c.status === 200),
    ).toBe(true);
    expect(state.vms["150"]).toMatchObject({ node: "pve", status: "running" });
    const disk = parsePropertyString(keysOf("scsi0"), state.vms["150"].config.scsi0);
    expect(disk).toMatchObject({ file: expect.stringMatching(/^local-lvm:vm-150-disk-\d+$/), size: "8G" });
    expect(state.volumes.filter((v) => v.vmid === 150).every((v) => v.node === "pve")).toBe(true);
    expect(state.vms["9000"]).toMatchObject({ node: "pve2" });
    expect(calls.filter((c) => c.status === 501)).toEqual([]);
    expect(state.incidents).toEqual([]);
  });

  it("a second plan finds nothing to change", async () => {
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"]))).toEqual([]);
  });
});
