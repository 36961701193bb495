// The simulator's cluster-level areas over HTTPS, request by request as bpg/proxmox sends them: SDN zones,
// VNets and subnets with the pending/applied model, vzdump backup jobs, storage replication, HA rules and a
// Proxmox Backup Server storage; each rule PVE enforces, and what PVE answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { calendarEvent } from "../judges/pve-sim/formats";
import { startPveSim, type PveSim } from "../judges/pve-sim/server";
import { call as callAs, taskResult, type PveAnswer } from "./support/pve-client";

const TOKEN = "root@pam!test=5ecret";

let sim: PveSim;
const call = (method: string, path: string, params: Record<string, string> = {}): Promise<PveAnswer> =>
  callAs(sim, TOKEN, method, path, params);
const data = async <T = Record<string, unknown>>(method: string, path: string, params = {}): Promise<T> => {
  const res = await call(method, path, params);
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${res.body.message}`);
  return res.body.data as T;
};

beforeAll(async () => {
  sim = await startPveSim({
    tokens: [TOKEN],
    nodes: ["pve1", "pve2", "pve3"],
    storages: [
      { id: "local", type: "dir", content: ["iso", "vztmpl", "backup", "snippets"], shared: false },
      { id: "local-lvm", type: "lvmthin", content: ["images", "rootdir"], shared: false },
      { id: "local-zfs", type: "zfspool", content: ["images", "rootdir"], shared: false },
      { id: "ceph", type: "rbd", content: ["images"], shared: true },
    ],
  });
  const vm = (vmid: number, node: string, disk: string) =>
    data("POST", `/nodes/${node}/qemu`, {
      vmid: String(vmid),
      name: `vm${vmid}`,
      scsi0: disk,
      net0: "virtio,bridge=vmbr0",
    });
  await vm(100, "pve1", "local-zfs:8");
  await vm(101, "pve2", "local-zfs:8");
  await vm(102, "pve1", "local-lvm:8");
  await vm(103, "pve1", "ceph:8");
  const download = await call("POST", "/nodes/pve2/storage/local/download-url", {
    content: "vztmpl",
    filename: "debian-12.tar.zst",
    url: "http://download.invalid/debian-12.tar.zst",
  });
  expect(await taskResult(sim, TOKEN, download)).toBe("OK");
  const ct = await call("POST", "/nodes/pve2/lxc", {
    vmid: "120",
    ostemplate: "local:vztmpl/debian-12.tar.zst",
    rootfs: "local-zfs:4",
    hostname: "mqtt",
    unprivileged: "1",
    net0: "name=eth0,bridge=vmbr0,ip=dhcp",
  });
  expect(await taskResult(sim, TOKEN, ct)).toBe("OK");
});
afterAll(async () => sim?.close());

describe("SDN", () => {
  it.each([
    [{ zone: "z-1", type: "vlan", bridge: "vmbr0" }, 400, /zone/],
    [{ zone: "toolongid", type: "vlan", bridge: "vmbr0" }, 400, /zone/],
    [{ zone: "nobr", type: "vlan" }, 500, /missing value for required option 'bridge'/],
    [{ zone: "extra", type: "simple", bridge: "vmbr0" }, 500, /unexpected property 'bridge'/],
    [{ zone: "withdns", type: "vlan", bridge: "vmbr0", dns: "pdns" }, 400, /pdns don't exist/],
  ])("refuses the zone %j", async (params, status, message) => {
    const res = await call("POST", "/cluster/sdn/zones", params);
    expect(res.status).toBe(status);
    expect(`${res.body.message} ${JSON.stringify(res.body.errors ?? {})}`).toMatch(message);
  });

  it("answers 501 for a zone type it does not model", async () => {
    expect((await call("POST", "/cluster/sdn/zones", { zone: "ev", type: "evpn", controller: "c" })).status).toBe(501);
  });

  it("keeps new objects pending until PUT /cluster/sdn applies them", async () => {
    await data("POST", "/cluster/sdn/zones", { zone: "home", type: "vlan", bridge: "vmbr0" });
    await data("POST", "/cluster/sdn/vnets", { vnet: "mgmt", zone: "home", tag: "10", alias: "management" });
    await data("POST", "/cluster/sdn/vnets/mgmt/subnets", {
      subnet: "10.10.10.0/24",
      type: "subnet",
      gateway: "10.10.10.1",
    });
    const pending = await data("GET", "/cluster/sdn/zones/home", { pending: "1" });
    expect(pending).toMatchObject({ zone: "home", type: "vlan", state: "new", pending: { bridge: "vmbr0" } });
    expect(pending.bridge).toBeUndefined();
    expect(await data("GET", "/cluster/sdn/vnets/mgmt")).toMatchObject({ vnet: "mgmt", zone: "home", tag: 10 });
    expect(sim.state.sdn.running.vnets).toEqual({});

    expect(await taskResult(sim, TOKEN, await call("PUT", "/cluster/sdn"))).toBe("OK");
    const applied = await data("GET", "/cluster/sdn/zones/home", { pending: "1" });
    expect(applied).toMatchObject({ zone: "home", bridge: "vmbr0" });
    expect(applied.state).toBeUndefined();
    expect(applied.pending).toBeUndefined();
    expect(Object.keys(sim.state.sdn.running.vnets)).toEqual(["mgmt"]);

    await data("PUT", "/cluster/sdn/zones/home", { mtu: "1450" });
    expect(await data("GET", "/cluster/sdn/zones/home", { pending: "1" })).toMatchObject({
      state: "changed",
      pending: { mtu: 1450 },
    });
    await data("PUT", "/cluster/sdn");
  });

  it("starts a VM on a VNet only once the VNet is applied (its bridge exists on the hosts from then on)", async () => {
    await data("POST", "/cluster/sdn/vnets", { vnet: "late", zone: "home", tag: "99" });
    await data("POST", "/nodes/pve2/qemu", { vmid: "150", name: "on-late", net0: "virtio,bridge=late" });
    const start = await call("POST", "/nodes/pve2/qemu/150/status/start");
    expect(await taskResult(sim, TOKEN, start)).toMatch(/bridge 'late' does not exist/);
    expect(sim.state.vms["150"].status).toBe("stopped");
    await data("PUT", "/cluster/sdn");
    expect(await taskResult(sim, TOKEN, await call("POST", "/nodes/pve2/qemu/150/status/start"))).toBe("OK");
    await data("POST", "/nodes/pve2/qemu/150/status/stop");
    await data("DELETE", "/nodes/pve2/qemu/150");
    await data("DELETE", "/cluster/sdn/vnets/late");
    await data("PUT", "/cluster/sdn");
  });

  it("names a subnet <zone>-<network>-<mask> and answers its network", async () => {
    const subnets = await data<Array<Record<string, unknown>>>("GET", "/cluster/sdn/vnets/mgmt/subnets");
    expect(subnets).toEqual([
      expect.objectContaining({
        subnet: "home-10.10.10.0-24",
        vnet: "mgmt",
        gateway: "10.10.10.1",
        cidr: "10.10.10.0/24",
        zone: "home",
      }),
    ]);
  });

  it.each([
    ["/cluster/sdn/vnets", { vnet: "lan", zone: "nozone", tag: "20" }, /zone 'nozone' does not exist/],
    ["/cluster/sdn/vnets", { vnet: "lan", zone: "home" }, /missing vlan tag/],
    ["/cluster/sdn/vnets", { vnet: "lan", zone: "home", tag: "10" }, /tag 10 already exist in vnet mgmt/],
    ["/cluster/sdn/vnets", { vnet: "lan", zone: "home", tag: "5000" }, /vlan tag max value is 4096/],
    [
      "/cluster/sdn/vnets/mgmt/subnets",
      { subnet: "10.10.20.0/24", type: "subnet", gateway: "10.10.10.1" },
      /10.10.10.1 is not in subnet 10.10.20.0\/24/,
    ],
    [
      "/cluster/sdn/vnets/mgmt/subnets",
      { subnet: "10.10.30.5/24", type: "subnet" },
      /not a network address.*10.10.30.0/,
    ],
    ["/cluster/sdn/vnets/nonet/subnets", { subnet: "10.10.40.0/24", type: "subnet" }, /does not exist/],
  ])("refuses %s %j", async (path, params, message) => {
    const res = await call("POST", path, params);
    expect(res.status).not.toBe(200);
    expect(`${res.body.message} ${JSON.stringify(res.body.errors ?? {})}`).toMatch(message);
  });

  it("refuses to delete what is still in use, and shows deletions pending until applied", async () => {
    expect((await call("DELETE", "/cluster/sdn/zones/home")).body.message).toMatch(/zone home is used by vnet mgmt/);
    expect((await call("DELETE", "/cluster/sdn/vnets/mgmt")).body.errors?.vnet).toMatch(/subnets exists/);
    await data("DELETE", "/cluster/sdn/vnets/mgmt/subnets/home-10.10.10.0-24");
    await data("DELETE", "/cluster/sdn/vnets/mgmt");
    await data("DELETE", "/cluster/sdn/zones/home");
    expect(await data("GET", "/cluster/sdn/zones/home", { pending: "1" })).toMatchObject({ state: "deleted" });
    await data("PUT", "/cluster/sdn");
    expect(sim.state.sdn.running).toEqual({ zones: {}, vnets: {}, subnets: {} });
    expect((await call("GET", "/cluster/sdn/zones/home")).body.message).toMatch(/does not exist/);
  });
});

describe("vzdump backup jobs", () => {
  const job = (extra: Record<string, string>) => ({
    id: "nightly",
    schedule: "03:00",
    storage: "local",
    mode: "snapshot",
    "prune-backups": "keep-daily=7,keep-weekly=4",
    ...extra,
  });

  it.each([
    [{ vmid: "100", all: "1" }, "all", /conflicts with option 'vmid'/],
    [{}, "vmid", /property is missing/],
    [{ all: "1", storage: "local-lvm" }, "storage", /can't use storage 'local-lvm' for backups/],
    [{ all: "1", storage: "nfs" }, "storage", /storage 'nfs' does not exist/],
    [{ all: "1", "prune-backups": "keep-all=1,keep-daily=3" }, "prune-backups", /keep-all cannot be set together/],
    [{ all: "1", "prune-backups": "keep-often=3" }, "prune-backups", /invalid key/],
    [{ all: "1", schedule: "25:99" }, "schedule", /unable to parse calendar event/],
  ])("refuses %j", async (extra, name, message) => {
    const res = await call("POST", "/cluster/backup", job(extra));
    expect(res.status).toBe(400);
    expect(res.body.errors?.[name]).toMatch(message);
  });

  it("keeps a job and answers its retention as an object", async () => {
    await data("POST", "/cluster/backup", job({ vmid: "101,100" }));
    expect(await data("GET", "/cluster/backup/nightly")).toMatchObject({
      id: "nightly",
      type: "vzdump",
      enabled: 1,
      schedule: "03:00",
      storage: "local",
      vmid: "101,100",
      "prune-backups": { "keep-daily": 7, "keep-weekly": 4 },
    });
    expect((await call("POST", "/cluster/backup", job({ all: "1" }))).body.message).toMatch(/already exists/);
  });

  it("selects a pool only when it exists", async () => {
    const res = await call("POST", "/cluster/backup", job({ id: "bypool", pool: "critical" }));
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(/pool 'critical' does not exist/);
    await data("POST", "/pools", { poolid: "critical" });
    await data("POST", "/cluster/backup", job({ id: "bypool", pool: "critical" }));
    expect(await data("GET", "/cluster/backup/bypool")).toMatchObject({ pool: "critical" });
    await data("DELETE", "/cluster/backup/bypool");
  });

  it("replaces the selection on update as PVE does, and turns starttime and dow into a schedule", async () => {
    await data("PUT", "/cluster/backup/nightly", { all: "1", starttime: "02:30", dow: "sat,sun" });
    const updated = await data("GET", "/cluster/backup/nightly");
    expect(updated).toMatchObject({ all: 1, schedule: "sat,sun 02:30" });
    expect(updated.vmid).toBeUndefined();
    await data("DELETE", "/cluster/backup/nightly");
    expect((await call("GET", "/cluster/backup/nightly")).body.errors?.id).toMatch(/No such job/);
  });
});

describe("storage replication", () => {
  it.each([
    [{ id: "100-0", target: "pve1" }, /Source and target must not be identical/],
    [{ id: "100-0", target: "pve9" }, /Target 'pve9' does not exist/],
    [{ id: "199-0", target: "pve2" }, /Guest '199' does not exist/],
    [{ id: "102-0", target: "pve2" }, /missing replicate feature on volume 'local-lvm:vm-102-disk-0'/],
    [{ id: "103-0", target: "pve2" }, /No replicatable volumes found/],
  ])("refuses %j", async (params, message) => {
    const res = await call("POST", "/cluster/replication", { type: "local", ...params });
    expect(res.status).toBe(500);
    expect(res.body.message).toMatch(message);
  });

  it("refuses an id outside <vmid>-<n> and a guest id below 100", async () => {
    expect((await call("POST", "/cluster/replication", { type: "local", id: "100", target: "pve2" })).status).toBe(400);
    const res = await call("POST", "/cluster/replication", { type: "local", id: "99-0", target: "pve2" });
    expect(res.body.errors?.id).toBeDefined();
  });

  it("replicates a container's ZFS root disk", async () => {
    await data("POST", "/cluster/replication", { type: "local", id: "120-0", target: "pve1" });
    expect(await data("GET", "/cluster/replication/120-0")).toMatchObject({
      guest: 120,
      target: "pve1",
      source: "pve2",
    });
    await data("DELETE", "/cluster/replication/120-0");
  });

  it("replicates a linked clone's disk (base-<template>-disk-0/vm-<id>-disk-0 is the clone's)", async () => {
    await data("POST", "/nodes/pve1/qemu", { vmid: "130", name: "golden", scsi0: "local-zfs:4" });
    await data("POST", "/nodes/pve1/qemu/130/template");
    expect(
      await taskResult(sim, TOKEN, await call("POST", "/nodes/pve1/qemu/130/clone", { newid: "131", full: "0" })),
    ).toBe("OK");
    expect(sim.state.vms["131"].config.scsi0).toMatch(/^local-zfs:base-130-disk-0\/vm-131-disk-0/);
    await data("POST", "/cluster/replication", { type: "local", id: "131-0", target: "pve2" });
    await data("DELETE", "/cluster/replication/131-0");
  });

  it("keeps a job of a guest on ZFS, one per target", async () => {
    await data("POST", "/cluster/replication", { type: "local", id: "100-0", target: "pve2", schedule: "*/5" });
    expect(await data("GET", "/cluster/replication/100-0")).toMatchObject({
      id: "100-0",
      type: "local",
      target: "pve2",
      schedule: "*/5",
      guest: 100,
      jobnum: 0,
      source: "pve1",
    });
    expect(
      (await call("POST", "/cluster/replication", { type: "local", id: "100-1", target: "pve2" })).body.message,
    ).toMatch(/to target 'local\/pve2' already exists/);
    expect((await call("PUT", "/cluster/replication/100-0", { target: "pve3" })).status).toBe(400);
    await data("PUT", "/cluster/replication/100-0", { rate: "50", delete: "schedule" });
    expect(await data("GET", "/cluster/replication/100-0")).not.toHaveProperty("schedule");
    await data("DELETE", "/cluster/replication/100-0");
    expect((await call("GET", "/cluster/replication/100-0")).body.message).toMatch(/no such replication job/);
  });
});

describe("HA rules", () => {
  beforeAll(async () => {
    await data("POST", "/cluster/ha/resources", { sid: "vm:100" });
    await data("POST", "/cluster/ha/resources", { sid: "vm:101" });
    await data("POST", "/cluster/ha/resources", { sid: "vm:103" });
  });

  it("keeps containers as ct: resources, a bare id naming the guest's kind", async () => {
    expect((await call("POST", "/cluster/ha/resources", { sid: "vm:120" })).body.message).toMatch(/no such resource/);
    await data("POST", "/cluster/ha/resources", { sid: "120" });
    expect(await data("GET", "/cluster/ha/resources/ct%3A120")).toMatchObject({ sid: "ct:120", type: "ct" });
    await data("DELETE", "/cluster/ha/resources/ct%3A120");
  });

  it("refuses a rule id PVE does not take as a config id (a digit first)", async () => {
    const res = await call("POST", "/cluster/ha/rules", {
      rule: "9-hosts",
      type: "node-affinity",
      resources: "vm:100",
      nodes: "pve1",
    });
    expect(res.body.errors?.rule).toMatch(/invalid configuration ID/);
  });

  it("refuses a rule on a guest HA does not manage, or on a host that does not exist", async () => {
    const base = { rule: "r1", type: "node-affinity", nodes: "pve1" };
    expect((await call("POST", "/cluster/ha/rules", { ...base, resources: "vm:102" })).body.message).toMatch(
      /cannot use unmanaged resource\(s\) vm:102/,
    );
    expect(
      (await call("POST", "/cluster/ha/rules", { ...base, resources: "vm:100", nodes: "pve9:2" })).body.message,
    ).toMatch(/cannot use non-existent node\(s\) pve9/);
    expect(
      (
        await call("POST", "/cluster/ha/rules", {
          rule: "r1",
          type: "resource-affinity",
          resources: "vm:100,vm:101",
          affinity: "positive",
          nodes: "pve1",
        })
      ).body.message,
    ).toMatch(/unexpected property 'nodes'/);
  });

  it("keeps a node-affinity rule with its priorities, and refuses a second one for the same guest", async () => {
    await data("POST", "/cluster/ha/rules", {
      rule: "fw-hosts",
      type: "node-affinity",
      resources: "vm:100",
      nodes: "pve2:1,pve1:2",
      strict: "0",
      disable: "0",
    });
    const rule = await data("GET", "/cluster/ha/rules/fw-hosts");
    expect(rule).toMatchObject({
      rule: "fw-hosts",
      type: "node-affinity",
      resources: "vm:100",
      nodes: "pve1:2,pve2:1",
      strict: 0,
      order: 1,
    });
    expect(rule.disable).toBeUndefined();
    const again = await call("POST", "/cluster/ha/rules", {
      rule: "fw-again",
      type: "node-affinity",
      resources: "vm:100",
      nodes: "pve3",
    });
    expect(again.status).toBe(400);
    expect(again.body.message).toMatch(/Rule 'fw-again' is invalid/);
    expect(again.body.errors?.resources).toMatch(/resource 'vm:100' is already used in another node affinity rule/);
  });

  const affinity = (rule: string, resources: string, kind: "positive" | "negative") =>
    call("POST", "/cluster/ha/rules", { rule, type: "resource-affinity", resources, affinity: kind });
  const pin = (rule: string, resources: string, nodes: string) =>
    call("POST", "/cluster/ha/rules", { rule, type: "node-affinity", resources, nodes });

  it("refuses a resource-affinity rule with one guest, and keeps one with two", async () => {
    expect((await affinity("apart", "vm:101", "negative")).body.errors?.resources).toMatch(/less than two resources/);
    expect((await affinity("apart", "vm:103,vm:101", "negative")).status).toBe(200);
    expect(await data("GET", "/cluster/ha/rules/apart")).toMatchObject({ resources: "vm:101,vm:103", order: 2 });
    expect((await affinity("together", "vm:101,vm:103", "positive")).body.errors?.resources).toMatch(
      /shares two or more resources with a negative/,
    );
  });

  it("refuses a resource-affinity rule over a guest whose preferred hosts have several priorities", async () => {
    const res = await affinity("with-fw", "vm:100,vm:101", "negative");
    expect(res.body.errors?.resources).toMatch(/resources are in node affinity rules with multiple priorities/);
  });

  it("refuses node affinity that confines guests kept apart to fewer hosts than there are guests", async () => {
    expect((await pin("pin101", "vm:101", "pve1")).status).toBe(200);
    const res = await pin("pin103", "vm:103", "pve1");
    expect(res.status).toBe(400);
    expect(res.body.errors?.resources).toMatch(/in a negative resource affinity rule and this rule would restrict/);
    await data("POST", "/cluster/ha/resources", { sid: "vm:102" });
    expect((await pin("pin102", "vm:102", "pve2")).status).toBe(200);
    expect((await affinity("together", "vm:101,vm:102", "positive")).body.errors?.resources).toMatch(
      /resources are in multiple node affinity rules/,
    );
    await data("DELETE", "/cluster/ha/resources/vm%3A102");
    await data("DELETE", "/cluster/ha/rules/pin101");
  });

  it("removes a guest from its rules when its HA resource goes (purge), dropping emptied rules", async () => {
    await data("DELETE", "/cluster/ha/resources/vm%3A100");
    expect(sim.state.haRules["fw-hosts"]).toBeUndefined();
    await data("DELETE", "/cluster/ha/resources/vm%3A103");
    expect(sim.state.haRules.apart.resources).toBe("vm:101");
  });
});

describe("Proxmox Backup Server storage", () => {
  const pbs = {
    storage: "pbs1",
    type: "pbs",
    server: "backup.example.internal",
    datastore: "homelab",
    username: "pve@pbs",
    password: "very-secret",
    fingerprint: Array.from({ length: 32 }, () => "ab").join(":"),
    content: "backup",
  };

  it("keeps the password apart and never answers it", async () => {
    expect(await data("POST", "/storage", pbs)).toEqual({ storage: "pbs1", type: "pbs" });
    const read = await data("GET", "/storage/pbs1");
    expect(read).toMatchObject({
      storage: "pbs1",
      type: "pbs",
      server: pbs.server,
      datastore: "homelab",
      content: "backup",
      shared: 1,
    });
    expect(JSON.stringify(read)).not.toContain("very-secret");
    expect(JSON.stringify(await data("GET", "/storage"))).not.toContain("very-secret");
    expect(sim.state.storageSecrets.pbs1).toEqual({ password: "very-secret" });
  });

  it("serves as a backup job's target", async () => {
    await data("POST", "/cluster/backup", { id: "topbs", schedule: "sun 01:00", storage: "pbs1", all: "1" });
    expect(await data("GET", "/cluster/backup/topbs")).toMatchObject({ storage: "pbs1", all: 1 });
  });

  it.each([
    [{ ...pbs, storage: "pbs2", datastore: undefined }, 500, /missing value for required option 'datastore'/],
    [{ ...pbs, storage: "pbs1" }, 500, /storage ID 'pbs1' already defined/],
    [{ ...pbs, storage: "pbs3", fingerprint: "ab:cd" }, 400, /fingerprint/],
    [{ storage: "d1", type: "dir" }, 501, /type 'dir'/],
  ])("refuses %j", async (params, status, message) => {
    const res = await call(
      "POST",
      "/storage",
      Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<string, string>,
    );
    expect(res.status).toBe(status);
    expect(`${res.body.message} ${JSON.stringify(res.body.errors ?? {})}`).toMatch(message);
  });

  it("refuses to change the server of an existing storage", async () => {
    expect((await call("PUT", "/storage/pbs1", { server: "other.example" })).body.message).toMatch(
      /can't change value of fixed parameter 'server'/,
    );
  });
});

describe("the calendar-event format", () => {
  // proxmox-time's own examples among them (src/test.rs), and its reading of "25:00": no hour 25, so minute 25,
  // second 0 (the config refuses that reading, PVE does not).
  it.each([
    "03:00",
    "*/15",
    "*/5",
    "sun 01:00",
    "mon..fri 02:30",
    "daily",
    "sat,sun 0/2:00",
    "2026-12-24 18:00",
    "*:3:5",
    "4..10/2:0",
    "6,4..10:23,5/5",
    "1965/5-01-01",
    "2020-7..9-2/2",
    "02-29",
    "MON",
    "fri..mon",
    "mon,tue..wednesday,fri..sat",
    "semi-annually",
    "daily UTC",
    "  02:30  ",
    "25:00",
  ])("accepts %j", (event) => expect(calendarEvent(event)).toBeUndefined());
  it.each([
    "",
    "25:99",
    "12:61",
    "24:00:00",
    "funday 01:00",
    "01:00 02:00",
    "*/x",
    "*/0",
    "Daily",
    "5..3",
    "13-01",
    "2200-01-01",
    "mon,",
    "02:30,",
  ])("refuses %j", (event) => expect(calendarEvent(event)).toMatch(/unable to parse calendar event/));
});
