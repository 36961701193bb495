// The README's etcd runbook ("Take etcd snapshots, and recover from one"), run as written against the simulated
// cluster (judges/simulated-cluster) with the real talosctl (judges/talosctl): examples/single-node grown to three
// controllers is bootstrapped from an empty Proxmox; a ConfigMap is written through the Kubernetes judge's API,
// `./bootstrap.sh etcd-snapshot` takes a snapshot (talosctl etcd snapshot: etcd's Maintenance snapshot of the
// judge's etcd, streamed by Talos' API), a second ConfigMap is written after it; `./bootstrap.sh etcd-recover` is
// refused while etcd runs; then etcd's data is lost and recovered as the README says: each controller's EPHEMERAL
// wiped (talosctl reset), `./bootstrap.sh etcd-recover` (every etcd waiting for a bootstrap, the snapshot
// restored with etcdutl on one controller, health), and the README's closing ./bootstrap.sh, run with --plan,
// changing nothing. The commands come from README.md itself (its fenced blocks and inline code of that runbook),
// so the two cannot drift apart; the test fills in the README's placeholders, and adds --auto-approve to
// etcd-recover (no terminal here).
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type KubeClient, kubeClient } from "../../judges/kubernetes/judge";
import {
  commit,
  type SimulatedCluster,
  simulatedConfig,
  startSimulatedCluster,
} from "../../judges/simulated-cluster/rig";
import { etcdOf } from "../../judges/simulated-cluster/talos-nodes";
import { talosctlBinary } from "../../judges/talosctl/talosctl";
import { type BootstrapRun, startBootstrap, summaryRow } from "./bootstrap-support";
import { REPO, tempDir } from "./support";

const execFileAsync = promisify(execFile);
const work = tempDir("etcd-recovery-e2e");
const configDir = join(work.dir, "config");
const RUN_TIMEOUT = 1_200_000;
const CONTROLLERS = ["tiny0", "tiny1", "tiny3"];
let sim: SimulatedCluster;
let talosctl: string;
let addresses: Record<string, string>;

/** The runbook's commands in README.md, in order: each fenced line and each inline code span of the section. */
function runbookCommands(): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("**Take etcd snapshots, and recover from one.**");
  const end = readme.indexOf("**Back up the state.**", start);
  expect(start, "README.md has the etcd runbook").toBeGreaterThan(0);
  const commands: string[] = [];
  for (const m of readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```|`([^`\n]+)`/g)) {
    const lines = m[1] !== undefined ? m[1].split("\n") : [m[2]];
    for (const line of lines.map((l) => l.replace(/\s+#.*$/, "").trim()))
      if (/^(talosctl|mkdir|\.\/bootstrap\.sh)\b/.test(line)) commands.push(line);
  }
  return commands;
}

/** The one runbook command matching `pattern`. */
function command(pattern: RegExp): string {
  const found = runbookCommands().filter((c) => pattern.test(c));
  expect(found, `one command of the README's etcd runbook matches ${pattern}`).toHaveLength(1);
  return found[0];
}

/** The line with the README's placeholders (<address>, <time>, ...) filled. */
function filled(line: string, fill: Record<string, string>): string {
  const text = Object.entries(fill).reduce((t, [k, v]) => t.replaceAll(k, v), line);
  expect(text, `every placeholder of ${line} is filled`).not.toMatch(/<[a-z ]+>/);
  return text;
}

/** A runbook line `./bootstrap.sh ...`, run against the simulated cluster (with the real talosctl), and `extra`. */
function bootstrap(line: string, fill: Record<string, string> = {}, ...extra: string[]): Promise<BootstrapRun> {
  const args = filled(line, fill).split(/\s+/).slice(1);
  return startBootstrap([...args, ...extra], { ...sim.env, TALOSCTL: talosctl }, RUN_TIMEOUT);
}

/**
 * Runs a runbook line `talosctl ...` as a user would, in a shell in the config folder with TALOSCONFIG exported and
 * the real talosctl on PATH.
 */
async function run(line: string, fill: Record<string, string>): Promise<string> {
  const command = filled(line, fill);
  try {
    const { stdout, stderr } = await execFileAsync("bash", ["-c", command], {
      cwd: configDir,
      env: {
        ...process.env,
        PATH: `${dirname(talosctl)}:${process.env.PATH}`,
        TALOSCONFIG: join(configDir, "credentials", "talosconfig"),
      },
      timeout: 600_000,
    });
    return stdout + stderr;
  } catch (e) {
    const failed = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command}: ${failed.message}\n${failed.stdout ?? ""}${failed.stderr ?? ""}`);
  }
}

const api = (): KubeClient => kubeClient(join(configDir, "credentials", "kubeconfig"));
const configMap = (name: string) => `/api/v1/namespaces/default/configmaps/${name}`;

async function writeConfigMap(name: string): Promise<void> {
  const { status, body } = await api().send("POST", "/api/v1/namespaces/default/configmaps", {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name },
    data: { written: name },
  });
  expect(status, JSON.stringify(body)).toBe(201);
}

beforeAll(async () => {
  talosctl = await talosctlBinary();
  await simulatedConfig(configDir, { from: join(REPO, "examples", "single-node") });
  // The config repository ignores what the root one does for the snapshots (backups/), or bootstrap's next run
  // would refuse the work tree as dirty.
  expect(readFileSync(join(REPO, ".gitignore"), "utf8")).toMatch(/^backups\/$/m);
  writeFileSync(join(configDir, ".gitignore"), `${readFileSync(join(configDir, ".gitignore"), "utf8")}backups/\n`);
  const file = join(configDir, "nodes.yaml");
  const [tiny0] = (parse(readFileSync(file, "utf8")) as { nodes: Array<Record<string, unknown>> }).nodes;
  const at = (last: number) => String(tiny0.address).replace(/\.\d+$/, `.${last}`);
  const nodes = [
    tiny0,
    { name: "tiny1", address: at(12), controller: true },
    { name: "tiny3", address: at(13), controller: true },
  ];
  writeFileSync(file, stringify({ nodes }));
  await commit(configDir, "three controllers");
  addresses = Object.fromEntries(nodes.map((n) => [String(n.name), String(n.address)]));
  sim = await startSimulatedCluster({ configDir, workDir: work.dir });
  const first = await startBootstrap(["--auto-approve"], sim.env, RUN_TIMEOUT);
  expect(first.status, first.output).toBe(0);
}, RUN_TIMEOUT);
afterAll(async () => {
  await sim?.close();
  work.remove();
});

describe("the README's etcd runbook, against the simulated cluster", () => {
  it(
    "a snapshot ./bootstrap.sh etcd-snapshot took restores what was written before it, and nothing after",
    async () => {
      const controllers = CONTROLLERS.map((name) => addresses[name]);
      await writeConfigMap("before-snapshot");

      const snapshot = await bootstrap(command(/^\.\/bootstrap\.sh etcd-snapshot$/));
      expect(snapshot.status, snapshot.output).toBe(0);
      expect(snapshot.output).toMatch(/etcd snapshot saved to "\S+\/backups\/etcd-\S+\.db" \(\d+ bytes\)/);
      const [, file] = /etcd snapshot of tiny0 in (\S+\/backups\/etcd-(\S+)\.db):/.exec(snapshot.output) ?? [];
      expect(file, snapshot.output).toBeDefined();
      expect(existsSync(file)).toBe(true);
      const time = /etcd-([^/]+)\.db$/.exec(file)![1];
      await writeConfigMap("after-snapshot");

      const recover = command(/^\.\/bootstrap\.sh etcd-recover /);
      // While etcd runs, the recovery is refused before anything changes.
      const refused = await bootstrap(recover, { "<time>": time }, "--auto-approve");
      expect(refused.status, refused.output).toBe(1);
      for (const name of CONTROLLERS)
        expect(refused.output).toContain(
          `${name} (${addresses[name]}): etcd is Running, not waiting for a bootstrap (Preparing)`,
        );
      expect(await api().get(configMap("after-snapshot"))).toBeDefined();

      // etcd loses its data: the controller that holds it first (the simulator keeps etcd's data there alone,
      // so this is the quorum lost), then every other controller, as the README says.
      const holder = etcdOf(sim.talos.clusterDir).bootstrapNode!;
      const reset = command(/ reset /);
      for (const address of [holder, ...controllers.filter((c) => c !== holder)])
        await run(reset, { "<address>": address });
      // etcd's data is gone, and the API server with it.
      await expect(api().get(configMap("before-snapshot"))).rejects.toThrow();

      const recovered = await bootstrap(recover, { "<time>": time }, "--auto-approve");
      expect(recovered.status, recovered.output).toBe(0);
      expect(recovered.output).toContain(`tiny0: talosctl bootstrap --recover-from=${file}`);
      expect(recovered.output).toMatch(/recovering from snapshot/);
      expect(recovered.output).toContain("healthy");

      expect(await api().get(configMap("before-snapshot")), "written before the snapshot").toMatchObject({
        data: { written: "before-snapshot" },
      });
      expect(await api().get(configMap("after-snapshot")), "written after the snapshot").toBeUndefined();
      expect(
        etcdOf(sim.talos.clusterDir)
          .members.map((m) => m.address)
          .sort(),
      ).toEqual([...controllers].sort());

      const plan = await bootstrap(command(/^\.\/bootstrap\.sh$/), {}, "--plan");
      expect(plan.status, plan.output).toBe(0);
      for (const layer of ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"])
        expect(summaryRow(plan.output, layer, "plan")?.[2], layer).toBe("no changes");
    },
    RUN_TIMEOUT,
  );
});
