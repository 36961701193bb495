// The least privileges README.md documents for the provider's token, proven by the real bpg/proxmox applying
// layer 01 into the Proxmox simulator with a token that holds exactly them (the simulator checks each call's
// privileges as PVE does, see judges/pve-sim/permissions.ts): the README's TalosInfra role suffices, and the
// role without one privilege a call needs fails the apply with PVE's "Permission check failed".
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../support/pve-client";
import {
  applyLayer,
  changesOf,
  judgedConfig,
  planLayer,
  startJudgeFor,
  synthesizeFor,
  vmsByName,
  type Judge,
} from "./proxmox-judge";
import { REPO, tempDir, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("proxmox-permissions");
afterAll(() => work.remove());

/** The privileges of a `pveum role add <role> -privs "..."` line of README.md. */
function readmeRole(role: string): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8").replace(/\\\n/g, " ");
  const privs = new RegExp(`pveum role add ${role} -privs "([^"]+)"`).exec(readme)?.[1];
  if (!privs) throw new Error(`README.md has no 'pveum role add ${role} -privs "..."'`);
  return privs.split(/\s+/).filter(Boolean);
}

/** As the README's commands do, through the API as root: the role, a user with it on `/`, its token (no privsep). */
async function bootstrapToken(judge: Judge, privs: readonly string[]): Promise<string> {
  const root = async (method: string, path: string, params: Record<string, string>) => {
    const answer = await call(judge.sim, judge.token, method, path, params);
    if (answer.status !== 200) throw new Error(`${method} ${path}: ${answer.status} ${answer.body.message}`);
    return answer.body.data;
  };
  await root("POST", "/access/roles", { roleid: "TalosInfra", privs: privs.join(",") });
  await root("POST", "/access/users", { userid: "talos-bootstrap@pve" });
  await root("PUT", "/access/acl", { path: "/", users: "talos-bootstrap@pve", roles: "TalosInfra" });
  const token = (await root("POST", "/access/users/talos-bootstrap%40pve/token/bootstrap", { privsep: "0" })) as {
    value: string;
  };
  return `talos-bootstrap@pve!bootstrap=${token.value}`;
}

/** The example of the tests, with the Proxmox firewall and an HA resource, so that their calls are checked too. */
function exampleConfig(name: string): string {
  return judgedConfig(join(work.dir, name, "config"), {
    from: join(REPO, "__tests__", "fixtures", "example"),
    cluster: { proxmox_firewall_enabled: true },
    nodes: (nodes) => nodes.map((n, i) => (i === 0 ? { ...n, vm_ha: true } : n)),
  });
}

describe("layer 01 applied with the README's TalosInfra token", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;
  let env: Record<string, string>;

  beforeAll(async () => {
    const dir = exampleConfig("sufficient");
    judge = await startJudgeFor(dir);
    stacks = await synthesizeFor(dir, join(work.dir, "sufficient"));
    // Layer 00's CSI role, user, token and ACL are made with the administrator's token (TalosAccess is not
    // modelled by the simulator's permission table).
    await applyLayer(judge, stacks["00-persistent-auth"]);
    env = { PROXMOX_VE_API_TOKEN: await bootstrapToken(judge, readmeRole("TalosInfra")) };
  });
  afterAll(async () => judge?.close());

  it("applies: every call passes PVE's permission checks, and the VMs, firewall and HA are in Proxmox", async () => {
    const before = judge.sim.calls.length;
    await applyLayer(judge, stacks["01-infrastructure"], { env });
    const refused = judge.sim.calls.slice(before).filter((c) => c.status === 403 || c.status === 501);
    expect(refused).toEqual([]);
    const vms = Object.values(vmsByName(judge.sim));
    expect(vms.length).toBeGreaterThan(0);
    expect(vms.every((vm) => vm.status === "running")).toBe(true);
    expect(Object.keys(judge.sim.state.firewall).length).toBe(vms.length);
    expect(Object.keys(judge.sim.state.ha)).toHaveLength(1);
  });

  it("a second plan with that token finds nothing to change", async () => {
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"], { env }))).toEqual([]);
  });
});

describe.each([
  // The cloud-init drive and ipconfig0 of every node.
  { without: "VM.Config.Cloudinit", refused: /Permission check failed \(\/vms\/\d+, VM\.Config\.Cloudinit/ },
  // The NIC on vmbr0 (PVE 8's SDN.Use on the local network's bridges).
  { without: "SDN.Use", refused: /Permission check failed \(\/sdn\/zones\/localnetwork\/vmbr0[^)]*, SDN\.Use\)/ },
  // The start order: "changes host behaviour".
  { without: "Sys.Modify", refused: /Permission check failed \(\/, Sys\.Modify\)/ },
])("the TalosInfra role without $without", ({ without, refused }) => {
  it("fails layer 01 with PVE's permission error", async () => {
    const dir = exampleConfig(`without-${without}`);
    const judge = await startJudgeFor(dir);
    try {
      const stacks = await synthesizeFor(dir, join(work.dir, `without-${without}`));
      await applyLayer(judge, stacks["00-persistent-auth"]);
      const privs = readmeRole("TalosInfra");
      expect(privs).toContain(without);
      const token = await bootstrapToken(
        judge,
        privs.filter((p) => p !== without),
      );
      const failure = await applyLayer(judge, stacks["01-infrastructure"], {
        env: { PROXMOX_VE_API_TOKEN: token },
      }).then(
        () => "",
        (error: Error) => error.message.replace(/\s+/g, " "),
      );
      expect(failure).toMatch(refused);
    } finally {
      await judge.close();
    }
  });
});

describe("a node's GPU by raw PCI id (examples/multi-host-secureboot without its mapping)", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;

  beforeAll(async () => {
    const dir = judgedConfig(join(work.dir, "raw-pci", "config"), {
      from: join(REPO, "examples", "multi-host-secureboot"),
      nodes: (nodes) =>
        nodes.map((n) => (Array.isArray(n.pci_devices) ? { ...n, pci_devices: [{ id: "0000:01:00" }] } : n)),
    });
    judge = await startJudgeFor(dir, { pciDevices: { pve3: ["0000:01:00.0", "0000:01:00.1"] } });
    stacks = await synthesizeFor(dir, join(work.dir, "raw-pci"));
    await applyLayer(judge, stacks["00-persistent-auth"]);
  });
  afterAll(async () => judge?.close());

  it("is refused to an API token, even root@pam's (qemu-server: only root@pam itself)", async () => {
    const failure = await applyLayer(judge, stacks["01-infrastructure"]).then(
      () => "",
      (error: Error) => error.message.replace(/\s+/g, " "),
    );
    expect(failure).toMatch(/only root can set 'hostpci0' config for non-mapped devices/);
  });

  it("applies with root@pam logged in with its password, as preflight demands", async () => {
    await applyLayer(judge, stacks["01-infrastructure"], { env: judge.rootLogin });
    const gpu = Object.values(vmsByName(judge.sim)).filter((vm) => vm.config.hostpci0 !== undefined);
    expect(gpu.map((vm) => vm.config.hostpci0)).toEqual([expect.stringMatching(/^host=0000:01:00,/)]);
  });
});
