// A whole cluster's outside world on loopback, for ./bootstrap.sh to run against unchanged: the Proxmox VE API
// simulator (judges/pve-sim), a stand-in for the Talos image factory, one Talos node simulator per node
// (judges/talos-sim), whose bootstrapped controller starts the Kubernetes judge (judges/kubernetes) as its
// control plane, and the Kubernetes judge's chart repository. What the config needs to find them is written into
// it as a user would (proxmox_api_url, talos_image_factory_url, helm_chart_mirror, the nodes on 127.x); what
// bootstrap.sh needs is its environment (the engine, its provider stand-ins, the Proxmox token).
//
// Also what a node's kubelet and cilium-operator would do and no judge here runs: each configured node registers
// its Node (a kwok fake node, so pods on it become Ready), and once cilium-operator's Deployment exists, Cilium's
// CRDs are installed, as the operator does when it starts.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, parseAllDocuments, stringify } from "yaml";
import { loadConfig } from "../../config";
import { loadEngine, pluginCacheDir } from "../engine/engine";
import {
  installCrds,
  type KubeClient,
  type KubeJudgeBuild,
  kubeClient,
  loadKubeJudge,
  startChartRepository,
} from "../kubernetes/judge";
import { type PveSim, startPveSim } from "../pve-sim/server";
import { type StubServer, startImageFactory } from "./image-factory";
import { loopbackAddresses, type SimulatedClusterExtra, simulatedCluster } from "./proxmox";
import { type SimNode, startTalosNodes, type TalosNodes } from "./talos-nodes";

const execFileAsync = promisify(execFile);

/**
 * The Talos version the simulated cluster runs: the engine's talos provider (a stand-in, 0.8.0, with Talos 1.10's
 * machinery; judges/engine/tools/README.md) turns the HostnameConfig delete patch of 1.12 and later into an empty
 * document, which a 1.12 node refuses. Kubernetes: one that Talos supports.
 */
export const SIMULATED_VERSIONS = { talos_version: "v1.11.6", kubernetes_version: "v1.34.1" } as const;

export interface SimulatedConfigOptions {
  /** Folder with cluster.yaml and nodes.yaml (and workloads.yaml) to start from. */
  readonly from: string;
  /** Top-level cluster.yaml keys merged over the source's. @default {} */
  readonly cluster?: Record<string, unknown>;
  /** The second octet the addresses move to (127.<second>.b.c), so that runs at the same time never meet. */
  readonly second?: number;
}

/**
 * Writes into `dir` the config of `options.from` with every private address moved into 127.<second>.0.0/16, local
 * state, the versions the simulators run (SIMULATED_VERSIONS) and `options.cluster` merged over it; a git
 * repository of its own, committed (bootstrap.sh traces what it applies to a commit). The endpoints of the
 * simulators are added by startSimulatedCluster. Returns `dir`.
 */
export async function simulatedConfig(dir: string, options: SimulatedConfigOptions): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const second = options.second ?? 100 + Math.floor(Math.random() * 150);
  const moved = (file: string) =>
    loopbackAddresses(readFileSync(join(options.from, file), "utf8")).replace(
      /\b127\.\d{1,3}\.(\d{1,3})\.(\d{1,3})\b/g,
      `127.${second}.$1.$2`,
    );
  const cluster = parse(moved("cluster.yaml")) as Record<string, unknown>;
  writeFileSync(
    join(dir, "cluster.yaml"),
    stringify({ ...cluster, ...SIMULATED_VERSIONS, state_backend: { type: "local" }, ...options.cluster }),
  );
  writeFileSync(join(dir, "nodes.yaml"), moved("nodes.yaml"));
  if (existsSync(join(options.from, "workloads.yaml")))
    writeFileSync(join(dir, "workloads.yaml"), moved("workloads.yaml"));
  writeFileSync(join(dir, ".gitignore"), "state/\ncredentials/\nlogs/\n");
  await commit(dir, "simulated cluster");
  return dir;
}

/** Commits everything in `dir` (a git repository of its own, created when missing). */
export async function commit(dir: string, message: string): Promise<void> {
  const git = (...args: string[]) =>
    execFileAsync("git", [
      "-C",
      dir,
      "-c",
      "user.name=simulated",
      "-c",
      "user.email=simulated@example.invalid",
      ...args,
    ]);
  if (!existsSync(join(dir, ".git"))) await git("init", "-q");
  await git("add", "-A");
  await git("commit", "-q", "--allow-empty", "-m", message);
}

export interface SimulatedCluster {
  readonly proxmox: PveSim;
  readonly factory: StubServer;
  readonly charts: { readonly url: string };
  readonly talos: TalosNodes;
  readonly kubeJudge: KubeJudgeBuild;
  /** The environment ./bootstrap.sh runs with against the simulators (CONFIG_DIR, engine, Proxmox token). */
  readonly env: Record<string, string>;
  /** The Kubernetes API's admin kubeconfig the judge minted, once the cluster is bootstrapped. */
  apiKubeconfig(): string | undefined;
  /** What the kubelet and operator stand-in did, one line each. */
  readonly events: readonly string[];
  close(): Promise<void>;
}

export interface SimulatedClusterOptions {
  /** The config (simulatedConfig's): its endpoints are pointed at the simulators, and committed. */
  readonly configDir: string;
  /** Where the simulators keep their state. */
  readonly workDir: string;
  /** What the Proxmox hosts have besides what the config names (GPUs and their mappings). @default {} */
  readonly proxmox?: SimulatedClusterExtra;
}

/** Starts the simulators for the config in `configDir` and points the config at them (committed). */
export async function startSimulatedCluster(options: SimulatedClusterOptions): Promise<SimulatedCluster> {
  const { configDir, workDir } = options;
  const engine = loadEngine();
  const kubeJudge = await loadKubeJudge();
  const token = `root@pam!simulated=${randomUUID()}`;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const initial = simulatedCluster(configDir, options.proxmox);
    const proxmox = await startPveSim({ ...initial, tokens: [token], rootPassword: randomUUID() });
    closers.push(() => proxmox.close());
    prepareFirewall(proxmox, configDir, initial.nodes ?? []);
    const factory = await startImageFactory();
    closers.push(() => factory.close());
    const charts = await startChartRepository(join(kubeJudge.dir, "charts"));
    closers.push(() => charts.close());
    const file = join(configDir, "cluster.yaml");
    const cluster = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(
      file,
      stringify({
        ...cluster,
        proxmox_api_url: proxmox.url,
        proxmox_api_insecure: true,
        talos_image_factory_url: factory.url,
        helm_chart_mirror: charts.url,
      }),
    );
    await commit(configDir, "endpoints of the simulators");
    const talos = await startTalosNodes(configDir, { workDir: join(workDir, "talos"), kubeJudge: kubeJudge.binary });
    closers.push(() => talos.close());
    const machines = startMachineWatch(proxmox, talos);
    closers.push(() => machines.stop());
    const stand = startKubeletStandIn(talos, kubeJudge);
    closers.push(() => stand.stop());
    return {
      proxmox,
      factory,
      charts,
      talos,
      kubeJudge,
      env: {
        CONFIG_DIR: configDir,
        PROXMOX_VE_API_TOKEN: token,
        TF_BINARY: engine.tofu,
        TF_CLI_CONFIG_FILE: engine.cliConfig,
        TF_PLUGIN_CACHE_DIR: pluginCacheDir(engine),
        BOOTSTRAP_PROVIDER_STAND_INS: engine.providersFile,
        // Nothing leaves the machine: a proxy that refuses everything, loopback never proxied.
        HTTPS_PROXY: "http://127.0.0.1:9",
        HTTP_PROXY: "http://127.0.0.1:9",
        NO_PROXY: "127.0.0.1,localhost",
      },
      apiKubeconfig: stand.kubeconfig,
      events: stand.events,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * With proxmox_firewall_enabled, the Proxmox setup the README asks for before the first run: the datacenter
 * firewall on, and on every host nf_conntrack_allow_invalid for Cilium's DSR (bootstrap refuses without them).
 */
function prepareFirewall(proxmox: PveSim, configDir: string, hosts: readonly string[]): void {
  const { cluster } = loadConfig(configDir);
  if (!cluster.proxmox_firewall_enabled) return;
  proxmox.state.clusterFirewall = { ...proxmox.state.clusterFirewall, enable: "1" };
  if (cluster.cilium_loadbalancer_mode !== "dsr") return;
  proxmox.state.hostFirewall = Object.fromEntries(hosts.map((h) => [h, { nf_conntrack_allow_invalid: "1" }]));
}

/**
 * What a node's VM is to its machine, polled every quarter second: a node whose VM leaves Proxmox loses its disk
 * (configuration, and with the last controller etcd's data), and boots into maintenance mode when a VM is
 * created for it again. The nodes start booted: the first run finds them in maintenance mode.
 */
function startMachineWatch(proxmox: PveSim, talos: TalosNodes) {
  const had = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const vms = new Set(Object.values(proxmox.state.vms).map((vm) => String(vm.config.name)));
      for (const node of talos.nodes) {
        try {
          if (vms.has(node.name)) {
            if (!had.has(node.name)) await talos.bootMachine(node.name);
            had.add(node.name);
          } else if (had.delete(node.name)) await talos.destroyMachine(node.name);
        } catch {
          // Reported by the run that needed the node; try again.
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Where the bootstrapped controller's Kubernetes judge keeps its admin kubeconfig (talos-sim's layout). */
function judgeKubeconfig(node: SimNode): string {
  return join(node.stateDir, "control-plane", "kubernetes", "pki", "admin.kubeconfig");
}

const FAKE_NODE = "kwok.x-k8s.io/node";
const CONTROL_PLANE = "node-role.kubernetes.io/control-plane";

/** The hostname and scheduling of a node's applied configuration (config.yaml in its state folder). */
function appliedNode(node: SimNode): { hostname: string; schedulable: boolean } | undefined {
  const file = join(node.stateDir, "config.yaml");
  if (!existsSync(file)) return undefined;
  let hostname = node.name;
  let schedulable = !node.controller;
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    // biome-ignore lint/suspicious/noExplicitAny: a machine configuration document, read field by field
    const d = doc.toJS() as Record<string, any> | null;
    if (d?.kind === "HostnameConfig" && d.hostname) hostname = d.hostname;
    if (d?.machine?.network?.hostname) hostname = d.machine.network.hostname;
    if (node.controller && d?.cluster?.allowSchedulingOnControlPlanes === true) schedulable = true;
  }
  return { hostname, schedulable };
}

/**
 * What the nodes' kubelets and cilium-operator would do, polled every half second: a configured node registers
 * its Node (kwok keeps it Ready) as soon as the API answers, the judge's default node leaves, and Cilium's CRDs
 * are installed once cilium-operator's Deployment exists.
 */
function startKubeletStandIn(talos: TalosNodes, build: KubeJudgeBuild) {
  const events: string[] = [];
  const registered = new Set<string>();
  let crds = false;
  let judgeNodeGone = false;
  let stopped = false;
  let kubeconfig: string | undefined;
  const tick = async (api: KubeClient) => {
    for (const node of talos.nodes) {
      if (registered.has(node.name)) continue;
      const applied = appliedNode(node);
      if (!applied) continue;
      const labels: Record<string, string> = {
        "kubernetes.io/hostname": applied.hostname,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        ...(node.controller ? { [CONTROL_PLANE]: "" } : {}),
      };
      const capacity = { cpu: "32", memory: "256Gi", pods: "250" };
      const { status, body } = await api.send("POST", "/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: applied.hostname, labels, annotations: { [FAKE_NODE]: "fake" } },
        spec: applied.schedulable ? {} : { taints: [{ key: CONTROL_PLANE, effect: "NoSchedule" }] },
        status: {
          capacity,
          allocatable: capacity,
          addresses: [{ type: "InternalIP", address: node.address }],
        },
      });
      if (status !== 201 && status !== 409)
        throw new Error(`Node ${applied.hostname}: ${status} ${JSON.stringify(body)}`);
      registered.add(node.name);
      events.push(`node ${applied.hostname} registered`);
    }
    if (!judgeNodeGone && registered.size > 0) {
      const { status } = await api.send("DELETE", "/api/v1/nodes/judge", undefined);
      if (status === 200 || status === 404) judgeNodeGone = true;
    }
    if (!crds && (await api.get("/apis/apps/v1/namespaces/kube-system/deployments/cilium-operator"))) {
      const names = await installCrds(api, build, "cilium");
      crds = true;
      events.push(`cilium CRDs installed (${names.length})`);
    }
  };
  const answers = (n: SimNode) => n.controller && /the Kubernetes API answers at/.test(n.bootLog());
  const loop = (async () => {
    let api: KubeClient | undefined;
    let up: SimNode | undefined;
    while (!stopped) {
      try {
        if (up && !answers(up)) {
          // Its machine is gone (VM deleted): the next cluster registers its nodes again.
          [api, up, kubeconfig, crds, judgeNodeGone] = [undefined, undefined, undefined, false, false];
          registered.clear();
        }
        if (!api) {
          // Once the bootstrapped controller says its judge is ready (the judge's own default node made).
          up = talos.nodes.find(answers);
          if (up) {
            kubeconfig = judgeKubeconfig(up);
            api = kubeClient(kubeconfig);
          }
        }
        if (api) await tick(api);
      } catch {
        // The API is not up yet (or restarting): try again.
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    events,
    kubeconfig: () => kubeconfig,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** The nodes of the config in `dir`, as nodes.yaml has them. */
export function configNodes(dir: string) {
  return loadConfig(dir).nodes;
}
