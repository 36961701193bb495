// The Talos nodes of a config: one Talos node simulator process per node (judges/talos-sim, built by
// judges/talos-sim/build.sh with the machinery of the cluster's Talos minor) on the node's loopback address,
// speaking Talos' gRPC API to the real talos provider and talosctl.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadConfig } from "../../config";

const execFileAsync = promisify(execFile);
const BUILD = join(__dirname, "..", "talos-sim", "build.sh");

export interface TalosSimBuild {
  /** The simulator binary per Talos minor ("v1.12"). */
  readonly sims: Record<string, { machinery: string; binary: string }>;
}

let built: TalosSimBuild | undefined;

/** The built simulators; fails with what to run when they are not built. */
export async function talosSimBuild(): Promise<TalosSimBuild> {
  if (built) return built;
  const result = await execFileAsync(BUILD, ["--print-env"]).catch((e: { stderr?: string }) => {
    throw new Error(`the Talos simulators are not built: run judges/engine/build.sh (${e.stderr?.trim()})`);
  });
  const env = Object.fromEntries(
    result.stdout
      .trim()
      .split("\n")
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  built = {
    sims: JSON.parse(readFileSync(env.TALOS_SIMS, "utf8")) as TalosSimBuild["sims"],
  };
  return built;
}

/**
 * A random second octet in 100–249; inside vitest, from a band of 50 per worker (VITEST_POOL_ID, which counts
 * from 1 and may exceed the worker count), so that engine test files running at once draw apart.
 */
function loopbackSecondOctet(): number {
  const worker = Number(process.env.VITEST_POOL_ID);
  const from = Number.isInteger(worker) && worker >= 1 ? 100 + ((worker - 1) % 3) * 50 : 100;
  const size = Number.isInteger(worker) && worker >= 1 ? 50 : 150;
  return from + Math.floor(Math.random() * size);
}

/**
 * Moves every loopback address of the config in `dir` (as judgedConfig wrote it: 127.a.b.c) to 127.<second>.b.c
 * with a second octet of its own, so that nodes and API addresses of tests running at the same time (they all
 * listen on Talos' fixed ports 50000 and 6443) never meet. 127.0.0.1 with a port (the judges' URLs) is kept.
 */
export function ownLoopbackRange(dir: string, second = loopbackSecondOctet()): number {
  for (const file of ["cluster.yaml", "nodes.yaml"]) {
    const path = join(dir, file);
    writeFileSync(
      path,
      readFileSync(path, "utf8").replace(/\b127\.\d{1,3}\.(\d{1,3})\.(\d{1,3})\b(?!:)/g, `127.${second}.$1.$2`),
    );
  }
  return second;
}

export interface SimNode {
  readonly name: string;
  readonly address: string;
  readonly controller: boolean;
  /** The node's state folder (config.yaml once a configuration is accepted, node.json). */
  readonly stateDir: string;
  /** What the simulator printed on stderr so far, over every boot of the machine. */
  log(): string;
  /** What it printed since the machine last booted (empty while its VM is gone). */
  bootLog(): string;
  /**
   * Its stderr lines so far, over every boot, each with when it arrived (performance.now() of this process, the
   * clock of pve-sim's recorded calls): the order of what the node did against the other judges.
   */
  lines(): readonly { readonly at: number; readonly text: string }[];
}

export interface TalosNodes {
  readonly nodes: readonly SimNode[];
  /** The folder the nodes share (etcd.json: the simulated etcd). */
  readonly clusterDir: string;
  /**
   * The node's VM was deleted: its simulator stops and its disk (the state folder) is gone; etcd's data goes
   * with the last controller's disk. Nothing when it is gone already.
   */
  destroyMachine(name: string): Promise<void>;
  /** A VM was created for the node: it boots from the ISO into maintenance mode. Nothing when it runs. */
  bootMachine(name: string): Promise<void>;
  close(): Promise<void>;
}

export interface StartTalosNodesOptions {
  /** Folder for the nodes' state. */
  readonly workDir: string;
  /** The Talos version the VMs boot. @default cluster.yaml's talos_version */
  readonly talosVersion?: string;
  /**
   * The Kubernetes judge's binary (judges/kubernetes: KUBE_JUDGE), started by the bootstrapped controller as
   * its control plane. @default the simulator's built-in /readyz responder
   */
  readonly kubeJudge?: string;
}

interface Machine {
  readonly node: SimNode;
  child?: ChildProcess;
  history: string;
  boot: string;
  readonly lines: { at: number; text: string }[];
}

/** Starts one simulator per node of the config in `configDir`, each on its address, in maintenance mode. */
export async function startTalosNodes(configDir: string, options: StartTalosNodesOptions): Promise<TalosNodes> {
  const build = await talosSimBuild();
  const { cluster, nodes } = loadConfig(configDir);
  const version = options.talosVersion ?? cluster.talos_version;
  const minor = version.split(".").slice(0, 2).join(".");
  const sim = build.sims[minor];
  if (!sim) throw new Error(`no Talos simulator for ${minor} (built: ${Object.keys(build.sims).join(", ")})`);
  const clusterDir = join(options.workDir, "cluster");
  mkdirSync(clusterDir, { recursive: true });
  const machines = new Map<string, Machine>();
  for (const node of nodes) {
    const stateDir = join(options.workDir, "nodes", node.name);
    const machine: Machine = {
      history: "",
      boot: "",
      lines: [],
      node: {
        name: node.name,
        address: node.address,
        controller: node.controller,
        stateDir,
        log: () => machine.history,
        bootLog: () => machine.boot,
        lines: () => machine.lines,
      },
    };
    machines.set(node.name, machine);
  }
  const stop = (machine: Machine) =>
    new Promise<void>((resolve) => {
      const child = machine.child;
      machine.child = undefined;
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  const boot = async (machine: Machine) => {
    const { node } = machine;
    const args = ["-address", node.address, "-state", node.stateDir, "-cluster", clusterDir, "-talos-version", version];
    if (options.kubeJudge) args.push("-kube-judge", options.kubeJudge);
    const child = spawn(sim.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    machine.child = child;
    machine.boot = "";
    child.stderr?.on("data", (c: Buffer) => {
      const at = performance.now();
      const text = c.toString("utf8");
      const from = machine.history.lastIndexOf("\n") + 1;
      machine.history += text;
      const complete = machine.history.slice(from, machine.history.lastIndexOf("\n") + 1);
      for (const line of complete.split("\n").slice(0, -1)) machine.lines.push({ at, text: line });
      if (machine.child === child) machine.boot += text;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${node.name}: the simulator did not start: ${machine.boot}`)),
        30_000,
      );
      child.stdout?.on("data", (c: Buffer) => {
        if (c.toString("utf8").includes("listening on")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${node.name}: the simulator exited ${code}: ${machine.boot}`));
      });
    });
  };
  const machine = (name: string) => {
    const m = machines.get(name);
    if (!m) throw new Error(`no node ${name}`);
    return m;
  };
  const close = async () => {
    await Promise.all([...machines.values()].map(stop));
  };
  try {
    await Promise.all([...machines.values()].map(boot));
    return {
      nodes: [...machines.values()].map((m) => m.node),
      clusterDir,
      destroyMachine: async (name) => {
        const m = machine(name);
        if (!m.child) return;
        await stop(m);
        m.boot = "";
        rmSync(m.node.stateDir, { recursive: true, force: true });
        if ([...machines.values()].every((other) => !other.node.controller || !other.child))
          rmSync(join(clusterDir, "etcd.json"), { force: true });
      },
      bootMachine: async (name) => {
        const m = machine(name);
        if (!m.child) await boot(m);
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The simulated etcd of a cluster folder. */
export function etcdOf(clusterDir: string): {
  bootstrapped: boolean;
  bootstrapNode?: string;
  members: Array<{ id: number; address: string }>;
} {
  return JSON.parse(readFileSync(join(clusterDir, "etcd.json"), "utf8"));
}
