// ./bootstrap.sh end to end: from an empty Proxmox to all four layers applied, with nothing excluded and no
// test hook, against the simulated cluster of `npm run demo` (judges/simulated-cluster): the Proxmox VE API
// simulator, one Talos node simulator per node (configuration judged by Talos' machinery, etcd, kubeconfig),
// the Kubernetes judge as the API server the kubeconfig points at (started by the bootstrapped controller), and
// the judge's chart repository as the cluster's helm_chart_mirror. The config is the root example's shape (the
// tests' copy), with a private Flux repository; bootstrap gets the engine and its provider stand-ins through
// its environment, as any user of a provider mirror would.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { kubeClient, type KubeClient } from "../../judges/kubernetes/judge";
import {
  commit,
  type SimulatedCluster,
  simulatedConfig,
  startSimulatedCluster,
} from "../../judges/simulated-cluster/rig";
import { etcdOf } from "../../judges/simulated-cluster/talos-nodes";
import { FIXTURE } from "../support/synth";
import { type BootstrapRun, startBootstrap, summaryRow, waitFor } from "./bootstrap-support";
import { releaseStatus, talosHandshake } from "./simulated-cluster-support";
import { tempDir } from "./support";

const work = tempDir("bootstrap-e2e");
const configDir = join(work.dir, "config");
const LAYERS = ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"];
const [L00, L01, L02, L03] = LAYERS;
const RUN_TIMEOUT = 1_200_000;
let sim: SimulatedCluster;
let first: BootstrapRun;
let api: KubeClient;

beforeAll(async () => {
  await simulatedConfig(configDir, {
    from: FIXTURE,
    cluster: { repository_name: "example/lab-ops", repository_visibility: "private" },
  });
  sim = await startSimulatedCluster({ configDir, workDir: work.dir });
});
afterAll(async () => {
  await sim?.close();
  work.remove();
});

/** A short digest: what the tests compare of secrets and certificates, so that a failure never prints one. */
const digest = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

/** A layer's local state. */
function stateOf(layer: string): { serial: number; lineage: string; resources: unknown[]; text: string } {
  const text = readFileSync(join(configDir, "state", `${layer}.tfstate`), "utf8");
  return { ...JSON.parse(text), text };
}

/** Layer 00's state as the tests compare it: untouched means the same serial, lineage and bytes. */
function persistentState() {
  const { serial, lineage, text } = stateOf(L00);
  return { serial, lineage, digest: digest(text) };
}

/**
 * Sets top-level keys of the config's cluster.yaml (undefined: removed) and commits, as a user does before a run;
 * returns the values they had.
 */
async function editCluster(change: Record<string, unknown>, message: string): Promise<Record<string, unknown>> {
  const file = join(configDir, "cluster.yaml");
  const cluster = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const previous = Object.fromEntries(Object.keys(change).map((k) => [k, cluster[k]]));
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) delete cluster[key];
    else cluster[key] = value;
  }
  writeFileSync(file, stringify(cluster));
  await commit(configDir, message);
  return previous;
}

/** The objects layer 02 and 03 put in the API for the switches below, by what they are. */
const SWITCHED = {
  "sealed-secrets release": () => releaseStatus(api, "sealed-secrets", "sealed-secrets"),
  "sealed-secrets key from 00": () => api.get("/api/v1/namespaces/sealed-secrets/secrets/sealed-secrets-key-persisted"),
  "Flux release": () => releaseStatus(api, "flux-system", "flux"),
  "Flux GitRepository": () =>
    api.get("/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system"),
  "Flux deploy key secret": () => api.get("/api/v1/namespaces/flux-system/secrets/flux-system"),
  "LoadBalancer pool": () => api.get("/apis/cilium.io/v2/ciliumloadbalancerippools/pool"),
  "L2 announcement policy": () => api.get("/apis/cilium.io/v2alpha1/ciliuml2announcementpolicies/l2-policy"),
};

/** Which of SWITCHED are in the API. */
async function switchedPresent(): Promise<Record<string, boolean>> {
  const present: Record<string, boolean> = {};
  for (const [what, read] of Object.entries(SWITCHED)) present[what] = (await read()) !== undefined;
  return present;
}

/**
 * The cluster's PKI as each holder has it, as digests: the cluster and machine CAs of every node's applied
 * configuration, the CAs of the kubeconfig and talosconfig layer 01 wrote, and the sealed-secrets key in the API.
 */
async function clusterPki(): Promise<Record<string, string>> {
  const pki: Record<string, string> = {};
  for (const n of sim.talos.nodes) {
    for (const doc of parseAllDocuments(readFileSync(join(n.stateDir, "config.yaml"), "utf8"))) {
      const d = doc.toJS() as { machine?: { ca: { crt: string } }; cluster?: { ca: { crt: string } } } | null;
      if (d?.machine) pki[`${n.name} machine CA`] = digest(d.machine.ca.crt);
      if (d?.cluster) pki[`${n.name} cluster CA`] = digest(d.cluster.ca.crt);
    }
  }
  const kubeconfig = parse(readFileSync(join(configDir, "credentials", "kubeconfig"), "utf8"));
  pki["kubeconfig CA"] = digest(kubeconfig.clusters[0].cluster["certificate-authority-data"]);
  const talosconfig = parse(readFileSync(join(configDir, "credentials", "talosconfig"), "utf8"));
  pki["talosconfig CA"] = digest(talosconfig.contexts[talosconfig.context].ca);
  const key = await api.get<{ data: Record<string, string> }>(
    "/api/v1/namespaces/sealed-secrets/secrets/sealed-secrets-key-persisted",
  );
  pki["sealed-secrets certificate"] = digest(key?.data["tls.crt"] ?? "");
  pki["sealed-secrets key"] = digest(key?.data["tls.key"] ?? "");
  return pki;
}

/** Fails with the script's output, so a failing run explains itself. */
function expectDone(run: BootstrapRun): void {
  expect(run.status, run.output).toBe(0);
}

describe("./bootstrap.sh from an empty Proxmox to four applied layers", () => {
  it(
    "applies every layer with nothing excluded",
    async () => {
      expect(Object.keys(sim.proxmox.state.vms)).toEqual([]);
      first = await startBootstrap(["--auto-approve"], sim.env, RUN_TIMEOUT);
      expectDone(first);
      for (const layer of LAYERS) expect(summaryRow(first.output, layer, "apply")?.[2], layer).toBe("applied");
      expect(first.output).toMatch(/provider stand-in: siderolabs\/talos 0\.8\.0 stands in for the pinned 0\.12\.0/);
      api = kubeClient(join(configDir, "credentials", "kubeconfig"));
    },
    RUN_TIMEOUT,
  );

  it("every node is a VM in Proxmox with its disk, network and the Talos ISO", () => {
    const nodes = sim.talos.nodes;
    const vms = Object.values(sim.proxmox.state.vms);
    expect(vms.map((vm) => vm.config.name).sort()).toEqual(nodes.map((n) => n.name).sort());
    for (const vm of vms) {
      const c = vm.config as Record<string, string>;
      expect(c.net0, c.name).toMatch(/virtio=/);
      expect(Object.keys(c).filter((k) => /^(scsi|virtio|sata)\d+$/.test(k)).length, c.name).toBeGreaterThan(0);
      expect(
        Object.values(c).some((v) => /\.iso/.test(String(v))),
        `${c.name}: the Talos ISO`,
      ).toBe(true);
    }
  });

  it("every node's configuration was accepted by Talos' machinery, and etcd bootstrapped exactly once", () => {
    for (const n of sim.talos.nodes) {
      const applied = readFileSync(join(n.stateDir, "config.yaml"), "utf8");
      expect(applied, n.name).toContain(`type: ${n.controller ? "controlplane" : "worker"}`);
    }
    const etcd = etcdOf(sim.talos.clusterDir);
    const controllers = sim.talos.nodes.filter((n) => n.controller);
    expect(etcd.bootstrapNode).toBe(controllers[0].address);
    expect(etcd.members.map((m) => m.address).sort()).toEqual(controllers.map((n) => n.address).sort());
    expect(sim.talos.nodes.map((n) => n.log().match(/bootstrapped etcd/g)?.length ?? 0)).toEqual(
      sim.talos.nodes.map((n) => (n === controllers[0] ? 1 : 0)),
    );
  });

  it("layer 01's kubeconfig reaches the Kubernetes judge on the API address; its talosconfig the nodes", async () => {
    const kubeconfig = parse(readFileSync(join(configDir, "credentials", "kubeconfig"), "utf8"));
    const apiAddr = (parse(readFileSync(join(configDir, "cluster.yaml"), "utf8")) as { cluster_api_addr: string })
      .cluster_api_addr;
    expect(kubeconfig.clusters[0].cluster.server).toBe(`https://${apiAddr}:6443`);
    const nodes = await api.get<{
      items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }> } }>;
    }>("/api/v1/nodes");
    expect(nodes?.items.map((n) => n.metadata.name).sort()).toEqual(sim.talos.nodes.map((n) => n.name).sort());
    for (const n of nodes!.items)
      expect(n.status.conditions.find((c) => c.type === "Ready")?.status, n.metadata.name).toBe("True");
    const talosconfig = readFileSync(join(configDir, "credentials", "talosconfig"), "utf8");
    for (const n of sim.talos.nodes) expect(await talosHandshake(talosconfig, n.address), n.name).toBe("ok");
  });

  it("Cilium, sealed-secrets with layer 00's key, Proxmox CSI and Flux are deployed; 03's objects are in the API", async () => {
    expect(await releaseStatus(api, "kube-system", "cilium")).toBe("deployed");
    expect(await releaseStatus(api, "sealed-secrets", "sealed-secrets")).toBe("deployed");
    expect(await releaseStatus(api, "csi-proxmox", "proxmox-csi-plugin")).toBe("deployed");
    expect(await releaseStatus(api, "flux-system", "flux")).toBe("deployed");
    const key = await api.get<{ metadata: { labels: Record<string, string> } }>(
      "/api/v1/namespaces/sealed-secrets/secrets/sealed-secrets-key-persisted",
    );
    expect(key?.metadata.labels["sealedsecrets.bitnami.com/sealed-secrets-key"]).toBe("active");
    const operator = await api.get<{ status: { readyReplicas?: number } }>(
      "/apis/apps/v1/namespaces/kube-system/deployments/cilium-operator",
    );
    expect(operator?.status.readyReplicas).toBe(1);
    expect(await api.get("/apis/cilium.io/v2/ciliumloadbalancerippools/pool")).toBeDefined();
    expect(await api.get("/apis/cilium.io/v2alpha1/ciliuml2announcementpolicies/l2-policy")).toBeDefined();
    const repo = await api.get<{ spec: { url: string } }>(
      "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system",
    );
    expect(repo?.spec.url).toBe("ssh://git@github.com/example/lab-ops.git");
    expect(await api.get("/api/v1/namespaces/flux-system/secrets/flux-system")).toBeDefined();
  });

  it(
    "a second ./bootstrap.sh --plan finds no change in any layer",
    async () => {
      const run = await startBootstrap(["--plan"], sim.env, RUN_TIMEOUT);
      expectDone(run);
      for (const layer of LAYERS) expect(summaryRow(run.output, layer, "plan")?.[2], layer).toBe("no changes");
    },
    RUN_TIMEOUT,
  );
});

describe("each switch of layers 02 and 03 off and on again, with layer 00 untouched", () => {
  // Several switches in one run each way (the time budget); each one's objects are named in the assertions.
  const OFF = { sealed_secrets_enabled: false, flux_enabled: false, cilium_loadbalancer_pool: undefined };
  const ALL = Object.fromEntries(Object.keys(SWITCHED).map((what) => [what, true]));
  let untouched: ReturnType<typeof persistentState>;
  let pki: Record<string, string>;
  let saved: Record<string, unknown>;

  /** The run's summary row of a layer's apply: result, added, changed, destroyed. */
  const applied = (run: BootstrapRun, layer: string) => summaryRow(run.output, layer, "apply")?.slice(2, 6);

  it(
    "off: sealed-secrets, Flux with its sync, the LoadBalancer pool leave the API; 00 untouched, 01 changes Cilium's values alone",
    async () => {
      expect(await switchedPresent()).toEqual(ALL);
      untouched = persistentState();
      pki = await clusterPki();
      saved = await editCluster(OFF, "sealed-secrets, Flux and the LoadBalancer pool off");
      const run = await startBootstrap(["--auto-approve"], sim.env, RUN_TIMEOUT);
      expectDone(run);
      expect(applied(run, L00)?.[0]).toBe("no changes");
      // The pool's layer-2 announcements are a value of Cilium's release.
      expect(applied(run, L01)).toEqual(["applied", "0", "1", "0"]);
      expect(applied(run, L02)?.[0]).toBe("applied");
      expect(applied(run, L03)?.[0]).toBe("applied");
      // 03 first: Flux's sync is deleted while Flux and its CRDs are there; then 02 uninstalls Flux.
      const summary = run.output.slice(run.output.lastIndexOf("=== summary"));
      expect(summary.indexOf(L03)).toBeLessThan(summary.indexOf(L02));
      expect(persistentState()).toEqual(untouched);
      expect(await switchedPresent()).toEqual(Object.fromEntries(Object.keys(SWITCHED).map((what) => [what, false])));
      // What no switch turned off stays.
      expect(await releaseStatus(api, "kube-system", "cilium")).toBe("deployed");
      expect(await releaseStatus(api, "csi-proxmox", "proxmox-csi-plugin")).toBe("deployed");
    },
    RUN_TIMEOUT,
  );

  it(
    "on again: all back, sealed-secrets with the same key from 00; 00 untouched",
    async () => {
      await editCluster(saved, "sealed-secrets, Flux and the LoadBalancer pool on again");
      const run = await startBootstrap(["--auto-approve"], sim.env, RUN_TIMEOUT);
      expectDone(run);
      expect(applied(run, L00)?.[0]).toBe("no changes");
      expect(applied(run, L01)).toEqual(["applied", "0", "1", "0"]);
      expect(applied(run, L02)?.[0]).toBe("applied");
      expect(applied(run, L03)?.[0]).toBe("applied");
      expect(persistentState()).toEqual(untouched);
      expect(await switchedPresent()).toEqual(ALL);
      expect(await releaseStatus(api, "sealed-secrets", "sealed-secrets")).toBe("deployed");
      expect(await releaseStatus(api, "flux-system", "flux")).toBe("deployed");
      expect(await clusterPki()).toEqual(pki);
    },
    RUN_TIMEOUT,
  );
});

describe("./bootstrap.sh --destroy keeps layer 00; the next ./bootstrap.sh rebuilds with the same PKI", () => {
  let untouched: ReturnType<typeof persistentState>;
  let pki: Record<string, string>;

  it(
    "--destroy --auto-approve destroys 03, 02 and 01, top-down; 00 and the CSI token in Proxmox stay",
    async () => {
      untouched = persistentState();
      pki = await clusterPki();
      const run = await startBootstrap(["--destroy", "--auto-approve"], sim.env, RUN_TIMEOUT);
      expectDone(run);
      for (const layer of [L03, L02, L01])
        expect(summaryRow(run.output, layer, "destroy")?.[2], layer).toBe("destroyed");
      const summary = run.output.slice(run.output.lastIndexOf("=== summary"));
      expect(summary).not.toContain(L00);
      expect(summary.indexOf(L03)).toBeLessThan(summary.indexOf(L02));
      expect(summary.indexOf(L02)).toBeLessThan(summary.indexOf(L01));
      for (const layer of [L01, L02, L03]) expect(stateOf(layer).resources, layer).toEqual([]);
      expect(persistentState()).toEqual(untouched);
      expect(Object.keys(sim.proxmox.state.vms)).toEqual([]);
      expect(sim.proxmox.state.users["homelab-csi@pve"]?.tokens).toHaveProperty("csi");
      // The machines go with their VMs (the rig wipes a node whose VM is deleted, as it notices).
      await waitFor(
        () => sim.talos.nodes.every((n) => !existsSync(join(n.stateDir, "config.yaml"))),
        "every node's disk gone with its VM",
        undefined,
        60_000,
      );
    },
    RUN_TIMEOUT,
  );

  it(
    "the next ./bootstrap.sh applies 01, 02 and 03 again: the same cluster and machine CAs, kubeconfig and talosconfig CAs, sealed-secrets key",
    async () => {
      const run = await startBootstrap(["--auto-approve"], sim.env, RUN_TIMEOUT);
      expectDone(run);
      expect(summaryRow(run.output, L00, "apply")?.[2]).toBe("no changes");
      for (const layer of [L01, L02, L03]) expect(summaryRow(run.output, layer, "apply")?.[2], layer).toBe("applied");
      expect(persistentState()).toEqual(untouched);
      api = kubeClient(join(configDir, "credentials", "kubeconfig"));
      expect(await clusterPki()).toEqual(pki);
      expect(await switchedPresent()).toEqual(Object.fromEntries(Object.keys(SWITCHED).map((what) => [what, true])));
      // A new etcd (its data went with the controllers' disks), bootstrapped once, on the first controller.
      const etcd = etcdOf(sim.talos.clusterDir);
      expect(etcd.bootstrapNode).toBe(sim.talos.nodes.find((n) => n.controller)?.address);
      expect(sim.talos.nodes.map((n) => n.bootLog().match(/bootstrapped etcd/g)?.length ?? 0)).toEqual(
        sim.talos.nodes.map((n) => (n.address === etcd.bootstrapNode ? 1 : 0)),
      );
    },
    RUN_TIMEOUT,
  );
});
