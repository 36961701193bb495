// ./bootstrap.sh end to end: from an empty Proxmox to all four layers applied, with nothing excluded and no
// test hook, against the simulated cluster of `npm run demo` (judges/simulated-cluster): the Proxmox VE API
// simulator, one Talos node simulator per node (configuration judged by Talos' machinery, etcd, kubeconfig),
// the Kubernetes judge as the API server the kubeconfig points at (started by the bootstrapped controller), and
// the judge's chart repository as the cluster's helm_chart_mirror. The config is the root example's shape (the
// tests' copy), with a private Flux repository; bootstrap gets the engine and its provider stand-ins through
// its environment, as any user of a provider mirror would.
import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { kubeClient, type KubeClient } from "../../judges/kubernetes/judge";
import { type SimulatedCluster, simulatedConfig, startSimulatedCluster } from "../../judges/simulated-cluster/rig";
import { etcdOf } from "../../judges/simulated-cluster/talos-nodes";
import { FIXTURE } from "../support/synth";
import { type BootstrapRun, startBootstrap, summaryRow } from "./bootstrap-support";
import { tempDir } from "./support";

const work = tempDir("bootstrap-e2e");
const configDir = join(work.dir, "config");
const LAYERS = ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"];
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

/** Fails with the script's output, so a failing run explains itself. */
function expectDone(run: BootstrapRun): void {
  expect(run.status, run.output).toBe(0);
}

/** Helm's record of a release: its latest release secret's status label. */
async function releaseStatus(namespace: string, name: string): Promise<string | undefined> {
  const list = await api.get<{ items: Array<{ metadata: { labels: Record<string, string> } }> }>(
    `/api/v1/namespaces/${namespace}/secrets?labelSelector=owner%3Dhelm%2Cname%3D${name}`,
  );
  const latest = (list?.items ?? []).sort(
    (a, b) => Number(b.metadata.labels.version) - Number(a.metadata.labels.version),
  )[0];
  return latest?.metadata.labels.status;
}

/** An mTLS handshake with a node's Talos API using talosconfig's context: resolves "ok" or the error. */
function talosHandshake(talosconfig: string, address: string): Promise<string> {
  const config = parse(talosconfig) as {
    context: string;
    contexts: Record<string, { ca: string; crt: string; key: string }>;
  };
  const ctx = config.contexts[config.context];
  const b64 = (s: string) => Buffer.from(s, "base64");
  return new Promise((resolve) => {
    const socket = connect({
      host: address,
      port: 50000,
      ca: b64(ctx.ca),
      cert: b64(ctx.crt),
      // Talos labels its Ed25519 PKCS#8 key "ED25519 PRIVATE KEY"; OpenSSL reads the same bytes as "PRIVATE KEY".
      key: b64(ctx.key).toString().replaceAll("ED25519 PRIVATE KEY", "PRIVATE KEY"),
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      socket.end();
      resolve("ok");
    });
    socket.once("error", (e) => resolve(e.message));
    socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
  });
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
    expect(await releaseStatus("kube-system", "cilium")).toBe("deployed");
    expect(await releaseStatus("sealed-secrets", "sealed-secrets")).toBe("deployed");
    expect(await releaseStatus("csi-proxmox", "proxmox-csi-plugin")).toBe("deployed");
    expect(await releaseStatus("flux-system", "flux")).toBe("deployed");
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
