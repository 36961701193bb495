// The Talos nodes of a config: one Talos node simulator process per node (judges/talos-sim, built by
// judges/talos-sim/build.sh with the machinery of the cluster's Talos minor) on the node's loopback address,
// speaking Talos' gRPC API to the real talos provider and talosctl.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
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
 * Moves every loopback address of the config in `dir` (as judgedConfig wrote it: 127.a.b.c) to 127.<second>.b.c
 * with a second octet of its own, so that nodes and API addresses of tests running at the same time (they all
 * listen on Talos' fixed ports 50000 and 6443) never meet. 127.0.0.1 with a port (the judges' URLs) is kept.
 */
export function ownLoopbackRange(dir: string, second = 100 + Math.floor(Math.random() * 150)): number {
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
  /** What the simulator printed on stderr so far. */
  log(): string;
}

export interface TalosNodes {
  readonly nodes: readonly SimNode[];
  /** The folder the nodes share (etcd.json: the simulated etcd). */
  readonly clusterDir: string;
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
  const children: ChildProcess[] = [];
  const close = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
  };
  try {
    const started = await Promise.all(
      nodes.map(async (node): Promise<SimNode> => {
        const stateDir = join(options.workDir, "nodes", node.name);
        const args = ["-address", node.address, "-state", stateDir, "-cluster", clusterDir, "-talos-version", version];
        if (options.kubeJudge) args.push("-kube-judge", options.kubeJudge);
        const child = spawn(sim.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
        children.push(child);
        let stderr = "";
        child.stderr?.on("data", (c: Buffer) => {
          stderr += c.toString("utf8");
        });
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`${node.name}: the simulator did not start: ${stderr}`)),
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
            reject(new Error(`${node.name}: the simulator exited ${code}: ${stderr}`));
          });
        });
        return { name: node.name, address: node.address, controller: node.controller, stateDir, log: () => stderr };
      }),
    );
    return { nodes: started, clusterDir, close };
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
