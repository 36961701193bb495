// OIDC login to the Kubernetes API: the config (cluster_api_oidc, its CA file through the key-file gate), the
// API server settings each Talos contract wants, and the kubeconfig for kubectl oidc-login users.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ConfigError, formatIssue, parseConfig, resolveCluster } from "../config";
import { MAX_CA_FILE_BYTES } from "../config/key-files";
import {
  machineConfigPatches,
  type ApiServerOidc,
  type TalosClusterNetwork,
  type TalosNodeSpec,
} from "../constructs/talos-machine-config";
import { buildApp } from "../layers/app";
import { EXAMPLE } from "./support/synth";

const FIXTURES = join(__dirname, "fixtures", "oidc");
const CA = readFileSync(join(FIXTURES, "ca.pem"), "utf8");
const LEAF = readFileSync(join(FIXTURES, "leaf.pem"), "utf8");
const ISSUER = "https://auth.example.com/realms/home";

const work = mkdtempSync(join(tmpdir(), "oidc-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let folders = 0;

/** A config folder of the example with `oidc` as cluster_api_oidc and `files` beside it. */
function folder(oidc: Record<string, unknown> | undefined, files: Record<string, string> = {}): string {
  const dir = join(work, `config-${folders++}`);
  mkdirSync(dir);
  const cluster = { ...parse(EXAMPLE.cluster), ...(oidc && { cluster_api_oidc: oidc }) };
  writeFileSync(join(dir, "cluster.yaml"), stringify(cluster));
  writeFileSync(join(dir, "nodes.yaml"), EXAMPLE.nodes);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const sourcesOf = (dir: string) => ({
  cluster: readFileSync(join(dir, "cluster.yaml"), "utf8"),
  nodes: readFileSync(join(dir, "nodes.yaml"), "utf8"),
});

function issuesOf(dir: string): string[] {
  try {
    parseConfig(sourcesOf(dir), dir);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.filter((i) => i.severity === "error").map((i) => formatIssue(i));
    throw e;
  }
  throw new Error("the config was accepted");
}

describe("config", () => {
  it("resolves the defaults (sub, groups, oidc: prefixes) and reads the CA", () => {
    const dir = folder({ issuer_url: ISSUER, client_id: "kubernetes", ca_file: "ca.pem" }, { "ca.pem": CA });
    expect(resolveCluster(parseConfig(sourcesOf(dir), dir)).api.oidc).toEqual({
      issuerUrl: ISSUER,
      clientId: "kubernetes",
      usernameClaim: "sub",
      usernamePrefix: "oidc:",
      groupsClaim: "groups",
      groupsPrefix: "oidc:",
      caPem: CA,
    });
  });

  it.each([
    ["an http issuer", { issuer_url: "http://auth.example.com" }, /issuer_url: expected the issuer's https URL/],
    [
      "an issuer with credentials",
      { issuer_url: "https://admin:hunter2@auth.example.com" },
      /issuer_url: a URL with a user name or password in it/,
    ],
    [
      "an issuer with a template",
      { issuer_url: "https://auth.example.com/${var.x}" },
      /issuer_url: a URL cannot contain "\$\{" or "%\{"/,
    ],
    ["an issuer with a query", { issuer_url: `${ISSUER}?x=1` }, /issuer_url: an issuer URL has no query or fragment/],
    ["a client id with a quote", { client_id: 'k8s"' }, /client_id: expected a client id/],
    ["a claim with a space", { groups_claim: "my groups" }, /groups_claim: expected a claim name/],
    ["a client secret", { client_secret: "s3cr3t-value" }, /client_secret: looks like a credential/],
  ])("refuses %s, at its key", (_, change, issue) => {
    const issues = issuesOf(folder({ issuer_url: ISSUER, client_id: "kubernetes", ...change }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^cluster\.yaml:\d+:\d+ cluster_api_oidc\./);
    expect(issues[0]).toMatch(issue);
    expect(issues[0]).not.toMatch(/hunter2|s3cr3t-value/);
  });

  describe("ca_file, through the key-file gate", () => {
    const refused = (files: Record<string, string>, ca_file: string, setup?: (dir: string) => void) => {
      const dir = folder({ issuer_url: ISSUER, client_id: "kubernetes", ca_file }, files);
      setup?.(dir);
      const issues = issuesOf(dir);
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatch(/^cluster\.yaml:\d+:\d+ cluster_api_oidc\.ca_file: /);
      return issues[0];
    };
    it("refuses a file outside the config folder, by path or by link", () => {
      writeFileSync(join(work, "outside.pem"), CA);
      expect(refused({}, "../outside.pem")).toMatch(/outside the config folder|inside the config folder/);
      expect(refused({}, join(work, "outside.pem"))).toMatch(/an absolute path/);
      expect(refused({}, "link.pem", (dir) => symlinkSync(join(work, "outside.pem"), join(dir, "link.pem")))).toMatch(
        /outside the config folder/,
      );
    });
    it("refuses a missing file, a folder, a big file", () => {
      expect(refused({}, "missing.pem")).toMatch(/cannot read missing\.pem/);
      expect(refused({}, "sub", (dir) => mkdirSync(join(dir, "sub")))).toMatch(/not a regular file/);
      expect(refused({ "big.pem": CA.repeat(Math.ceil(MAX_CA_FILE_BYTES / CA.length) + 1) }, "big.pem")).toMatch(
        /larger than/,
      );
    });
    it("refuses what is not PEM certificates of a CA, and a private key", () => {
      expect(refused({ "x.pem": "hello\n" }, "x.pem")).toMatch(/not a PEM file of certificates/);
      expect(refused({ "x.pem": `${CA}trailing text\n` }, "x.pem")).toMatch(/not a PEM file of certificates/);
      expect(refused({ "leaf.pem": LEAF }, "leaf.pem")).toMatch(/certificate 1 \(CN=auth\.example\.com\) is not a CA/);
      const broken = CA.replace(/\n[A-Za-z0-9+/]{8}/, "\nAAAAAAAA");
      expect(refused({ "x.pem": broken }, "x.pem")).toMatch(/certificate 1 does not parse/);
      const key =
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
      const issue = refused({ "x.pem": `${CA}${key}` }, "x.pem");
      expect(issue).toMatch(/holds a private key/);
      expect(issue).not.toContain("MIGHAgEA");
    });
  });
});

describe("the API server settings", () => {
  const network = (oidc: ApiServerOidc): TalosClusterNetwork => ({
    nodeCidr: "10.0.0.0/24",
    nodePrefix: 24,
    gateway: "10.0.0.1",
    dnsServers: ["10.0.0.1"],
    ntpServers: ["10.0.0.1"],
    podCidr: "10.42.0.0/16",
    serviceCidr: "10.43.0.0/16",
    apiAddress: "10.0.0.10",
    apiVip: true,
    certSans: [],
    cni: "cilium",
    schedulingOnControllers: false,
    oidc,
  });
  const oidc: ApiServerOidc = {
    issuerUrl: ISSUER,
    clientId: "kubernetes",
    usernameClaim: "email",
    usernamePrefix: "",
    groupsClaim: "groups",
    groupsPrefix: "oidc:",
    caPem: CA,
  };
  const node = (controller: boolean): TalosNodeSpec => ({
    name: controller ? "cp0" : "w0",
    address: controller ? "10.0.0.21" : "10.0.0.31",
    controller,
    installDisk: { path: "/dev/sda" },
    installImage: "factory.talos.dev/installer/x:v1.13.0",
    mtu: 1500,
  });
  const patches = (controller: boolean, contract: string, talos = contract, settings = oidc) =>
    machineConfigPatches(node(controller), network(settings), contract, talos) as any[];

  it("up to the 1.13 contract: --oidc-* flags, '-' for no user name prefix, the CA written under /var and mounted", () => {
    const [v1alpha1, ...documents] = patches(true, "v1.13", "v1.13.8");
    expect(v1alpha1.cluster.apiServer.extraArgs).toEqual({
      "oidc-issuer-url": ISSUER,
      "oidc-client-id": "kubernetes",
      "oidc-username-claim": "email",
      "oidc-username-prefix": "-",
      "oidc-groups-claim": "groups",
      "oidc-groups-prefix": "oidc:",
      "oidc-ca-file": "/etc/oidc/ca.pem",
    });
    expect(v1alpha1.cluster.apiServer.extraVolumes).toEqual([
      { hostPath: "/var/etc/oidc", mountPath: "/etc/oidc", readonly: true },
    ]);
    expect(v1alpha1.machine.files).toEqual([
      { content: CA, permissions: 0o644, path: "/var/etc/oidc/ca.pem", op: "create" },
    ]);
    expect(documents.map((d) => d.kind)).not.toContain("EtcFileConfig");
  });

  it("the 1.13 contract on Talos 1.14: the CA in an EtcFileConfig under /etc (machine.files is deprecated there)", () => {
    const [v1alpha1, ...documents] = patches(true, "v1.13", "v1.14.1");
    expect(v1alpha1.machine.files).toBeUndefined();
    expect(v1alpha1.cluster.apiServer.extraVolumes).toEqual([
      { hostPath: "/etc/oidc", mountPath: "/etc/oidc", readonly: true },
    ]);
    expect(documents.filter((d) => d.kind === "EtcFileConfig")).toEqual([
      { apiVersion: "v1alpha1", kind: "EtcFileConfig", name: "oidc/ca.pem", mode: 0o644, contents: CA },
    ]);
  });

  it("an empty groups prefix is no flag; without a CA, no file and no volume", () => {
    const [v1alpha1] = patches(true, "v1.12", "v1.12.7", { ...oidc, groupsPrefix: "", caPem: undefined });
    expect(Object.keys(v1alpha1.cluster.apiServer.extraArgs)).not.toContain("oidc-groups-prefix");
    expect(Object.keys(v1alpha1.cluster.apiServer.extraArgs)).not.toContain("oidc-ca-file");
    expect(v1alpha1.cluster.apiServer.extraVolumes).toBeUndefined();
    expect(v1alpha1.machine.files).toBeUndefined();
  });

  it("from the 1.14 contract: a KubeAuthenticationConfig with one jwt authenticator, the CA inline, health checks anonymous", () => {
    const all = patches(true, "v1.14", "v1.14.1");
    expect(JSON.stringify(all)).not.toContain("oidc-");
    expect(all.filter((d) => d.kind === "KubeAuthenticationConfig")).toEqual([
      {
        apiVersion: "v1alpha1",
        kind: "KubeAuthenticationConfig",
        configuration: {
          anonymous: { enabled: true, conditions: [{ path: "/livez" }, { path: "/readyz" }, { path: "/healthz" }] },
          jwt: [
            {
              issuer: { url: ISSUER, audiences: ["kubernetes"], certificateAuthority: CA },
              claimMappings: { username: { claim: "email", prefix: "" }, groups: { claim: "groups", prefix: "oidc:" } },
            },
          ],
        },
      },
    ]);
  });

  it.each(["v1.13", "v1.14"])("workers get none of it (%s)", (contract) => {
    const text = JSON.stringify(patches(false, contract));
    expect(text).not.toMatch(/oidc|KubeAuthenticationConfig|BEGIN CERTIFICATE/);
  });
});

describe("credentials/kubeconfig-oidc", () => {
  const layer01 = (dir: string) => {
    const out = join(dir, "out");
    buildApp(resolveCluster(parseConfig(sourcesOf(dir), dir)), { configDir: dir, outdir: out }).synth();
    return JSON.parse(readFileSync(join(out, "stacks", "01-infrastructure", "cdk.tf.json"), "utf8"));
  };

  it("is written beside the admin kubeconfig: the API, its CA, the issuer and client id, for kubectl oidc-login; no credential", () => {
    const json = layer01(folder({ issuer_url: ISSUER, client_id: "kubernetes" }));
    const files = json.resource.local_sensitive_file;
    expect(files["kubeconfig-oidc"].filename).toBe(files.kubeconfig.filename.replace(/kubeconfig$/, "kubeconfig-oidc"));
    const content = files["kubeconfig-oidc"].content as string;
    expect(content).toMatch(/^\$\{yamlencode\(/);
    for (const part of [
      '"server" = "https://192.168.10.20:6443"',
      '"certificate-authority-data" = talos_cluster_kubeconfig.homelab.kubernetes_client_configuration.ca_certificate',
      `"--oidc-issuer-url=${ISSUER}"`,
      '"--oidc-client-id=kubernetes"',
      '"command" = "kubectl"',
      '"oidc-login", "get-token"',
    ])
      expect(content).toContain(part);
    expect(content).not.toMatch(
      /client_key|client_certificate|client-key|client-certificate|"token" =|secret|password/i,
    );
  });

  it("is not written without cluster_api_oidc", () => {
    expect(Object.keys(layer01(folder(undefined)).resource.local_sensitive_file)).not.toContain("kubeconfig-oidc");
  });
});
