// Preflight with the outside world replaced: every check runs, every problem is collected with a one-line reason
// and a hint, stages are skipped only when what they need is missing, and the engine is never reached once the
// run is refused. Then each check alone, with the facts it reads set by hand.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, resolveCluster, type ClusterDefinition } from "../../config";
import type { EngineBinary, EngineRun } from "../../scripts/bootstrap/engine-binary";
import { LAYERS } from "../../layers/catalog";
import type { Layer } from "../../scripts/bootstrap/layers";
import { parseOptions } from "../../scripts/bootstrap/options";
import { resolveScope } from "../../scripts/bootstrap/phases";
import {
  CHECKS,
  countStateResources,
  runCheck,
  runPreflight,
  STAGES,
  UPGRADE_STAGES,
  RESTART_STAGES,
  type Check,
  type Facts,
  type PreflightDeps,
  type PreflightInput,
} from "../../scripts/bootstrap/preflight";
import { formatProblems, type Problem } from "../../scripts/bootstrap/problem";
import type { ProbeVerdict, S3Location } from "../../scripts/bootstrap/s3-probe";
import { UNKNOWN_INSTALLER } from "../../scripts/upgrade/nodes";
import { TESTED_KUBERNETES_VERSION, TESTED_TALOS_VERSION } from "../../config/versions";
import { exampleSources } from "../support/synth";

const TOKEN = "root@pam!ci=00000000-0000-0000-0000-000000000000";
const TOFU: EngineBinary = { path: "/bin/tofu", kind: "opentofu", version: "1.12.6" };
const SYNTHESIZED: Layer[] = LAYERS.map((name, i) => ({
  name,
  dir: `/out/stacks/${name}`,
  dependencies: LAYERS.slice(0, i),
}));
/** The providers each synthesized stack configures in these tests: only 01 talks to Proxmox. */
const PROVIDERS: Record<string, string[]> = {
  "00-persistent-auth": ["talos"],
  "01-infrastructure": ["proxmox", "talos", "local", "helm"],
  "02-services": ["helm", "kubernetes"],
  "03-configuration": ["kubernetes"],
};

function definition(cluster: Record<string, unknown> = {}): ClusterDefinition {
  return parseConfig(exampleSources({ cluster: { proxmox_csi_enabled: false, ...cluster } }));
}

interface World {
  gitChanges?: string[];
  notGit?: boolean;
  missingNodeDeps?: string[];
  config?: ClusterDefinition | ConfigError;
  engine?: EngineBinary | string;
  synthStatus?: number;
  /** Validate diagnostics per layer. */
  validate?: Record<
    string,
    Array<{ severity: "error" | "warning"; summary: string; detail?: string; address?: string }>
  >;
  /** Failing backend init per layer. */
  backendInitFails?: string[];
  /** Resources in 00's state. */
  persistentAuthResources?: number;
  /** The addresses in a layer's state, by layer (`show -json`); overrides persistentAuthResources. */
  stateAddresses?: Record<string, string[]>;
  /** `output -json talos_nodes` of 01: its stdout, or null when the state has no such output. */
  talosNodes?: string | null;
  /** `output -json cluster_versions` of 01: its stdout; absent: the state has no such output. */
  clusterVersions?: string;
  /** What the S3 store answers the conditional-write probe. */
  s3Probe?: ProbeVerdict;
}

/** Fake deps that record every engine call and the synth environment. */
function fakeDeps(world: World) {
  const engineCalls: string[] = [];
  const synthEnvs: NodeJS.ProcessEnv[] = [];
  const log: string[] = [];
  const probes: Array<{ location: S3Location; key: string }> = [];
  const deps: PreflightDeps = {
    gitStatus: (dir) => (world.notGit ? { changes: [] } : { toplevel: dir, changes: world.gitChanges ?? [] }),
    missingNodeDeps: () => world.missingNodeDeps ?? [],
    loadConfig: () => {
      const c = world.config ?? definition();
      if (c instanceof ConfigError) throw c;
      return c;
    },
    findEngine: () => world.engine ?? TOFU,
    synth: (_repo, env) => {
      synthEnvs.push(env);
      return { status: world.synthStatus ?? 0, output: world.synthStatus ? "boom\nError: synth broke" : "" };
    },
    readLayers: () => SYNTHESIZED,
    configuredProviders: (layer) => PROVIDERS[layer.name],
    engine: (_engine, dir, args): EngineRun => {
      const layer = dir.split("/").pop()!;
      engineCalls.push(`${layer} ${args.filter((a) => a !== "-no-color" && a !== "-input=false").join(" ")}`);
      if (args[0] === "init" && !args.includes("-backend=false") && world.backendInitFails?.includes(layer)) {
        return {
          status: 1,
          stdout: "",
          stderr: "Error: Failed to get existing workspaces: HTTP remote state endpoint requires auth\n",
        };
      }
      if (args[0] === "validate") {
        const diagnostics = world.validate?.[layer] ?? [];
        return {
          status: diagnostics.some((d) => d.severity === "error") ? 1 : 0,
          stdout: JSON.stringify({ valid: true, diagnostics }),
          stderr: "",
        };
      }
      if (args[0] === "show" && world.stateAddresses?.[layer]) {
        const resources = world.stateAddresses[layer].map((address) => ({ address }));
        return { status: 0, stdout: JSON.stringify({ values: { root_module: { resources } } }), stderr: "" };
      }
      if (args[0] === "show") {
        const n = world.persistentAuthResources ?? 1;
        return {
          status: 0,
          stdout: JSON.stringify({ values: { root_module: { resources: Array(n).fill({}) } } }),
          stderr: "",
        };
      }
      if (args[0] === "output" && args.at(-1) === "cluster_versions") {
        if (world.clusterVersions === undefined)
          return { status: 1, stdout: "", stderr: 'Error: Output "cluster_versions" not found\n' };
        return { status: 0, stdout: world.clusterVersions, stderr: "" };
      }
      if (args[0] === "output") {
        if (world.talosNodes === null)
          return { status: 1, stdout: "", stderr: 'Error: Output "talos_nodes" not found\n' };
        return { status: 0, stdout: world.talosNodes ?? "[]", stderr: "" };
      }
      return { status: 0, stdout: "", stderr: "" };
    },
    s3Probe: (_repo, probe) => {
      probes.push(probe);
      return world.s3Probe ?? { kind: "honoured" };
    },
    log: (line) => log.push(line),
  };
  return { deps, engineCalls, synthEnvs, log, probes };
}

function preflightInput(argv: string[], input: Partial<PreflightInput>): PreflightInput {
  return {
    options: parseOptions(argv),
    repo: "/repo",
    configDir: "/config",
    outdir: "/out",
    env: {
      PATH: "/bin",
      PROXMOX_VE_API_TOKEN: TOKEN,
      TF_HTTP_USERNAME: "u",
      TF_HTTP_PASSWORD: "p",
      TF_VAR_state_passphrase: "a passphrase of 16+ chars",
    },
    stdinIsTTY: false,
    ...input,
  };
}

function run(argv: string[], world: World = {}, input: Partial<PreflightInput> = {}) {
  const fake = fakeDeps(world);
  const options = parseOptions(argv);
  const stages = {
    layers: STAGES,
    doctor: STAGES,
    "migrate-state": STAGES,
    upgrade: UPGRADE_STAGES,
    restart: RESTART_STAGES,
    "etcd-snapshot": UPGRADE_STAGES,
    "etcd-recover": UPGRADE_STAGES,
  }[options.command];
  const result = runPreflight(preflightInput(argv, input), fake.deps, stages);
  return { ...result, ...fake, checks: result.problems.map((p) => p.check) };
}

/** One check alone, with the facts it reads given by hand. */
function check(c: Check, argv: string[], facts: Facts = {}, world: World = {}, input: Partial<PreflightInput> = {}) {
  const fake = fakeDeps(world);
  const problems: Problem[] = [];
  runCheck(c, preflightInput(argv, input), fake.deps, facts, problems);
  return { problems, facts, log: fake.log, engineCalls: fake.engineCalls, probes: fake.probes };
}

const invalidConfig = () => {
  try {
    parseConfig(exampleSources({ cluster: { node_cidr: "not a cidr" } }));
  } catch (e) {
    return e as ConfigError;
  }
  throw new Error("expected an invalid config");
};

describe("preflight", () => {
  it.each([0, 3])(
    "plans 00, 01, the API wait, 02 and 03 whatever 00 holds (%i resources), without reading its state",
    (held) => {
      const r = run(["--auto-approve"], { persistentAuthResources: held });
      expect(r.problems).toEqual([]);
      expect(r.phases?.map((p) => `${p.action} ${p.layer}`)).toEqual([
        "apply 00-persistent-auth",
        "apply 01-infrastructure",
        "wait-api 01-infrastructure",
        "apply 02-services",
        "apply 03-configuration",
      ]);
      expect(r.phases?.find((p) => p.action === "wait-api")?.target).toBe("/config/credentials/kubeconfig");
      expect(r.engineCalls).toEqual([
        ...LAYERS.flatMap((l) => [`${l} init -backend=false`, `${l} validate -json`]),
        ...LAYERS.map((l) => `${l} init`),
        // What layer 01's state records of the nodes that run (running-cluster.ts).
        "01-infrastructure output -json",
      ]);
      expect(r.persistentAuthUnlocked).toBe(false);
    },
  );

  it("with both keys and no --destroy, the run may apply a plan of 00 that deletes or replaces", () => {
    const r = run(["--auto-approve", "--including-persistent-auth", "--yes-destroy-persistent-auth=homelab"], {});
    expect(r.problems).toEqual([]);
    expect(r.persistentAuthUnlocked).toBe(true);
    expect(r.phases?.map((p) => `${p.action} ${p.layer}`)[0]).toBe("apply 00-persistent-auth");
  });

  // One table row per check: the world that breaks it, the reason and the hint.
  it.each<[string, string[], World, Partial<PreflightInput>, RegExp, RegExp]>([
    [
      "dirty work tree",
      ["--auto-approve"],
      { gitChanges: ["cluster.yaml", "notes.txt"] },
      {},
      /^the work tree \/config has uncommitted changes: cluster\.yaml, notes\.txt$/,
      /^commit or stash them, or pass --allow-dirty$/,
    ],
    [
      "own outputs not ignored",
      ["--auto-approve"],
      { gitChanges: ["logs/bootstrap-1.log"] },
      {},
      /uncommitted changes: logs\/bootstrap-1\.log$/,
      /logs\/, state\/, credentials\/ and cdktf\.out\/ belong in \.gitignore/,
    ],
    [
      "not in git",
      ["--auto-approve"],
      { notGit: true },
      {},
      /^\/config is not inside a git work tree/,
      /--allow-dirty/,
    ],
    [
      "no node_modules",
      ["--auto-approve"],
      { missingNodeDeps: ["node_modules/cdktf/package.json"] },
      {},
      /^Node dependencies are not installed \(missing node_modules\/cdktf\/package\.json\)$/,
      /^run npm ci in \/repo$/,
    ],
    [
      "invalid config",
      ["--auto-approve"],
      { config: invalidConfig() },
      {},
      /^the cluster configuration in \/config is invalid \(\d+ errors?\)$/,
      /^fix the lines above/,
    ],
    [
      "no terminal to confirm on",
      [],
      {},
      {},
      /^stdin is not a terminal, so the plans cannot be confirmed$/,
      /--auto-approve .* or --plan/,
    ],
    [
      "no engine",
      ["--auto-approve"],
      { engine: "neither tofu nor terraform is on PATH" },
      {},
      /^neither tofu nor terraform is on PATH$/,
      /^install OpenTofu .* or point TF_BINARY at tofu or terraform$/,
    ],
    [
      "terraform with state_encryption",
      ["--auto-approve"],
      {
        engine: { path: "/bin/terraform", kind: "terraform", version: "1.9.8" },
        config: definition({ state_encryption: true }),
      },
      {},
      /^state_encryption is on, and \/bin\/terraform is Terraform 1\.9\.8, which has no state encryption$/,
      /^use OpenTofu/,
    ],
    [
      "OpenTofu older than 1.12 with state_encryption",
      ["--auto-approve"],
      {
        engine: { path: "/bin/tofu", kind: "opentofu", version: "1.11.14" },
        config: definition({ state_encryption: true }),
      },
      {},
      /^state_encryption is on, and \/bin\/tofu is OpenTofu 1\.11\.14; the encrypted stacks need OpenTofu 1\.12\.0 or newer$/,
      /^install OpenTofu 1\.12\.0 or newer/,
    ],
    [
      "http backend without credentials",
      ["--auto-approve"],
      { config: definition({ state_backend: { type: "http", address: "https://s.example/{layer}" } }) },
      { env: { PROXMOX_VE_API_TOKEN: TOKEN, TF_HTTP_USERNAME: "u" } },
      /^the http state backend needs TF_HTTP_USERNAME and TF_HTTP_PASSWORD; TF_HTTP_PASSWORD is not set$/,
      /^export them/,
    ],
    [
      "s3 backend without credentials",
      ["--auto-approve"],
      { config: definition({ state_backend: { type: "s3", bucket: "tfstate" } }) },
      { env: { PROXMOX_VE_API_TOKEN: TOKEN, AWS_ACCESS_KEY_ID: "AKIA" } },
      /^the s3 state backend needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; AWS_SECRET_ACCESS_KEY is not set$/,
      /^export them/,
    ],
    [
      "pg backend without a connection string",
      ["--auto-approve"],
      { config: definition({ state_backend: { type: "pg" } }) },
      { env: { PROXMOX_VE_API_TOKEN: TOKEN } },
      /^the pg state backend needs PG_CONN_STR; PG_CONN_STR is not set$/,
      /^export them/,
    ],
    [
      "encryption without passphrase",
      ["--auto-approve"],
      { config: definition({ state_encryption: true }) },
      { env: { PROXMOX_VE_API_TOKEN: TOKEN } },
      /^state_encryption is on and TF_VAR_state_passphrase is not set$/,
      /^export TF_VAR_state_passphrase/,
    ],
    [
      "short passphrase",
      ["--auto-approve"],
      { config: definition({ state_encryption: true }) },
      { env: { PROXMOX_VE_API_TOKEN: TOKEN, TF_VAR_state_passphrase: "short" } },
      /TF_VAR_state_passphrase is shorter than 16 characters$/,
      /16 characters or more/,
    ],
    [
      "a node in the tailnet without its auth key",
      ["--auto-approve"],
      { config: definition({ tailscale: { all_nodes: true } }) },
      { env: { PROXMOX_VE_API_TOKEN: TOKEN } },
      /^controlplane0, controlplane1, controlplane2, worker0, worker1 join the tailnet and TF_VAR_tailscale_auth_key is not set$/,
      /^export TF_VAR_tailscale_auth_key/,
    ],
    [
      "an auth key that would break out of its JSON string",
      ["--auto-approve"],
      { config: definition({ tailscale: { all_nodes: true, auth_key_env: "TF_VAR_ts" } }) },
      { env: { PROXMOX_VE_API_TOKEN: TOKEN, TF_VAR_ts: 'tskey-auth-x","TS_EXTRA_ARGS=--ssh' } },
      /join the tailnet and TF_VAR_ts is not an auth key/,
      /^export TF_VAR_ts/,
    ],
    [
      "no Proxmox token for 01",
      ["--auto-approve"],
      {},
      { env: {} },
      /^01-infrastructure needs the Proxmox API: PROXMOX_VE_API_TOKEN is not set$/,
      /^export PROXMOX_VE_API_TOKEN=/,
    ],
    [
      "malformed Proxmox token",
      ["--auto-approve"],
      {},
      { env: { PROXMOX_VE_API_TOKEN: "root@pam:secret" } },
      /^PROXMOX_VE_API_TOKEN is not of the form user@realm!tokenid=uuid$/,
      /API Tokens/,
    ],
    [
      "synthesis fails",
      ["--auto-approve"],
      { synthStatus: 1 },
      {},
      /^synthesis failed \(exit 1\)$/,
      /^CONFIG_DIR=\/config npm run synth reproduces it$/,
    ],
    [
      "unknown layer",
      ["--only=storage", "--auto-approve"],
      {},
      {},
      /^--only=storage names no layer; the layers are 00-persistent-auth, 01-infrastructure, 02-services, 03-configuration$/,
      /infrastructure/,
    ],
    [
      "validate fails",
      ["--auto-approve"],
      {
        validate: {
          "01-infrastructure": [
            {
              severity: "error",
              summary: "Unsupported argument",
              detail: 'An argument named "bogus" is not expected here.',
              address: "proxmox_virtual_environment_vm.controlplane0",
            },
          ],
        },
      },
      {},
      /^01-infrastructure: 1 error from tofu validate$/,
      /validate shows them in place/,
    ],
    [
      "backend unreachable",
      ["--auto-approve"],
      { backendInitFails: ["01-infrastructure"] },
      {},
      /^01-infrastructure: the state backend could not be initialized$/,
      /^check state_backend in cluster\.yaml/,
    ],
    [
      "01 before 00 ever existed",
      ["--start-from=01", "--auto-approve"],
      { persistentAuthResources: 0 },
      {},
      /^00-persistent-auth has never been applied/,
      /--only=persistent-auth first/,
    ],
  ])("%s: one problem, one-line reason and hint", (_, argv, world, input, reason, hint) => {
    const r = run(argv, world, input);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0].reason).toMatch(reason);
    expect(r.problems[0].hint).toMatch(hint);
    expect(r.problems[0].reason).not.toContain("\n");
    expect(r.problems[0].hint).not.toContain("\n");
    expect(r.phases).toBeUndefined();
  });

  it("collects every problem of a run at once, and still validates", () => {
    const r = run(
      [],
      {
        gitChanges: ["cluster.yaml"],
        validate: { "00-persistent-auth": [{ severity: "error", summary: "Reference to undeclared input variable" }] },
      },
      { env: {} },
    );
    expect(r.checks).toEqual(["git", "terminal", "environment", "validate"]);
    expect(r.problems.find((p) => p.check === "validate")?.details).toEqual([
      "error: Reference to undeclared input variable",
    ]);
    // With problems found, the state backends are not touched.
    expect(r.engineCalls.filter((c) => / init$| show /.test(c))).toEqual([]);
    const text = formatProblems(r.problems);
    expect(text.split("\n")[0]).toBe("preflight found 4 problems; nothing was changed:");
    expect(text.match(/^ {4}hint: /gm)).toHaveLength(4);
  });

  it("an invalid config lists its file:line:col lines and skips synthesis and the engine", () => {
    const r = run(["--auto-approve"], { config: invalidConfig() });
    expect(r.problems[0].details).toEqual([expect.stringMatching(/^\/config\/cluster\.yaml:\d+:\d+ node_cidr: /)]);
    expect(r.synthEnvs).toEqual([]);
    expect(r.engineCalls).toEqual([]);
    expect(r.log).toContain("  - environment: skipped (the config is invalid)");
    expect(r.log).toContain("  - synth, validate, state, sequence: skipped (the config is invalid)");
  });

  describe("the two keys of layer 00", () => {
    const destroy00 = ["--destroy", "--including-persistent-auth", "--auto-approve"];

    it.each<[string, string[], Partial<PreflightInput>, RegExp]>([
      [
        "no second key, no terminal",
        destroy00,
        {},
        /^destroying 00-persistent-auth needs the cluster name typed on a terminal, and stdin is not one$/,
      ],
      [
        "no second key typed",
        destroy00,
        { stdinIsTTY: true },
        /^destroying 00-persistent-auth needs the cluster name typed when asked$/,
      ],
      [
        "the wrong name typed",
        destroy00,
        { stdinIsTTY: true, typedClusterName: "homelab2" },
        /^refused: 'homelab2' is not the name of this cluster, so 00-persistent-auth stays$/,
      ],
      [
        "the wrong name given",
        [...destroy00, "--yes-destroy-persistent-auth=prod"],
        {},
        /^refused: 'prod' is not the name of this cluster/,
      ],
    ])("%s: refused before synthesis and before the engine runs", (_, argv, input, reason) => {
      const r = run(argv, {}, input);
      expect(r.problems).toEqual([
        expect.objectContaining({ check: "persistent-auth", reason: expect.stringMatching(reason) }),
      ]);
      expect(r.synthEnvs).toEqual([]);
      expect(r.engineCalls).toEqual([]);
    });

    it.each<[string, string[], Partial<PreflightInput>]>([
      ["typed", destroy00, { stdinIsTTY: true, typedClusterName: "homelab" }],
      ["given", [...destroy00, "--yes-destroy-persistent-auth=homelab"], {}],
    ])(
      "both keys (%s): synthesized with the confirmation that lifts prevent_destroy, destroyed top-down",
      (_, argv, input) => {
        const r = run(argv, {}, input);
        expect(r.problems).toEqual([]);
        expect(r.synthEnvs.map((e) => e.BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH)).toEqual(["homelab"]);
        expect(r.synthEnvs[0].CDKTF_CONTEXT_JSON).toBeUndefined();
        expect(r.phases?.map((p) => `${p.action} ${p.layer}`)).toEqual([
          "destroy 03-configuration",
          "destroy 02-services",
          "destroy 01-infrastructure",
          "destroy 00-persistent-auth",
        ]);
      },
    );

    it("any other run synthesizes without that confirmation or a context, even when the user exported them", () => {
      const env = {
        PROXMOX_VE_API_TOKEN: TOKEN,
        CDKTF_CONTEXT_JSON: '{"allowDestroyPersistentAuth":"homelab"}',
        BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH: "homelab",
      };
      const r = run(["--destroy", "--auto-approve"], {}, { env });
      expect(r.problems).toEqual([]);
      expect(r.synthEnvs).toHaveLength(1);
      expect(r.synthEnvs[0].CDKTF_CONTEXT_JSON).toBeUndefined();
      expect(r.synthEnvs[0].BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH).toBeUndefined();
      expect(r.synthEnvs[0]).toMatchObject({ CONFIG_DIR: "/config", CDKTF_OUTDIR: "/out" });
    });
  });

  it("--allow-dirty skips the git check", () => {
    const r = run(["--allow-dirty", "--auto-approve"], { gitChanges: ["cluster.yaml"] });
    expect(r.problems).toEqual([]);
    expect(r.log).toContain("  - git: skipped (--allow-dirty)");
  });

  it("--plan needs no terminal, validates every layer and reads no state", () => {
    const r = run(["--plan"]);
    expect(r.problems).toEqual([]);
    expect(r.phases?.map((p) => `${p.action} ${p.layer}`)).toEqual(LAYERS.map((l) => `plan ${l}`));
    expect(r.engineCalls.filter((c) => c.includes("show"))).toEqual([]);
  });

  it("--only=persistent-auth needs no Proxmox token (00 configures no proxmox provider here)", () => {
    expect(run(["--only=persistent-auth", "--auto-approve"], {}, { env: {} }).problems).toEqual([]);
  });
});

describe("the versions in the plan output", () => {
  it("names the Talos and Kubernetes versions, and whether they are the ones this release is tested with", () => {
    const tested = run(
      ["--plan"],
      { config: definition({ talos_version: TESTED_TALOS_VERSION, kubernetes_version: TESTED_KUBERNETES_VERSION }) },
      {},
    );
    expect(tested.log).toContainEqual(
      expect.stringMatching(
        /✓ config: .* \(cluster homelab; Talos v1\.14\.1, Kubernetes v1\.35\.4 \(the versions this release is tested with\)\)$/,
      ),
    );
    const other = run(
      ["--plan"],
      { config: definition({ talos_version: "v1.11.0", kubernetes_version: "v1.34.0" }) },
      {},
    );
    expect(other.log).toContainEqual(
      expect.stringMatching(
        /Talos v1\.11\.0, Kubernetes v1\.34\.0 \(this release is tested with Talos v1\.14\.1, Kubernetes v1\.35\.4\)\)$/,
      ),
    );
  });
});

describe("countStateResources", () => {
  it.each<[unknown, number]>([
    [{ format_version: "1.0" }, 0],
    [{ values: { root_module: {} } }, 0],
    [{ values: { root_module: { resources: [{}, {}] } } }, 2],
    [
      {
        values: {
          root_module: { resources: [{}], child_modules: [{ resources: [{}], child_modules: [{ resources: [{}] }] }] },
        },
      },
      3,
    ],
  ])("%j → %d", (state, expected) => {
    expect(countStateResources(state as never)).toBe(expected);
  });
});

describe("the stages", () => {
  it("run in this order, and every check belongs to exactly one", () => {
    expect(STAGES.map((s) => s.name)).toEqual([
      "input",
      "environment",
      "engine",
      "synth",
      "validate",
      "state",
      "sequence",
    ]);
    const staged = STAGES.flatMap((s) => s.checks);
    expect(new Set(staged).size).toBe(staged.length);
    expect(UPGRADE_STAGES.map((s) => s.name)).toEqual(["input", "environment", "engine", "synth", "state"]);
    expect(RESTART_STAGES.map((s) => s.name)).toEqual(["input", "environment", "engine", "synth", "state"]);
    const upgrade = UPGRADE_STAGES.flatMap((s) => s.checks);
    expect(new Set(upgrade).size).toBe(upgrade.length);
    expect(new Set([...staged, ...upgrade])).toEqual(new Set(Object.values(CHECKS)));
  });

  it("stages skipped one after the other for the same reason share one line", () => {
    const r = run(["--destroy", "--including-persistent-auth", "--auto-approve"]);
    expect(r.log.filter((l) => l.startsWith("  - "))).toEqual([
      "  - engine, synth, validate, state, sequence: skipped (refused before the engine runs)",
    ]);
  });
});

describe("each check alone", () => {
  const {
    git,
    terminal,
    persistentAuthKeys,
    layers,
    stateBackendCredentials,
    statePassphrase,
    engine,
    synth,
    proxmoxToken,
    validate,
    backends,
    persistentAuthState,
    sequence,
  } = CHECKS;
  const synthesized = () => ({
    cluster: resolveCluster(definition()),
    scope: resolveScope(parseOptions([])).scope,
    layers: SYNTHESIZED,
    engine: TOFU,
  });

  it("permissions: a node's PCI device by raw id needs root@pam logged in with its password; a mapping does not", () => {
    const withGpu = (device: Record<string, unknown>) => ({
      ...synthesized(),
      cluster: resolveCluster(
        parseConfig(
          exampleSources({
            cluster: { proxmox_csi_enabled: false },
            nodes: (nodes) => nodes.map((n, i) => (i === 3 ? { ...n, pci_devices: [device] } : n)),
          }),
        ),
      ),
    });
    const token = check(CHECKS.rawPciIds, [], withGpu({ id: "0000:01:00" }));
    expect(token.problems).toEqual([
      {
        check: "permissions",
        reason: `Proxmox lets only root@pam itself, logged in with its password, pass a PCI device by raw id; PROXMOX_VE_API_TOKEN authenticates as the token root@pam!ci, never as root@pam`,
        details: ["worker0: pci_devices id 0000:01:00"],
        hint: expect.stringMatching(/^use a PCI resource mapping instead .* or export PROXMOX_VE_USERNAME=root@pam/),
      },
    ]);
    const root = { PATH: "/bin", PROXMOX_VE_USERNAME: "root@pam", PROXMOX_VE_PASSWORD: "pw" };
    const login = check(CHECKS.rawPciIds, [], withGpu({ id: "0000:01:00" }), {}, { env: root });
    expect(login.problems).toEqual([]);
    expect(login.log).toEqual(["  ✓ permissions: root@pam logs in with its password, as raw PCI ids need"]);
    const other = check(
      CHECKS.rawPciIds,
      [],
      withGpu({ id: "0000:01:00" }),
      {},
      { env: { ...root, PROXMOX_VE_USERNAME: "tofu@pve" } },
    );
    expect(other.problems[0].reason).toMatch(/; PROXMOX_VE_USERNAME is tofu@pve$/);
    expect(check(CHECKS.rawPciIds, [], withGpu({ mapping: "gpu" })).problems).toEqual([]);
    expect(
      check(CHECKS.rawPciIds, ["--only=services"], {
        ...withGpu({ id: "0000:01:00" }),
        scope: resolveScope(parseOptions(["--only=services"])).scope,
      }).problems,
    ).toEqual([]);
  });

  it("git: a clean tree is named; more than five changes are counted, not listed", () => {
    expect(check(git, []).log).toEqual(["  ✓ git: /config is clean"]);
    const many = check(git, [], {}, { gitChanges: ["a", "b", "c", "d", "e", "f", "g"] });
    expect(many.problems[0].reason).toBe("the work tree /config has uncommitted changes: a, b, c, d, e, and 2 more");
  });

  it.each<[string[], boolean, boolean]>([
    [[], false, true],
    [[], true, false],
    [["--auto-approve"], false, false],
    [["--plan"], false, false],
  ])("terminal: %j with a terminal %s: a problem %s", (argv, stdinIsTTY, problem) => {
    expect(check(terminal, argv, {}, {}, { stdinIsTTY }).problems.length).toBe(problem ? 1 : 0);
  });

  it("persistent-auth: silent and not refused unless the run destroys 00; with an invalid config it refuses without a second problem", () => {
    const plain = check(persistentAuthKeys, ["--destroy", "--auto-approve"]);
    expect([plain.log, plain.problems, plain.facts.refused]).toEqual([[], [], undefined]);
    const unknown = check(persistentAuthKeys, [
      "--destroy",
      "--including-persistent-auth",
      "--yes-destroy-persistent-auth=homelab",
    ]);
    expect(unknown.problems).toEqual([]);
    expect(unknown.facts).toEqual({ refused: true });
    expect(unknown.log).toEqual([
      "  - persistent-auth: skipped (the config is invalid, so the cluster name is unknown; refused)",
    ]);
  });

  it.each<[string[], string]>([
    [
      [],
      "apply 00-persistent-auth → 01-infrastructure → 02-services → 03-configuration (00-persistent-auth applied only with changes, never a deletion or replacement without both keys)",
    ],
    [["--plan", "--start-from=services"], "plan 02-services → 03-configuration"],
    [["--destroy"], "destroy 03-configuration ← 02-services ← 01-infrastructure"],
    [["--only=1"], "apply 01-infrastructure"],
  ])("layers: %j resolves against the catalog before synthesis: %s", (argv, line) => {
    const r = check(layers, argv);
    expect(r.log).toEqual([`  ✓ layers: ${line}`]);
    expect(r.facts.scope?.layers).toEqual(line.split(" ").filter((w) => /^\d\d-/.test(w)));
  });

  it("environment: nothing to check for local state without encryption", () => {
    for (const c of [stateBackendCredentials, statePassphrase])
      expect(check(c, [], { cluster: resolveCluster(definition()) }, {}, { env: {} }).log).toEqual([]);
  });

  it("engine: the engine found becomes a fact; none found is a problem and no fact", () => {
    expect(check(engine, []).facts.engine).toEqual(TOFU);
    const none = check(engine, [], {}, { engine: "neither tofu nor terraform is on PATH" });
    expect(none.facts.engine).toBeUndefined();
    expect(none.problems.map((p) => p.check)).toEqual(["engine"]);
  });

  it("synth: the synthesized layers become a fact; not when BOOTSTRAP_PROVIDER_STAND_INS names a bad file", () => {
    const facts: Facts = { cluster: resolveCluster(definition()) };
    const ok = check(synth, [], facts);
    expect(ok.facts.layers).toEqual(SYNTHESIZED);
    expect(ok.log).toEqual(["  ✓ synth: 00-persistent-auth, 01-infrastructure, 02-services, 03-configuration in /out"]);
    const problems: Problem[] = [];
    const bad: Facts = { cluster: resolveCluster(definition()) };
    const file = "/nonexistent/providers.json";
    runCheck(
      synth,
      preflightInput([], { env: { BOOTSTRAP_PROVIDER_STAND_INS: file } }),
      fakeDeps({}).deps,
      bad,
      problems,
    );
    expect(problems.map((p) => p.reason)).toEqual([
      "BOOTSTRAP_PROVIDER_STAND_INS names a file that is not a list of provider stand-ins",
    ]);
    expect(problems[0].details).toEqual([`${file}: cannot be read (ENOENT)`]);
    expect(bad.layers).toBeUndefined();
  });

  it("environment (Proxmox): names the endpoint of cluster.yaml; silent when no layer in scope talks to Proxmox", () => {
    const facts = {
      ...synthesized(),
      cluster: resolveCluster(definition({ proxmox_api_url: "https://pve.example.com:8006/" })),
    };
    expect(check(proxmoxToken, [], facts).log).toEqual([
      "  ✓ environment: PROXMOX_VE_API_TOKEN set for https://pve.example.com:8006/",
    ]);
    const servicesOnly = { ...synthesized(), scope: resolveScope(parseOptions(["--only=services"])).scope };
    expect(check(proxmoxToken, [], servicesOnly, {}, { env: {} }).log).toEqual([]);
  });

  it("validate: a warning is shown under its layer and is no problem", () => {
    const r = check(
      validate,
      ["--only=00"],
      { ...synthesized(), scope: resolveScope(parseOptions(["--only=00"])).scope },
      {
        validate: { "00-persistent-auth": [{ severity: "warning", summary: "Deprecated attribute" }] },
      },
    );
    expect(r.problems).toEqual([]);
    expect(r.log).toEqual(["  ✓ validate: 00-persistent-auth (1 warning)", "      warning: Deprecated attribute"]);
  });

  it("lock: on the local backend, the engine's notes beside the states are shown, and --force-unlock is refused", () => {
    const { localLock } = CHECKS;
    const dir = mkdtempSync(join(tmpdir(), "preflight-lock-"));
    try {
      const local = resolveCluster(definition());
      const at = { configDir: dir };
      expect(check(localLock, [], { cluster: local }, {}, at).log).toEqual([]);
      mkdirSync(join(dir, "state"));
      const note = { ID: "5e1f", Operation: "OperationTypeApply", Who: "alice@box", Created: "2026-12-04T04:00:00Z" };
      writeFileSync(join(dir, "state", ".00-persistent-auth.tfstate.lock.info"), JSON.stringify(note));
      const shown = check(localLock, [], { cluster: local }, {}, at);
      expect(shown.problems).toEqual([]);
      expect(shown.log).toEqual([
        `  ✓ lock: 1 lock note in ${dir}/state/: a run holding a lock now, or one that was killed (its lock ended with it; the next run replaces the note)`,
        `      ${dir}/state/.00-persistent-auth.tfstate.lock.info: alice@box, apply, since 2026-12-04T04:00:00Z (lock ID 5e1f)`,
      ]);
      const unlock = check(localLock, ["--only=00", "--force-unlock=5e1f"], { cluster: local }, {}, at);
      expect(unlock.problems.map((p) => p.reason)).toEqual([
        "--force-unlock=5e1f: the local backend's lock is the engine's lock on the state file, which ends with the engine's process, so there is nothing to release",
      ]);
      // Other backends have locks of their own: nothing to say here.
      const pg = resolveCluster(definition({ state_backend: { type: "pg" } }));
      expect(check(localLock, ["--only=00", "--force-unlock=5e1f"], { cluster: pg }, {}, at).log).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("migration: previous_state_backend lets only migrate-state run, which needs it and a different state_backend", () => {
    const { stateMigration, stateBackendCredentials } = CHECKS;
    const at = { configDir: "/config" };
    const moving = resolveCluster(
      definition({ state_backend: { type: "pg" }, previous_state_backend: { type: "s3", bucket: "tfstate" } }),
    );
    const settled = resolveCluster(definition({ state_backend: { type: "pg" } }));
    expect(check(stateMigration, ["migrate-state"], { cluster: moving }, {}, at).log).toEqual([
      "  ✓ migration: each layer's state from s3://tfstate/homelab/{layer}.tfstate to the PostgreSQL schema homelab",
    ]);
    for (const argv of [["--auto-approve"], ["doctor"], ["upgrade", "--plan"]])
      expect(check(stateMigration, argv, { cluster: moving }, {}, at).problems.map((p) => p.reason)).toEqual([
        "previous_state_backend is set in cluster.yaml: the states are moving from s3://tfstate/homelab/{layer}.tfstate to the PostgreSQL schema homelab, and this run would work on the PostgreSQL schema homelab",
      ]);
    expect(check(stateMigration, ["--auto-approve"], { cluster: settled }, {}, at).problems).toEqual([]);
    expect(check(stateMigration, ["migrate-state"], { cluster: settled }, {}, at).problems[0].reason).toMatch(
      /^migrate-state copies each layer's state from previous_state_backend to state_backend, and cluster.yaml has no previous_state_backend$/,
    );
    const same = resolveCluster(definition({ state_backend: { type: "pg" }, previous_state_backend: { type: "pg" } }));
    expect(check(stateMigration, ["migrate-state"], { cluster: same }, {}, at).problems[0].reason).toBe(
      "previous_state_backend and state_backend are the same place (the PostgreSQL schema homelab): nothing to migrate",
    );
    // migrate-state reads both backends: both credentials are asked for.
    const env = { PG_CONN_STR: "postgres://db/tfstate" };
    expect(
      check(stateBackendCredentials, ["migrate-state"], { cluster: moving }, {}, { env }).problems.map((p) => p.reason),
    ).toEqual([
      "the s3 state backend needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
    ]);
  });

  it("state: an S3 store is probed for conditional writes beside layer 00's state before any backend is initialized", () => {
    const cluster = resolveCluster(
      definition({
        state_backend: { type: "s3", bucket: "tfstate", endpoint: "http://127.0.0.1:7070", use_path_style: true },
      }),
    );
    const facts = (): Facts => ({ ...synthesized(), cluster });
    const { conditionalWrites } = CHECKS;
    const honoured = check(conditionalWrites, [], facts());
    expect(honoured.problems).toEqual([]);
    expect(honoured.log).toEqual([
      "  ✓ state: s3://tfstate at http://127.0.0.1:7070 honours conditional writes (If-None-Match), which OpenTofu's lock file needs",
    ]);
    expect(honoured.probes).toHaveLength(1);
    expect(honoured.probes[0].location).toEqual({
      endpoint: "http://127.0.0.1:7070",
      bucket: "tfstate",
      region: "us-east-1",
      usePathStyle: true,
    });
    expect(honoured.probes[0].key).toMatch(/^homelab\/00-persistent-auth\.tfstate\.bootstrap-probe-[0-9a-f-]{36}$/);

    const ignored = check(conditionalWrites, [], facts(), { s3Probe: { kind: "ignored", statuses: [200, 200, 200] } });
    expect(ignored.problems.map((p) => p.reason)).toEqual([
      "s3://tfstate at http://127.0.0.1:7070 ignores conditional writes: 3 PutObject requests with If-None-Match: * on one new object were all stored (HTTP 200, 200, 200), so OpenTofu's lock file (use_lockfile) would not lock and two runs could write the state at once",
    ]);
    expect(ignored.facts.backendsReady).toBe(false);
    // The backends are then left alone: no engine runs against a store that cannot lock.
    const after = check(backends, [], ignored.facts);
    expect(after.engineCalls).toEqual([]);

    const missing = check(conditionalWrites, [], facts(), {
      s3Probe: { kind: "error", reason: "a conditional PutObject was answered HTTP 404 NoSuchBucket" },
    });
    expect(missing.problems[0].reason).toMatch(/could not check .*HTTP 404 NoSuchBucket$/);
    expect(check(conditionalWrites, [], synthesized()).probes).toEqual([]);
  });

  it("state: the backends of the layers in scope, and 00's when the run must know whether it is empty", () => {
    const scope = resolveScope(parseOptions(["--start-from=02"])).scope;
    const r = check(backends, ["--start-from=02"], { ...synthesized(), scope });
    expect(r.engineCalls).toEqual(["02-services init", "03-configuration init", "00-persistent-auth init"]);
    expect(r.facts.backendsReady).toBe(true);
    const unread = check(persistentAuthState, ["--start-from=02"], { ...synthesized(), scope, backendsReady: false });
    expect(unread.engineCalls).toEqual([]);
  });

  it("state: Flux switched off while layer 03 holds its sync: 03 is applied before 02, which removes Flux's CRDs", () => {
    const fluxOff = () => ({
      ...synthesized(),
      backendsReady: true,
      cluster: resolveCluster(parseConfig(exampleSources({ cluster: { flux_enabled: false } }))),
    });
    const held = {
      stateAddresses: {
        "03-configuration": [
          "kubernetes_manifest.cilium_lb_pool",
          "kubernetes_manifest.flux_git_repository",
          "kubernetes_manifest.flux_kustomization",
        ],
      },
    };
    const first = check(CHECKS.fluxSyncLeaving, ["--auto-approve"], fluxOff(), held);
    expect(first.engineCalls).toEqual(["03-configuration show -json"]);
    expect(first.problems).toEqual([]);
    expect(first.facts.configurationFirst).toBe(true);
    expect(first.log).toEqual([
      "  ✓ state: flux_enabled is false and 03-configuration holds Flux's sync (kubernetes_manifest.flux_git_repository, kubernetes_manifest.flux_kustomization): 03-configuration is applied before 02-services, so that the sync is deleted while Flux still runs",
    ]);
    const phases = check(sequence, ["--auto-approve"], { ...first.facts, persistentAuthEmpty: false }).facts.phases;
    expect(phases?.map((p) => `${p.action} ${p.layer}`)).toEqual([
      "apply 00-persistent-auth",
      "apply 01-infrastructure",
      "wait-api 01-infrastructure",
      "apply 03-configuration",
      "apply 02-services",
    ]);
    // The sync gone, the usual order; with Flux on, or a plan, 03's state is not read.
    const gone = { stateAddresses: { "03-configuration": ["kubernetes_manifest.cilium_lb_pool"] } };
    expect(check(CHECKS.fluxSyncLeaving, ["--auto-approve"], fluxOff(), gone).facts.configurationFirst).toBeUndefined();
    const on = check(CHECKS.fluxSyncLeaving, ["--auto-approve"], { ...synthesized(), backendsReady: true }, held);
    expect(on.engineCalls).toEqual([]);
    expect(check(CHECKS.fluxSyncLeaving, ["--plan"], fluxOff(), held).engineCalls).toEqual([]);
  });

  it("sequence: the phases, waiting for the API with <config dir>/credentials/kubeconfig after the layer that writes it", () => {
    const r = check(sequence, ["--only=01"], {
      ...synthesized(),
      scope: resolveScope(parseOptions(["--only=01"])).scope,
      persistentAuthEmpty: false,
    });
    expect(r.facts.phases).toEqual([
      { action: "apply", layer: "01-infrastructure", target: "/out/stacks/01-infrastructure" },
      { action: "wait-api", layer: "01-infrastructure", target: "/config/credentials/kubeconfig" },
    ]);
  });
});

describe("preflight of upgrade", () => {
  const recorded = (names: string[]) =>
    JSON.stringify(
      names.map((name, i) => ({
        name,
        address: `192.0.2.${i}`,
        controller: name.startsWith("controlplane"),
        installer: `factory.talos.dev/installer/${name}-schematic`,
      })),
    );
  const EXAMPLE_NODES = ["controlplane0", "controlplane1", "controlplane2", "worker0", "worker1"];

  it("reads only layer 01's state: its backend, its talos_nodes and cluster_versions outputs; nothing validated, no phase", () => {
    const r = run(["upgrade", "--plan"], { talosNodes: recorded(EXAMPLE_NODES) });
    expect(r.problems).toEqual([]);
    expect(r.engineCalls).toEqual([
      "01-infrastructure init",
      "01-infrastructure output -json talos_nodes",
      "01-infrastructure output -json cluster_versions",
    ]);
    expect(r.phases).toBeUndefined();
    // A state from before cluster_versions: no applied version, no problem.
    expect(r.upgrade?.applied).toBeUndefined();
    const applied = JSON.stringify({ talos_version: "v1.12.7", kubernetes_version: "v1.35.0" });
    expect(
      run(["upgrade", "--plan"], { talosNodes: recorded(EXAMPLE_NODES), clusterVersions: applied }).upgrade?.applied,
    ).toEqual({ talosVersion: "v1.12.7", kubernetesVersion: "v1.35.0" });
    const cluster = resolveCluster(definition());
    expect(r.upgrade?.target).toEqual({
      talosVersion: cluster.talos.version,
      kubernetesVersion: cluster.talos.kubernetesVersion,
      contract: "v1.12",
      contractPinned: false,
    });
    // Names, roles and addresses from the config; the installer from the state.
    expect(r.upgrade?.nodes.map((n) => `${n.name} ${n.controller} ${n.address} ${n.installer}`)).toEqual(
      cluster.nodes.map(
        (n) => `${n.name} ${n.controller} ${n.address} factory.talos.dev/installer/${n.name}-schematic`,
      ),
    );
  });

  it("a node layer 01 has not recorded gets the placeholder the upgrade preflight refuses", () => {
    const r = run(["upgrade", "--plan"], { talosNodes: recorded(EXAMPLE_NODES.slice(0, 4)) });
    expect(r.problems).toEqual([]);
    expect(r.upgrade?.nodes.find((n) => n.name === "worker1")?.installer).toBe(UNKNOWN_INSTALLER);
  });

  it.each<[string, string | null, RegExp]>([
    ["no talos_nodes output", null, /^01-infrastructure: its state has no talos_nodes output/],
    ["an output of another shape", JSON.stringify({ nodes: [] }), /^01-infrastructure: talos_nodes is not a list$/],
    [
      "an entry without installer",
      JSON.stringify([{ name: "a", address: "b", controller: true }]),
      /talos_nodes\[0\] lacks/,
    ],
  ])("%s: one problem, the hint says to apply 01 first", (_, talosNodes, reason) => {
    const r = run(["upgrade", "--auto-approve"], { talosNodes });
    expect(r.problems).toEqual([
      expect.objectContaining({
        check: "state",
        reason: expect.stringMatching(reason),
        hint: expect.stringMatching(/^apply 01-infrastructure first/),
      }),
    ]);
    expect(r.upgrade).toBeUndefined();
  });

  it("restart: the nodes' VMs (id and host) from the state, the Proxmox API from the config, the token checked", () => {
    const withVms = JSON.stringify(
      JSON.parse(recorded(EXAMPLE_NODES)).map((n: Record<string, unknown>, i: number) => ({
        ...n,
        vm_id: 200 + i,
        proxmox_node: `pve${i % 2}`,
      })),
    );
    const r = run(["restart", "--plan"], { talosNodes: withVms });
    expect(r.problems).toEqual([]);
    expect(r.restart?.nodes.map((n) => `${n.name} ${n.vmId} ${n.host}`)).toEqual(
      EXAMPLE_NODES.map((name, i) => `${name} ${200 + i} pve${i % 2}`),
    );
    const cluster = resolveCluster(definition());
    expect(r.restart?.proxmox).toEqual({ url: cluster.proxmox.apiUrl, insecure: cluster.proxmox.insecure });
    const noToken = run(["restart", "--plan"], { talosNodes: withVms }, { env: { PATH: "/bin" } });
    expect(noToken.checks).toEqual(["environment"]);
    // A state written before VMs were recorded: apply 01 again first.
    const old = run(["restart", "--plan"], { talosNodes: recorded(EXAMPLE_NODES) });
    expect(old.problems).toEqual([
      expect.objectContaining({
        reason: expect.stringMatching(/^01-infrastructure: talos_nodes records no VM for controlplane0, .*worker1 /),
        hint: expect.stringMatching(/^apply 01-infrastructure first/),
      }),
    ]);
  });

  it("without a terminal, upgrade needs --auto-approve or --plan", () => {
    const r = run(["upgrade"], { talosNodes: recorded(EXAMPLE_NODES) });
    expect(r.checks).toEqual(["terminal"]);
  });
});
