// Proxmox as the judge, for the engine tests: the Proxmox VE API simulator (judges/pve-sim) and a stand-in
// for the Talos image factory on 127.0.0.1, a config pointed at them, and the real tofu + bpg/proxmox applying
// layers into the simulator. Reusable: start a judge, write a config for it, synthesize, apply/plan/destroy a
// layer without what needs a live cluster, read the simulator's state.
import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { parse, stringify } from "yaml";
import { loadConfig } from "../../config";
import { startPveSim, type PveSim, type PveSimOptions } from "../../judges/pve-sim/server";
import type { VmState } from "../../judges/pve-sim/state";
import {
  loopbackAddresses,
  type SimulatedClusterExtra,
  simulatedCluster,
} from "../../judges/simulated-cluster/proxmox";
import { call, taskResult } from "../support/pve-client";
export { loopbackAddresses, type SimulatedClusterExtra, simulatedCluster };
import { startImageFactory, synthesize, tofu, type Layer, type StubServer, type SynthesizedStack } from "./support";

export interface Judge {
  readonly sim: PveSim;
  readonly factory: StubServer;
  /** `PROXMOX_VE_API_TOKEN` for the simulator (root@pam). */
  readonly token: string;
  /**
   * The environment that logs the provider in as root@pam with its password (a ticket), for what PVE lets
   * only root@pam itself do (some container options); give it as a layer run's `env`.
   */
  readonly rootLogin: Record<string, string>;
  /** The environment tofu needs to reach the simulator, plus `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** Starts the simulator (with `options`, usually from `simulatedCluster()`) and the image factory stand-in. */
export async function startJudge(options: PveSimOptions = {}): Promise<Judge> {
  const token = `root@pam!judge=${randomUUID()}`;
  const rootPassword = randomUUID();
  const [sim, factory] = await Promise.all([
    startPveSim({ ...options, tokens: [token], rootPassword }),
    startImageFactory(),
  ]);
  return {
    sim,
    factory,
    token,
    // An empty token: the provider prefers a token to a user and password.
    rootLogin: { PROXMOX_VE_API_TOKEN: "", PROXMOX_VE_USERNAME: "root@pam", PROXMOX_VE_PASSWORD: rootPassword },
    env: (extra = {}) => ({ PROXMOX_VE_API_TOKEN: token, ...extra }),
    close: async () => {
      await Promise.all([sim.close(), factory.close()]);
    },
  };
}

export interface JudgedConfigOptions {
  /** Folder with cluster.yaml and nodes.yaml. @default the repository root */
  readonly from?: string;
  /** Top-level cluster.yaml keys merged over the source's. @default {} */
  readonly cluster?: Record<string, unknown>;
  /** Rewrites the node list. @default unchanged */
  readonly nodes?: (nodes: Array<Record<string, unknown>>) => Array<Record<string, unknown>>;
  /** Rewrites workloads.yaml (only when the source has one). @default unchanged */
  readonly workloads?: (workloads: Record<string, unknown>) => Record<string, unknown>;
}

/** Placeholder endpoints of a config not yet pointed at a judge (nothing listens there). */
const UNSET = "https://127.0.0.1:1/";

/**
 * Writes into `dir` the config at `options.from` with its addresses moved to loopback, local state beside it,
 * and `options.cluster` merged over it; `startJudgeFor(dir)` then points it at a judge. Returns `dir`.
 */
export function judgedConfig(dir: string, options: JudgedConfigOptions = {}): string {
  const from = options.from ?? join(__dirname, "..", "..");
  mkdirSync(dir, { recursive: true });
  const cluster = parse(loopbackAddresses(readFileSync(join(from, "cluster.yaml"), "utf8"))) as Record<string, unknown>;
  const nodes = parse(loopbackAddresses(readFileSync(join(from, "nodes.yaml"), "utf8"))) as {
    nodes: Array<Record<string, unknown>>;
  };
  const merged = {
    ...cluster,
    proxmox_api_url: UNSET,
    proxmox_api_insecure: true,
    talos_image_factory_url: UNSET,
    state_backend: { type: "local" },
    ...options.cluster,
  };
  writeFileSync(join(dir, "cluster.yaml"), stringify(merged));
  writeFileSync(
    join(dir, "nodes.yaml"),
    stringify({ nodes: options.nodes ? options.nodes(nodes.nodes) : nodes.nodes }),
  );
  if (existsSync(join(from, "workloads.yaml"))) {
    const parsed = parse(loopbackAddresses(readFileSync(join(from, "workloads.yaml"), "utf8"))) as Record<
      string,
      unknown
    >;
    const workloads = options.workloads ? options.workloads(parsed) : parsed;
    writeFileSync(join(dir, "workloads.yaml"), stringify(workloads));
    for (const file of sshKeyFiles(workloads)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      copyFileSync(join(from, file), join(dir, file));
    }
  }
  return dir;
}

/** The relative public key files (`ssh_keys: [{file}]`) a workloads.yaml names; absolute ones need no copy. */
function sshKeyFiles(workloads: Record<string, unknown>): string[] {
  const guests = [workloads.containers, workloads.vms].flatMap((list) =>
    Array.isArray(list) ? (list as Array<{ ssh_keys?: Array<{ file?: string }> }>) : [],
  );
  const files = guests.flatMap((g) => (g.ssh_keys ?? []).flatMap((k) => (k.file === undefined ? [] : [k.file])));
  return [...new Set(files)].filter((f) => !isAbsolute(f));
}

/**
 * Starts a judge whose simulated cluster is the one the config in `configDir` expects (`simulatedCluster`),
 * and points the config's Proxmox API and image factory at it.
 */
export async function startJudgeFor(configDir: string, extra: SimulatedClusterExtra = {}): Promise<Judge> {
  const judge = await startJudge(simulatedCluster(configDir, extra));
  const file = join(configDir, "cluster.yaml");
  const cluster = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  writeFileSync(
    file,
    stringify({ ...cluster, proxmox_api_url: judge.sim.url, talos_image_factory_url: judge.factory.url }),
  );
  return judge;
}

/**
 * What workloads.yaml expects to find on the cluster before layer 01 runs, made through the API as an
 * administrator would: each container template named by volume id (downloaded onto its storage on the
 * container's host) and each golden VM template a clone names (a q35/OVMF VM with a 4 GiB disk and a cloud-init
 * drive on the guest's disk storage, converted into a template on the clone's host).
 */
export async function seedWorkloads(judge: Judge, configDir: string): Promise<void> {
  const { cluster, workloads } = loadConfig(configDir);
  if (!workloads) return;
  const api = async (method: string, path: string, params: Record<string, string>) => {
    const answer = await call(judge.sim, judge.token, method, path, params);
    const result = await taskResult(judge.sim, judge.token, answer);
    if (result !== "OK") throw new Error(`seeding ${method} ${path}: ${result}`);
  };
  const downloaded = new Set<string>();
  for (const ct of workloads.config.containers) {
    if (!("volume" in ct.template)) continue;
    const host = ct.host ?? cluster.proxmox_node;
    const [storage, file] = ct.template.volume.split(":");
    if (downloaded.has(`${host}/${ct.template.volume}`)) continue;
    downloaded.add(`${host}/${ct.template.volume}`);
    const filename = file.replace(/^vztmpl\//, "");
    await api("POST", `/nodes/${host}/storage/${storage}/download-url`, {
      content: "vztmpl",
      filename,
      url: `http://download.invalid/${filename}`,
    });
  }
  const templates = new Set<number>();
  for (const vm of workloads.config.vms) {
    if (templates.has(vm.clone.template)) continue;
    templates.add(vm.clone.template);
    const host = vm.clone.host ?? vm.host ?? cluster.proxmox_node;
    const storage = vm.disk.storage ?? cluster.proxmox_disk_storage;
    const path = `/nodes/${host}/qemu`;
    await api("POST", path, {
      vmid: String(vm.clone.template),
      name: `golden-${vm.clone.template}`,
      machine: "q35",
      bios: "ovmf",
      efidisk0: `${storage}:1,efitype=4m,pre-enrolled-keys=0`,
      scsihw: "virtio-scsi-single",
      scsi0: `${storage}:4,discard=on,iothread=1`,
      ide2: `${storage}:cloudinit`,
      net0: "virtio,bridge=vmbr0",
      boot: "order=scsi0",
      agent: "enabled=1",
      ostype: "l26",
      cores: "2",
      memory: "2048",
    });
    await api("POST", `${path}/${vm.clone.template}/template`, {});
  }
}

/** Synthesizes the config in `configDir` into `outdir` (see support.ts). */
export function synthesizeFor(configDir: string, outdir: string): Promise<Record<Layer, SynthesizedStack>> {
  return synthesize(configDir, outdir);
}

/**
 * What tofu cannot apply without a live cluster or the internet: the Talos resources that talk to a node,
 * the wait for the Kubernetes API, files written from them, and everything Kubernetes or Helm. `-exclude` these.
 */
const NEEDS_LIVE_CLUSTER = new Set([
  "talos_machine_configuration_apply",
  "talos_machine_bootstrap",
  "talos_cluster_kubeconfig",
  "terraform_data",
  "local_file",
  "local_sensitive_file",
  "helm_release",
  "kubernetes_manifest",
  "kubernetes_namespace",
  "kubernetes_secret",
  "kubernetes_secret_v1",
]);

/** The addresses of `stack` that need a live cluster (see NEEDS_LIVE_CLUSTER), sorted. */
export function liveClusterAddresses(stack: SynthesizedStack): string[] {
  const out: string[] = [];
  for (const [type, byName] of Object.entries(stack.json.resource ?? {})) {
    if (NEEDS_LIVE_CLUSTER.has(type)) out.push(...Object.keys(byName).map((n) => `${type}.${n}`));
  }
  for (const [type, byName] of Object.entries(stack.json.data ?? {})) {
    if (NEEDS_LIVE_CLUSTER.has(`data.${type}`)) out.push(...Object.keys(byName).map((n) => `data.${type}.${n}`));
  }
  return out.sort();
}

export interface LayerRun {
  /** Addresses to leave out. @default liveClusterAddresses(stack) */
  readonly excludes?: readonly string[];
  /** Extra environment. @default {} */
  readonly env?: Record<string, string>;
}

const excludeArgs = (stack: SynthesizedStack, run: LayerRun) =>
  (run.excludes ?? liveClusterAddresses(stack)).map((a) => `-exclude=${a}`);

/** `tofu init` then `tofu apply` of the layer (without what needs a live cluster); throws with tofu's output on failure. */
export async function applyLayer(judge: Judge, stack: SynthesizedStack, run: LayerRun = {}) {
  await tofu(stack, ["init", "-input=false", "-no-color"], { env: judge.env(run.env) });
  return tofu(stack, ["apply", "-auto-approve", "-input=false", "-no-color", ...excludeArgs(stack, run)], {
    env: judge.env(run.env),
  });
}

export interface PlanJson {
  resource_changes?: Array<{
    address: string;
    type: string;
    mode: string;
    change: { actions: string[]; before?: unknown; after?: unknown };
  }>;
}

/** `tofu plan` of the layer (same excludes) read back as JSON. */
export async function planLayer(judge: Judge, stack: SynthesizedStack, run: LayerRun = {}): Promise<PlanJson> {
  await tofu(stack, ["plan", "-input=false", "-no-color", "-out=judge.tfplan", ...excludeArgs(stack, run)], {
    env: judge.env(run.env),
  });
  return JSON.parse(
    (await tofu(stack, ["show", "-json", "judge.tfplan"], { env: judge.env(run.env) })).stdout,
  ) as PlanJson;
}

/** The resource changes of a plan other than no-ops and reads, as "address: actions" lines. */
export function changesOf(plan: PlanJson): string[] {
  return (plan.resource_changes ?? [])
    .filter((rc) => rc.mode === "managed" && !rc.change.actions.every((a) => a === "no-op" || a === "read"))
    .map((rc) => `${rc.address}: ${rc.change.actions.join("+")}`);
}

/** `tofu destroy` of the layer (same excludes). */
export async function destroyLayer(judge: Judge, stack: SynthesizedStack, run: LayerRun = {}) {
  return tofu(stack, ["destroy", "-auto-approve", "-input=false", "-no-color", ...excludeArgs(stack, run)], {
    env: judge.env(run.env),
  });
}

/** The simulator's VMs by name. */
export function vmsByName(sim: PveSim): Record<string, VmState> {
  return Object.fromEntries(Object.values(sim.state.vms).map((vm) => [vm.config.name ?? String(vm.vmid), vm]));
}
