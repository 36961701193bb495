// npm run machine-config: the masking of secrets (every field Talos' machinery redacts, in each document kind)
// and the command's gate (node name, flags, --out, the config), run as the user runs it. The render itself, by
// the engine and judged by Talos' machinery, is in __tests__/engine/machine-config.test.ts.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { configFolder, outputPath, parseOptions } from "../scripts/machine-config";
import { bundleSecrets, leftSecret, MASK, maskMachineConfig } from "../scripts/machine-config/mask";
import { parseConfig, resolveCluster } from "../config";
import { synthesizeMachineConfigStack } from "../scripts/machine-config/stack";
import { run } from "./support/run";
import { exampleSources, REPO, synth } from "./support/synth";

const PEM_KEY =
  "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBx1xZ2t3kQbqq1Q0nJx2yGf0YQyS5e9L3Z0m8w7cQ1aoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n";
const B64_KEY = Buffer.from(PEM_KEY).toString("base64");

/** One document of each kind, every secret field Talos' machinery redacts set to a value of its own. */
function everySecret(): { text: string; secrets: string[] } {
  const secrets: string[] = [];
  const s = (name: string) => {
    const value = `secret-${name}-0123456789`;
    secrets.push(value);
    return value;
  };
  const registry = {
    auth: { password: s("reg-password"), auth: s("reg-auth"), identityToken: s("reg-token") },
    tls: { clientIdentity: { crt: "cert", key: s("reg-key") } },
  };
  const vip = (n: string) => ({
    ip: "10.0.0.1",
    equinixMetal: { apiToken: s(`equinix-${n}`) },
    hcloud: { apiToken: s(`hcloud-${n}`) },
  });
  const staticKey = (n: string) => ({ slot: 0, static: { passphrase: s(`passphrase-${n}`) } });
  const v1alpha1 = {
    version: "v1alpha1",
    machine: {
      token: s("machine-token"),
      ca: { crt: "public", key: s("machine-ca-key") },
      registries: { config: { "ghcr.io": registry } },
      network: {
        interfaces: [
          {
            interface: "eth0",
            wireguard: { privateKey: s("wg-device") },
            vip: vip("device"),
            vlans: [{ vlanId: 5, vip: vip("vlan") }],
          },
        ],
      },
      systemDiskEncryption: {
        state: { provider: "luks2", keys: [staticKey("state")] },
        ephemeral: { provider: "luks2", keys: [staticKey("ephemeral")] },
      },
    },
    cluster: {
      id: "public-id",
      secret: s("cluster-secret"),
      token: s("bootstrap-token"),
      aescbcEncryptionSecret: s("aescbc"),
      secretboxEncryptionSecret: s("secretbox"),
      serviceAccount: { key: s("sa-key") },
      ca: { crt: "public", key: s("k8s-ca-key") },
      aggregatorCA: { crt: "public", key: s("aggregator-key") },
      etcd: { ca: { crt: "public", key: s("etcd-ca-key") } },
    },
  };
  const doc = (kind: string, fields: Record<string, unknown>) => ({ apiVersion: "v1alpha1", kind, ...fields });
  const documents = [
    v1alpha1,
    doc("KubeAggregatorCAConfig", { issuingCA: { cert: "public", key: s("doc-aggregator") } }),
    doc("KubeAPIServerCAConfig", { issuingCA: { cert: "public", key: PEM_KEY } }),
    doc("KubeServiceAccountConfig", { issuer: { privateKey: s("doc-sa") } }),
    doc("KubeEtcdEncryptionConfig", {
      config: { resources: [{ providers: [{ secretbox: { keys: [{ name: "k", secret: s("doc-etcd") }] } }] }] },
    }),
    doc("DiscoveryIdentityConfig", { clusterSecret: s("doc-discovery") }),
    doc("SideroLinkConfig", { apiUrl: "https://siderolink.example", uniqueToken: s("doc-siderolink") }),
    doc("WireguardConfig", {
      name: "wg0",
      privateKey: s("doc-wg"),
      peers: [{ publicKey: "public", presharedKey: s("doc-wg-peer") }],
    }),
    doc("HCloudVIPConfig", { name: "vip", apiToken: s("doc-hcloud") }),
    doc("RegistryAuthConfig", {
      name: "ghcr.io",
      password: s("doc-reg-password"),
      auth: s("doc-reg-auth"),
      identityToken: s("doc-reg-token"),
    }),
    doc("RegistryTLSConfig", { name: "ghcr.io", clientIdentity: { cert: "public", key: s("doc-reg-key") } }),
    ...["VolumeConfig", "RawVolumeConfig", "SwapVolumeConfig", "UserVolumeConfig"].map((kind) =>
      doc(kind, { name: kind, encryption: { provider: "luks2", keys: [staticKey(kind)] } }),
    ),
    doc("ExtensionServiceConfig", {
      name: "tailscale",
      environment: [`TS_AUTHKEY=${s("ts-authkey")}`, "TS_HOSTNAME=node0"],
    }),
  ];
  return { text: documents.map((d) => `---\n${JSON.stringify(d)}\n`).join(""), secrets: [...secrets, PEM_KEY.trim()] };
}

describe("maskMachineConfig", () => {
  it("masks every field Talos' machinery redacts, in v1alpha1 and in each document of its own, and the Tailscale auth key", () => {
    const { text, secrets } = everySecret();
    const masked = maskMachineConfig(text);
    for (const secret of secrets) expect(masked, secret).not.toContain(secret);
    expect(leftSecret(masked, secrets)).toBeUndefined();
    const docs = parseAllDocuments(masked).map((d) => d.toJS());
    expect(docs[0].machine.ca).toEqual({ crt: "public", key: MASK });
    expect(docs[0].cluster.id).toBe("public-id");
    expect(docs.at(-1).environment).toEqual([`TS_AUTHKEY=${MASK}`, "TS_HOSTNAME=node0"]);
  });

  it("masks a value of the secrets bundle wherever it is, and a base64 key's PEM form", () => {
    const bundle = {
      certs: { os: { cert: "public-cert", key: B64_KEY } },
      trustdinfo: { token: "abcdef.0123456789abcdef" },
    };
    const config = `machine:\n  install:\n    extraKernelArgs: ["talos.token=abcdef.0123456789abcdef"]\n---\napiVersion: v1alpha1\nkind: Unknown\nkey: |\n${PEM_KEY.replace(/^/gm, "  ")}`;
    expect(bundleSecrets(bundle)).toEqual([B64_KEY, "abcdef.0123456789abcdef"]);
    const masked = maskMachineConfig(config, bundleSecrets(bundle));
    expect(masked).not.toContain("0123456789abcdef");
    expect(masked).not.toContain("PRIVATE KEY");
  });

  it("refuses to return a text that still holds a private key", () => {
    expect(() => maskMachineConfig(`machine:\n  unknownField: ${B64_KEY}\n`)).toThrow(/a private key/);
  });
});

// ------------------------------------------------------------------------------------------- the stack

describe("the throwaway stack", () => {
  it("gives the talos provider layer 01's inputs for the node (patches, versions, endpoint), a Tailscale key placeholder, secrets of its own", () => {
    const sources = exampleSources({ cluster: { tailscale: { all_nodes: true } } });
    const cluster = resolveCluster(parseConfig(sources));
    const layer01 = synth({ cluster: { tailscale: { all_nodes: true } } }).infrastructure;
    const dir = mkdtempSync(join(tmpdir(), "machine-config-stack-"));
    try {
      for (const node of ["controlplane0", "worker1"]) {
        const stackDir = synthesizeMachineConfigStack(
          cluster,
          cluster.nodes.find((n) => n.name === node)!,
          join(dir, node),
        );
        const stack = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8"));
        const mine = stack.data.talos_machine_configuration[node];
        const theirs = layer01.data!.talos_machine_configuration[node];
        // The installer image is the same data source's attribute, under a label of the schematics each stack has.
        const image = (v: unknown) => JSON.stringify(v).replace(/talos_image_factory_urls\.talos_\w+\.urls/g, "URLS");
        const authKey = (v: string) => v.replace(/TS_AUTHKEY=[^"\\]*/, "TS_AUTHKEY=<key>");
        const { machine_secrets: ms1, config_patches: p1, "//": _m1, ...rest1 } = mine;
        const { machine_secrets: ms2, config_patches: p2, "//": _m2, ...rest2 } = theirs;
        expect(rest1).toEqual(rest2);
        expect(authKey(image(p1))).toEqual(authKey(image(p2)));
        expect(JSON.stringify(p1)).toContain("TS_AUTHKEY=not-rendered:");
        expect(ms1).toBe("${talos_machine_secrets.cluster.machine_secrets}");
        expect(Object.keys(stack.resource)).toEqual(["talos_image_factory_schematic", "talos_machine_secrets"]);
        // State in the temporary folder, removed with it.
        expect(Object.keys(stack.terraform.backend)).toEqual(["local"]);
        expect(stack.terraform.backend.local.path).not.toMatch(/^\/|\.\./);
        expect(Object.keys(stack.variable ?? {})).toEqual([]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------------- the command

const CLI = join(REPO, "scripts", "machine-config.ts");
const TSX = join(REPO, "node_modules", ".bin", "tsx");
let work: string;
let config: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "machine-config-"));
  config = join(work, "config");
  cpSync(join(REPO, "__tests__", "fixtures", "example"), config, { recursive: true });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function machineConfig(args: readonly string[], env: Record<string, string> = {}) {
  return run(TSX, [CLI, ...args], {
    cwd: REPO,
    env: { ...process.env, CONFIG_DIR: config, TF_BINARY: join(work, "no-engine"), ...env },
  });
}

/** Every file under the work folder, to see that nothing was written. */
function files(): string[] {
  return readdirSync(work, { recursive: true }).map(String).sort();
}

describe("npm run machine-config: the gate", { timeout: 240_000 }, () => {
  it("an unknown node is refused naming nodes.yaml and its nodes with their lines; nothing written, no stack trace", async () => {
    const before = files();
    const r = await machineConfig(["worker9", "--out", "worker9.yaml"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^machine-config: no node "worker9" in .*nodes\.yaml; its nodes: controlplane0 \(nodes\.yaml:4\), .*worker1 \(nodes\.yaml:\d+\)\n$/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe("");
    expect(files()).toEqual(before);
  });

  it("an unknown flag is refused with the usage, no stack trace", async () => {
    const r = await machineConfig(["--bogus", "worker0"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Unknown option '--bogus'/);
    expect(r.stderr).toContain("usage: npm run machine-config -- <node>");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [[], /name the node/],
    [["worker0", "worker1"], /one node at a time, got 2/],
    [["worker0", "--out"], /argument missing/],
    [["worker0", "--show-secrets=yes"], /does not take an argument/],
  ])("flags %j are refused with the usage", (args, message) => {
    expect(() => parseOptions(args)).toThrow(message);
    expect(() => parseOptions(args)).toThrow(/usage: npm run machine-config -- <node>/);
  });

  it("--cluster selects clusters/<name> as inventory and bootstrap do; an unknown name lists the clusters", () => {
    const repo = join(work, "repo");
    for (const name of ["lab", "prod"]) cpSync(config, join(repo, "clusters", name), { recursive: true });
    const options = (cluster?: string) => ({ node: "worker0", cluster, showSecrets: false });
    expect(configFolder(options("lab"), {}, repo)).toBe(join(repo, "clusters", "lab"));
    expect(() => configFolder(options("test"), {}, repo)).toThrow(/--cluster=test: .*clusters: lab, prod/);
    expect(() => configFolder(options("../lab"), {}, repo)).toThrow(/expected the name of a folder in clusters\//);
    expect(() => configFolder(options("lab"), { CONFIG_DIR: "." }, repo)).toThrow(/CONFIG_DIR and --cluster both/);
    expect(() => configFolder(options(), {}, repo)).toThrow(
      /name the cluster with --cluster <name> \(clusters\/: lab, prod\)/,
    );
    expect(configFolder(options(), { CONFIG_DIR: config }, repo)).toBe(config);
    rmSync(repo, { recursive: true, force: true });
  });

  it("--help says what --show-secrets prints", async () => {
    const r = await machineConfig(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--show-secrets\s+print the throwaway secrets this render generated/);
    expect(r.stdout).toContain("not your cluster's secrets");
  });

  it("--out outside the config folder, through a link, over a config file or a folder is refused; nothing written", async () => {
    const outside = join(work, "outside");
    mkdirSync(outside, { recursive: true });
    symlinkSync(outside, join(config, "leads-out"));
    mkdirSync(join(config, "rendered"), { recursive: true });
    writeFileSync(join(config, "notes.yaml"), "mine\n");
    const before = files();
    for (const [out, why] of [
      [join(work, "abs.yaml"), /an absolute path/],
      ["../escape.yaml", /outside the config folder/],
      ["leads-out/x.yaml", /its folder resolves to .*outside, outside the config folder/],
      ["missing/x.yaml", /its folder does not exist/],
      ["nodes.yaml", /was not written by npm run machine-config/],
      ["notes.yaml", /was not written by npm run machine-config/],
      ["rendered", /not a regular file/],
      ["bad\nname", /not a file name/],
    ] as const)
      expect(() => outputPath(config, out), out).toThrow(why);
    // As the user runs it: refused before anything renders.
    const r = await machineConfig(["worker0", "--out", "leads-out/x.yaml"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^machine-config: --out "leads-out\/x.yaml": its folder resolves to .*; nothing was written\n$/,
    );
    expect(files()).toEqual(before);
    expect(readFileSync(join(config, "nodes.yaml"), "utf8")).toContain("controlplane0");
  });

  it("a config error is reported at its file:line:key before anything runs", async () => {
    const broken = join(work, "broken");
    cpSync(config, broken, { recursive: true });
    writeFileSync(
      join(broken, "nodes.yaml"),
      readFileSync(join(broken, "nodes.yaml"), "utf8").replace("address: 192.168.10.31", "address: 192.168.10.999"),
    );
    const r = await machineConfig(["worker0"], { CONFIG_DIR: broken });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nodes\.yaml:\d+:\d+ nodes\[3\]\.address: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("without an engine it says what to install; nothing written", async () => {
    const before = files();
    const r = await machineConfig(["worker0", "--out", "worker0.yaml"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/TF_BINARY=.*no-engine is not an executable file: install OpenTofu/);
    expect(existsSync(join(config, "worker0.yaml"))).toBe(false);
    expect(files()).toEqual(before);
  });
});
