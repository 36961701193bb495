// Layers 02 and 03 and layer 01's Cilium release applied by the real engine (helm and kubernetes providers)
// against the Kubernetes judge (judges/kubernetes): a real kube-apiserver with controller-manager, scheduler
// and kwok's fake nodes, started on loopback with the PKI layer 00 generated (talos_machine_secrets), the
// charts at the pinned versions from a loopback chart repository. Nothing is excluded from those layers;
// helm's wait is honoured (pods become Ready on kwok's nodes).
//
// Layer 01 itself needs the Talos nodes (their configuration apply, etcd bootstrap and kubeconfig), which the
// Talos node simulator provides; until the bootstrap test joins them, this file stands in for 01 by writing
// its state's outputs as its apply leaves them (the kubeconfig's host, CA and an admin client certificate
// from the cluster CA), and applies 01's Cilium release as synthesized, in a stack of its own.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  installCrds,
  type KubeClient,
  kubeClient,
  type KubeJudge,
  type KubeJudgeBuild,
  loadKubeJudge,
  startChartRepository,
  startKubeJudge,
} from "../../judges/kubernetes/judge";
import { applyLayer, type Judge, loopbackAddresses, startJudgeFor, synthesizeFor } from "./proxmox-judge";
import { releaseStatus } from "./simulated-cluster-support";
import { REPO, type Layer, type SynthesizedStack, tempDir, tofu } from "./support";

const work = tempDir("kubernetes");
const configDir = join(work.dir, "config");
const POOL = { start: "172.16.20.200", stop: "172.16.20.220" };

let build: KubeJudgeBuild;
let proxmox: Judge;
let kube: KubeJudge;
let api: KubeClient;
let charts: { url: string; close: () => Promise<void> };
let stacks: Record<Layer, SynthesizedStack>;

type StateResource = { address: string; type: string; values: Record<string, unknown> };

/** The resources of a stack's state (`tofu show -json`). */
async function stateResources(stack: { dir: string }, env: Record<string, string>): Promise<StateResource[]> {
  const shown = JSON.parse((await tofu(stack, ["show", "-json", "-no-color"], { env })).stdout) as {
    values?: { root_module: { resources?: StateResource[] } };
  };
  return shown.values?.root_module.resources ?? [];
}

/** Points every helm_release of a stack file at the loopback chart repository (the one rewrite: an endpoint). */
function useChartRepository(file: string, url: string): void {
  const json = JSON.parse(readFileSync(file, "utf8")) as {
    resource?: { helm_release?: Record<string, { repository?: string }> };
  };
  for (const release of Object.values(json.resource?.helm_release ?? {})) release.repository = url;
  writeFileSync(file, JSON.stringify(json, null, 2));
}

/**
 * Layer 01's Cilium release, as synthesized, alone in a stack: the helm provider reaches the judge with its
 * admin kubeconfig (01's own provider block reads talos_cluster_kubeconfig, which needs a Talos node), the
 * release's dependency on the API wait dropped (the judge is ready when it starts). `values` replaces the
 * values when given (the deliberate breaks).
 */
function ciliumStack(
  name: string,
  values?: (values: Record<string, unknown>) => Record<string, unknown>,
): {
  dir: string;
} {
  const infra = JSON.parse(readFileSync(join(stacks["01-infrastructure"].dir, "cdk.tf.json"), "utf8")) as {
    terraform: { required_providers: Record<string, unknown> };
    resource: { helm_release: { cilium: Record<string, unknown> } };
  };
  const { depends_on: _, ...release } = infra.resource.helm_release.cilium;
  const given = parse((release.values as string[])[0]) as Record<string, unknown>;
  const dir = join(work.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "main.tf.json"),
    JSON.stringify({
      terraform: { required_providers: { helm: infra.terraform.required_providers.helm } },
      provider: { helm: [{ kubernetes: { config_path: kube.kubeconfig } }] },
      resource: {
        helm_release: {
          cilium: {
            ...release,
            // A broken copy is its own release: helm refuses a second install under the applied one's name.
            ...(values ? { name } : {}),
            repository: charts.url,
            values: [stringify(values ? values(given) : given)],
          },
        },
      },
    }),
  );
  return { dir };
}

/**
 * One of layer 03's kubernetes_manifest resources, as synthesized, alone in a stack whose kubernetes provider
 * reaches the judge with its admin kubeconfig; `change` edits the manifest (the deliberate breaks).
 */
function manifestStack(
  name: string,
  resource: string,
  change: (manifest: Record<string, unknown>) => void,
): {
  dir: string;
} {
  const config = JSON.parse(readFileSync(join(stacks["03-configuration"].dir, "cdk.tf.json"), "utf8")) as {
    terraform: { required_providers: Record<string, unknown> };
    resource: { kubernetes_manifest: Record<string, { manifest: Record<string, unknown>; depends_on?: unknown }> };
  };
  const { depends_on: _, ...manifest } = config.resource.kubernetes_manifest[resource];
  change(manifest.manifest);
  const dir = join(work.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "main.tf.json"),
    JSON.stringify({
      terraform: { required_providers: { kubernetes: config.terraform.required_providers.kubernetes } },
      provider: { kubernetes: [{ config_path: kube.kubeconfig }] },
      resource: { kubernetes_manifest: { [resource]: manifest } },
    }),
  );
  return { dir };
}

/** `tofu apply` of a stack that must fail: its output. */
async function refusedApply(stack: { dir: string }): Promise<string> {
  await tofu(stack, ["init", "-input=false", "-no-color"]);
  const run = await tofu(stack, ["apply", "-auto-approve", "-input=false", "-no-color"], { ok: [0, 1] });
  expect(run.status, run.stdout + run.stderr).toBe(1);
  return run.stdout + run.stderr;
}

beforeAll(async () => {
  build = await loadKubeJudge();
  // The multi-host example with every service switched on: Cilium's LB pool, a private Flux repository. Its
  // addresses stay as they are (nothing here connects to a node); the API server listens on the API address
  // moved into 127.0.0.0/8.
  mkdirSync(configDir, { recursive: true });
  const example = join(REPO, "examples", "multi-host-secureboot");
  const cluster = parse(readFileSync(join(example, "cluster.yaml"), "utf8")) as Record<string, unknown>;
  writeFileSync(
    join(configDir, "cluster.yaml"),
    stringify({
      ...cluster,
      proxmox_api_url: "https://127.0.0.1:1/",
      proxmox_api_insecure: true,
      talos_image_factory_url: "https://127.0.0.1:1/",
      state_backend: { type: "local" },
      cilium_loadbalancer_pool: POOL,
      repository_visibility: "private",
    }),
  );
  writeFileSync(join(configDir, "nodes.yaml"), readFileSync(join(example, "nodes.yaml")));
  proxmox = await startJudgeFor(configDir);
  stacks = await synthesizeFor(configDir, join(work.dir, "synth"));
  // Layer 00 for real, into the Proxmox simulator: the cluster's PKI, the sealed-secrets and Flux keys, the CSI token.
  await applyLayer(proxmox, stacks["00-persistent-auth"]);
  const secrets = (await stateResources(stacks["00-persistent-auth"], proxmox.env())).find(
    (r) => r.type === "talos_machine_secrets",
  );
  expect(secrets, "talos_machine_secrets in layer 00's state").toBeDefined();
  const certs = (secrets!.values.machine_secrets as { certs: Record<string, { cert?: string; key: string }> }).certs;
  const pki = join(work.dir, "pki");
  mkdirSync(pki, { recursive: true });
  const pem = (name: string, base64: string) => {
    writeFileSync(join(pki, name), Buffer.from(base64, "base64"), { mode: 0o600 });
    return join(pki, name);
  };
  // Talos' default admission configuration (pkg/machinery/config/generate: PodSecurity, enforce baseline,
  // kube-system exempt), as the machine configuration of layer 01 gives it to the API server.
  const admission = join(pki, "admission.yaml");
  writeFileSync(
    admission,
    stringify({
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AdmissionConfiguration",
      plugins: [
        {
          name: "PodSecurity",
          configuration: {
            apiVersion: "pod-security.admission.config.k8s.io/v1alpha1",
            kind: "PodSecurityConfiguration",
            defaults: {
              enforce: "baseline",
              "enforce-version": "latest",
              audit: "restricted",
              "audit-version": "latest",
              warn: "restricted",
              "warn-version": "latest",
            },
            exemptions: { usernames: [], runtimeClasses: [], namespaces: ["kube-system"] },
          },
        },
      ],
    }),
  );
  const nodes = (
    parse(readFileSync(join(configDir, "nodes.yaml"), "utf8")) as {
      nodes: Array<{ name: string; address: string; controller: boolean }>;
    }
  ).nodes;
  charts = await startChartRepository(join(build.dir, "charts"));
  kube = await startKubeJudge(build, {
    address: loopbackAddresses(String(parse(readFileSync(join(configDir, "cluster.yaml"), "utf8")).cluster_api_addr)),
    caCert: pem("ca.crt", certs.k8s.cert!),
    caKey: pem("ca.key", certs.k8s.key),
    serviceAccountKey: pem("sa.key", certs.k8s_serviceaccount.key),
    aggregatorCaCert: pem("aggregator.crt", certs.k8s_aggregator.cert!),
    aggregatorCaKey: pem("aggregator.key", certs.k8s_aggregator.key),
    admissionConfig: admission,
    dataDir: join(work.dir, "kube"),
    nodes: nodes.map((n) => `${n.name}=${loopbackAddresses(n.address)}${n.controller ? ",control-plane" : ""}`),
  });
  api = kubeClient(kube.kubeconfig);

  // Layer 01's state as its apply leaves it, for 02 and 03's terraform_remote_state: the kubeconfig's
  // client configuration (base64 PEM, as talos_cluster_kubeconfig has it).
  const admin = parse(readFileSync(kube.kubeconfig, "utf8")) as {
    users: Array<{ user: Record<string, string> }>;
  };
  const prefix = "cross-stack-output-talos_cluster_kubeconfiglabkubernetes_client_configuration";
  const outputs = {
    [`${prefix}host`]: kube.server,
    [`${prefix}ca_certificate`]: certs.k8s.cert,
    [`${prefix}client_certificate`]: admin.users[0].user["client-certificate-data"],
    [`${prefix}client_key`]: admin.users[0].user["client-key-data"],
  };
  mkdirSync(join(configDir, "state"), { recursive: true });
  writeFileSync(
    join(configDir, "state", "01-infrastructure.tfstate"),
    JSON.stringify({
      version: 4,
      terraform_version: "1.11.14",
      serial: 1,
      lineage: "kubernetes-judge-layer-01",
      outputs: Object.fromEntries(
        Object.entries(outputs).map(([k, v]) => [k, { value: v, type: "string", sensitive: true }]),
      ),
      resources: [],
      check_results: null,
    }),
  );
  for (const layer of ["02-services", "03-configuration"] as const)
    useChartRepository(join(stacks[layer].dir, "cdk.tf.json"), charts.url);
});

afterAll(async () => {
  await kube?.stop();
  await charts?.close();
  await proxmox?.close();
  work.remove();
});

describe("the Kubernetes judge", () => {
  it("serves the charts at the versions the configuration pins", () => {
    const schema = readFileSync(join(REPO, "config", "schema.ts"), "utf8");
    for (const [name, chart] of Object.entries(build.charts))
      expect(schema, `${name} ${chart.version}`).toMatch(
        new RegExp(`chartVersion\\("${name}( \\([^)]*\\))?", "${chart.version.replaceAll(".", "\\.")}"\\)`),
      );
  });

  it("applies layer 01's Cilium release with helm's wait met, then the operator's CRDs", async () => {
    const stack = ciliumStack("cilium");
    await tofu(stack, ["init", "-input=false", "-no-color"]);
    await tofu(stack, ["apply", "-auto-approve", "-input=false", "-no-color"]);
    expect(await releaseStatus(api, "kube-system", "cilium")).toBe("deployed");
    const agents = await api.get<{ status: { numberReady: number; desiredNumberScheduled: number } }>(
      "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium",
    );
    expect(agents?.status.desiredNumberScheduled).toBeGreaterThan(0);
    expect(agents?.status.numberReady).toBe(agents?.status.desiredNumberScheduled);
    // cilium-operator installs its CRDs when it starts; no operator runs here, so the judge does it.
    expect(await installCrds(api, build, "cilium")).toContain("ciliumloadbalancerippools.cilium.io");
  });

  it("refuses a Cilium value the chart's schema refuses", async () => {
    const output = await refusedApply(
      ciliumStack("cilium-broken", (values) => ({ ...values, operator: { replicas: "one" } })),
    );
    expect(output).toMatch(/values don't meet the specifications of the schema/);
    expect(output).toMatch(/replicas/);
  });

  it("applies layer 02: sealed-secrets with layer 00's key, Proxmox CSI and Flux, each release deployed and ready", async () => {
    await applyLayer(proxmox, stacks["02-services"], { excludes: [] });
    expect(await releaseStatus(api, "sealed-secrets", "sealed-secrets")).toBe("deployed");
    expect(await releaseStatus(api, "csi-proxmox", "proxmox-csi-plugin")).toBe("deployed");
    expect(await releaseStatus(api, "flux-system", "flux")).toBe("deployed");
    const key = await api.get<{ metadata: { labels: Record<string, string> } }>(
      "/api/v1/namespaces/sealed-secrets/secrets/sealed-secrets-key-persisted",
    );
    expect(key?.metadata.labels["sealedsecrets.bitnami.com/sealed-secrets-key"]).toBe("active");
    const controller = await api.get<{ status: { readyReplicas?: number } }>(
      "/apis/apps/v1/namespaces/sealed-secrets/deployments/sealed-secrets-controller",
    );
    expect(controller?.status.readyReplicas).toBe(1);
  });

  it("applies layer 03: Cilium's LB pool and L2 policy, Flux's repository, deploy key and Kustomization", async () => {
    await applyLayer(proxmox, stacks["03-configuration"], { excludes: [] });
    const pool = await api.get<{ spec: { blocks: unknown[] } }>("/apis/cilium.io/v2/ciliumloadbalancerippools/pool");
    expect(pool?.spec.blocks).toEqual([POOL]);
    expect(await api.get("/apis/cilium.io/v2alpha1/ciliuml2announcementpolicies/l2-policy")).toBeDefined();
    const repo = await api.get<{ spec: { url: string } }>(
      "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system",
    );
    expect(repo?.spec.url).toBe("ssh://git@github.com/example/lab-ops.git");
    expect(
      await api.get("/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system"),
    ).toBeDefined();
    expect(await api.get("/api/v1/namespaces/flux-system/secrets/flux-system")).toBeDefined();
  });

  it("refuses the LB pool on an API version Cilium's CRD does not serve", async () => {
    const output = await refusedApply(
      manifestStack("pool-unserved", "cilium_lb_pool", (m) => {
        m.apiVersion = "cilium.io/v2beta1";
        (m.metadata as Record<string, unknown>).name = "pool-unserved";
      }),
    );
    expect(output).toMatch(/cilium\.io\/v2beta1|CiliumLoadBalancerIPPool/);
  });

  it("refuses a Flux object with a field its CRD lacks", async () => {
    const output = await refusedApply(
      manifestStack("flux-unknown-field", "flux_git_repository", (m) => {
        (m.metadata as Record<string, unknown>).name = "flux-unknown-field";
        (m.spec as Record<string, unknown>).branch = "main";
      }),
    );
    expect(output).toMatch(/branch/);
  });
});
