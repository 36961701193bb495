// The Proxmox VE API simulator's volume calls beyond the provider's, as the Proxmox CSI plugin makes them: a disk
// image allocated in a storage's content, another VM's volume attached, grown and unlinked, and the checks PVE
// makes on each for a token that is not root's (check_volume_access, the storage configuration, the guest list).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPveSim, type PveSim } from "../judges/pve-sim/server";
import { call as pveCall, taskResult } from "./support/pve-client";

const ROOT = "root@pam!test=5ecret";
const GiB = 1024 ** 3;

let sim: PveSim;
let csi: string;
const root = (method: string, path: string, params: Record<string, string> = {}) =>
  pveCall(sim, ROOT, method, path, params);
const asCsi = (method: string, path: string, params: Record<string, string> = {}) =>
  pveCall(sim, csi, method, path, params);
const grant = async (...privs: string[]) =>
  expect((await root("PUT", "/access/roles/csi", { privs: privs.join(",") })).status).toBe(200);

beforeAll(async () => {
  sim = await startPveSim({
    tokens: [ROOT],
    nodes: ["pve1"],
    storages: [
      { id: "local", type: "dir", content: ["iso", "images"], shared: false },
      { id: "local-lvm", type: "lvmthin", content: ["images", "rootdir"], shared: false },
    ],
  });
  expect((await root("POST", "/nodes/pve1/qemu", { vmid: "100", name: "node0", scsi0: "local-lvm:8" })).status).toBe(
    200,
  );
  await root("POST", "/access/roles", { roleid: "csi", privs: "VM.Audit" });
  await root("POST", "/access/users", { userid: "csi@pve" });
  await root("PUT", "/access/acl", { path: "/", users: "csi@pve", roles: "csi" });
  const token = (await root("POST", "/access/users/csi%40pve/token/csi", { privsep: "0" })).body.data as {
    value: string;
  };
  csi = `csi@pve!csi=${token.value}`;
});
afterAll(async () => sim?.close());

describe("allocating a disk image (POST /nodes/{node}/storage/{storage}/content)", () => {
  it("creates vm-<vmid>-<name> at once, its size in KiB or with M or G, listed in the content", async () => {
    const res = await root("POST", "/nodes/pve1/storage/local-lvm/content", {
      vmid: "9999",
      filename: "vm-9999-pvc-a",
      size: "1024M",
    });
    expect(res.body.data).toBe("local-lvm:vm-9999-pvc-a");
    const small = await root("POST", "/nodes/pve1/storage/local-lvm/content", {
      vmid: "9999",
      filename: "vm-9999-pvc-small",
      size: "64",
    });
    expect(small.status).toBe(200);
    const content = (await root("GET", "/nodes/pve1/storage/local-lvm/content")).body.data as Array<{
      volid: string;
      size: number;
      vmid?: number;
    }>;
    expect(content).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ volid: "local-lvm:vm-9999-pvc-a", size: GiB, vmid: 9999 }),
        expect.objectContaining({ volid: "local-lvm:vm-9999-pvc-small", size: 64 * 1024 }),
      ]),
    );
  });

  it("keeps a file storage's image under <vmid>/ with its format's extension", async () => {
    const res = await root("POST", "/nodes/pve1/storage/local/content", {
      vmid: "9999",
      filename: "vm-9999-pvc-b.raw",
      size: "1G",
    });
    expect(res.body.data).toBe("local:9999/vm-9999-pvc-b.raw");
    expect(sim.state.volumes.find((v) => v.volid === res.body.data)).toMatchObject({ format: "raw", size: GiB });
  });

  it.each([
    ["local-lvm", { filename: "vm-100-pvc-c" }, /illegal name 'vm-100-pvc-c' - should be 'vm-9999-\*'/],
    ["local-lvm", { filename: "vm-9999-pvc-c.qcow2" }, /unsupported format 'qcow2'/],
    ["local-lvm", { filename: "vm-9999-pvc-a" }, /volume 'local-lvm:vm-9999-pvc-a' already exists/],
    ["local", { filename: "vm-9999-pvc-c" }, /unable to parse volume filename 'vm-9999-pvc-c'/],
    ["local", { filename: "vm-9999-pvc-c.raw", format: "qcow2" }, /different storage formats \(qcow2 != raw\)/],
  ])("refuses on %s %j like PVE", async (storage, extra, message) => {
    const res = await root("POST", `/nodes/pve1/storage/${storage}/content`, { vmid: "9999", size: "1G", ...extra });
    expect(res.status).not.toBe(200);
    expect(JSON.stringify(res.body)).toMatch(message);
  });
});

describe("a token that is not root's", () => {
  it("needs Datastore.AllocateSpace to allocate and Datastore.Allocate to read the storage's configuration", async () => {
    await grant("Datastore.Audit");
    const alloc = () =>
      asCsi("POST", "/nodes/pve1/storage/local-lvm/content", { vmid: "9999", filename: "vm-9999-pvc-d", size: "1G" });
    expect((await alloc()).body.message).toMatch(
      /Permission check failed \(\/storage\/local-lvm, Datastore.AllocateSpace\)/,
    );
    expect((await asCsi("GET", "/storage/local-lvm")).body.message).toMatch(
      /Permission check failed \(\/storage\/local-lvm, Datastore.Allocate\)/,
    );
    await grant("Datastore.AllocateSpace", "Datastore.Allocate");
    expect((await alloc()).body.data).toBe("local-lvm:vm-9999-pvc-d");
    expect((await asCsi("GET", "/storage/local-lvm")).body.data).toMatchObject({
      storage: "local-lvm",
      type: "lvmthin",
    });
  });

  it("sees another VM's disk image in a storage's content only with Datastore.Allocate, or .Audit and VM.Config.Disk on that VM", async () => {
    const listed = async () =>
      ((await asCsi("GET", "/nodes/pve1/storage/local-lvm/content")).body.data as Array<{ volid: string }>).map(
        (v) => v.volid,
      );
    await grant("Datastore.AllocateSpace");
    expect(await listed()).toEqual([]);
    await grant("Datastore.Audit", "VM.Config.Disk");
    expect(await listed()).toContain("local-lvm:vm-9999-pvc-a");
    await grant("Datastore.AllocateSpace", "Datastore.Allocate");
    expect(await listed()).toEqual(expect.arrayContaining(["local-lvm:vm-9999-pvc-a", "local-lvm:vm-100-disk-0"]));
  });

  it("attaches another VM's volume with VM.Config.Disk and the volume's access, grows it with Datastore.AllocateSpace, unlinks it without keeping it", async () => {
    const attach = () => asCsi("POST", "/nodes/pve1/qemu/100/config", { scsi1: "local-lvm:vm-9999-pvc-a,ssd=1" });
    await grant("VM.Config.Disk");
    expect((await attach()).body.message).toMatch(/Permission check failed \(\/storage\/local-lvm, Datastore.Audit\)/);
    await grant("VM.Config.Disk", "Datastore.Allocate");
    expect((await attach()).status).toBe(200);
    expect(sim.state.vms["100"].config.scsi1).toBe("local-lvm:vm-9999-pvc-a,size=1G,ssd=1");

    // PVE checks the storage in the resize task, after the drive: the task fails.
    const resize = () => asCsi("PUT", "/nodes/pve1/qemu/100/resize", { disk: "scsi1", size: "2048M" });
    expect(await taskResult(sim, csi, await resize())).toMatch(
      /Permission check failed \(\/storage\/local-lvm, Datastore.AllocateSpace\)/,
    );
    await grant("VM.Config.Disk", "Datastore.AllocateSpace");
    expect(await taskResult(sim, csi, await resize())).toBe("OK");
    expect(sim.state.vms["100"].config.scsi1).toBe("local-lvm:vm-9999-pvc-a,size=2G,ssd=1");

    await grant("VM.Audit");
    expect((await asCsi("PUT", "/nodes/pve1/qemu/100/unlink", { idlist: "scsi1" })).body.message).toMatch(
      /Permission check failed \(\/vms\/100, VM.Config.Disk\)/,
    );
    await grant("VM.Config.Disk");
    expect((await asCsi("PUT", "/nodes/pve1/qemu/100/unlink", { idlist: "scsi1" })).status).toBe(200);
    // Only a volume the VM owns becomes unusedN; this one stays in the storage, owned by 9999.
    expect(Object.keys(sim.state.vms["100"].config).filter((k) => /^(scsi1|unused)/.test(k))).toEqual([]);
    expect(sim.state.volumes.find((v) => v.volid === "local-lvm:vm-9999-pvc-a")).toMatchObject({ size: 2 * GiB });
  });

  it("frees a volume with Datastore.Allocate, in a task of its own it can read (id <owner>@<storage>)", async () => {
    const free = () => asCsi("DELETE", "/nodes/pve1/storage/local-lvm/content/vm-9999-pvc-a");
    await grant("Datastore.AllocateSpace", "Datastore.Audit");
    expect((await free()).body.message).toMatch(/Permission check failed \(\/storage\/local-lvm, Datastore.Allocate\)/);
    await grant("Datastore.Allocate");
    const answer = await free();
    expect(answer.body.data).toMatch(
      /^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:imgdel:9999@local-lvm:csi@pve!csi:$/,
    );
    expect(await taskResult(sim, csi, answer)).toBe("OK");
    expect(sim.state.volumes.find((v) => v.volid === "local-lvm:vm-9999-pvc-a")).toBeUndefined();
  });

  it("lists only the guests it holds VM.Audit on in /cluster/resources", async () => {
    const guests = async () =>
      ((await asCsi("GET", "/cluster/resources", { type: "vm" })).body.data as Array<{ name: string }>).map(
        (g) => g.name,
      );
    await grant("Datastore.Audit");
    expect(await guests()).toEqual([]);
    await grant("VM.Audit");
    expect(await guests()).toEqual(["node0"]);
  });
});
