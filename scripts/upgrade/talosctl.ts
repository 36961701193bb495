// The talosctl commands an upgrade and a node removal need, behind one interface so that the runner is tested
// against a recording stand-in, and end to end by the real talosctl against the Talos node simulators
// (__tests__/engine/day2-e2e.test.ts). Asynchronous: an upgrade waits for minutes.
import { spawn } from "node:child_process";

export interface Talosctl {
  /** The client's own version (`talosctl version --client`), e.g. "v1.12.2". */
  clientVersion(): Promise<string>;
  /** The Talos version a node runs, or undefined when it does not answer. */
  serverVersion(address: string): Promise<string | undefined>;
  /** `talosctl upgrade --image`, waiting until the node has rebooted into it. */
  upgrade(address: string, image: string): Promise<void>;
  /** `talosctl health`: etcd, the control plane and every node answer (Kubernetes checks included). */
  health(controllers: readonly string[], workers: readonly string[]): Promise<void>;
  /** `talosctl upgrade-k8s --to`, through one controller. */
  upgradeKubernetes(controller: string, to: string): Promise<void>;
  /**
   * `talosctl reset --graceful --reboot=false`: cordon and drain the node, and on a controller leave etcd
   * (its member is removed before anything is wiped); then wipe and power off.
   */
  resetGracefully(address: string): Promise<void>;
  /** `talosctl etcd snapshot <file>` through one controller; what talosctl printed (the snapshot's size and hash). */
  etcdSnapshot(controller: string, file: string): Promise<string>;
  /** The STATE of `talosctl service etcd` on a controller ("Running", "Preparing", ...), undefined when it does not answer. */
  etcdState(controller: string): Promise<string | undefined>;
  /** `talosctl bootstrap --recover-from=<file>`: etcd restored from the snapshot on that controller alone; what talosctl printed. */
  recoverEtcd(controller: string, file: string, skipHashCheck: boolean): Promise<string>;
}

export class TalosctlError extends Error {}

export interface TalosctlCliOptions {
  /** The talosctl binary. @default "talosctl" */
  readonly binary?: string;
  /** The talosconfig file (credentials/talosconfig beside cluster.yaml). */
  readonly talosconfig: string;
  /** @default "10m" */
  readonly timeout?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** The real talosctl, one process per call. */
export class TalosctlCli implements Talosctl {
  private readonly binary: string;
  private readonly timeout: string;

  constructor(private readonly options: TalosctlCliOptions) {
    this.binary = options.binary ?? "talosctl";
    this.timeout = options.timeout ?? "10m";
  }

  async clientVersion(): Promise<string> {
    const tag = tagIn((await this.run(["version", "--client"])).stdout, "Client");
    if (!tag) throw new TalosctlError(`${this.binary} version --client printed no Tag`);
    return tag;
  }

  async serverVersion(address: string): Promise<string | undefined> {
    const result = await this.run(["version", ...this.at(address)], false);
    return result.status === 0 ? tagIn(result.stdout, "Server") : undefined;
  }

  async upgrade(address: string, image: string): Promise<void> {
    await this.run(["upgrade", ...this.at(address), `--image=${image}`, "--wait", `--timeout=${this.timeout}`]);
  }

  async health(controllers: readonly string[], workers: readonly string[]): Promise<void> {
    await this.run([
      "health",
      ...this.at(controllers[0]),
      `--control-plane-nodes=${controllers.join(",")}`,
      ...(workers.length ? [`--worker-nodes=${workers.join(",")}`] : []),
      `--wait-timeout=${this.timeout}`,
    ]);
  }

  async upgradeKubernetes(controller: string, to: string): Promise<void> {
    await this.run(["upgrade-k8s", ...this.at(controller), `--to=${to}`]);
  }

  async resetGracefully(address: string): Promise<void> {
    await this.run([
      "reset",
      ...this.at(address),
      "--graceful=true",
      "--reboot=false",
      "--wait",
      `--timeout=${this.timeout}`,
    ]);
  }

  async etcdSnapshot(controller: string, file: string): Promise<string> {
    return (await this.run(["etcd", "snapshot", file, ...this.at(controller)])).stdout.trim();
  }

  async etcdState(controller: string): Promise<string | undefined> {
    const result = await this.run(["service", "etcd", ...this.at(controller)], false);
    return result.status === 0 ? /^STATE\s+(\S+)/m.exec(result.stdout)?.[1] : undefined;
  }

  async recoverEtcd(controller: string, file: string, skipHashCheck: boolean): Promise<string> {
    const result = await this.run([
      "bootstrap",
      ...this.at(controller),
      `--recover-from=${file}`,
      ...(skipHashCheck ? ["--recover-skip-hash-check"] : []),
    ]);
    return result.stdout.trim();
  }

  private at(address: string): string[] {
    return [`--talosconfig=${this.options.talosconfig}`, `--nodes=${address}`, `--endpoints=${address}`];
  }

  private run(args: string[], check = true): Promise<{ status: number; stdout: string }> {
    const shown = `${this.binary} ${args.filter((a) => !a.startsWith("--talosconfig")).join(" ")}`;
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, args, {
        env: this.options.env ?? process.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout.on("data", (c: Buffer) => stdout.push(c));
      child.stderr.on("data", (c: Buffer) => stderr.push(c));
      child.on("error", (e) =>
        check ? reject(new TalosctlError(`${shown}: ${e.message}`)) : resolve({ status: -1, stdout: "" }),
      );
      child.on("close", (code) => {
        const status = code ?? -1;
        if (check && status !== 0) {
          const last = Buffer.concat(stderr).toString("utf8").trim().split("\n").at(-1) ?? "";
          reject(new TalosctlError(`${shown}: exited ${status}: ${last}`));
        } else resolve({ status, stdout: Buffer.concat(stdout).toString("utf8") });
      });
    });
  }
}

/** The `Tag:` of the `Client:` or `Server:` section of `talosctl version` output. */
export function tagIn(output: string, section: "Client" | "Server"): string | undefined {
  const start = output.indexOf(`${section}:`);
  if (start < 0) return undefined;
  return /^\s*Tag:\s*(\S+)/m.exec(output.slice(start))?.[1];
}
