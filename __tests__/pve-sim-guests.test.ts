// The Proxmox VE API simulator's guests beyond the Talos VMs, over HTTPS as the provider sends the requests:
// disk resize, LXC containers, clones of templates, PCI mappings and pools.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestedSize } from "../judges/pve-sim/handlers/resize";
import { startPveSim, type PveSim } from "../judges/pve-sim/server";
import { call as pveCall, taskResult } from "./support/pve-client";

const TOKEN = "root@pam!test=5ecret";
const GiB = 1024 ** 3;

let sim: PveSim;
const call = (method: string, path: string, params: Record<string, string> = {}) =>
  pveCall(sim, TOKEN, method, path, params);
const task = async (method: string, path: string, params: Record<string, string> = {}) =>
  taskResult(sim, TOKEN, await call(method, path, params));

const ROOT_PASSWORD = "r00t-secret";

beforeAll(async () => {
  sim = await startPveSim({
    tokens: [TOKEN],
    rootPassword: ROOT_PASSWORD,
    nodes: ["pve1", "pve2"],
    storages: [
      { id: "local", type: "dir", content: ["iso", "vztmpl", "backup"], shared: false },
      { id: "local-lvm", type: "lvmthin", content: ["images", "rootdir"], shared: false },
      { id: "local-zfs", type: "zfspool", content: ["images", "rootdir"], shared: false },
      { id: "vmdisks", type: "rbd", content: ["images"], shared: true },
    ],
  });
  const download = await call("POST", "/nodes/pve1/storage/local/download-url", {
    content: "vztmpl",
    filename: "debian-12-standard_12.7-1_amd64.tar.zst",
    url: "http://download.invalid/debian-12-standard_12.7-1_amd64.tar.zst",
  });
  expect(await taskResult(sim, TOKEN, download)).toBe("OK");
});
afterAll(async () => sim?.close());

describe("disk resize (PUT /nodes/{node}/qemu/{vmid}/resize)", () => {
  it.each([
    ["+2G", 8 * GiB, 10 * GiB],
    ["12G", 8 * GiB, 12 * GiB],
    ["1.5G", GiB, 1.5 * GiB],
    ["+512M", GiB, 1.5 * GiB],
    ["2048", 1024, 2048],
  ])("%s on a disk of %d bytes gives %d bytes", (size, current, expected) => {
    expect(requestedSize(current, size)).toBe(expected);
  });

  beforeAll(async () => {
    const created = await call("POST", "/nodes/pve1/qemu", {
      vmid: "300",
      scsi0: "local-lvm:8,iothread=1",
      ide2: "local-lvm:cloudinit",
    });
    expect(created.status).toBe(200);
  });

  it("grows the volume and writes the new size into the drive, as a task", async () => {
    expect(await task("PUT", "/nodes/pve1/qemu/300/resize", { disk: "scsi0", size: "+2G" })).toBe("OK");
    expect(sim.state.vms["300"].config.scsi0).toBe("local-lvm:vm-300-disk-0,iothread=1,size=10G");
    expect(sim.state.volumes.find((v) => v.volid === "local-lvm:vm-300-disk-0")?.size).toBe(10 * GiB);
    expect(await task("PUT", "/nodes/pve1/qemu/300/resize", { disk: "scsi0", size: "32G" })).toBe("OK");
    expect(sim.state.vms["300"].config.scsi0).toBe("local-lvm:vm-300-disk-0,iothread=1,size=32G");
  });

  it("refuses to shrink, to resize a CD-ROM or a missing disk, and a stale digest; nothing changes", async () => {
    const before = JSON.stringify(sim.state.vms["300"].config);
    expect(await task("PUT", "/nodes/pve1/qemu/300/resize", { disk: "scsi0", size: "16G" })).toBe(
      "shrinking disks is not supported",
    );
    expect(await task("PUT", "/nodes/pve1/qemu/300/resize", { disk: "ide2", size: "+1G" })).toBe(
      "you can't resize a cdrom",
    );
    expect(await task("PUT", "/nodes/pve1/qemu/300/resize", { disk: "scsi1", size: "+1G" })).toBe(
      "disk 'scsi1' does not exist",
    );
    expect(
      await task("PUT", "/nodes/pve1/qemu/300/resize", { disk: "scsi0", size: "+1G", digest: "0".repeat(40) }),
    ).toMatch(/checksum missmatch/);
    expect(JSON.stringify(sim.state.vms["300"].config)).toBe(before);
  });

  it("checks the request against the schema: a slot resize does not know, a malformed size", async () => {
    const res = await call("PUT", "/nodes/pve1/qemu/300/resize", { disk: "net0", size: "1G" });
    expect(res.status).toBe(400);
    expect(res.body.errors?.disk).toMatch(/enumeration/);
    expect(
      (await call("PUT", "/nodes/pve1/qemu/300/resize", { disk: "scsi0", size: "-1G" })).body.errors?.size,
    ).toMatch(/regex/);
  });

  it("answers for a VM that is not on the node as PVE does", async () => {
    expect((await call("PUT", "/nodes/pve2/qemu/300/resize", { disk: "scsi0", size: "+1G" })).body.message).toMatch(
      /300\.conf' does not exist/,
    );
  });
});

const TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq7 admin@example";

/** A container create request as bpg/proxmox sends it. */
const ct = (vmid: number, extra: Record<string, string> = {}) => ({
  vmid: String(vmid),
  ostemplate: TEMPLATE,
  storage: "local-lvm",
  rootfs: "local-lvm:8",
  hostname: `ct${vmid}`,
  arch: "amd64",
  cores: "2",
  memory: "1024",
  swap: "512",
  cmode: "tty",
  console: "1",
  tty: "2",
  cpulimit: "0",
  ostype: "debian",
  net0: "bridge=vmbr0,host-managed=0,ip=127.0.1.10/24,gw=127.0.1.1,name=eth0",
  nameserver: "127.0.1.53",
  onboot: "1",
  protection: "0",
  template: "0",
  unprivileged: "1",
  start: "0",
  ...extra,
});

describe("LXC containers (/nodes/{node}/lxc)", () => {
  it("creates a container from a template volume as PVE stores it: volumes allocated, NIC completed, keys not stored", async () => {
    expect(
      await task(
        "POST",
        "/nodes/pve1/lxc",
        ct(200, {
          mp0: "local-lvm:16,backup=1,mp=/srv/data",
          features: "nesting=1",
          "ssh-public-keys": KEY,
          start: "1",
        }),
      ),
    ).toBe("OK");
    const config = (await call("GET", "/nodes/pve1/lxc/200/config")).body.data as Record<string, unknown>;
    expect(config).toMatchObject({
      rootfs: "local-lvm:vm-200-disk-0,size=8G",
      mp0: "local-lvm:vm-200-disk-1,mp=/srv/data,backup=1,size=16G",
      features: "nesting=1",
      hostname: "ct200",
      unprivileged: 1,
      memory: 1024,
    });
    expect(config.net0).toMatch(
      /^name=eth0,bridge=vmbr0,gw=127\.0\.1\.1,host-managed=0,hwaddr=BC:24:11(:[0-9A-F]{2}){3},ip=127\.0\.1\.10\/24,type=veth$/,
    );
    expect(config.digest).toMatch(/^[0-9a-f]{40}$/);
    expect(JSON.stringify(config)).not.toContain("ssh-ed25519");
    expect(sim.state.volumes.filter((v) => v.vmid === 200).map((v) => [v.volid, v.content, v.size])).toEqual([
      ["local-lvm:vm-200-disk-0", "rootdir", 8 * GiB],
      ["local-lvm:vm-200-disk-1", "rootdir", 16 * GiB],
    ]);
    expect(sim.state.containers["200"].status).toBe("running");
  });

  it("names a container volume on ZFS subvol-<id>-disk-<n>, and needs a storage for container directories", async () => {
    expect(
      (await call("POST", "/nodes/pve2/lxc", ct(201, { storage: "local-zfs", rootfs: "local-zfs:4" }))).body.message,
    ).toMatch(/volume .local:vztmpl\/debian-12-standard_12.7-1_amd64.tar.zst. does not exist/);
    const download = await call("POST", "/nodes/pve2/storage/local/download-url", {
      content: "vztmpl",
      filename: "debian-12-standard_12.7-1_amd64.tar.zst",
      url: "http://download.invalid/debian-12-standard_12.7-1_amd64.tar.zst",
    });
    expect(await taskResult(sim, TOKEN, download)).toBe("OK");
    expect(await task("POST", "/nodes/pve2/lxc", ct(201, { storage: "local-zfs", rootfs: "local-zfs:4" }))).toBe("OK");
    expect(sim.state.containers["201"].config.rootfs).toBe("local-zfs:subvol-201-disk-0,size=4G");
    const res = await call("POST", "/nodes/pve2/lxc", ct(202, { storage: "vmdisks", rootfs: "vmdisks:4" }));
    expect(res.body.message).toMatch(/storage 'vmdisks' does not support container directories/);
    expect(sim.state.containers["202"]).toBeUndefined();
    expect(sim.state.volumes.some((v) => v.vmid === 202)).toBe(false);
  });

  it("refuses a template that is not a container template, and an id any guest already has", async () => {
    expect(
      (await call("POST", "/nodes/pve1/lxc", ct(203, { ostemplate: "local:vztmpl/missing.tar.zst" }))).body.message,
    ).toMatch(/volume 'local:vztmpl\/missing.tar.zst' does not exist/);
    expect((await call("POST", "/nodes/pve1/lxc", ct(300))).body.message).toMatch(
      /VM 300 already exists on node 'pve1'/,
    );
    expect((await call("POST", "/nodes/pve2/qemu", { vmid: "200" })).body.message).toMatch(
      /CT 200 already exists on node 'pve1'/,
    );
    expect((await call("GET", "/cluster/nextid", { vmid: "200" })).body.errors?.vmid).toMatch(/CT 200 already exists/);
    const resources = (await call("GET", "/cluster/resources", { type: "vm" })).body.data as Array<{ id: string }>;
    expect(resources.map((r) => r.id)).toEqual(expect.arrayContaining(["qemu/300", "lxc/200", "lxc/201"]));
  });

  it.each([
    [{ net0: "bridge=vmbr0,ip=dhcp" }, "net0", /net0\.name: property is missing/],
    [{ mp0: "local-lvm:4" }, "mp0", /mp0\.mp: property is missing/],
    [{ features: "nesting=1,docker=1" }, "features", /invalid key in comma-separated list property: docker/],
    [{ net0: "name=eth0,bridge=vmbr0,ip=127.0.1.300/24" }, "net0", /net0\.ip/],
    [{ mp0: "local-lvm:4,mp=/srv/../etc" }, "mp0", /illegal character sequences/],
    [{ ostype: "windows" }, "ostype", /enumeration/],
  ])("refuses malformed options like PVE: %j", async (extra, name, message) => {
    const res = await call("POST", "/nodes/pve1/lxc", ct(204, extra));
    expect(res.status).toBe(400);
    expect(res.body.errors?.[name]).toMatch(message);
  });

  it("refuses a malformed SSH public key", async () => {
    expect((await call("POST", "/nodes/pve1/lxc", ct(204, { "ssh-public-keys": "not a key" }))).body.errors).toEqual({
      "ssh-public-keys": "SSH public key validation error",
    });
  });

  it.each([
    [{ features: "keyctl=1,nesting=1" }, "changing feature flags (except nesting) is only allowed for root@pam"],
    [{ features: "fuse=1" }, "changing feature flags (except nesting) is only allowed for root@pam"],
    [
      { unprivileged: "0", features: "nesting=1" },
      "changing feature flags for privileged container is only allowed for root@pam",
    ],
    [{ mp0: "/tank/media,mp=/media,ro=1" }, "mount point type bind is only allowed for root@pam"],
    [{ dev0: "/dev/net/tun,mode=0666" }, "configuring device passthrough is only allowed for root@pam"],
    [{ hookscript: "local:snippets/hook.sh" }, "changing the hookscript is only allowed for root@pam"],
  ])("keeps %j to root@pam itself: an API token, even root@pam's, gets 403", async (extra, message) => {
    const res = await call("POST", "/nodes/pve1/lxc", ct(205, extra));
    expect(res.status).toBe(403);
    expect(res.body.message).toContain(`Permission check failed (${message})`);
    expect(sim.state.containers["205"]).toBeUndefined();
  });

  it("lets root@pam with a ticket (user and password) set them", async () => {
    expect((await call("POST", "/access/ticket", { username: "root@pam", password: "wrong" })).status).toBe(401);
    const answer = (await call("POST", "/access/ticket", { username: "root@pam", password: ROOT_PASSWORD })).body
      .data as { ticket: string; CSRFPreventionToken: string; username: string };
    expect(answer.username).toBe("root@pam");
    const root = { ticket: answer.ticket, csrf: answer.CSRFPreventionToken };
    const created = await pveCall(
      sim,
      root,
      "POST",
      "/nodes/pve1/lxc",
      ct(205, {
        unprivileged: "0",
        features: "nesting=1",
        mp0: "/tank/media,mp=/media,ro=1",
        dev0: "/dev/net/tun,deny-write=0,uid=0,gid=0,mode=0660",
      }),
    );
    expect(await taskResult(sim, root, created)).toBe("OK");
    expect(sim.state.containers["205"].config.mp0).toBe("/tank/media,mp=/media,ro=1");
    expect(sim.state.containers["205"].config.dev0).toBe("/dev/net/tun,deny-write=0,uid=0,gid=0,mode=0660");
    expect(sim.state.containers["205"].config.features).toBe("nesting=1");
    const withoutCsrf = await pveCall(
      sim,
      { ticket: answer.ticket, csrf: "forged" },
      "PUT",
      "/nodes/pve1/lxc/205/config",
      {
        cores: "4",
      },
    );
    expect(withoutCsrf.status).toBe(401);
  });

  it("a token may turn nesting on and off on an unprivileged container, not the other flags", async () => {
    expect((await call("PUT", "/nodes/pve2/lxc/201/config", { features: "nesting=1" })).status).toBe(200);
    expect((await call("PUT", "/nodes/pve2/lxc/201/config", { features: "nesting=0" })).status).toBe(200);
    expect((await call("PUT", "/nodes/pve2/lxc/201/config", { features: "keyctl=1,nesting=0" })).status).toBe(403);
  });

  it("refuses to change unprivileged after creation", async () => {
    expect((await call("PUT", "/nodes/pve1/lxc/200/config", { unprivileged: "0" })).body.errors?.unprivileged).toMatch(
      /read-only option/,
    );
  });

  it("keeps a running container's non-hot-pluggable changes pending until its reboot", async () => {
    expect((await call("PUT", "/nodes/pve1/lxc/200/config", { hostname: "renamed", memory: "2048" })).status).toBe(200);
    expect(sim.state.containers["200"].config).toMatchObject({ hostname: "ct200", memory: "2048" });
    expect(sim.state.containers["200"].pending).toEqual({ hostname: "renamed" });
    expect(((await call("GET", "/nodes/pve1/lxc/200/config")).body.data as { hostname: string }).hostname).toBe(
      "renamed",
    );
    expect(await task("POST", "/nodes/pve1/lxc/200/status/reboot")).toBe("OK");
    expect(sim.state.containers["200"].config.hostname).toBe("renamed");
  });

  it("answers the running container's interfaces with its static address", async () => {
    const interfaces = (await call("GET", "/nodes/pve1/lxc/200/interfaces")).body.data as Array<{
      name: string;
      "ip-addresses": Array<{ "ip-address": string; "ip-address-type": string }>;
    }>;
    expect(interfaces.find((i) => i.name === "eth0")?.["ip-addresses"]).toEqual([
      { "ip-address": "127.0.1.10", "ip-address-type": "inet", prefix: 24 },
    ]);
  });

  it("grows a mount point, refuses to shrink it or to resize a bind mount", async () => {
    expect(await task("PUT", "/nodes/pve1/lxc/200/resize", { disk: "mp0", size: "+4G" })).toBe("OK");
    expect(sim.state.containers["200"].config.mp0).toBe("local-lvm:vm-200-disk-1,mp=/srv/data,backup=1,size=20G");
    expect(await task("PUT", "/nodes/pve1/lxc/200/resize", { disk: "rootfs", size: "4G" })).toBe(
      "unable to shrink disk size",
    );
    expect(await task("PUT", "/nodes/pve1/lxc/205/resize", { disk: "mp0", size: "+1G" })).toMatch(/not a volume/);
  });

  it("keeps a container's firewall (PVE::API2::Firewall::CT): options, verified rules in order", async () => {
    expect(
      (await call("PUT", "/nodes/pve1/lxc/200/firewall/options", { enable: "1", policy_out: "DROP" })).status,
    ).toBe(200);
    const rule = (extra: Record<string, string>) =>
      call("POST", "/nodes/pve1/lxc/200/firewall/rules", { type: "in", action: "ACCEPT", enable: "1", ...extra });
    expect((await rule({ macro: "SSH", source: "127.10.10.0/24" })).status).toBe(200);
    expect((await rule({ proto: "tcp", dport: "1883" })).status).toBe(200);
    const rules = (await call("GET", "/nodes/pve1/lxc/200/firewall/rules")).body.data as Array<Record<string, unknown>>;
    expect(rules.map((r) => [r.pos, r.macro ?? r.dport])).toEqual([
      [0, "1883"],
      [1, "SSH"],
    ]);
    expect((await call("GET", "/nodes/pve1/lxc/200/firewall/options")).body.data).toEqual({
      enable: 1,
      policy_out: "DROP",
    });
    // verify_rule: each refusal names its parameter, nothing is stored.
    for (const [extra, param, message] of [
      [{ macro: "Https" }, "macro", /PVE stores macro 'Https' as 'HTTPS'/],
      [{ macro: "Plex" }, "macro", /unknown macro 'Plex'/],
      [{ dport: "22" }, "proto", /'dport' requires this property/],
      [{ proto: "tcp", dport: "90:80" }, "dport", /backwards range/],
      [{ macro: "SSH", proto: "tcp", dport: "2222" }, "dport", /already define in macro \(value = '22'\)/],
      [{ source: "127.0.0.1-127.0.0.5,127.0.0.9" }, "source", /range in a list/],
    ] as const) {
      const res = await rule(extra);
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.body.errors?.[param]).toMatch(message);
    }
    expect(sim.state.firewall["200"].rules).toHaveLength(2);
    expect((await call("GET", "/nodes/pve1/lxc/999/firewall/rules")).body.message).toMatch(
      /nodes\/pve1\/lxc\/999.conf' does not exist/,
    );
  });

  it("destroys only a stopped container, freeing its volumes but no bind-mounted directory", async () => {
    expect((await call("DELETE", "/nodes/pve1/lxc/200")).body.message).toMatch(/CT 200 is running - destroy failed/);
    expect(await task("POST", "/nodes/pve1/lxc/200/status/shutdown")).toBe("OK");
    expect(await task("DELETE", "/nodes/pve1/lxc/200", { purge: "1" })).toBe("OK");
    expect(sim.state.containers["200"]).toBeUndefined();
    // Its firewall goes with it (remove_vmfw_conf), so a new guest with the id starts without rules.
    expect(sim.state.firewall["200"]).toBeUndefined();
    expect(sim.state.volumes.some((v) => v.vmid === 200)).toBe(false);
    expect((await call("GET", "/nodes/pve1/lxc/200/status/current")).body.message).toMatch(/does not exist/);
  });
});

describe("templates and clones (/nodes/{node}/qemu/{vmid}/template, .../clone)", () => {
  beforeAll(async () => {
    const golden = {
      vmid: "9000",
      name: "debian-golden",
      machine: "q35",
      scsi0: "local-lvm:4,iothread=1",
      ide2: "local-lvm:cloudinit",
      net0: "virtio,bridge=vmbr0",
      boot: "order=scsi0",
      smbios1: "uuid=3f1a1b2c-0000-4000-8000-000000000001",
    };
    expect(await task("POST", "/nodes/pve1/qemu", golden)).toBe("OK");
    expect(await task("POST", "/nodes/pve1/qemu", { ...golden, vmid: "9001", scsi0: "local-lvm:4" })).toBe("OK");
  });

  it("converts a stopped VM into a template: its disks become base volumes, and it cannot start", async () => {
    expect(await task("POST", "/nodes/pve1/qemu/9000/template")).toBe("OK");
    expect(sim.state.vms["9000"].config).toMatchObject({
      template: "1",
      scsi0: "local-lvm:base-9000-disk-0,iothread=1,size=4G",
      ide2: "local-lvm:vm-9000-cloudinit,media=cdrom,size=4M",
    });
    expect((await call("POST", "/nodes/pve1/qemu/9000/status/start")).body.message).toMatch(/template/);
  });

  it("makes a full clone: disks copied onto the target storage, cloud-init drive copied, new MAC and uuid, no template flag", async () => {
    const before = sim.state.vms["9000"].config;
    expect(
      await task("POST", "/nodes/pve1/qemu/9000/clone", {
        newid: "150",
        name: "haos",
        full: "1",
        storage: "local-zfs",
      }),
    ).toBe("OK");
    const config = sim.state.vms["150"].config;
    expect(config.scsi0).toBe("local-zfs:vm-150-disk-0,iothread=1,size=4G");
    expect(config.ide2).toBe("local-zfs:vm-150-cloudinit,media=cdrom,size=4M");
    expect(config.name).toBe("haos");
    expect(config.template).toBeUndefined();
    expect(config.net0).not.toBe(before.net0);
    expect(config.smbios1).not.toBe(before.smbios1);
    expect(sim.state.volumes.find((v) => v.volid === "local-zfs:vm-150-disk-0")?.size).toBe(4 * GiB);
    expect(sim.state.vms["150"].status).toBe("stopped");
  });

  it("makes a linked clone of a template on the template's storage, and the clone's disk grows by resize", async () => {
    expect(await task("POST", "/nodes/pve1/qemu/9000/clone", { newid: "151", full: "0" })).toBe("OK");
    expect(sim.state.vms["151"].config.scsi0).toBe("local-lvm:base-9000-disk-0/vm-151-disk-0,iothread=1,size=4G");
    expect(sim.state.vms["151"].config.name).toBe("Copy-of-VM-debian-golden");
    expect(await task("PUT", "/nodes/pve1/qemu/151/resize", { disk: "scsi0", size: "20G" })).toBe("OK");
    expect(sim.state.vms["151"].config.scsi0).toBe("local-lvm:base-9000-disk-0/vm-151-disk-0,iothread=1,size=20G");
  });

  it("refuses a linked clone of a VM that is not a template, or with a target storage", async () => {
    expect((await call("POST", "/nodes/pve1/qemu/9001/clone", { newid: "152", full: "0" })).body.message).toMatch(
      /Linked clone feature is not supported for drive 'scsi0'/,
    );
    expect(
      (await call("POST", "/nodes/pve1/qemu/9000/clone", { newid: "152", full: "0", storage: "local-zfs" })).body.errors
        ?.storage,
    ).toMatch(/not allowed for linked clones/);
    expect(sim.state.vms["152"]).toBeUndefined();
  });

  it("refuses a clone onto another node from local storage, and onto an id in use", async () => {
    expect(
      (await call("POST", "/nodes/pve1/qemu/9000/clone", { newid: "152", full: "1", target: "pve2" })).body.message,
    ).toMatch(/can't clone VM to node 'pve2' \(VM uses local storage\)/);
    expect((await call("POST", "/nodes/pve1/qemu/9000/clone", { newid: "201", full: "1" })).body.message).toMatch(
      /CT 201 already exists/,
    );
  });

  it("counts a CD-ROM on a host's own storage as local for a clone onto another node (the cloud-init drive too)", async () => {
    const shared = { vmid: "9002", name: "shared-golden", scsi0: "vmdisks:4", net0: "virtio,bridge=vmbr0" };
    expect(await task("POST", "/nodes/pve1/qemu", { ...shared, ide2: "local-lvm:cloudinit" })).toBe("OK");
    expect(await task("POST", "/nodes/pve1/qemu/9002/template")).toBe("OK");
    expect(
      (await call("POST", "/nodes/pve1/qemu/9002/clone", { newid: "155", full: "1", target: "pve2" })).body.message,
    ).toMatch(/can't clone VM to node 'pve2' \(VM uses local storage\)/);
    expect((await call("PUT", "/nodes/pve1/qemu/9002/config", { delete: "ide2" })).status).toBe(200);
    expect(await task("POST", "/nodes/pve1/qemu/9002/clone", { newid: "155", full: "1", target: "pve2" })).toBe("OK");
    expect(sim.state.vms["155"].node).toBe("pve2");
    expect(await task("DELETE", "/nodes/pve2/qemu/155")).toBe("OK");
  });

  it("migrates a full clone as bpg does for another host (clone on the template's host, then migrate with local disks onto targetstorage), never a linked one", async () => {
    expect(await task("POST", "/nodes/pve1/qemu/9000/clone", { newid: "156", full: "1" })).toBe("OK");
    expect(
      await task("POST", "/nodes/pve1/qemu/156/migrate", {
        target: "pve2",
        "with-local-disks": "1",
        targetstorage: "local-zfs",
      }),
    ).toBe("OK");
    expect(sim.state.vms["156"]).toMatchObject({ node: "pve2" });
    expect(sim.state.vms["156"].config.scsi0).toBe("local-zfs:vm-156-disk-0,iothread=1,size=4G");
    expect(sim.state.volumes.filter((v) => v.vmid === 156).map((v) => `${v.volid}@${v.node}`)).toEqual([
      "local-zfs:vm-156-disk-0@pve2",
      "local-zfs:vm-156-cloudinit@pve2",
    ]);
    expect(await task("POST", "/nodes/pve1/qemu/151/migrate", { target: "pve2", "with-local-disks": "1" })).toMatch(
      /can't migrate 'local-lvm:base-9000-disk-0\/vm-151-disk-0' as it's a clone of 'base-9000-disk-0'/,
    );
    expect(sim.state.vms["151"].node).toBe("pve1");
    expect(await task("POST", "/nodes/pve2/qemu/156/migrate", { target: "pve1", targetstorage: "local" })).toMatch(
      /content type 'images' is not available on storage 'local'/,
    );
    expect(await task("DELETE", "/nodes/pve2/qemu/156")).toBe("OK");
  });

  it("refuses to destroy a template while a linked clone uses its base volume", async () => {
    expect(await task("DELETE", "/nodes/pve1/qemu/9000")).toMatch(
      /base volume 'local-lvm:base-9000-disk-0' is still in use by linked cloned/,
    );
    expect(sim.state.vms["9000"]).toBeDefined();
  });
});

describe("pools (/pools)", () => {
  it("keeps a pool with the guests that join it at their creation, and refuses to delete it while it has members", async () => {
    expect((await call("POST", "/pools", { poolid: "critical", comment: "backed up" })).status).toBe(200);
    expect((await call("POST", "/pools", { poolid: "critical" })).body.message).toMatch(/already exists/);
    expect(await task("POST", "/nodes/pve1/qemu/9000/clone", { newid: "153", full: "1", pool: "critical" })).toBe("OK");
    expect((await call("POST", "/nodes/pve1/qemu/9000/clone", { newid: "154", pool: "nope" })).body.message).toMatch(
      /pool 'nope' does not exist/,
    );
    expect((await call("GET", "/pools")).body.data).toEqual([{ poolid: "critical", comment: "backed up" }]);
    expect((await call("GET", "/pools", { poolid: "critical" })).body.data).toEqual([
      {
        poolid: "critical",
        comment: "backed up",
        members: [expect.objectContaining({ id: "qemu/153", type: "qemu", vmid: 153, node: "pve1" })],
      },
    ]);
    expect((await call("DELETE", "/pools", { poolid: "critical" })).body.message).toMatch(/is not empty/);
    expect(await task("DELETE", "/nodes/pve1/qemu/153")).toBe("OK");
    expect((await call("DELETE", "/pools", { poolid: "critical" })).status).toBe(200);
  });
});

describe("PCI mappings (/cluster/mapping/pci)", () => {
  it("stores a mapping as PVE writes it, lets a VM use it by name at start, and checks its entries' formats", async () => {
    const entry = "node=pve1,path=0000:01:00.0,id=10de:2204,subsystem-id=1043:87b3,iommugroup=14";
    expect((await call("POST", "/cluster/mapping/pci", { id: "gpu", map: entry, description: "RTX" })).status).toBe(
      200,
    );
    expect((await call("GET", "/cluster/mapping/pci/gpu")).body.data).toEqual({
      id: "gpu",
      type: "pci",
      description: "RTX",
      map: ["id=10de:2204,node=pve1,path=0000:01:00.0,iommugroup=14,subsystem-id=1043:87b3"],
    });
    const bad = await call("POST", "/cluster/mapping/pci", { id: "bad", map: "node=pve1,path=0000:01:00.0,id=nvidia" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.map).toMatch(/map\.id/);
  });
});
