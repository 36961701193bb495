// The Proxmox CSI driver's role (PROXMOX_CSI_PRIVILEGES), proven by the driver itself: the real plugin's controller
// service (judges/proxmox-csi, the plugin's Go module at the chart's appVersion) takes a volume through its life
// against the Proxmox simulator, which checks each call's privileges as PVE does, with the token layer 00 made and
// the cloud config and StorageClass layer 02 gives the chart. With exactly the role, the volume is created on the
// configured storage, attached to a node's VM, expanded, detached and deleted; without any one privilege of it,
// the plugin fails where PVE refuses it.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../config";
import { resolveCluster } from "../../config/resolve";
import { PROXMOX_CSI_PRIVILEGES } from "../../constructs/proxmox-csi-token";
import { type CsiCall, type CsiCloudConfig, driveVolumeLife, type VolumeLife } from "../../judges/proxmox-csi/judge";
import type { VmState } from "../../judges/pve-sim/state";
import { talosNode } from "../../layers/infrastructure";
import { call } from "../support/pve-client";
import { applyLayer, judgedConfig, startJudgeFor, synthesizeFor, vmsByName, type Judge } from "./proxmox-judge";
import { REPO, tempDir, tofu, type Layer, type SynthesizedStack } from "./support";

const work = tempDir("proxmox-csi");
afterAll(() => work.remove());

const GiB = 1024 ** 3;
/** The worker the volume is published to. */
const NODE = "worker0";

/** Layer 02's values for the chart (config.clusters, storageClass), as synthesized. */
interface ChartValues {
  config: { clusters: Array<{ url: string; insecure: boolean; region: string }> };
  storageClass: Array<{ storage: string; fstype?: string; ssd?: boolean; cache?: string }>;
}

function chartValues(stack: SynthesizedStack): ChartValues {
  const release = stack.json.resource?.helm_release?.proxmox_csi as { values: string[] } | undefined;
  if (!release) throw new Error("layer 02 has no helm_release.proxmox_csi");
  return parse(release.values[0]) as ChartValues;
}

/**
 * The controller's config.yaml as Helm renders it: the chart's `config` (its default features.provider) with
 * layer 02's clusters, token_id and token_secret set as layer 02 sets them from layer 00's outputs (the id; the
 * secret after the `=` of the token's value).
 */
async function cloudConfig(judge: Judge, auth: SynthesizedStack, values: ChartValues): Promise<CsiCloudConfig> {
  const outputs = JSON.parse((await tofu(auth, ["output", "-json"], { env: judge.env() })).stdout) as Record<
    string,
    { value: string }
  >;
  const output = (suffix: string) => {
    const key = Object.keys(outputs).find((k) => k.endsWith(suffix));
    if (!key) throw new Error(`layer 00 has no output ending in ${suffix}`);
    return outputs[key].value;
  };
  const [cluster] = values.config.clusters;
  return {
    features: { provider: "default" },
    clusters: [
      {
        ...cluster,
        token_id: output("proxmox_user_tokencsiid"),
        token_secret: output("proxmox_user_tokencsivalue").split("=")[1],
      },
    ],
  };
}

/** The StorageClass parameters the chart renders from a storageClass entry (templates/_storage.tpl). */
function storageClassParameters(entry: ChartValues["storageClass"][number]): Record<string, string> {
  return {
    "csi.storage.k8s.io/fstype": entry.fstype ?? "ext4",
    storage: entry.storage,
    ...(entry.cache ? { cache: entry.cache } : {}),
    ...(entry.ssd ? { ssd: "true" } : {}),
  };
}

const calledNames = (calls: readonly CsiCall[]) => calls.map((c) => c.call);
const failureOf = (calls: readonly CsiCall[]) => calls.find((c) => c.error !== undefined);

describe("the Proxmox CSI plugin's controller with the token layer 00 made", () => {
  let judge: Judge;
  let stacks: Record<Layer, SynthesizedStack>;
  let life: Omit<VolumeLife, "pvc">;
  let roleid: string;
  let vm: VmState;
  let storage: string;

  const setRole = async (privs: readonly string[]) => {
    const answer = await call(judge.sim, judge.token, "PUT", `/access/roles/${roleid}`, { privs: privs.join(",") });
    expect(answer.status).toBe(200);
  };

  beforeAll(async () => {
    const dir = judgedConfig(join(work.dir, "config"), { from: join(REPO, "__tests__", "fixtures", "example") });
    judge = await startJudgeFor(dir);
    stacks = await synthesizeFor(dir, work.dir);
    await applyLayer(judge, stacks["00-persistent-auth"]);
    await applyLayer(judge, stacks["01-infrastructure"]);

    const cluster = resolveCluster(loadConfig(dir));
    roleid = `${cluster.name}-csi`;
    const node = cluster.nodes.find((n) => n.name === NODE);
    if (!node) throw new Error(`the example has no node ${NODE}`);
    const labels = talosNode(cluster, node).nodeLabels ?? {};
    vm = vmsByName(judge.sim)[NODE];
    const values = chartValues(stacks["02-services"]);
    storage = values.storageClass[0].storage;
    life = {
      cloudConfig: await cloudConfig(judge, stacks["00-persistent-auth"], values),
      node: NODE,
      region: labels["topology.kubernetes.io/region"],
      zone: labels["topology.kubernetes.io/zone"],
      parameters: storageClassParameters(values.storageClass[0]),
      sizeBytes: GiB,
      expandToBytes: 2 * GiB,
    };
  });
  afterAll(async () => judge?.close());

  it("holds exactly PROXMOX_CSI_PRIVILEGES on / through a token without privilege separation", () => {
    expect([...judge.sim.state.roles[roleid].privs].sort()).toEqual([...PROXMOX_CSI_PRIVILEGES].sort());
    expect(judge.sim.state.acl.filter((e) => e.roleid === roleid)).toEqual([
      expect.objectContaining({ path: "/", type: "user", ugid: `${roleid}@pve`, propagate: 1 }),
    ]);
    const user = judge.sim.state.users[`${roleid}@pve`];
    expect(Object.values(user.tokens).map((t) => t.privsep)).toEqual([0]);
    expect(vm.status).toBe("running");
    expect(life.zone).toBe(vm.node);
  });

  it("takes a volume through its whole life with exactly that role: the VM and the storage are as before", async () => {
    const pvc = `pvc-${randomUUID()}`;
    const volumesBefore = judge.sim.state.volumes.map((v) => v.volid);
    const configBefore = { ...vm.config };
    const before = judge.sim.calls.length;
    const calls = await driveVolumeLife({ ...life, pvc });
    expect(failureOf(calls)).toBeUndefined();
    expect(calledNames(calls)).toEqual([
      "GetCapacity",
      "CreateVolume",
      "ControllerPublishVolume",
      "ControllerExpandVolume",
      "ControllerUnpublishVolume",
      "DeleteVolume",
    ]);
    const proxmoxCalls = judge.sim.calls.slice(before);
    expect(proxmoxCalls.filter((c) => c.status >= 300)).toEqual([]);
    // What the plugin asked Proxmox: the storage's configuration, the volume allocated and freed, the disk set,
    // grown and unlinked on the node's VM.
    const asked = new Set(proxmoxCalls.map((c) => `${c.method} ${c.path}`));
    for (const expected of [
      `GET /storage/${storage}`,
      `POST /nodes/${vm.node}/storage/${storage}/content`,
      `POST /nodes/${vm.node}/qemu/${vm.vmid}/config`,
      `PUT /nodes/${vm.node}/qemu/${vm.vmid}/resize`,
      `PUT /nodes/${vm.node}/qemu/${vm.vmid}/unlink`,
      `DELETE /nodes/${vm.node}/storage/${storage}/content/vm-9999-${pvc}`,
    ])
      expect(asked).toContain(expected);
    expect(judge.sim.state.volumes.map((v) => v.volid)).toEqual(volumesBefore);
    expect(vm.config).toEqual(configBefore);
  });

  it("creates a volume on the StorageClass' storage, attaches it to the node's VM and expands it", async () => {
    const pvc = `pvc-${randomUUID()}`;
    const before = judge.sim.calls.length;
    const calls = await driveVolumeLife({ ...life, pvc, stopAfter: "ControllerExpandVolume" });
    expect(failureOf(calls)).toBeUndefined();
    expect(calledNames(calls)).toEqual([
      "GetCapacity",
      "CreateVolume",
      "ControllerPublishVolume",
      "ControllerExpandVolume",
    ]);
    expect(judge.sim.calls.slice(before).filter((c) => c.status >= 300)).toEqual([]);

    const volid = `${storage}:vm-9999-${pvc}`;
    const [, created, published, expanded] = calls;
    expect(created.response).toMatchObject({
      volume: { volumeId: `${life.region}/${life.zone}/${storage}/vm-9999-${pvc}`, capacityBytes: String(GiB) },
    });
    expect(published.response).toMatchObject({ publishContext: { lun: "1" } });
    expect(expanded.response).toMatchObject({ capacityBytes: String(2 * GiB), nodeExpansionRequired: true });
    expect(judge.sim.state.volumes.filter((v) => v.volid === volid)).toEqual([
      expect.objectContaining({ node: vm.node, vmid: 9999, content: "images", size: 2 * GiB }),
    ]);
    expect(vm.config.scsi1).toMatch(new RegExp(`^${volid},.*size=2G`));
    expect(vm.config.scsi1).toContain(`wwn=0x${Buffer.from("PVC-ID01").toString("hex")}`);
  });

  // Where the plugin stops without each privilege, as PVE refuses it (the source of each check in
  // judges/pve-sim/README.md).
  const REFUSALS: Record<(typeof PROXMOX_CSI_PRIVILEGES)[number], { call: string; error: RegExp }> = {
    // GET /storage/{storage} (the storage's type and path) needs it, and so does freeing the volume.
    "Datastore.Allocate": {
      call: "CreateVolume",
      error: /403 Permission check failed \(\/storage\/local-lvm, Datastore\.Allocate\)/,
    },
    // The storage's status (GetCapacity; Datastore.Audit would do there), then allocating the volume.
    "Datastore.AllocateSpace": {
      call: "GetCapacity",
      error: /403 Permission check failed \(\/storage\/local-lvm, Datastore\.Audit\|Datastore\.AllocateSpace\)/,
    },
    // PVE lists only the guests one may audit: the plugin finds no VM by the node's name.
    "VM.Audit": { call: "ControllerPublishVolume", error: new RegExp(`vm '${NODE}' not found`) },
    // Setting scsi<n> on the node's VM.
    "VM.Config.Disk": {
      call: "ControllerPublishVolume",
      error: /403 Permission check failed \(\/vms\/\d+, VM\.Config\.Disk\)/,
    },
  };

  it.each(PROXMOX_CSI_PRIVILEGES.map((p) => [p]))(
    "without %s the plugin fails where PVE refuses it",
    async (without) => {
      const refusal = REFUSALS[without];
      await setRole(PROXMOX_CSI_PRIVILEGES.filter((p) => p !== without));
      try {
        const calls = await driveVolumeLife({ ...life, pvc: `pvc-${randomUUID()}` });
        expect(failureOf(calls)).toMatchObject({ call: refusal.call, error: expect.stringMatching(refusal.error) });
      } finally {
        await setRole(PROXMOX_CSI_PRIVILEGES);
      }
    },
  );
});
