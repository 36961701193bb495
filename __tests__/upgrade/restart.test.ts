// The rolling restart of VMs with pending Proxmox changes, against an in-memory Proxmox (which VMs have what
// pending; a reboot applies it) and the recording stand-in talosctl: order, waits, a failure midway, a rerun.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ProxmoxError, type ProxmoxVms } from "../../scripts/upgrade/proxmox";
import { formatRestartPlan, pendingRestarts, runRestarts, type RestartNode } from "../../scripts/upgrade/restart";
import { nodesAt, standInTalosctl, type StandInWorld } from "./stand-in";

const node = (name: string, address: string, controller: boolean, vmId: number): RestartNode => ({
  name,
  address,
  controller,
  host: vmId % 2 ? "pve1" : "pve2",
  vmId,
});
// Workers listed first: the order comes from the roles.
const NODES = [
  node("worker0", "127.0.10.31", false, 1031),
  node("controlplane0", "127.0.10.21", true, 1021),
  node("controlplane1", "127.0.10.22", true, 1022),
  node("controlplane2", "127.0.10.23", true, 1023),
];

/** Proxmox in memory: pending keys per VM id; a reboot applies them (or fails for `failOn`). */
function fakeProxmox(pending: Record<number, string[]>, failOn?: number) {
  const calls: string[] = [];
  const api: ProxmoxVms & { failOn?: number } = {
    failOn,
    async pendingKeys(host, vmId) {
      calls.push(`pending ${host}/${vmId}`);
      return pending[vmId] ?? [];
    },
    async reboot(host, vmId) {
      calls.push(`reboot ${host}/${vmId}`);
      if (api.failOn === vmId) throw new ProxmoxError(`reboot of VM ${vmId} on ${host} failed: VM is locked (backup)`);
      pending[vmId] = [];
    },
  };
  return { api, calls, pending };
}

let dir: string | undefined;
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

function standIn(world: Partial<StandInWorld> = {}) {
  dir = mkdtempSync(join(tmpdir(), "restart-"));
  return standInTalosctl(dir, {
    client: "v1.12.1",
    nodes: nodesAt(
      NODES.map((n) => n.address),
      "v1.12.1",
    ),
    ...world,
  });
}

const noSleep = async () => {};
const verbs = (calls: string[][]) =>
  calls.map((c) => `${c[0]} ${c.find((a) => a.startsWith("--nodes="))?.slice(8) ?? ""}`.trim());

describe("pendingRestarts and its plan", () => {
  it("lists only the VMs with pending changes, controllers first", async () => {
    const { api } = fakeProxmox({ 1031: ["cores", "memory"], 1022: ["memory"] });
    const restarts = await pendingRestarts(NODES, api);
    expect(restarts.map((r) => `${r.node.name} ${r.keys.join("+")}`)).toEqual([
      "controlplane1 memory",
      "worker0 cores+memory",
    ]);
    expect(formatRestartPlan(restarts).split("\n")).toEqual([
      "1.  controlplane1 (controller, VM 1022 on pve2): memory pending; restart, then wait until it answers and the cluster is healthy",
      "2.  worker0 (worker, VM 1031 on pve1): cores, memory pending; restart, then wait until it answers and the cluster is healthy",
    ]);
    expect(formatRestartPlan([])).toBe("no VM has a change waiting for a restart");
  });
});

describe("runRestarts", () => {
  it("restarts one VM at a time, each only after its node answers again and the cluster is healthy", async () => {
    const proxmox = fakeProxmox({ 1021: ["cores"], 1023: ["cores"], 1031: ["cores"] });
    // Each restarted node answers nothing twice, as a rebooting node does.
    const fake = standIn({ nodes: Object.fromEntries(NODES.map((n) => [n.address, { version: "v1.12.1", down: 2 }])) });
    const log: string[] = [];
    const result = await runRestarts({
      nodes: NODES,
      proxmox: proxmox.api,
      talosctl: fake.talosctl,
      log: (l) => log.push(l),
      sleep: noSleep,
      pollIntervalMs: 1,
    });
    expect(result).toEqual({ done: ["controlplane0", "controlplane2", "worker0"] });
    expect(proxmox.calls.filter((c) => c.startsWith("reboot"))).toEqual([
      "reboot pve1/1021",
      "reboot pve1/1023",
      "reboot pve1/1031",
    ]);
    // After each reboot: asked until it answered, then health, before the next reboot.
    expect(verbs(fake.calls())).toEqual([
      "version 127.0.10.21",
      "version 127.0.10.21",
      "version 127.0.10.21",
      "health 127.0.10.21",
      "version 127.0.10.23",
      "version 127.0.10.23",
      "version 127.0.10.23",
      "health 127.0.10.21",
      "version 127.0.10.31",
      "version 127.0.10.31",
      "version 127.0.10.31",
      "health 127.0.10.21",
    ]);
    expect(log[0]).toBe("restarting controlplane0 (VM 1021 on pve1) for cores");
  });

  it("stops at the first failure, naming it; a rerun restarts only what is still pending", async () => {
    const proxmox = fakeProxmox({ 1021: ["cores"], 1022: ["cores"], 1031: ["memory"] }, 1022);
    const fake = standIn();
    const first = await runRestarts({
      nodes: NODES,
      proxmox: proxmox.api,
      talosctl: fake.talosctl,
      log: () => {},
      sleep: noSleep,
    });
    expect(first).toEqual({
      done: ["controlplane0"],
      failed: { node: "controlplane1", error: "reboot of VM 1022 on pve2 failed: VM is locked (backup)" },
    });
    expect(proxmox.pending[1031]).toEqual(["memory"]);

    proxmox.api.failOn = undefined;
    const before = proxmox.calls.length;
    const second = await runRestarts({
      nodes: NODES,
      proxmox: proxmox.api,
      talosctl: fake.talosctl,
      log: () => {},
      sleep: noSleep,
    });
    expect(second).toEqual({ done: ["controlplane1", "worker0"] });
    expect(proxmox.calls.slice(before).filter((c) => c.startsWith("reboot"))).toEqual([
      "reboot pve2/1022",
      "reboot pve1/1031",
    ]);
  });

  it("stops when the cluster is not healthy after a restart", async () => {
    const proxmox = fakeProxmox({ 1021: ["cores"], 1022: ["cores"] });
    const fake = standIn({ failHealth: true });
    const result = await runRestarts({
      nodes: NODES,
      proxmox: proxmox.api,
      talosctl: fake.talosctl,
      log: () => {},
      sleep: noSleep,
    });
    expect(result.done).toEqual([]);
    expect(result.failed).toMatchObject({ node: "controlplane0", error: expect.stringMatching(/etcd is unhealthy/) });
    expect(proxmox.calls.filter((c) => c.startsWith("reboot"))).toEqual(["reboot pve1/1021"]);
  });

  it("stops when a node does not answer in time", async () => {
    const proxmox = fakeProxmox({ 1021: ["cores"] });
    const fake = standIn({ nodes: { "127.0.10.21": { version: "v1.12.1", down: 1000 } } });
    const result = await runRestarts({
      nodes: NODES,
      proxmox: proxmox.api,
      talosctl: fake.talosctl,
      log: () => {},
      sleep: noSleep,
      pollIntervalMs: 5,
      rejoinTimeoutMs: 20,
    });
    expect(result.failed).toEqual({
      node: "controlplane0",
      error: "controlplane0 did not answer within 0 s of its restart",
    });
  });
});
