// The Proxmox VE API simulator (judges/pve-sim) on its own: schema matching and parameter verification as
// PVE does it, then the rules it enforces over HTTPS, request by request, as the provider would send them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotModelled, parsePropertyString, printPropertyString, verifyParams } from "../judges/pve-sim/params";
import { relocateVm } from "../judges/pve-sim/handlers/qemu";
import { keysOf } from "../judges/pve-sim/handlers/vm-config";
import { apiSchema, vmConfigProperties } from "../judges/pve-sim/schema";
import { startPveSim, type PveSim } from "../judges/pve-sim/server";
import { call as pveCall } from "./support/pve-client";

describe("schema matching", () => {
  it.each([
    ["GET", "/nodes/pve/qemu/100/config", "/nodes/{node}/qemu/{vmid}/config"],
    [
      "GET",
      "/nodes/pve/storage/local/content/local%3Aiso%2Ftalos.iso",
      "/nodes/{node}/storage/{storage}/content/{volume}",
    ],
    ["GET", "/cluster/nextid", "/cluster/nextid"],
    ["POST", "/access/users/a%40pve/token/csi", "/access/users/{userid}/token/{tokenid}"],
  ])("%s %s is %s", (method, path, template) => {
    expect(apiSchema().match(method, path)?.template).toBe(template);
  });

  it("decodes path parameters", () => {
    expect(
      apiSchema().match("GET", "/nodes/pve/storage/local/content/local%3Aiso%2Ftalos.iso")?.pathParams.volume,
    ).toBe("local:iso/talos.iso");
  });

  it("knows no path outside the schema, and a path without the method has no method entry", () => {
    expect(apiSchema().match("GET", "/nodes/pve/qemu/100/nonsense")).toBeUndefined();
    expect(apiSchema().match("DELETE", "/version")?.method).toBeUndefined();
  });
});

describe("parameter verification", () => {
  const vm = vmConfigProperties();
  it.each([
    [{ bogus: "1" }, "bogus", /not defined in schema/],
    [{ cores: "four" }, "cores", /type check \('integer'\) failed/],
    [{ cores: "0" }, "cores", /minimum value of 1/],
    [{ scsihw: "virtio" }, "scsihw", /enumeration/],
    [{ onboot: "maybe" }, "onboot", /type check \('boolean'\)/],
    [{ net0: "virtio,bridge=vmbr0,tag=0" }, "net0", /net0\.tag: value must have a minimum value of 1/],
    [{ net0: "virtio,bridge=vmbr0,trunks=" }, "net0", /missing key/],
    [{ net0: "virtio,bridge=vmbr0,colour=red" }, "net0", /invalid key in comma-separated list property: colour/],
    [{ net0: "virtio,bridge=vmbr0,bridge=vmbr1" }, "net0", /duplicate key/],
    [{ net0: "virtio=02:00:00:00:00:01,model=e1000" }, "net0", /duplicate key|already defined/],
    [{ net0: "virtio=03:00:00:00:00:01" }, "net0", /unicast MAC/],
    [{ ide4: "local:iso/a.iso,media=cdrom" }, "ide4", /not defined in schema/],
    [{ ide2: "local:iso/a.iso,media=floppy" }, "ide2", /ide2\.media.*enumeration/],
    [{ efidisk0: "local-lvm:1,efitype=3m" }, "efidisk0", /efitype/],
    [{ ipconfig0: "ip=192.168.1.300/24" }, "ipconfig0", /ipconfig0\.ip/],
    [{ hostpci0: "host=zz:00.0" }, "hostpci0", /hostpci0\.host: value does not match the regex pattern/],
    [{ boot: "order=scsi0,ide2" }, "boot", /boot\.legacy: value does not match the regex pattern/],
    [{ tags: "a b;c%" }, "tags", /invalid tag/],
  ])("%j is refused on %s", (params, name, message) => {
    const errors = verifyParams(vm, params);
    expect(errors[name]).toMatch(message);
  });

  it.each<Record<string, string>>([
    { net0: "virtio=BC:24:11:00:10:21,bridge=vmbr0,firewall=0,mtu=9000,queues=4,tag=20" },
    { ide0: "local-lvm:cloudinit", ide2: "cephfs:iso/talos.iso,media=cdrom", boot: "order=scsi0;ide2;net0" },
    { scsi0: "local-lvm:64,discard=on,iothread=1,ssd=1", scsihw: "virtio-scsi-single" },
    { efidisk0: "local-lvm:1,efitype=4m,pre-enrolled-keys=0", tpmstate0: "local-lvm:1,version=v2.0" },
    { hostpci0: "host=0000:01:00.0,pcie=1,rombar=1,x-vga=1", hostpci1: "mapping=gpu,pcie=1" },
    { ipconfig0: "ip=192.168.10.21/24,gw=192.168.10.1", nameserver: "192.168.10.1 1.1.1.1" },
  ])("%j is accepted", (params) => {
    expect(verifyParams(vm, { node: "pve", vmid: "100", ...params })).toEqual({});
  });

  it("reports a missing required parameter", () => {
    expect(verifyParams({ vmid: { type: "integer" } }, {})).toEqual({
      vmid: "property is missing and it is not optional",
    });
  });

  it("answers an unknown named format with NotModelled instead of accepting it", () => {
    expect(() => verifyParams({ x: { type: "string", format: "pve-something-new", optional: 1 } }, { x: "1" })).toThrow(
      NotModelled,
    );
  });

  it("parses and prints property strings as PVE does (default key first, key alias, booleans as 1/0)", () => {
    const net = keysOf("net0");
    const parsed = parsePropertyString(net, "virtio=BC:24:11:00:10:21,firewall=true,bridge=vmbr0");
    expect(parsed).toEqual({ model: "virtio", macaddr: "BC:24:11:00:10:21", firewall: "1", bridge: "vmbr0" });
    expect(printPropertyString(net, parsed)).toBe("virtio=BC:24:11:00:10:21,bridge=vmbr0,firewall=1");
  });
});

const TOKEN = "root@pam!test=5ecret";

const call = (sim: PveSim, method: string, path: string, params: Record<string, string> = {}, token = TOKEN) =>
  pveCall(sim, token, method, path, params);

describe("the simulator over HTTPS", () => {
  let sim: PveSim;
  const vm = (vmid: number, extra: Record<string, string> = {}) => ({
    vmid: String(vmid),
    name: `vm${vmid}`,
    machine: "q35",
    memory: "4096",
    scsi0: "local-lvm:8,iothread=1",
    ide0: "local-lvm:cloudinit",
    ide2: "local:iso/talos.iso,media=cdrom",
    net0: "virtio,bridge=vmbr0",
    boot: "order=scsi0;ide2",
    ...extra,
  });

  beforeAll(async () => {
    sim = await startPveSim({
      tokens: [TOKEN],
      nodes: ["pve1", "pve2"],
      pciDevices: { pve1: ["0000:01:00.0"] },
      rootPassword: "r00t",
    });
    const upid = (
      await call(sim, "POST", "/nodes/pve1/storage/local/download-url", {
        content: "iso",
        filename: "talos.iso",
        url: "https://factory.invalid/talos.iso",
      })
    ).body.data as string;
    expect((await call(sim, "GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`)).body.data).toMatchObject({
      status: "stopped",
      exitstatus: "OK",
    });
  });
  afterAll(async () => sim?.close());

  it("answers 401 without a valid API token", async () => {
    expect((await call(sim, "GET", "/version", {}, "root@pam!test=wrong")).status).toBe(401);
  });

  it("answers 501 naming the path for what it does not model, and for paths outside the schema", async () => {
    const apt = await call(sim, "GET", "/nodes/pve1/apt/update");
    expect(apt.status).toBe(501);
    expect(apt.body.message).toContain("/nodes/{node}/apt/update");
    expect((await call(sim, "GET", "/nodes/pve1/nonsense")).status).toBe(501);
  });

  it("answers 400 with the per-parameter errors of a bad request", async () => {
    const res = await call(sim, "POST", "/nodes/pve1/qemu", vm(100, { cores: "x", net0: "virtio,tag=5000" }));
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.errors ?? {}).sort()).toEqual(["cores", "net0"]);
  });

  it("creates a VM as PVE stores it: disks allocated with their size, cloud-init drive, a MAC for the NIC, a digest", async () => {
    expect((await call(sim, "POST", "/nodes/pve1/qemu", vm(101))).status).toBe(200);
    const config = (await call(sim, "GET", "/nodes/pve1/qemu/101/config")).body.data as Record<string, string>;
    expect(config.scsi0).toBe("local-lvm:vm-101-disk-0,iothread=1,size=8G");
    expect(config.ide0).toBe("local-lvm:vm-101-cloudinit,media=cdrom,size=4M");
    expect(config.ide2).toMatch(/^local:iso\/talos\.iso,media=cdrom,size=\d+M$/);
    expect(config.net0).toMatch(/^virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr0$/);
    expect(config.digest).toMatch(/^[0-9a-f]{40}$/);
  });

  it("takes all four IDE slots on q35 (qemu-server maps ide1/ide3 onto the AHCI's third and fourth port since 2023)", async () => {
    const res = await call(
      sim,
      "POST",
      "/nodes/pve1/qemu",
      vm(106, { ide1: "none,media=cdrom", ide3: "none,media=cdrom" }),
    );
    expect(res.status).toBe(200);
    expect(sim.state.vms["106"].config).toMatchObject({ ide1: "none,media=cdrom", ide3: "none,media=cdrom" });
  });

  it("checks the boot order only when a request sets it: deleting a device it names is not refused", async () => {
    expect((await call(sim, "PUT", "/nodes/pve1/qemu/106/config", { boot: "order=scsi0;ide3" })).status).toBe(200);
    expect((await call(sim, "PUT", "/nodes/pve1/qemu/106/config", { delete: "ide3" })).status).toBe(200);
    const res = await call(sim, "PUT", "/nodes/pve1/qemu/106/config", { boot: "order=scsi0;ide3" });
    expect(res.body.errors?.boot).toMatch(/invalid bootorder: device 'ide3' does not exist/);
    await call(sim, "DELETE", "/nodes/pve1/qemu/106");
  });

  it("refuses a VM id already used anywhere in the cluster", async () => {
    const res = await call(sim, "POST", "/nodes/pve2/qemu", vm(101));
    expect(res.status).toBe(500);
    expect(res.body.message).toMatch(/already exists on node 'pve1'/);
  });

  it.each([
    [{ balloon: "8192" }, "balloon", /balloon value too large/],
    [{ boot: "order=scsi0;ide3" }, "boot", /device 'ide3' does not exist/],
    [{ hostpci0: "pcie=1" }, "hostpci0", /either 'host' or 'mapping'/],
  ])("refuses a config breaking a rule: %j", async (extra, name, message) => {
    const res = await call(sim, "POST", "/nodes/pve1/qemu", vm(102, extra));
    expect(res.status).toBe(400);
    expect(res.body.errors?.[name]).toMatch(message);
  });

  it("refuses a CD-ROM or disk naming a missing volume or one of the wrong content type", async () => {
    expect(
      (await call(sim, "POST", "/nodes/pve1/qemu", vm(103, { ide2: "local:iso/missing.iso,media=cdrom" }))).body
        .message,
    ).toMatch(/does not exist/);
    expect((await call(sim, "POST", "/nodes/pve2/qemu", vm(103))).body.message).toMatch(
      /local:iso\/talos.iso' does not exist/,
    );
    expect(
      (await call(sim, "POST", "/nodes/pve1/qemu", vm(103, { ide2: "local-lvm:vm-101-disk-0,media=cdrom" }))).body
        .errors?.ide2,
    ).toMatch(/not an ISO image/);
  });

  it("records a device that replaces another on its slot", async () => {
    const before = sim.state.incidents.length;
    expect(
      (await call(sim, "PUT", "/nodes/pve1/qemu/101/config", { ide0: "local:iso/talos.iso,media=cdrom" })).status,
    ).toBe(200);
    expect(sim.state.incidents.slice(before)).toEqual([
      expect.objectContaining({ kind: "slot-replaced", vmid: 101, slot: "ide0" }),
    ]);
  });

  it("refuses to delete a volume a VM uses, and a second download of an existing file", async () => {
    const del = await call(
      sim,
      "DELETE",
      `/nodes/pve1/storage/local/content/${encodeURIComponent("local:iso/talos.iso")}`,
    );
    expect(del.status).toBe(500);
    expect(del.body.message).toMatch(/in use by VM 101/);
    const again = await call(sim, "POST", "/nodes/pve1/storage/local/download-url", {
      content: "iso",
      filename: "talos.iso",
      url: "https://factory.invalid/talos.iso",
    });
    expect(again.body.message).toMatch(/refusing to override existing file/);
  });

  it("rejects a stale digest", async () => {
    const res = await call(sim, "PUT", "/nodes/pve1/qemu/101/config", { name: "renamed", digest: "0".repeat(40) });
    expect(res.body.message).toMatch(/detected modified configuration/);
  });

  it("keeps a reboot-requiring change of a running VM pending until the restart, and applies hot-pluggable ones", async () => {
    await call(sim, "POST", "/nodes/pve1/qemu/101/status/start");
    expect(sim.state.vms["101"].status).toBe("running");
    await call(sim, "PUT", "/nodes/pve1/qemu/101/config", { cores: "8", name: "hot" });
    expect(sim.state.vms["101"].config).toMatchObject({ name: "hot" });
    expect(sim.state.vms["101"].config.cores).toBeUndefined();
    expect(sim.state.vms["101"].pending).toEqual({ cores: "8" });
    const current = (await call(sim, "GET", "/nodes/pve1/qemu/101/config", { current: "1" })).body.data as Record<
      string,
      unknown
    >;
    expect(current.cores).toBeUndefined();
    expect(((await call(sim, "GET", "/nodes/pve1/qemu/101/config")).body.data as Record<string, unknown>).cores).toBe(
      8,
    );
    await call(sim, "POST", "/nodes/pve1/qemu/101/status/reboot");
    expect(sim.state.vms["101"].config.cores).toBe("8");
    expect(sim.state.vms["101"].pending).toEqual({});
  });

  it("answers the guest agent with the address of ipconfig0", async () => {
    await call(sim, "PUT", "/nodes/pve1/qemu/101/config", {
      agent: "enabled=1",
      ipconfig0: "ip=127.0.10.21/24,gw=127.0.10.1",
    });
    await call(sim, "POST", "/nodes/pve1/qemu/101/status/reboot");
    const res = (await call(sim, "GET", "/nodes/pve1/qemu/101/agent/network-get-interfaces")).body.data as {
      result: Array<{ name: string; "ip-addresses": Array<{ "ip-address": string }> }>;
    };
    expect(res.result.find((i) => i.name === "eth0")?.["ip-addresses"][0]["ip-address"]).toBe("127.0.10.21");
  });

  it("refuses a PCI device by raw id to every API token, root@pam's included: only root@pam itself sets one", async () => {
    const answer = await call(sim, "PUT", "/nodes/pve1/qemu/101/config", { hostpci0: "host=0000:01:00.0,pcie=1" });
    expect(answer.status).toBe(500);
    expect(answer.body.message).toMatch(/only root can set 'hostpci0' config for non-mapped devices/);
    expect(sim.state.vms["101"].config.hostpci0).toBeUndefined();
  });

  it("fails the start task of a VM whose PCI device another running VM on the host holds", async () => {
    const login = (await call(sim, "POST", "/access/ticket", { username: "root@pam", password: "r00t" })).body.data as {
      ticket: string;
      CSRFPreventionToken: string;
    };
    const root = { ticket: login.ticket, csrf: login.CSRFPreventionToken };
    await pveCall(sim, root, "PUT", "/nodes/pve1/qemu/101/config", { hostpci0: "host=0000:01:00.0,pcie=1" });
    await call(sim, "POST", "/nodes/pve1/qemu/101/status/reboot");
    expect(
      (await pveCall(sim, root, "POST", "/nodes/pve1/qemu", vm(104, { hostpci0: "host=01:00.0,pcie=1" }))).status,
    ).toBe(200);
    const upid = (await call(sim, "POST", "/nodes/pve1/qemu/104/status/start")).body.data as string;
    const status = (await call(sim, "GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`)).body.data as {
      exitstatus: string;
    };
    expect(status.exitstatus).toMatch(/PCI device '0000:01:00.0' already in use by VMID '101'/);
    expect(sim.state.vms["104"].status).toBe("stopped");
  });

  it("takes an empty rule field as none, as bpg sends every unset one (PVE's copy_rule_data deletes the key)", async () => {
    const empty = { dest: "", sport: "", dport: "", proto: "", "icmp-type": "", macro: "", comment: "" };
    expect(
      (
        await call(sim, "POST", "/nodes/pve1/qemu/101/firewall/rules", {
          type: "in",
          action: "ACCEPT",
          source: "10.42.0.0/16",
          enable: "1",
          ...empty,
        })
      ).status,
    ).toBe(200);
    const [rule] = (await call(sim, "GET", "/nodes/pve1/qemu/101/firewall/rules")).body.data as Array<
      Record<string, unknown>
    >;
    expect(rule).toEqual({ pos: 0, type: "in", action: "ACCEPT", source: "10.42.0.0/16", enable: 1 });
    await call(sim, "PUT", "/nodes/pve1/qemu/101/firewall/rules/0", { source: "", proto: "tcp", dport: "22" });
    expect((await call(sim, "GET", "/nodes/pve1/qemu/101/firewall/rules/0")).body.data).toEqual({
      pos: "0",
      type: "in",
      action: "ACCEPT",
      proto: "tcp",
      dport: "22",
      enable: 1,
    });
    // verify_rule on an update too: the rule as it would be stored (a port left without its protocol).
    const update = await call(sim, "PUT", "/nodes/pve1/qemu/101/firewall/rules/0", { proto: "" });
    expect(update.status).toBe(400);
    expect(update.body.errors?.proto).toMatch(/'dport' requires this property/);
    expect(
      (await call(sim, "POST", "/nodes/pve1/qemu/101/firewall/rules", { type: "in", action: "ACCEPT", dest: "a b" }))
        .status,
    ).toBe(400);
    await call(sim, "DELETE", "/nodes/pve1/qemu/101/firewall/rules/0");
  });

  it("keeps a VM's firewall rules in order: a new rule goes in at pos (the top by default)", async () => {
    await call(sim, "PUT", "/nodes/pve1/qemu/101/firewall/options", { enable: "1", policy_in: "DROP" });
    await call(sim, "POST", "/nodes/pve1/qemu/101/firewall/rules", {
      type: "in",
      action: "ACCEPT",
      dport: "6443",
      proto: "tcp",
      enable: "1",
    });
    await call(sim, "POST", "/nodes/pve1/qemu/101/firewall/rules", {
      type: "in",
      action: "ACCEPT",
      dport: "50000",
      proto: "tcp",
      enable: "1",
    });
    const rules = (await call(sim, "GET", "/nodes/pve1/qemu/101/firewall/rules")).body.data as Array<{
      pos: number;
      dport: string;
    }>;
    expect(rules.map((r) => [r.pos, r.dport])).toEqual([
      [0, "50000"],
      [1, "6443"],
    ]);
    expect((await call(sim, "GET", "/nodes/pve1/qemu/101/firewall/rules/1")).body.data).toMatchObject({
      pos: "1",
      dport: "6443",
      enable: 1,
    });
    expect((await call(sim, "GET", "/nodes/pve1/qemu/101/firewall/rules/2")).body.message).toMatch(
      /no rule at position 2/,
    );
    expect((await call(sim, "GET", "/nodes/pve1/qemu/101/firewall/options")).body.data).toEqual({
      enable: 1,
      policy_in: "DROP",
    });
    expect(
      (
        await call(sim, "POST", "/nodes/pve1/qemu/101/firewall/rules", {
          type: "in",
          action: "ACCEPT",
          dport: "1",
          proto: "nonsense!",
        })
      ).status,
    ).toBe(400);
  });

  it("keeps HA resources of existing VMs, and lists VMs, storages and nodes as cluster resources", async () => {
    expect((await call(sim, "POST", "/cluster/ha/resources", { sid: "vm:999" })).body.message).toMatch(
      /no such resource/,
    );
    expect((await call(sim, "POST", "/cluster/ha/resources", { sid: "vm:101", state: "started" })).status).toBe(200);
    expect((await call(sim, "GET", "/cluster/ha/resources/vm%3A101")).body.data).toMatchObject({
      sid: "vm:101",
      type: "vm",
      state: "started",
    });
    const vms = (await call(sim, "GET", "/cluster/resources", { type: "vm" })).body.data as Array<{
      vmid: number;
      node: string;
      hastate?: string;
    }>;
    expect(vms.find((v) => v.vmid === 101)).toMatchObject({ node: "pve1", hastate: "started" });
    const storages = (await call(sim, "GET", "/cluster/resources", { type: "storage" })).body.data as Array<{
      id: string;
    }>;
    expect(storages.map((s) => s.id)).toContain("storage/pve2/local-lvm");
    expect((await call(sim, "DELETE", "/cluster/ha/resources/vm%3A101")).status).toBe(200);
  });

  it("migrates a VM to another host as PVE does: its local disks move with it, a CD-ROM on a host's own storage stays and refuses", async () => {
    const taskStatus = async (res: { body: { data?: unknown } }) =>
      (
        (await call(sim, "GET", `/nodes/pve1/tasks/${encodeURIComponent(res.body.data as string)}/status`)).body
          .data as { exitstatus: string }
      ).exitstatus;
    expect((await call(sim, "POST", "/nodes/pve1/qemu", vm(105))).status).toBe(200);
    const withIso = await call(sim, "POST", "/nodes/pve1/qemu/105/migrate", { target: "pve2" });
    expect(await taskStatus(withIso)).toMatch(/can't migrate local cdrom 'local:iso\/talos\.iso'/);
    expect(sim.state.vms["105"].node).toBe("pve1");

    expect((await call(sim, "PUT", "/nodes/pve1/qemu/105/config", { ide2: "none,media=cdrom" })).status).toBe(200);
    expect((await call(sim, "POST", "/nodes/pve1/qemu/105/migrate", { target: "pve1" })).body.errors).toEqual({
      target: "target is local node.",
    });
    expect((await call(sim, "POST", "/nodes/pve1/qemu/105/migrate", { target: "pve9" })).status).toBe(400);
    await call(sim, "POST", "/nodes/pve1/qemu/105/status/start");
    expect((await call(sim, "POST", "/nodes/pve1/qemu/105/migrate", { target: "pve2" })).body.message).toMatch(
      /can't migrate running VM without --online/,
    );
    const live = await call(sim, "POST", "/nodes/pve1/qemu/105/migrate", { target: "pve2", online: "1" });
    expect(await taskStatus(live)).toMatch(/can't live migrate attached local disks without with-local-disks/);

    const ok = await call(sim, "POST", "/nodes/pve1/qemu/105/migrate", {
      target: "pve2",
      online: "1",
      "with-local-disks": "1",
    });
    expect(await taskStatus(ok)).toBe("OK");
    expect(sim.state.vms["105"]).toMatchObject({ node: "pve2", status: "running" });
    expect(sim.state.volumes.filter((v) => v.vmid === 105).map((v) => `${v.volid}@${v.node}`)).toEqual([
      "local-lvm:vm-105-disk-0@pve2",
      "local-lvm:vm-105-cloudinit@pve2",
    ]);
    expect((await call(sim, "GET", "/nodes/pve1/qemu/105/config")).status).toBe(500);
    expect((await call(sim, "GET", "/nodes/pve2/qemu/105/config")).body.data).toMatchObject({ name: "vm105" });
    await call(sim, "POST", "/nodes/pve2/qemu/105/status/stop");
  });

  it("relocates a VM as HA does after a host failure, without a request (relocateVm)", async () => {
    relocateVm(sim.state, sim.state.vms["105"], "pve1");
    const vms = (await call(sim, "GET", "/cluster/resources", { type: "vm" })).body.data as Array<{
      vmid: number;
      node: string;
    }>;
    expect(vms.find((v) => v.vmid === 105)?.node).toBe("pve1");
    expect(sim.state.volumes.filter((v) => v.vmid === 105).every((v) => v.node === "pve1")).toBe(true);
    expect((await call(sim, "GET", "/nodes/pve1/qemu/105/config")).status).toBe(200);
  });

  it("authenticates with a token created through the API", async () => {
    await call(sim, "POST", "/access/users", { userid: "csi@pve" });
    const created = (await call(sim, "POST", "/access/users/csi%40pve/token/tok", { privsep: "0" })).body.data as {
      value: string;
    };
    expect((await call(sim, "GET", "/version", {}, `csi@pve!tok=${created.value}`)).status).toBe(200);
  });

  it("enforces ACLs: a token without privilege separation has its user's privileges, one with it the intersection of its own and its user's", async () => {
    const vmConfig = (token: string) => call(sim, "GET", "/nodes/pve1/qemu/101/config", {}, token);
    expect((await call(sim, "POST", "/access/roles", { roleid: "reader", privs: "VM.Audit" })).status).toBe(200);
    const token = async (id: string, privsep: string) =>
      `csi@pve!${id}=${((await call(sim, "POST", `/access/users/csi%40pve/token/${id}`, { privsep })).body.data as { value: string }).value}`;
    const shared = await token("shared", "0");
    const separate = await token("separate", "1");
    expect((await vmConfig(shared)).body.message).toMatch(/Permission check failed \(\/vms\/101, VM.Audit\)/);
    expect((await vmConfig(shared)).status).toBe(403);
    // propagate 0 reaches /vms only, not /vms/101
    await call(sim, "PUT", "/access/acl", { path: "/vms", users: "csi@pve", roles: "reader", propagate: "0" });
    expect((await vmConfig(shared)).status).toBe(403);
    await call(sim, "PUT", "/access/acl", { path: "/vms", users: "csi@pve", roles: "reader", propagate: "1" });
    expect((await vmConfig(shared)).status).toBe(200);
    expect((await vmConfig(separate)).status).toBe(403);
    await call(sim, "PUT", "/access/acl", { path: "/vms/101", tokens: "csi@pve!separate", roles: "reader" });
    expect((await vmConfig(separate)).status).toBe(200);
    // The nearest level with entries of the user wins: NoAccess on /vms/101 takes VM.Audit away from both.
    await call(sim, "PUT", "/access/acl", { path: "/vms/101", users: "csi@pve", roles: "NoAccess" });
    expect((await vmConfig(shared)).status).toBe(403);
    expect((await vmConfig(separate)).status).toBe(403);
    expect((await call(sim, "GET", "/nodes/pve1/qemu/102/config", {}, shared)).status).not.toBe(403);
    // A call whose permissions the simulator does not model is not passed on a guess.
    expect((await call(sim, "GET", "/access/users", {}, shared)).status).toBe(501);
  });

  it("refuses a privilege PVE 9 does not have", async () => {
    const res = await call(sim, "POST", "/access/roles", { roleid: "old", privs: "VM.Audit,VM.Monitor" });
    expect(res.status).toBe(400);
    expect(res.body.errors?.privs).toMatch(/VM.Monitor/);
  });
});

describe("the permissions of the /access calls, as pve-access-control checks them", () => {
  let sim: PveSim;
  let op: string;
  let roles = 0;
  /** A role of `privs` for op@pve on `path`. */
  const grant = async (path: string, privs: string, propagate = "1") => {
    const roleid = `r${roles++}`;
    await call(sim, "POST", "/access/roles", { roleid, privs });
    await call(sim, "PUT", "/access/acl", { path, users: "op@pve", roles: roleid, propagate });
  };
  const asOp = (method: string, path: string, params: Record<string, string> = {}) =>
    call(sim, method, path, params, op);
  const refusal = async (answer: Promise<{ status: number; body: { message?: string } }>) => {
    const { status, body } = await answer;
    return `${status} ${body.message?.trim()}`;
  };

  beforeAll(async () => {
    sim = await startPveSim({ tokens: [TOKEN] });
    await call(sim, "POST", "/access/users", { userid: "op@pve" });
    await call(sim, "POST", "/access/users", { userid: "csi@pve" });
    const created = (await call(sim, "POST", "/access/users/op%40pve/token/tk", { privsep: "0" })).body.data as {
      value: string;
    };
    op = `op@pve!tk=${created.value}`;
  });
  afterAll(async () => sim.close());

  it("roles: created, changed and deleted with Sys.Modify on /access, read by anyone", async () => {
    expect(await refusal(asOp("POST", "/access/roles", { roleid: "x", privs: "VM.Audit" }))).toBe(
      "403 Permission check failed (/access, Sys.Modify)",
    );
    expect((await asOp("GET", "/access/roles/PVEAuditor")).status).toBe(200);
    await grant("/access", "Sys.Modify");
    expect((await asOp("POST", "/access/roles", { roleid: "x", privs: "VM.Audit" })).status).toBe(200);
    expect((await asOp("PUT", "/access/roles/x", { privs: "VM.Audit,VM.PowerMgmt" })).status).toBe(200);
    expect((await asOp("DELETE", "/access/roles/x")).status).toBe(200);
  });

  it("users: Realm.AllocateUser on the user's realm, then User.Modify on /access/groups (no group given)", async () => {
    const create = () => asOp("POST", "/access/users", { userid: "new@pve" });
    expect(await refusal(create())).toBe("403 Permission check failed (/access/realm/pve, Realm.AllocateUser)");
    await grant("/access/realm/pve", "Realm.AllocateUser");
    expect(await refusal(create())).toBe("403 Permission check failed (/access/groups, User.Modify)");
    expect(await refusal(asOp("GET", "/access/users/csi%40pve"))).toBe("403 Permission check failed");
    expect(await refusal(asOp("GET", "/access/users/gone%40pve"))).toBe("500 no such user ('gone@pve')");
    await grant("/access/groups", "User.Modify");
    expect((await create()).status).toBe(200);
    expect((await asOp("GET", "/access/users/new%40pve")).status).toBe(200);
    expect((await asOp("PUT", "/access/users/new%40pve", { comment: "c" })).status).toBe(200);
    expect((await asOp("DELETE", "/access/users/new%40pve")).status).toBe(200);
  });

  it("tokens: the user itself or User.Modify on /access/groups; an API token is never its user", async () => {
    await call(sim, "PUT", "/access/acl", { path: "/access/groups", users: "op@pve", roles: "NoAccess" });
    expect(await refusal(asOp("POST", "/access/users/op%40pve/token/second"))).toBe("403 Permission check failed");
    expect(await refusal(asOp("POST", "/access/users/csi%40pve/token/csi"))).toBe("403 Permission check failed");
    await call(sim, "PUT", "/access/acl", { path: "/access/groups", users: "op@pve", roles: "NoAccess", delete: "1" });
    expect((await asOp("POST", "/access/users/csi%40pve/token/csi", { privsep: "0" })).status).toBe(200);
    expect((await asOp("GET", "/access/users/csi%40pve/token/csi")).status).toBe(200);
    expect((await asOp("PUT", "/access/users/csi%40pve/token/csi", { comment: "c" })).status).toBe(200);
    expect((await asOp("DELETE", "/access/users/csi%40pve/token/csi")).status).toBe(200);
  });

  it("ACLs: Permissions.Modify on the path; VM.Allocate on a VM hands out only one's own privileges", async () => {
    const acl = (path: string, roles: string, propagate = "1") =>
      asOp("PUT", "/access/acl", { path, users: "csi@pve", roles, propagate });
    expect(await refusal(acl("/", "r0"))).toBe("403 Permission check failed (/, Permissions.Modify)");
    expect(await refusal(acl("/vms/100", "r0"))).toBe(
      "403 Permission check failed (/vms/100, Permissions.Modify|VM.Allocate)",
    );
    await call(sim, "POST", "/access/roles", { roleid: "vmadmin", privs: "VM.Allocate,VM.Audit" });
    await call(sim, "POST", "/access/roles", { roleid: "audit", privs: "VM.Audit" });
    await call(sim, "PUT", "/access/acl", { path: "/vms/100", users: "op@pve", roles: "vmadmin", propagate: "0" });
    expect((await acl("/vms/100", "audit", "0")).status).toBe(200);
    expect((await acl("/vms/100", "r0")).body.errors?.role).toBe(
      "Cannot add role 'r0' - requires 'Permissions.Modify' or superset of privileges.",
    );
    expect((await acl("/vms/100", "audit", "1")).body.errors?.role).toBe(
      "Cannot add role 'audit' with propagation - requires 'Permissions.Modify' or propagated superset of privileges.",
    );
    expect((await acl("/vms/100", "NoAccess", "0")).body.errors?.role).toBe(
      "Cannot add role 'NoAccess' - requires 'Permissions.Modify'",
    );
    await grant("/", "Permissions.Modify", "0");
    expect((await acl("/", "r0")).status).toBe(200);
  });

  it("the ACL list: everything with Sys.Audit on /access, else the paths one may change", async () => {
    const paths = async () =>
      [...new Set(((await asOp("GET", "/access/acl")).body.data as Array<{ path: string }>).map((e) => e.path))].sort();
    expect(await paths()).toEqual(["/", "/vms/100"]);
    await grant("/access", "Sys.Audit");
    expect(await paths()).toEqual(["/", "/access", "/access/groups", "/access/realm/pve", "/vms/100"]);
  });
});

describe("the simulator's --state file", () => {
  it("keeps the state across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pve-sim-state-"));
    try {
      const stateFile = join(dir, "sim.json");
      const first = await startPveSim({ tokens: [TOKEN], stateFile });
      expect((await call(first, "POST", "/access/users", { userid: "kept@pve", comment: "survives" })).status).toBe(
        200,
      );
      await first.close();
      const second = await startPveSim({ tokens: [TOKEN], stateFile });
      try {
        expect((await call(second, "GET", "/access/users/kept%40pve")).body.data).toMatchObject({
          comment: "survives",
          enable: 1,
        });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
