// Proxmox as the judge of workloads.yaml's cluster-level parts: the real bpg/proxmox applies layers 00 and 01
// of examples/zoned-ha (VLAN zones, HA with preferred hosts, replication, a backup job selecting a pool) into
// the Proxmox VE API simulator. The SDN zone, VNets and subnets are live (applied, nothing pending), the
// backup job, replication jobs, HA resources and rules are what Proxmox holds; a second plan finds nothing
// to change; a changed zone is applied again; a destroy of 01 leaves nothing of it, not even pending. The
// guests' firewalls (zone and guest rules, macros, policies) are stored as the flow judge judged them
// (__tests__/firewall-flows-homelab.test.ts judges the same synthesized rules).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { vmNics } from "../../judges/firewall-flows/from-stack";
import { keysOf } from "../../judges/pve-sim/handlers/vm-config";
import { parsePropertyString } from "../../judges/pve-sim/params";
import { call } from "../support/pve-client";
import {
  applyLayer,
  changesOf,
  destroyLayer,
  judgedConfig,
  planLayer,
  seedWorkloads,
  startJudgeFor,
  synthesizeFor,
  vmsByName,
  type Judge,
} from "./proxmox-judge";
import { REPO, tempDir, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("proxmox-zoned-ha");
afterAll(() => work.remove());

const EMPTY_SDN = { zones: {}, vnets: {}, subnets: {} };

describe("examples/zoned-ha: zones, backups, replication and HA applied into the Proxmox simulator", () => {
  let judge: Judge;
  let configDir: string;
  let stacks: Record<Layer, SynthesizedStack>;
  let seededVms: string[];
  const api = async (path: string) => {
    const answer = await call(judge.sim, judge.token, "GET", path);
    expect(answer.status, `GET ${path}: ${answer.body.message}`).toBe(200);
    return answer.body.data as Record<string, unknown>;
  };

  beforeAll(async () => {
    configDir = judgedConfig(join(work.dir, "config"), { from: join(REPO, "examples", "zoned-ha") });
    judge = await startJudgeFor(configDir);
    await seedWorkloads(judge, configDir);
    seededVms = Object.keys(judge.sim.state.vms).sort();
    stacks = await synthesizeFor(configDir, join(work.dir, "out"));
  });
  afterAll(async () => judge?.close());

  it("layers 00 and 01 apply", async () => {
    await applyLayer(judge, stacks["00-persistent-auth"]);
    await applyLayer(judge, stacks["01-infrastructure"]);
    expect(judge.sim.state.incidents).toEqual([]);
  });

  it("the SDN zone, its VNets and subnets are applied: running as configured, nothing pending", async () => {
    const { sdn } = judge.sim.state;
    expect(sdn.running).toEqual(sdn.config);
    expect(sdn.config.zones).toEqual({ homenet: { type: "vlan", bridge: "vmbr0" } });
    expect(
      Object.fromEntries(
        Object.entries(sdn.config.vnets).map(([id, v]) => [id, `${v.zone} ${v.tag} ${v.alias ?? "-"}`]),
      ),
    ).toEqual({ mgmt: "homenet 10 management", lan: "homenet 20 -", iot: "homenet 30 -", dmz: "homenet 50 -" });
    // workloads.yaml's 10.10.x.0/24 zones, moved to loopback by the judged config
    expect(
      Object.fromEntries(Object.entries(sdn.config.subnets).map(([id, s]) => [id, `${s.vnet} ${s.gateway}`])),
    ).toEqual({
      "homenet-127.10.10.0-24": "mgmt 127.10.10.1",
      "homenet-127.10.20.0-24": "lan 127.10.20.1",
      "homenet-127.10.30.0-24": "iot 127.10.30.254",
      "homenet-127.10.50.0-24": "dmz 127.10.50.1",
    });
    for (const zone of ["homenet"]) expect((await api(`/cluster/sdn/zones/${zone}?pending=1`)).state).toBeUndefined();
  });

  it("each guest runs on its zone's VNet", () => {
    const vms = vmsByName(judge.sim);
    const bridges = Object.fromEntries(
      ["firewall", "dns", "nextcloud", "dev-box"].map((n) => [
        n,
        `${parsePropertyString(keysOf("net0"), vms[n].config.net0).bridge} ${vms[n].status}`,
      ]),
    );
    expect(bridges).toEqual({
      firewall: "mgmt running",
      dns: "mgmt running",
      nextcloud: "dmz running",
      "dev-box": "lan running",
    });
    const mqtt = judge.sim.state.containers["120"];
    expect(mqtt.config.net0).toMatch(/bridge=iot/);
    expect(mqtt.status).toBe("running");
  });

  it("each guest's firewall is stored as the flow judge judged it: its rules in order, enabled, its policies", () => {
    const json = stacks["01-infrastructure"].json as { resource: Record<string, Record<string, { vm_id: number }>> };
    const ids = {
      ...json.resource.proxmox_virtual_environment_vm,
      ...json.resource.proxmox_virtual_environment_container,
    };
    const judged = Object.values(vmNics(json)).filter((n) => n.firewall && n.options.enable);
    // Every guest of the example but the router VM, which opted out, and the Talos nodes.
    expect(judged.map((n) => n.vm).sort()).toEqual(["cp-a", "cp-b", "cp-c", "dev-box", "dns", "mqtt", "nextcloud"]);
    const defined = (o: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ""));
    for (const nic of judged) {
      const stored = judge.sim.state.firewall[String(ids[nic.vm].vm_id)];
      expect(stored, nic.vm).toBeDefined();
      expect(
        stored.rules.map((r) => defined({ ...r, comment: undefined, log: undefined })),
        `${nic.vm}'s rules`,
      ).toEqual(nic.rules.map((r) => defined({ ...r, enable: r.enable ? "1" : "0", iface: r.iface || undefined })));
      expect(stored.options, `${nic.vm}'s options`).toMatchObject({
        enable: "1",
        policy_in: nic.options.policy_in,
        policy_out: nic.options.policy_out,
        dhcp: nic.options.dhcp ? "1" : "0",
      });
    }
    // The mqtt container's: its own MQTT rule first, then its zone's (SSH from mgmt, DNS and NTP out), all
    // outbound traffic else dropped.
    expect(judge.sim.state.firewall["120"].rules.map((r) => `${r.type} ${r.macro ?? `${r.proto} ${r.dport}`}`)).toEqual(
      ["in tcp 1883", "in SSH", "out DNS", "out NTP"],
    );
    expect(judge.sim.state.firewall["120"].options.policy_out).toBe("DROP");
  });

  it("the backup job keeps 7 daily and 4 weekly backups of the pool's guests on its storage", async () => {
    expect(judge.sim.state.backupJobs).toEqual({
      daily: expect.objectContaining({
        schedule: "03:00",
        storage: "backup-nfs",
        pool: "critical",
        mode: "snapshot",
        enabled: "1",
      }),
    });
    expect((await api("/cluster/backup/daily"))["prune-backups"]).toEqual({ "keep-daily": 7, "keep-weekly": 4 });
    expect(judge.sim.state.pools.critical.vms.sort()).toEqual([100, 101, 110]);
  });

  it("each guest replicates to the other host on its schedule", () => {
    const jobs = Object.fromEntries(
      Object.entries(judge.sim.state.replication).map(([id, j]) => [
        id,
        `${j.source}->${j.target} ${j.schedule ?? "*/15 (default)"}${j.rate ? ` ${j.rate} MB/s` : ""}`,
      ]),
    );
    expect(jobs).toEqual({
      "100-0": "pve-a->pve-b */5",
      "101-0": "pve-b->pve-a */15",
      "110-0": "pve-a->pve-b */15 50 MB/s",
      "120-0": "pve-b->pve-a */15",
    });
  });

  it("HA manages the guests, with node-affinity rules for the preferred hosts", async () => {
    // the four guests with `ha`, and the Talos nodes with vm_ha (cp-a 240, cp-b 241)
    expect(Object.keys(judge.sim.state.ha).sort()).toEqual([
      "ct:120",
      "vm:100",
      "vm:101",
      "vm:110",
      "vm:240",
      "vm:241",
    ]);
    for (const resource of Object.values(judge.sim.state.ha)) expect(resource.state).toBe("started");
    expect(await api("/cluster/ha/rules/hosts-firewall")).toMatchObject({
      type: "node-affinity",
      resources: "vm:100",
      nodes: "pve-a:2,pve-b:1",
      strict: 0,
    });
    expect(await api("/cluster/ha/rules/hosts-nextcloud")).toMatchObject({ resources: "vm:110", nodes: "pve-a:1" });
    expect(Object.keys(judge.sim.state.haRules).sort()).toEqual(["hosts-firewall", "hosts-nextcloud"]);
  });

  it("a second plan of 00 and 01 finds nothing to change", async () => {
    expect(changesOf(await planLayer(judge, stacks["00-persistent-auth"]))).toEqual([]);
    expect(changesOf(await planLayer(judge, stacks["01-infrastructure"]))).toEqual([]);
  });

  it("a changed zone is applied too, not left pending", async () => {
    const file = join(configDir, "workloads.yaml");
    const workloads = parse(readFileSync(file, "utf8")) as { zones: Array<Record<string, unknown>> };
    workloads.zones[0].description = "management network";
    writeFileSync(file, stringify(workloads));
    const changed = await synthesizeFor(configDir, join(work.dir, "out-changed"));
    await applyLayer(judge, changed["01-infrastructure"]);
    const { sdn } = judge.sim.state;
    expect(sdn.running.vnets.mgmt.alias).toBe("management network");
    expect(sdn.running).toEqual(sdn.config);
    stacks = changed;
  });

  it("destroying 01 leaves nothing of it: no SDN object (neither configured nor running), job, rule or HA resource", async () => {
    await destroyLayer(judge, stacks["01-infrastructure"]);
    const { state } = judge.sim;
    expect(state.sdn.config).toEqual(EMPTY_SDN);
    expect(state.sdn.running).toEqual(EMPTY_SDN);
    expect(state.backupJobs).toEqual({});
    expect(state.replication).toEqual({});
    expect(state.haRules).toEqual({});
    expect(state.ha).toEqual({});
    expect(state.pools).toEqual({});
    expect(state.containers).toEqual({});
    expect(state.firewall).toEqual({});
    expect(Object.keys(state.vms).sort()).toEqual(seededVms);
    expect(judge.sim.calls.filter((c) => c.status === 501)).toEqual([]);
  });
});
