// npm run machine-config through the real engine (tofu, the talos provider's stand-in, the image factory on
// loopback), as the user runs it; the configuration it renders judged by Talos' own machinery of that minor
// (judges/talos-config: loaded as a node does, validated strictly for metal), and its secrets, as that machinery
// lists them (RedactSecrets), masked in the default output.
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { leftSecret, MASK, maskMachineConfig } from "../../scripts/machine-config/mask";
import { run } from "../support/run";
import { engineEnv } from "./bootstrap-support";
import { clusterSchema } from "../../config/schema";
import { CILIUM_RELEASES, minorOf, parseVersion, TALOS_RELEASES } from "../../config/versions";
import { deriveConfig, engine, REPO, startImageFactory, type StubServer, synthesize, tempDir } from "./support";
import {
  checkMachineConfigs,
  describeFindings,
  machineConfigCases,
  REDACTED,
  testValueOf,
} from "./talos-config-support";

// The engine's talos provider (the 0.8.0 stand-in) generates the contracts up to 1.11 as Talos does.
const TALOS = "v1.11.6";
const KUBERNETES = "v1.34.1";

let factory: StubServer;
let work: { dir: string; remove: () => void };
let config: string;
let scratch: string;

beforeAll(async () => {
  factory = await startImageFactory([TALOS]);
  work = tempDir("machine-config");
  config = deriveConfig(join(work.dir, "config"), {
    talos_version: TALOS,
    kubernetes_version: KUBERNETES,
    talos_image_factory_url: factory.url,
  });
  scratch = join(work.dir, "tmp");
  mkdirSync(scratch);
}, 120_000);

afterAll(async () => {
  await factory?.close();
  work?.remove();
});

function machineConfig(args: readonly string[]) {
  return run(join(REPO, "node_modules", ".bin", "tsx"), [join(REPO, "scripts", "machine-config.ts"), ...args], {
    cwd: work.dir,
    env: { ...process.env, ...engineEnv(), CONFIG_DIR: config, TMPDIR: scratch },
  });
}

type Json = Record<string, unknown> | unknown[] | string | number | boolean | null;

/** Every leaf of the documents, by path. */
function leaves(text: string): Map<string, Json> {
  const out = new Map<string, Json>();
  const walk = (value: Json, path: string) => {
    if (value !== null && typeof value === "object")
      for (const [k, v] of Object.entries(value)) walk(v as Json, `${path}.${k}`);
    else out.set(path, value);
  };
  parseAllDocuments(text).forEach((doc, i) => walk(doc.toJS() as Json, `[${i}]`));
  return out;
}

/** Talos' marker in a field of bytes (the v1alpha1 keys), which YAML holds in base64. */
const REDACTED_BYTES = Buffer.from(REDACTED).toString("base64");

/** The paths and values Talos' machinery redacted: where `redacted` holds REDACTED and `config` a value. */
function redactedByTalos(config: string, redacted: string): Map<string, string> {
  const original = leaves(config);
  const secrets = new Map<string, string>();
  for (const [path, value] of leaves(redacted))
    if (typeof value === "string" && (value.includes(REDACTED) || value === REDACTED_BYTES))
      secrets.set(path, String(original.get(path)));
  return secrets;
}

describe("npm run machine-config", { timeout: 900_000 }, () => {
  it.each([
    ["controlplane0", "controlplane"],
    ["worker0", "worker"],
  ])(
    "%s: --show-secrets --out renders a configuration Talos' machinery accepts; masking hides every secret it lists",
    async (node) => {
      const r = await machineConfig([node, "--show-secrets", "--out", `${node}.yaml`]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe("");
      const file = join(config, `${node}.yaml`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const text = readFileSync(file, "utf8");
      expect(text).toMatch(new RegExp(`^# Machine configuration of node ${node} of cluster homelab: Talos ${TALOS}`));
      expect(text).toContain(`${factory.url.replace(/^https?:\/\//, "")}/installer/`);

      const { results } = await checkMachineConfigs("v1.11", [
        {
          id: node,
          clusterName: "homelab",
          endpoint: "",
          kubernetesVersion: KUBERNETES,
          talosVersion: TALOS,
          machineType: "",
          patches: [],
          config: text,
        },
      ]);
      expect(describeFindings(results)).toEqual([]);
      const secrets = redactedByTalos(text, results[0].redacted!);
      // Tokens and keys of the machine and of the cluster (a worker holds no CA key).
      expect([...secrets.keys()]).toEqual(
        expect.arrayContaining(["[0].machine.token", "[0].cluster.token", "[0].cluster.secret"]),
      );
      if (node === "controlplane0") expect(secrets.size).toBeGreaterThanOrEqual(9);

      // The default output's masking, by the fields alone (no bundle values to fall back on).
      const masked = maskMachineConfig(text);
      for (const [path, value] of secrets) expect(masked, path).not.toContain(value);
      const ours = leaves(masked);
      for (const path of secrets.keys()) expect(ours.get(path), path).toBe(MASK);
      expect(leftSecret(masked)).toBeUndefined();
    },
  );

  it("the default output masks the secrets; the same configuration otherwise; nothing left behind", async () => {
    const r = await machineConfig(["controlplane0"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# Machine configuration of node controlplane0 .*\n.*\n# Secrets masked \(\*{6}\)/);
    expect(leftSecret(r.stdout)).toBeUndefined();
    expect(r.stdout).not.toMatch(/PRIVATE KEY|LS0tLS1CRUdJTi[A-Za-z0-9+/]*UFJJVkFURSBLRV/);
    const shown = leaves(readFileSync(join(config, "controlplane0.yaml"), "utf8"));
    const masked = leaves(r.stdout);
    expect([...masked.keys()].sort()).toEqual([...shown.keys()].sort());
    const differing = [...masked]
      .filter(([path, value]) => value !== shown.get(path))
      .map(([path, value]) => [path, value === MASK]);
    // Only what each render generates anew differs: its secrets (masked), certificates and the cluster id.
    for (const [path, isMasked] of differing)
      expect(isMasked || /\.(crt|id)$/.test(String(path)), String(path)).toBe(true);
    expect(differing.filter(([, isMasked]) => isMasked).length).toBeGreaterThanOrEqual(9);

    // Its temporary folder (throwaway secrets in its state) is gone (tsx keeps a cache of its own there);
    // nothing was written beside the config.
    expect(readdirSync(scratch).filter((f) => f.startsWith("machine-config-"))).toEqual([]);
    expect(readdirSync(work.dir).sort()).toEqual(["config", "tmp"]);
    expect(factory.requests.filter((q) => q.method === "POST").map((q) => q.url)).toContain("/schematics");
  });

  it("--out replaces a file it wrote before", async () => {
    const before = readFileSync(join(config, "worker0.yaml"), "utf8");
    const r = await machineConfig(["worker0", "--out", "worker0.yaml"]);
    expect(r.status, r.stderr).toBe(0);
    const after = readFileSync(join(config, "worker0.yaml"), "utf8");
    expect(after).not.toBe(before);
    expect(after).toContain(MASK);
    expect(readdirSync(config).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

/** The newest Kubernetes minor the Talos minor and the default Cilium both support. */
function kubernetesFor(talos: string): string {
  const cilium = CILIUM_RELEASES[minorOf(clusterSchema.shape.cilium_version.parse(undefined))].kubernetes;
  return `v1.${Math.min(parseVersion(TALOS_RELEASES[talos].kubernetes.max)[1], parseVersion(cilium.max)[1])}.0`;
}

// The stand-in provider renders up to the 1.11 contract; from 1.12 on, the configurations the user's provider
// renders are those Talos' machinery of that minor generates from the same inputs (judges/talos-config): the
// masking is held to that machinery's own list of secrets there, documents of 1.14 included.
describe.each(Object.keys(engine().talosConfigCheckers))("the masking against Talos %s's RedactSecrets", (minor) => {
  it("masks every value the machinery redacts in a controller's and a worker's configuration, and TS_AUTHKEY", {
    timeout: 600_000,
  }, async () => {
    const talos = TALOS_RELEASES[minor.slice(1)].tested;
    const dir = join(work.dir, `minor-${minor}`);
    const cluster = {
      talos_version: talos,
      kubernetes_version: kubernetesFor(minor.slice(1)),
      tailscale: { all_nodes: true },
    };
    const stacks = await synthesize(deriveConfig(join(dir, "config"), cluster), dir);
    const cases = machineConfigCases(stacks["01-infrastructure"].json, minor).filter((c) =>
      /controlplane0|worker0/.test(c.id),
    );
    expect(cases).toHaveLength(2);
    const { results } = await checkMachineConfigs(minor, cases);
    expect(describeFindings(results)).toEqual([]);
    for (const result of results) {
      const secrets = redactedByTalos(result.config!, result.redacted!);
      expect(secrets.size, result.id).toBeGreaterThanOrEqual(3);
      const masked = maskMachineConfig(result.config!);
      const ours = leaves(masked);
      for (const [path, value] of secrets) {
        expect(ours.get(path), `${result.id} ${path}`).toBe(MASK);
        expect(masked, `${result.id} ${path}`).not.toContain(value);
      }
      expect(masked).not.toContain(testValueOf("tailscale_auth_key"));
      expect(masked).toContain(`TS_AUTHKEY=${MASK}`);
    }
  });
});
