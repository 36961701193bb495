// The least privileges README.md documents for the provider's token, proven by the real bpg/proxmox applying
// layers 00 and 01 into the Proxmox simulator with a token made by the README's own `pveum` lines (the simulator
// checks each call's privileges as PVE does, see judges/pve-sim/permissions.ts): the token applies both layers,
// and without any one privilege of its roles, or one of its ACL lines, the apply fails with PVE's refusal.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROXMOX_CSI_PRIVILEGES } from "../../constructs/proxmox-csi-token";
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

/** One `pveum` line of the README's token runbook. */
type Pveum =
  | { readonly kind: "role"; readonly roleid: string; readonly privs: readonly string[] }
  | { readonly kind: "user"; readonly userid: string }
  | {
      readonly kind: "acl";
      readonly path: string;
      readonly userid: string;
      readonly roleid: string;
      readonly propagate: boolean;
      /** Marked `# with proxmox_csi_enabled`. */
      readonly csiOnly: boolean;
    }
  | { readonly kind: "token"; readonly userid: string; readonly tokenid: string; readonly privsep: boolean };

/** The words of a shell line, double quotes removed, up to its comment. */
function words(line: string): string[] {
  return [...line.replace(/#.*$/, "").matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/**
 * The `pveum` lines of README.md's runbook "Create the Proxmox API token" (its first `sh` block, continuations
 * joined), as what each does; a pveum command this test does not know is an error.
 */
function readmeRunbook(): Pveum[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8").replace(/\\\n/g, " ");
  const block = /\*\*Create the Proxmox API token\*\*[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no runbook 'Create the Proxmox API token' with an sh block");
  return block
    .split("\n")
    .filter((line) => line.startsWith("pveum "))
    .map((line): Pveum => {
      const w = words(line);
      const option = (name: string) => {
        const i = w.findIndex((x) => x === `-${name}` || x === `--${name}`);
        return i < 0 ? undefined : w[i + 1];
      };
      const command = w.slice(1, 4).join(" ");
      if (command.startsWith("role add "))
        return { kind: "role", roleid: w[3], privs: (option("privs") ?? "").split(/\s+/).filter(Boolean) };
      if (command.startsWith("user add ")) return { kind: "user", userid: w[3] };
      if (command.startsWith("acl modify "))
        return {
          kind: "acl",
          path: w[3],
          userid: option("users") ?? "",
          roleid: option("roles") ?? "",
          propagate: option("propagate") !== "0",
          csiOnly: /#.*with proxmox_csi_enabled/.test(line),
        };
      if (command.startsWith("user token add"))
        return { kind: "token", userid: w[4], tokenid: w[5], privsep: option("privsep") !== "0" };
      throw new Error(`README.md: a pveum line this test does not know: ${line}`);
    });
}

/** The README's privileges of `role`. */
function readmeRole(role: string): readonly string[] {
  const line = readmeRunbook().find((c) => c.kind === "role" && c.roleid === role);
  if (line?.kind !== "role") throw new Error(`README.md has no 'pveum role add ${role} -privs "..."'`);
  return line.privs;
}

/** Runs `runbook` through the API as root, as the README's commands do on a host; returns the token to export. */
async function tokenOf(judge: Judge, runbook: readonly Pveum[]): Promise<string> {
  const root = async (method: string, path: string, params: Record<string, string>) => {
    const answer = await call(judge.sim, judge.token, method, path, params);
    if (answer.status !== 200) throw new Error(`${method} ${path}: ${answer.status} ${answer.body.message}`);
    return answer.body.data;
  };
  let token = "";
  for (const c of runbook) {
    if (c.kind === "role") await root("POST", "/access/roles", { roleid: c.roleid, privs: c.privs.join(",") });
    if (c.kind === "user") await root("POST", "/access/users", { userid: c.userid });
    if (c.kind === "acl")
      await root("PUT", "/access/acl", {
        path: c.path,
        users: c.userid,
        roles: c.roleid,
        propagate: c.propagate ? "1" : "0",
      });
    if (c.kind === "token") {
      const made = (await root("POST", `/access/users/${encodeURIComponent(c.userid)}/token/${c.tokenid}`, {
        privsep: c.privsep ? "1" : "0",
      })) as { value: string };
      token = `${c.userid}!${c.tokenid}=${made.value}`;
    }
  }
  if (!token) throw new Error("README.md's runbook adds no API token");
  return token;
}

/** The runbook with `privilege` taken out of `role`. */
const without = (runbook: readonly Pveum[], role: string, privilege: string): Pveum[] =>
  runbook.map((c) =>
    c.kind === "role" && c.roleid === role ? { ...c, privs: c.privs.filter((p) => p !== privilege) } : c,
  );

/** The example of the tests, with the Proxmox firewall, an HA resource and the CSI token, so their calls are checked too. */
function exampleConfig(name: string): string {
  return judgedConfig(join(work.dir, name, "config"), {
    from: join(REPO, "__tests__", "fixtures", "example"),
    cluster: { proxmox_firewall_enabled: true, proxmox_csi_enabled: true },
    nodes: (nodes) => nodes.map((n, i) => (i === 0 ? { ...n, vm_ha: true } : n)),
  });
}

/** A fresh judge and synthesis of the example; `run` gets them, the judge is closed after. */
async function withExample<T>(
  name: string,
  run: (judge: Judge, stacks: Record<Layer, SynthesizedStack>) => Promise<T>,
) {
  const dir = exampleConfig(name);
  const judge = await startJudgeFor(dir);
  try {
    return await run(judge, await synthesizeFor(dir, join(work.dir, name)));
  } finally {
    await judge.close();
  }
}

/** The apply's error output on one line, or "" when it applied. */
const failureOf = (applying: Promise<unknown>) =>
  applying.then(
    () => "",
    (error: Error) => error.message.replace(/\s+/g, " "),
  );

describe("layers 00 and 01 applied with the README's token (TalosInfra and TalosAccess)", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;
  let env: Record<string, string>;

  beforeAll(async () => {
    const dir = exampleConfig("sufficient");
    judge = await startJudgeFor(dir);
    stacks = await synthesizeFor(dir, join(work.dir, "sufficient"));
    env = { PROXMOX_VE_API_TOKEN: await tokenOf(judge, readmeRunbook()) };
  });
  afterAll(async () => judge?.close());

  it("layer 00: the token makes the CSI driver's role, user, token and ACL, every call passing PVE's checks", async () => {
    const before = judge.sim.calls.length;
    await applyLayer(judge, stacks["00-persistent-auth"], { env });
    const calls = judge.sim.calls.slice(before);
    expect(calls.filter((c) => c.status === 403 || c.status === 501)).toEqual([]);
    expect(
      new Set(calls.filter((c) => c.method !== "GET").map((c) => `${c.method} ${c.path.replace(/%40/g, "@")}`)),
    ).toEqual(
      new Set([
        "POST /access/roles",
        "POST /access/users",
        "POST /access/users/homelab-csi@pve/token/csi",
        "PUT /access/acl",
      ]),
    );
    const state = judge.sim.state;
    expect(state.roles["homelab-csi"]?.privs.slice().sort()).toEqual([...PROXMOX_CSI_PRIVILEGES].sort());
    expect(Object.keys(state.users["homelab-csi@pve"]?.tokens ?? {})).toEqual(["csi"]);
    expect(state.acl).toContainEqual({
      path: "/",
      type: "user",
      ugid: "homelab-csi@pve",
      roleid: "homelab-csi",
      propagate: 1,
    });
  });

  it("layer 00: a second plan with that token finds nothing to change (it reads back all it made)", async () => {
    expect(changesOf(await planLayer(judge, stacks["00-persistent-auth"], { env }))).toEqual([]);
  });

  it("layer 00: the role, user and token changed on the host are put back by the token", async () => {
    const root = (method: string, path: string, params: Record<string, string>) =>
      call(judge.sim, judge.token, method, path, params);
    await root("PUT", "/access/roles/homelab-csi", { privs: "VM.Audit" });
    await root("PUT", "/access/users/homelab-csi%40pve", { comment: "changed by hand" });
    await root("PUT", "/access/users/homelab-csi%40pve/token/csi", { comment: "changed by hand" });
    const before = judge.sim.calls.length;
    await applyLayer(judge, stacks["00-persistent-auth"], { env });
    const calls = judge.sim.calls.slice(before);
    expect(calls.filter((c) => c.status !== 200)).toEqual([]);
    expect(
      calls
        .filter((c) => c.method === "PUT")
        .map((c) => c.path.replace(/%40/g, "@"))
        .sort(),
    ).toEqual([
      "/access/roles/homelab-csi",
      "/access/users/homelab-csi@pve",
      "/access/users/homelab-csi@pve/token/csi",
    ]);
    expect(judge.sim.state.roles["homelab-csi"]?.privs.slice().sort()).toEqual([...PROXMOX_CSI_PRIVILEGES].sort());
    expect(changesOf(await planLayer(judge, stacks["00-persistent-auth"], { env }))).toEqual([]);
  });

  it("layer 01: every call passes PVE's permission checks, and the VMs, firewall and HA are in Proxmox", async () => {
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

  it("layer 01: a second plan with that token finds nothing to change", async () => {
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"], { env }))).toEqual([]);
  });
});

describe.each([
  // The cloud-init drive and ipconfig0 of every node.
  { privilege: "VM.Config.Cloudinit", refused: /Permission check failed \(\/vms\/\d+, VM\.Config\.Cloudinit\)/ },
  // The NIC on vmbr0 (PVE 8's SDN.Use on the local network's bridges).
  { privilege: "SDN.Use", refused: /Permission check failed \(\/sdn\/zones\/localnetwork\/vmbr0[^)]*, SDN\.Use\)/ },
  // The start order: "changes host behaviour".
  { privilege: "Sys.Modify", refused: /Permission check failed \(\/, Sys\.Modify\)/ },
])("the TalosInfra role without $privilege (a token without proxmox_csi_enabled's lines)", ({ privilege, refused }) => {
  it("fails layer 01 with PVE's permission error", async () => {
    expect(readmeRole("TalosInfra")).toContain(privilege);
    const failure = await withExample(`infra-without-${privilege}`, async (judge, stacks) => {
      await applyLayer(judge, stacks["00-persistent-auth"]);
      const runbook = without(readmeRunbook(), "TalosInfra", privilege).filter((c) => c.kind !== "acl" || !c.csiOnly);
      const token = await tokenOf(judge, runbook);
      return failureOf(applyLayer(judge, stacks["01-infrastructure"], { env: { PROXMOX_VE_API_TOKEN: token } }));
    });
    expect(failure).toMatch(refused);
  });
});

/** Each privilege of the README's TalosAccess and the refusal without it: the role must be exactly these. */
const TALOS_ACCESS = [
  // Creating the CSI driver's role.
  { privilege: "Sys.Modify", refused: /Permission check failed \(\/access, Sys\.Modify\)/ },
  // Creating its user in the pve realm.
  { privilege: "Realm.AllocateUser", refused: /Permission check failed \(\/access\/realm\/pve, Realm\.AllocateUser\)/ },
  // Creating its user (no group), then its token.
  { privilege: "User.Modify", refused: /Permission check failed \(\/access\/groups, User\.Modify\)/ },
  // Its ACL on /.
  { privilege: "Permissions.Modify", refused: /Permission check failed \(\/, Permissions\.Modify\)/ },
];

describe("the README's TalosAccess role", () => {
  it("holds exactly the privileges layer 00 is refused without (least privilege)", () => {
    expect([...readmeRole("TalosAccess")].sort()).toEqual(TALOS_ACCESS.map((t) => t.privilege).sort());
  });
});

describe.each(TALOS_ACCESS)("the TalosAccess role without $privilege", ({ privilege, refused }) => {
  it("fails layer 00 with PVE's permission error", async () => {
    const failure = await withExample(`access-without-${privilege}`, async (judge, stacks) => {
      const token = await tokenOf(judge, without(readmeRunbook(), "TalosAccess", privilege));
      return failureOf(applyLayer(judge, stacks["00-persistent-auth"], { env: { PROXMOX_VE_API_TOKEN: token } }));
    });
    expect(failure).toMatch(refused);
  });
});

describe.each([
  // From / only TalosInfra reaches /access: it has Sys.Modify, not Realm.AllocateUser.
  { path: "/access", refused: /Permission check failed \(\/access\/realm\/pve, Realm\.AllocateUser\)/ },
  { path: "/", refused: /Permission check failed \(\/, Permissions\.Modify\)/ },
])("the README's TalosAccess ACL on $path left out", ({ path, refused }) => {
  it("fails layer 00 with PVE's permission error", async () => {
    const runbook = readmeRunbook();
    const isLine = (c: Pveum) => c.kind === "acl" && c.roleid === "TalosAccess" && c.path === path;
    expect(runbook.filter(isLine)).toHaveLength(1);
    const failure = await withExample(`access-acl-${path.replace(/\//g, "_")}`, async (judge, stacks) => {
      const token = await tokenOf(
        judge,
        runbook.filter((c) => !isLine(c)),
      );
      return failureOf(applyLayer(judge, stacks["00-persistent-auth"], { env: { PROXMOX_VE_API_TOKEN: token } }));
    });
    expect(failure).toMatch(refused);
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
    const failure = await failureOf(applyLayer(judge, stacks["01-infrastructure"]));
    expect(failure).toMatch(/only root can set 'hostpci0' config for non-mapped devices/);
  });

  it("applies with root@pam logged in with its password, as preflight demands", async () => {
    await applyLayer(judge, stacks["01-infrastructure"], { env: judge.rootLogin });
    const gpu = Object.values(vmsByName(judge.sim)).filter((vm) => vm.config.hostpci0 !== undefined);
    expect(gpu.map((vm) => vm.config.hostpci0)).toEqual([expect.stringMatching(/^host=0000:01:00,/)]);
  });
});
