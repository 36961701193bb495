// The talosctl commands an upgrade and a node removal need, behind one interface so that the runner is tested
// against a recording stand-in (no Talos node exists in the tests).
import { spawnSync } from "node:child_process";

export interface Talosctl {
  /** The client's own version (`talosctl version --client`), e.g. "v1.12.2". */
  clientVersion(): string;
  /** The Talos version a node runs, or undefined when it does not answer. */
  serverVersion(address: string): string | undefined;
  /** `talosctl upgrade --image`, waiting until the node has rebooted into it. */
  upgrade(address: string, image: string): void;
  /** `talosctl health`: etcd, the control plane and every node answer (Kubernetes checks included). */
  health(controllers: readonly string[], workers: readonly string[]): void;
  /** `talosctl upgrade-k8s --to`, through one controller. */
  upgradeKubernetes(controller: string, to: string): void;
  /**
   * `talosctl reset --graceful --reboot=false`: cordon and drain the node, and on a controller leave etcd
   * (its member is removed before anything is wiped); then wipe and power off.
   */
  resetGracefully(address: string): void;
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

  clientVersion(): string {
    const tag = tagIn(this.run(["version", "--client"]).stdout, "Client");
    if (!tag) throw new TalosctlError(`${this.binary} version --client printed no Tag`);
    return tag;
  }

  serverVersion(address: string): string | undefined {
    const result = this.run(["version", ...this.at(address)], false);
    return result.status === 0 ? tagIn(result.stdout, "Server") : undefined;
  }

  upgrade(address: string, image: string): void {
    this.run(["upgrade", ...this.at(address), `--image=${image}`, "--wait", `--timeout=${this.timeout}`]);
  }

  health(controllers: readonly string[], workers: readonly string[]): void {
    this.run([
      "health",
      ...this.at(controllers[0]),
      `--control-plane-nodes=${controllers.join(",")}`,
      ...(workers.length ? [`--worker-nodes=${workers.join(",")}`] : []),
      `--wait-timeout=${this.timeout}`,
    ]);
  }

  upgradeKubernetes(controller: string, to: string): void {
    this.run(["upgrade-k8s", ...this.at(controller), `--to=${to}`]);
  }

  resetGracefully(address: string): void {
    this.run(["reset", ...this.at(address), "--graceful=true", "--reboot=false", "--wait", `--timeout=${this.timeout}`]);
  }

  private at(address: string): string[] {
    return [`--talosconfig=${this.options.talosconfig}`, `--nodes=${address}`, `--endpoints=${address}`];
  }

  private run(args: string[], check = true): { status: number; stdout: string } {
    const result = spawnSync(this.binary, args, { encoding: "utf8", env: this.options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const status = result.status ?? -1;
    if (check && status !== 0) {
      const why = result.error ? result.error.message : `exited ${status}: ${(result.stderr ?? "").trim().split("\n").at(-1) ?? ""}`;
      throw new TalosctlError(`${this.binary} ${args.filter((a) => !a.startsWith("--talosconfig")).join(" ")}: ${why}`);
    }
    return { status, stdout: result.stdout ?? "" };
  }
}

/** The `Tag:` of the `Client:` or `Server:` section of `talosctl version` output. */
export function tagIn(output: string, section: "Client" | "Server"): string | undefined {
  const start = output.indexOf(`${section}:`);
  if (start < 0) return undefined;
  return /^\s*Tag:\s*(\S+)/m.exec(output.slice(start))?.[1];
}
