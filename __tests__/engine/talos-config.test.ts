// Talos as the judge: every machine configuration the app generates, for the root example (the tests' copy), every folder in
// examples/ and a matrix of the settings that shape a node's configuration, is accepted by Talos' own
// machinery (generate as the provider does, apply our patches, validate for metal in strict mode) of every
// supported Talos minor, with no error and no warning.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { CILIUM_RELEASES, TALOS_RELEASES, minorOf, parseVersion } from "../../config/versions";
import { clusterSchema } from "../../config/schema";
import { engine, REPO, synthesize, tempDir } from "./support";
import {
  checkMachineConfigs,
  describeFindings,
  machineConfigCases,
  talosMinor,
  testValueOf,
  writeConfig,
  type CheckCase,
} from "./talos-config-support";

const work = tempDir("talos-config");
afterAll(() => work.remove());

type Config = {
  cluster: Record<string, unknown>;
  nodes: Record<string, unknown>[];
  /** Files beside cluster.yaml that it names. */
  files?: Record<string, string>;
};
const read = (dir: string): Config => ({
  cluster: parse(readFileSync(join(dir, "cluster.yaml"), "utf8")) as Record<string, unknown>,
  nodes: (parse(readFileSync(join(dir, "nodes.yaml"), "utf8")) as { nodes: Record<string, unknown>[] }).nodes,
});

const examples: Array<[string, Config]> = [
  ["the root example (its copy in __tests__/fixtures/example)", read(join(REPO, "__tests__", "fixtures", "example"))],
  ...readdirSync(join(REPO, "examples")).map((e): [string, Config] => [
    `examples/${e}`,
    read(join(REPO, "examples", e)),
  ]),
];

const proxmox = { proxmox_api_url: "https://pve.example.com:8006/", proxmox_node: "pve" };
const OIDC_CA = readFileSync(join(REPO, "__tests__", "fixtures", "oidc", "ca.pem"), "utf8");
/** The settings that shape a node's machine configuration, each in at least one case. */
const matrix: Array<[string, Config]> = [
  [
    "matrix: three controllers on a VIP and workers, VLAN, MTU, SecureBoot, several DNS and NTP servers",
    {
      cluster: {
        ...proxmox,
        cluster_name: "matrix",
        node_cidr: "10.10.0.0/24",
        node_vlan_tag: 30,
        node_dns_servers: ["10.10.0.1", "1.1.1.1", "9.9.9.9"],
        node_ntp_servers: ["time.cloudflare.com", "10.10.0.1", "pool.ntp.org"],
        cluster_api_addr: "10.10.0.5",
        cluster_api_tls_sans: ["k8s.example.com", "10.10.0.5"],
        talos_version: "v1.12.1",
        kubernetes_version: "v1.35.0",
      },
      nodes: [
        { name: "cp-a", address: "10.10.0.11", controller: true, secureboot: true, mac_addr: "bc:24:11:00:00:11" },
        {
          name: "cp-b",
          address: "10.10.0.12",
          controller: true,
          mtu: 9000,
          cert_sans: ["cp-b.example.com", "10.10.0.112"],
          sysctls: { "net.core.somaxconn": "65535" },
        },
        {
          name: "cp-c",
          address: "10.10.0.13",
          controller: true,
          disk: "/dev/vda",
          labels: { "example.com/tier": "control" },
        },
        {
          name: "w-a",
          address: "10.10.0.21",
          controller: false,
          secureboot: true,
          mtu: 9000,
          disk_selector: { size: ">= 100GB", model: "QEMU HARDDISK*" },
          labels: { "example.com/role": "storage", role: "storage" },
          taints: { dedicated: "storage:NoSchedule", maintenance: "NoExecute" },
        },
        {
          name: "w-b",
          address: "10.10.0.22",
          controller: false,
          mac_addr: "bc:24:11:00:00:22",
          kernel_modules: ["drbd", "nvme_tcp"],
          sysctls: { "vm.max_map_count": "262144", "net.ipv4.ip_forward": "1" },
          disk_selector: { serial: "drive-scsi0" },
          cert_sans: ["w-b.example.com"],
        },
      ],
    },
  ],
  [
    "matrix: an external load balancer instead of the VIP, flannel",
    {
      cluster: {
        ...proxmox,
        cluster_name: "external",
        node_cidr: "10.20.0.0/24",
        cluster_api_addr: "10.30.0.10",
        cluster_api_vip: false,
        cluster_cni: "flannel",
        talos_version: "v1.12.1",
        kubernetes_version: "v1.35.0",
      },
      nodes: [
        { name: "cp", address: "10.20.0.11", controller: true },
        { name: "w", address: "10.20.0.21", controller: false },
      ],
    },
  ],
  [
    "matrix: Tailscale on every node but one (routes, a hostname of its own), OIDC login with a private CA",
    {
      cluster: {
        ...proxmox,
        cluster_name: "reach",
        node_cidr: "10.50.0.0/24",
        cluster_api_addr: "10.50.0.10",
        talos_version: "v1.12.1",
        kubernetes_version: "v1.35.0",
        tailscale: { all_nodes: true, advertise_routes: ["10.50.0.0/24", "10.43.0.0/16"] },
        cluster_api_oidc: {
          issuer_url: "https://auth.example.com/realms/home",
          client_id: "kubernetes",
          username_claim: "email",
          username_prefix: "",
          groups_prefix: "oidc:",
          ca_file: "issuer-ca.pem",
        },
      },
      nodes: [
        { name: "cp-a", address: "10.50.0.11", controller: true },
        {
          name: "cp-b",
          address: "10.50.0.12",
          controller: true,
          tailscale: { hostname: "gate", advertise_routes: [] },
        },
        { name: "cp-c", address: "10.50.0.13", controller: true, tailscale: false },
        { name: "w-a", address: "10.50.0.21", controller: false, secureboot: true },
      ],
      files: { "issuer-ca.pem": OIDC_CA },
    },
  ],
  [
    "matrix: a single node with workloads on the controller, no CNI",
    {
      cluster: {
        ...proxmox,
        cluster_name: "single",
        node_cidr: "10.40.0.0/24",
        cluster_api_addr: "10.40.0.10",
        cluster_cni: "none",
        talos_version: "v1.12.1",
        kubernetes_version: "v1.35.0",
      },
      nodes: [{ name: "solo", address: "10.40.0.11", controller: true }],
    },
  ],
];

const checkers = engine().talosConfigCheckers;
const minors = Object.keys(checkers);

/** The newest Kubernetes minor both the Talos minor and the default Cilium support. */
function kubernetesFor(talos: string): string {
  const cilium = CILIUM_RELEASES[minorOf(clusterSchema.shape.cilium_version.parse(undefined))].kubernetes;
  const max = Math.min(parseVersion(TALOS_RELEASES[talos].kubernetes.max)[1], parseVersion(cilium.max)[1]);
  return `v1.${max}.0`;
}

let synthesized = 0;
/** Synthesizes `config` and returns its machine configurations as checker input. */
async function casesOf(name: string, config: Config): Promise<CheckCase[]> {
  const dir = join(work.dir, `${name.replace(/[^a-z0-9]+/gi, "-")}-${synthesized++}`);
  const stacks = await synthesize(writeConfig(join(dir, "config"), config.cluster, config.nodes, config.files), dir);
  const byId = new Map(machineConfigCases(stacks["01-infrastructure"].json, name).map((c) => [c.id, c]));
  const ids = config.nodes.map((n) => `${name} ${n.name}`);
  expect([...byId.keys()].sort(), "one machine configuration per node").toEqual([...ids].sort());
  return ids.map((id) => byId.get(id)!);
}

/** Checks every node of `config`, expecting no finding, and that each configuration is the node's own. */
async function expectAccepted(name: string, config: Config, minor: string): Promise<void> {
  const cases = await casesOf(name, config);
  const { machinery, results } = await checkMachineConfigs(minor, cases);
  expect(machinery).toBe(checkers[minor].machinery);
  expect(describeFindings(results), `Talos machinery ${machinery} on ${name}`).toEqual([]);
  results.forEach((result, i) => {
    const node = config.nodes[i];
    const docs = parseAllDocuments(result.config ?? "").map((d) => d.toJS() as Record<string, any>);
    const v1alpha1 = docs.find((d) => d.version === "v1alpha1")!;
    const kind = (k: string) => docs.find((d) => d.kind === k);
    // From the 1.14 contract on, the settings live in documents of their own (absent before).
    const install = kind("UnattendedInstallConfig");
    const kubeNode = kind("KubeNodeConfig");
    const apiServer = kind("KubeAPIServerConfig");
    const machine = v1alpha1.machine;
    expect(kind("HostnameConfig")?.hostname ?? machine.network?.hostname, `${result.id}: hostname`).toBe(node.name);
    expect(machine.type).toBe(node.controller ? "controlplane" : "worker");
    expect(install?.installer.image ?? machine.install.image).toMatch(
      /^factory\.talos\.dev\/installer(-secureboot)?\/[0-9a-f]{64}:v\d+\.\d+\.\d+$/,
    );
    // The per-node settings reach the configuration Talos accepted.
    if (install) {
      const match = install.provisioning.diskSelector.match as string;
      if (node.disk_selector)
        expect(match.split(" && ").map((term) => /disk\.(\w+)/.exec(term)![1])).toEqual(
          Object.keys(node.disk_selector as object),
        );
      else expect(match).toBe(`disk.dev_path == "${node.disk ?? "/dev/sda"}"`);
    } else if (node.disk_selector) {
      expect(machine.install.disk, `${result.id}: no fixed disk with a selector`).toBeUndefined();
      expect(Object.keys(machine.install.diskSelector)).toEqual(Object.keys(node.disk_selector as object));
    } else {
      expect(machine.install.disk).toBe(node.disk ?? "/dev/sda");
    }
    if (node.kernel_modules)
      expect(machine.kernel.modules.map((m: { name: string }) => m.name)).toEqual(node.kernel_modules);
    if (node.sysctls) expect(machine.sysctls).toEqual(node.sysctls);
    if (node.labels) expect(kubeNode?.labels ?? machine.nodeLabels).toMatchObject(node.labels as object);
    if (node.taints) expect(kubeNode?.taints ?? machine.nodeTaints).toMatchObject(node.taints as object);
    if (node.cert_sans) expect(machine.certSANs).toEqual(expect.arrayContaining(node.cert_sans as string[]));
    if (node.controller && kubeNode) {
      // What allowSchedulingOnControlPlanes, cni and proxy did in v1alpha1.
      const onlyControllers = config.nodes.every((n) => n.controller);
      expect(kubeNode.taints?.["node-role.kubernetes.io/control-plane"]).toBe(
        onlyControllers ? undefined : "NoSchedule",
      );
      const cni = config.cluster.cluster_cni ?? "cilium";
      expect(kind("KubeFlannelCNIConfig") !== undefined, `${result.id}: flannel`).toBe(cni === "flannel");
      expect(kind("KubeProxyConfig")?.enabled, `${result.id}: kube-proxy`).toBe(cni === "cilium" ? false : undefined);
    }
    if (node.cert_sans && node.controller)
      expect(apiServer?.certExtraSANs ?? v1alpha1.cluster.apiServer.certSANs).toEqual(
        expect.arrayContaining(node.cert_sans as string[]),
      );
    expectTailscale(config, node, docs);
    expectOidc(config, node, docs, v1alpha1);
  });
}

/** A node in the tailnet has the extension's service settings, the key in them; the others none. */
function expectTailscale(config: Config, node: Record<string, any>, docs: Record<string, any>[]): void {
  const tailnet = config.cluster.tailscale as Record<string, any> | undefined;
  const own = node.tailscale;
  const joins = tailnet !== undefined && own !== false && (own !== undefined || tailnet.all_nodes === true);
  const service = docs.filter((d) => d.kind === "ExtensionServiceConfig" && d.name === "tailscale");
  expect(service.length, `${node.name}: tailscale service config`).toBe(joins ? 1 : 0);
  if (!joins) return;
  const routes = own?.advertise_routes ?? tailnet.advertise_routes ?? [];
  expect(service[0].environment).toEqual([
    `TS_AUTHKEY=${testValueOf("tailscale_auth_key")}`,
    `TS_HOSTNAME=${own?.hostname ?? node.name}`,
    ...(routes.length ? [`TS_ROUTES=${routes.join(",")}`] : []),
    "TS_AUTH_ONCE=true",
  ]);
}

/** A controller's API server takes OIDC tokens as cluster.yaml says: --oidc-* flags up to 1.13, its own document from 1.14. */
function expectOidc(
  config: Config,
  node: Record<string, any>,
  docs: Record<string, any>[],
  v1alpha1: Record<string, any>,
): void {
  const oidc = config.cluster.cluster_api_oidc as Record<string, any> | undefined;
  const authentication = docs.find((d) => d.kind === "KubeAuthenticationConfig");
  const args = v1alpha1.cluster?.apiServer?.extraArgs ?? {};
  const flags = Object.keys(args).filter((a) => a.startsWith("oidc-"));
  if (!oidc || !node.controller) {
    expect(flags, `${node.name}: no OIDC flags`).toEqual([]);
    expect(authentication?.configuration?.jwt ?? [], `${node.name}: no jwt authenticator`).toEqual([]);
    return;
  }
  const ca = oidc.ca_file === undefined ? undefined : config.files![oidc.ca_file];
  if (authentication) {
    expect(flags).toEqual([]);
    const [jwt] = authentication.configuration.jwt;
    expect(jwt.issuer).toEqual({
      url: oidc.issuer_url,
      audiences: [oidc.client_id],
      ...(ca === undefined ? {} : { certificateAuthority: ca }),
    });
    expect(jwt.claimMappings).toEqual({
      username: { claim: oidc.username_claim ?? "sub", prefix: oidc.username_prefix ?? "oidc:" },
      groups: { claim: oidc.groups_claim ?? "groups", prefix: oidc.groups_prefix ?? "oidc:" },
    });
    expect(authentication.configuration.anonymous.enabled, `${node.name}: health checks stay anonymous`).toBe(true);
    return;
  }
  // An empty user name prefix is "-" as a flag (unset, kube-apiserver puts the issuer's URL there); an empty
  // groups prefix is no flag.
  const usernamePrefix = oidc.username_prefix ?? "oidc:";
  const groupsPrefix = oidc.groups_prefix ?? "oidc:";
  expect(Object.fromEntries(flags.filter((f) => f !== "oidc-ca-file").map((f) => [f, args[f]]))).toEqual({
    "oidc-issuer-url": oidc.issuer_url,
    "oidc-client-id": oidc.client_id,
    "oidc-username-claim": oidc.username_claim ?? "sub",
    "oidc-username-prefix": usernamePrefix === "" ? "-" : usernamePrefix,
    "oidc-groups-claim": oidc.groups_claim ?? "groups",
    ...(groupsPrefix === "" ? {} : { "oidc-groups-prefix": groupsPrefix }),
  });
  expect(args["oidc-ca-file"] !== undefined).toBe(ca !== undefined);
  if (ca === undefined) return;
  // The flag names a file in the pod that a volume of the API server maps to the file Talos writes: with
  // machine.files under /var up to Talos 1.13, with an EtcFileConfig under /etc from 1.14 (files are deprecated).
  const volume = v1alpha1.cluster.apiServer.extraVolumes.find((v: any) =>
    args["oidc-ca-file"].startsWith(`${v.mountPath}/`),
  );
  expect(volume?.readonly).toBe(true);
  const onHost = args["oidc-ca-file"].replace(volume.mountPath, volume.hostPath);
  const written = [
    ...(v1alpha1.machine.files ?? []).map((f: any) => [f.path, f.content]),
    ...docs.filter((d) => d.kind === "EtcFileConfig").map((d) => [`/etc/${d.name}`, d.contents]),
  ];
  expect(written, `${node.name}: the issuer's CA written where the API server reads it`).toEqual([[onHost, ca]]);
}

describe("every example as configured, judged by the machinery of its Talos minor", () => {
  it.each(examples)("%s", async (name, config) => {
    const minor = talosMinor(config.cluster.talos_version as string);
    expect(minors, `a checker for ${name}'s Talos ${minor}`).toContain(minor);
    await expectAccepted(name, config, minor);
  });
});

describe.each(minors)("Talos %s", (minor) => {
  const version = () => checkers[minor].machinery;

  it.each([...examples, ...matrix])("%s: every node accepted", async (name, config) => {
    const cluster = { ...config.cluster, talos_version: version(), kubernetes_version: kubernetesFor(minor.slice(1)) };
    await expectAccepted(name, { ...config, cluster }, minor);
  });

  it("rejects what Talos rejects: an unknown key; from 1.12 on, a static hostname beside the generated HostnameConfig; from 1.14 on, the v1alpha1 form of the settings 1.14 moved", async () => {
    const [, root] = examples[0];
    const at = (talos: string) => ({
      nodes: root.nodes.slice(0, 1),
      cluster: { ...root.cluster, talos_version: talos, kubernetes_version: kubernetesFor(minor.slice(1)) },
    });
    const base = (await casesOf(`${minor} negative`, at(version())))[0];
    /** The patches with `edit` applied to every patch document holding the kubelet's nodeIP settings. */
    const withNodeIP = (edit: (holder: any) => void) =>
      base.patches.map((text) => {
        const patch = JSON.parse(text);
        const holder = patch.kind === "KubeNodeConfig" ? patch : patch.machine?.kubelet;
        if (holder?.nodeIP) edit(holder);
        return JSON.stringify(patch);
      });
    const v1alpha1 = JSON.parse(base.patches[0]);
    v1alpha1.machine.network.hostname = "cp0";
    const cases: CheckCase[] = [
      { ...base, id: "unknown key", patches: withNodeIP((h) => (h.nodeIp = h.nodeIP)) },
      { ...base, id: "hostname in machine.network", patches: [JSON.stringify(v1alpha1)] },
    ];
    const documents = minors.indexOf(minor) >= minors.indexOf("v1.14");
    // The patches a 1.13 contract takes (v1alpha1 only), given to a configuration of this minor's contract.
    if (documents) {
      const v113 = (await casesOf(`${minor} v1.13 form`, at(checkers["v1.13"].machinery)))[0];
      cases.push({ ...v113, id: "the v1.13 form", talosVersion: version(), contract: undefined });
    }
    const { results } = await checkMachineConfigs(minor, cases);
    expect(results[0].errors.join("\n")).toMatch(/nodeIp/);
    if (minors.indexOf(minor) >= minors.indexOf("v1.12")) {
      expect(results[1].errors).toEqual(["validate: static hostname is already set in v1alpha1 config"]);
    } else {
      expect(results[1].errors).toEqual([]);
    }
    if (documents) {
      const refused = results[2].errors.join("\n");
      for (const setting of [".machine.network.nameservers", ".machine.kubelet", "KubePrism", "kube-apiserver"])
        expect(refused).toContain(setting);
    }
  });

  // What a rolling upgrade from the minor before leaves: this Talos, the configurations' contract kept.
  it.runIf(minors.indexOf(minor) > 0).each([examples[0], matrix[0], matrix[2], matrix[3]])(
    "%s: every node accepted with the contract of the minor before (talos_config_contract pinned)",
    async (name, config) => {
      const previous = minors[minors.indexOf(minor) - 1];
      const cluster = {
        ...config.cluster,
        talos_version: version(),
        talos_config_contract: previous,
        kubernetes_version: kubernetesFor(minor.slice(1)),
      };
      const cases = await casesOf(`${name} on ${previous}`, { ...config, cluster });
      expect(new Set(cases.map((c) => [c.talosVersion, c.contract].join(" ")))).toEqual(
        new Set([`${version()} ${previous}`]),
      );
      const { results } = await checkMachineConfigs(minor, cases);
      expect(describeFindings(results)).toEqual([]);
    },
  );

  it("supports exactly the Kubernetes minors config/versions.ts declares for it", async () => {
    const range = TALOS_RELEASES[minor.slice(1)].kubernetes;
    const [low, high] = [parseVersion(range.min)[1], parseVersion(range.max)[1]];
    const [, root] = examples[0];
    const base = (
      await casesOf(`${minor} range`, {
        nodes: root.nodes,
        cluster: { ...root.cluster, talos_version: version(), kubernetes_version: kubernetesFor(minor.slice(1)) },
      })
    )[0];
    const at = (k8sMinor: number) => ({ ...base, id: `v1.${k8sMinor}`, kubernetesVersion: `v1.${k8sMinor}.0` });
    const { results } = await checkMachineConfigs(minor, [at(low - 1), at(low), at(high), at(high + 1)]);
    expect(results.map((r) => [r.id, r.errors.some((e) => e.startsWith("kubernetesVersion"))])).toEqual([
      [`v1.${low - 1}`, true],
      [`v1.${low}`, false],
      [`v1.${high}`, false],
      [`v1.${high + 1}`, true],
    ]);
  });
});

it("a checker is built for every Talos minor config/versions.ts supports, and no other", () => {
  expect(minors.map((m) => m.slice(1))).toEqual(Object.keys(TALOS_RELEASES));
});
