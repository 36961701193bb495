// The Proxmox CSI plugin's own controller, built by judges/proxmox-csi/build.sh from its Go module: a volume's life
// (capacity, create, attach to a node's VM, expand, detach, delete) driven through the plugin's CSI methods against
// a Proxmox API (the simulator in the engine tests), with the cloud config the chart gives the controller.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { builtBinary } from "../built-binary";

const execFileAsync = promisify(execFile);

/** The judge's binary; fails with what to run when it is not built. */
export function proxmoxCsiJudgeBinary(): Promise<string> {
  return builtBinary(join(__dirname, "build.sh"), "PROXMOX_CSI_JUDGE", "the Proxmox CSI judge");
}

/** The controller's config.yaml as the chart writes it into its Secret: the chart's `config` values. */
export interface CsiCloudConfig {
  readonly features: { readonly provider: string };
  readonly clusters: ReadonlyArray<{
    readonly url: string;
    readonly insecure: boolean;
    readonly region: string;
    readonly token_id: string;
    readonly token_secret: string;
  }>;
}

export interface VolumeLife {
  readonly cloudConfig: CsiCloudConfig;
  /** The Kubernetes node (its VM's name) the volume is published to, and its topology labels. */
  readonly node: string;
  readonly region: string;
  readonly zone: string;
  /** The StorageClass parameters. */
  readonly parameters: Readonly<Record<string, string>>;
  /** The PersistentVolume's name. */
  readonly pvc: string;
  readonly sizeBytes: number;
  readonly expandToBytes: number;
  /** The call after which the run stops, leaving the volume as it is. @default every call */
  readonly stopAfter?: string;
}

/** One CSI call's answer: its response, or the gRPC code and message it failed with. */
export interface CsiCall {
  readonly call: string;
  readonly response?: Record<string, unknown>;
  readonly code?: string;
  readonly error?: string;
}

/**
 * Runs the volume's life; resolves with each call made, up to the first that failed. The cloud config (it holds
 * the token's secret) lives in a private temporary file for the run only.
 */
export async function driveVolumeLife(life: VolumeLife): Promise<CsiCall[]> {
  const binary = await proxmoxCsiJudgeBinary();
  const dir = mkdtempSync(join(tmpdir(), "proxmox-csi-judge-"));
  try {
    const config = join(dir, "config.yaml");
    writeFileSync(config, stringify(life.cloudConfig), { mode: 0o600 });
    const args = [
      `-cloud-config=${config}`,
      `-node=${life.node}`,
      `-region=${life.region}`,
      `-zone=${life.zone}`,
      `-parameters=${JSON.stringify(life.parameters)}`,
      `-pvc=${life.pvc}`,
      `-size=${life.sizeBytes}`,
      `-expand-to=${life.expandToBytes}`,
      ...(life.stopAfter ? [`-stop-after=${life.stopAfter}`] : []),
    ];
    const { stdout } = await execFileAsync(binary, args, { maxBuffer: 16 * 1024 * 1024 }).catch(
      (e: { code?: number; stdout?: string; stderr?: string }) => {
        // Exit 1 is a CSI call that failed (reported on stdout); anything else is the judge's own failure.
        if (e.code === 1 && e.stdout) return { stdout: e.stdout };
        throw new Error(`proxmox-csi-judge failed (exit ${e.code}): ${e.stderr ?? ""}`);
      },
    );
    return stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as CsiCall);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
