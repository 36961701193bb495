// The Proxmox VE API simulator's guests beyond the Talos VMs, over HTTPS as the provider sends the requests:
// disk resize, LXC containers, clones of templates, PCI mappings and pools.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestedSize } from "../scripts/pve-sim/handlers/resize";
import { startPveSim, type PveSim } from "../scripts/pve-sim/server";
import { call as pveCall, taskResult } from "./support/pve-client";

const TOKEN = "root@pam!test=5ecret";
const GiB = 1024 ** 3;

let sim: PveSim;
const call = (method: string, path: string, params: Record<string, string> = {}) =>
  pveCall(sim, TOKEN, method, path, params);
const task = async (method: string, path: string, params: Record<string, string> = {}) =>
  taskResult(sim, TOKEN, await call(method, path, params));

beforeAll(async () => {
  sim = await startPveSim({ tokens: [TOKEN], nodes: ["pve1", "pve2"] });
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
