// A plain ./bootstrap.sh on a running cluster: nodes deleted from nodes.yaml leave gracefully, one at a time, before
// layer 01 is applied (etcd quorum and the last controller guarded), and a version bump is refused until
// `./bootstrap.sh upgrade` has rolled it out. Pure rules first, then the real script with the recording fake engine
// (its `output -json` answers what layer 01's state would) and the recording stand-in talosctl.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig, resolveCluster } from "../../config";
import {
  describeLeaving,
  notRolledOut,
  runningClusterChange,
  type LayerOutputs,
} from "../../scripts/bootstrap/running-cluster";
import { configRepo, type ConfigRepo, fakeEngine, REPO, runBootstrap } from "./support";

const run = promisify(execFile);
const FAKE_TALOSCTL = join(REPO, "__tests__", "upgrade", "fake-talosctl.mjs");
const VERSIONS = { talos_version: "v1.12.7", kubernetes_version: "v1.35.0" };
const work = mkdtempSync(join(tmpdir(), "running-cluster-"));
const repos: ConfigRepo[] = [];
const repo = (prefix: string) => {
  const r = configRepo(prefix, { cluster: { proxmox_csi_enabled: false, ...VERSIONS } });
  repos.push(r);
  return r;
};
const CLEAN_ENV = {
  PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000",
  TF_HTTP_USERNAME: undefined,
  TF_HTTP_PASSWORD: undefined,
  TF_VAR_state_passphrase: undefined,
  CDKTF_OUTDIR: undefined,
  CDKTF_CONTEXT_JSON: undefined,
  BOOTSTRAP_PROVIDER_STAND_INS: undefined,
  BOOTSTRAP_API_TIMEOUT: "1",
  BOOTSTRAP_API_INTERVAL: "1",
};

beforeAll(async () => {
  await run(process.execPath, [join(REPO, "scripts", "build.mjs"), "app", "bootstrap"]);
});
afterAll(() => {
  for (const r of repos) r.remove();
  rmSync(work, { recursive: true, force: true });
});

type Entry = { name: string; address: string; controller: boolean; installer: string; vm_id: number };

/** The config's nodes as layer 01's talos_nodes output records them, plus `extra`. */
function recordedNodes(dir: string, extra: Array<Pick<Entry, "name" | "address" | "controller">> = []): Entry[] {
  const nodes = (parse(readFileSync(join(dir, "nodes.yaml"), "utf8")) as { nodes: Entry[] }).nodes;
  return [...nodes, ...extra].map((n, i) => ({
    name: n.name,
    address: n.address,
    controller: n.controller,
    installer: "factory.talos.dev/installer/abc",
    vm_id: 300 + i,
  }));
}

function outputs(talosNodes: Entry[], versions: Record<string, string> | undefined = VERSIONS): LayerOutputs {
  return {
    talos_nodes: { value: talosNodes },
    ...(versions ? { cluster_versions: { value: versions } } : {}),
  };
}

const clusterOf = (dir: string) =>
  resolveCluster(
    parseConfig({
      cluster: readFileSync(join(dir, "cluster.yaml"), "utf8"),
      nodes: readFileSync(join(dir, "nodes.yaml"), "utf8"),
    }),
  );

describe("the rules", () => {
  it("a state without talos_nodes (never applied) changes nothing", () => {
    const dir = repo("rules-empty");
    expect(runningClusterChange(clusterOf(dir.dir), {})).toBeUndefined();
  });

  it("the nodes gone from nodes.yaml leave, workers first, then controllers", () => {
    const dir = repo("rules-leave");
    const change = runningClusterChange(
      clusterOf(dir.dir),
      outputs(
        recordedNodes(dir.dir, [
          { name: "old-cp", address: "10.9.9.1", controller: true },
          { name: "old-w", address: "10.9.9.2", controller: false },
        ]),
      ),
    );
    expect(change?.leaving.map((n) => n.name)).toEqual(["old-w", "old-cp"]);
    expect(change?.refusals).toEqual([]);
    expect(change?.bumps).toEqual([]);
    expect(describeLeaving(change!.leaving).join("\n")).toMatch(
      /1\. old-w \(worker.*\n.*2\. old-cp \(controller: leaves etcd first/,
    );
  });

  it("controllers below etcd's quorum in one run, or the last one, are refused", () => {
    const dir = repo("rules-quorum");
    const cluster = clusterOf(dir.dir);
    const controllers = cluster.nodes.filter((n) => n.controller).length;
    const extra = Array.from({ length: controllers }, (_, i) => ({
      name: `old-cp-${i}`,
      address: `10.9.9.${i + 1}`,
      controller: true,
    }));
    const change = runningClusterChange(cluster, outputs(recordedNodes(dir.dir, extra)));
    expect(change?.refusals.join("\n")).toMatch(/below etcd's quorum/);

    const onlyOne = recordedNodes(dir.dir).filter((n) => !n.controller);
    onlyOne.push({ name: "solo", address: "10.9.9.9", controller: true, installer: "x", vm_id: 1 });
    expect(runningClusterChange(cluster, outputs(onlyOne))?.refusals.join("\n")).toMatch(/leaves no controller/);
  });

  it("a version the config moves is a bump; a state written before cluster_versions knows none", () => {
    const dir = repo("rules-bump");
    const cluster = clusterOf(dir.dir);
    const nodes = recordedNodes(dir.dir);
    expect(
      runningClusterChange(cluster, outputs(nodes, { talos_version: "v1.12.1", kubernetes_version: "v1.35.0" }))?.bumps,
    ).toEqual([{ what: "talos_version", from: "v1.12.1", to: "v1.12.7" }]);
    expect(runningClusterChange(cluster, outputs(nodes, undefined))?.bumps).toEqual([]);
  });

  it("a bump is rolled out only when every node and the API server answer the new versions", async () => {
    const nodes = [
      { name: "a", address: "1" },
      { name: "b", address: "2" },
    ];
    const bumps = [
      { what: "talos_version" as const, from: "v1.12.1", to: "v1.12.7" },
      { what: "kubernetes_version" as const, from: "v1.35.0", to: "v1.35.4" },
    ];
    const probes = (talos: Record<string, string | undefined>, kubernetes?: string) => ({
      talosVersion: async (address: string) => talos[address],
      kubernetesVersion: async () => kubernetes,
    });
    expect(await notRolledOut(bumps, nodes, probes({ 1: "v1.12.7", 2: "v1.12.7" }, "v1.35.4"))).toEqual([]);
    expect(await notRolledOut(bumps, nodes, probes({ 1: "v1.12.7", 2: "v1.12.1" }, "v1.35.0"))).toEqual([
      "b runs Talos v1.12.1",
      "the API server runs Kubernetes v1.35.0",
    ]);
    expect(await notRolledOut(bumps, nodes, probes({ 1: "v1.12.7" }, "v1.35.4"))).toEqual(["b runs Talos (no answer)"]);
  });
});

// Each case runs the whole script (synthesis included): minutes on a loaded machine, seconds on a quiet one.
describe("./bootstrap.sh on a running cluster", { timeout: 300_000 }, () => {
  /** The stand-in talosctl with every recorded node at `version`; calls() are its argv lists. */
  function talosctl(name: string, nodes: Entry[], version: string) {
    const state = join(work, `${name}-world.json`);
    const log = join(work, `${name}-calls.jsonl`);
    writeFileSync(
      state,
      JSON.stringify({ client: "v1.12.7", nodes: Object.fromEntries(nodes.map((n) => [n.address, { version }])) }),
    );
    writeFileSync(log, "");
    return {
      env: { TALOSCTL: FAKE_TALOSCTL, FAKE_TALOSCTL_STATE: state, FAKE_TALOSCTL_LOG: log },
      calls: () =>
        readFileSync(log, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as string[]),
    };
  }
  function engineWith(name: string, layerOutputs: LayerOutputs) {
    const file = join(work, `${name}-outputs.json`);
    writeFileSync(file, JSON.stringify(layerOutputs));
    const engine = fakeEngine(join(work, `${name}-engine`));
    return { ...engine, env: { ...engine.env, FAKE_OUTPUTS: file, FAKE_STATE_RESOURCES: "1" } };
  }

  it("a node deleted from nodes.yaml is reset gracefully after the plan is confirmed and before 01 is applied", async () => {
    const dir = repo("leave");
    const recorded = recordedNodes(dir.dir, [{ name: "old-w", address: "127.0.9.9", controller: false }]);
    const engine = engineWith("leave", outputs(recorded));
    const fake = talosctl("leave", recorded, "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.output).toMatch(/state: 01-infrastructure: old-w leaves; no version moves/);
    expect(result.output).toMatch(/1\. old-w \(worker, 127\.0\.9\.9\): talosctl reset --graceful/);
    expect(fake.calls().filter((c) => c[0] === "reset")).toEqual([
      [
        "reset",
        "--nodes=127.0.9.9",
        "--endpoints=127.0.9.9",
        "--graceful=true",
        "--reboot=false",
        "--wait",
        "--timeout=10m",
      ],
    ]);
    // The reset ran between the confirmation of the plan and its apply.
    const resetAt = result.output.indexOf("resetting old-w");
    expect(resetAt).toBeGreaterThan(result.output.indexOf("plan: "));
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(true);
    // No kubeconfig here: the Node object is left with the command to delete it.
    expect(result.output).toMatch(/warning: Node old-w could not be deleted .*kubectl delete node old-w/);
  });

  it("a node that does not leave gracefully stops the run before 01 is applied", async () => {
    const dir = repo("leave-fails");
    const recorded = recordedNodes(dir.dir, [{ name: "old-w", address: "127.0.9.9", controller: false }]);
    const engine = engineWith("leave-fails", outputs(recorded));
    // The stand-in knows no node at that address: its reset fails.
    const fake = talosctl("leave-fails", recorded.slice(0, -1), "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/a node did not leave the cluster gracefully; 01-infrastructure was not applied/);
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(false);
  });

  it("removing controllers below etcd's quorum is refused by preflight: nothing planned, nobody reset", async () => {
    const dir = repo("quorum");
    const controllers = recordedNodes(dir.dir).filter((n) => n.controller).length;
    const recorded = recordedNodes(
      dir.dir,
      Array.from({ length: controllers }, (_, i) => ({
        name: `old-cp-${i}`,
        address: `127.0.9.${i + 1}`,
        controller: true,
      })),
    );
    const engine = engineWith("quorum", outputs(recorded));
    const fake = talosctl("quorum", recorded, "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(
      /✗ state: removing old-cp-0, .* at once leaves \d+ of \d+ controllers, below etcd's quorum/,
    );
    expect(engine.calls().some((c) => c.startsWith("plan"))).toBe(false);
    expect(fake.calls()).toEqual([]);
  });

  it("a Talos bump is refused until every node runs it, naming ./bootstrap.sh upgrade; then 01 records it", async () => {
    const dir = repo("bump");
    const recorded = recordedNodes(dir.dir);
    const engine = engineWith("bump", outputs(recorded, { ...VERSIONS, talos_version: "v1.12.1" }));
    const behind = talosctl("bump-behind", recorded, "v1.12.1");
    const refused = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...behind.env },
    });
    expect(refused.status).toBe(1);
    expect(refused.output).toMatch(
      /✗ versions: talos_version v1\.12\.1 -> v1\.12\.7: layer 01 would apply it to every node's machine configuration at once/,
    );
    expect(refused.output).toMatch(/run \.\/bootstrap\.sh upgrade first/);
    expect(engine.calls().some((c) => c.startsWith("plan"))).toBe(false);

    const rolled = talosctl("bump-rolled", recorded, "v1.12.7");
    const applied = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...engine.env, ...rolled.env },
    });
    expect(applied.output).toMatch(/talos_version v1\.12\.7: every node runs it already; layer 01 records it/);
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(true);
  });

  it("--plan shows a bump and what the apply will require, asking no node", async () => {
    const dir = repo("bump-plan");
    const recorded = recordedNodes(dir.dir);
    const engine = engineWith("bump-plan", outputs(recorded, { ...VERSIONS, kubernetes_version: "v1.34.2" }));
    const fake = talosctl("bump-plan", recorded, "v1.12.7");
    const result = await runBootstrap(dir.dir, ["--plan", "--only=infrastructure"], {
      env: { ...CLEAN_ENV, ...engine.env, ...fake.env },
    });
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/note: kubernetes_version v1\.34\.2 -> v1\.35\.0: layer 01 would apply it/);
    expect(result.output).toMatch(/An apply is refused until the nodes run it/);
    expect(fake.calls()).toEqual([]);
  });
});
