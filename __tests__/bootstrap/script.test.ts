// The real ./bootstrap.sh as a subprocess: its usage text, its refusals, fail() really stopping, and preflight
// failures in a config folder of its own (a temporary git repository given as CONFIG_DIR; the script runs from
// this checkout). The engine is a recording fake here; __tests__/engine/bootstrap.test.ts runs the real one.
import { spawn } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { startPveSim, type PveSim } from "../../judges/pve-sim/server";
import { OPTIONS } from "../../scripts/bootstrap/options";
import { run, runOk } from "../support/run";
import { BOOTSTRAP, configRepo, fakeEngine, logFiles, REPO, runBootstrap, type ConfigRepo } from "./support";

const script = readFileSync(BOOTSTRAP, "utf8");
/** The *.sh files under `dir`, recursively. */
const shellScripts = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? shellScripts(join(dir, e.name)) : e.name.endsWith(".sh") ? [join(dir, e.name)] : [],
  );
const work = mkdtempSync(join(tmpdir(), "bootstrap-script-"));
const repos: ConfigRepo[] = [];
const repo = async (prefix: string, cluster: Record<string, unknown> = {}) => {
  const r = await configRepo(prefix, { cluster: { proxmox_csi_enabled: false, ...cluster } });
  repos.push(r);
  return r;
};
// Nothing from the caller's environment decides a test's outcome.
const CLEAN_ENV = {
  PROXMOX_VE_API_TOKEN: undefined,
  TF_HTTP_USERNAME: undefined,
  TF_HTTP_PASSWORD: undefined,
  TF_VAR_state_passphrase: undefined,
  CDKTF_OUTDIR: undefined,
  CDKTF_CONTEXT_JSON: undefined,
  BOOTSTRAP_PROVIDER_STAND_INS: undefined,
};
/** Layer 00 keeps the proxmox provider configured (it forgets the CSI token with it), so it needs a token too. */
const TOKEN_ENV = { PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000" };

beforeAll(() => runOk(process.execPath, [join(REPO, "scripts", "build.mjs"), "app", "bootstrap"]));
afterAll(() => {
  for (const r of repos) r.remove();
  rmSync(work, { recursive: true, force: true });
});

describe("the script itself", () => {
  it("every shell script of the repository is shellcheck-clean", async (ctx) => {
    if ((await run("shellcheck", ["--version"]).catch(() => undefined)) === undefined) {
      // .ci/run installs it: under CI a missing shellcheck is a broken setup, never a pass.
      if (process.env.CI)
        expect.fail("shellcheck is not installed and CI is set: .ci/run installs it (apt-get install shellcheck)");
      ctx.skip("shellcheck is not installed (outside CI: skipped; apt-get install shellcheck)");
    }
    const scripts = [
      BOOTSTRAP,
      join(REPO, ".ci", "run"),
      ...["scripts", "judges"].flatMap((d) => shellScripts(join(REPO, d))),
    ];
    expect(scripts.length).toBeGreaterThan(3);
    const result = await run("shellcheck", ["--external-sources", ...scripts]);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("its TypeScript bundle pulls in no provider bindings, cdktf or constructs: only node, the config's yaml and zod", () => {
    const bundle = readFileSync(join(REPO, "dist", "bootstrap.cjs"), "utf8");
    const required = new Set([...bundle.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]));
    expect([...required].filter((r) => !r.startsWith("node:")).sort()).toEqual(["yaml", "zod"]);
    expect(bundle).not.toMatch(/\.gen\/providers|TerraformStack/);
    // cdktf or the bindings would add megabytes; the config loader, the checks (PVE's firewall macro table among
    // them, since the guest firewall rules landed: 363 kB in all) and the tool itself stay well below.
    expect(bundle.length).toBeLessThan(450_000);
  });

  it("follows the shell entry point shape: header, strict mode, main at the bottom", () => {
    expect(script).toMatch(/^#!\/usr\/bin\/env bash\n# /);
    expect(script).toContain("\nset -Eeuo pipefail\n");
    expect(script.trimEnd().split("\n").at(-1)).toBe('main "$@"');
  });

  it("fail() exits 1 at once, also from a subshell-free function several calls deep", async () => {
    const fail = /^fail\(\) \{\n(?:.*\n)*?\}\n/m.exec(script)![0];
    const result = await run("bash", [
      "-c",
      `set -Eeuo pipefail\n${fail}\nphase() { fail "broken: $1"; echo "after fail"; }\nmain() { phase x; echo "after phase"; }\nmain`,
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe("bootstrap: error: broken: x\n");
    expect(result.stdout).toBe("");
  });
});

describe("--help", () => {
  const help = async () => {
    const result = await runBootstrap(REPO, ["--help"]);
    expect(result.status).toBe(0);
    return result.output;
  };

  it("prints the header comment: usage, every option, every environment variable", async () => {
    const text = await help();
    expect(text).toMatch(/^Brings the cluster described by cluster\.yaml/);
    expect(text).toContain("Usage: ./bootstrap.sh [options]");
    for (const name of Object.keys(OPTIONS)) expect(text, `--${name}`).toContain(`--${name}`);
    expect(text).not.toMatch(/^#/m);
  });

  it("documents every environment variable the script and its TypeScript read", async () => {
    const sources = [
      script,
      ...readdirSync(join(REPO, "scripts", "bootstrap"))
        .filter((f) => f.endsWith(".ts"))
        .map((f) => readFileSync(join(REPO, "scripts", "bootstrap", f), "utf8")),
    ].join("\n");
    const used = new Set(
      [
        ...sources.matchAll(
          /\b(BOOTSTRAP_[A-Z_]+|TF_(?:BINARY|CLI_CONFIG_FILE|HTTP_[A-Z]+|VAR_state_passphrase)|PROXMOX_VE_[A-Z_]+|CONFIG_DIR|CDKTF_OUTDIR|TMPDIR)\b/g,
        ),
      ].map((m) => m[1]),
    );
    const environment = (await help()).split("Environment:")[1];
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(environment, name).toContain(name);
  });

  it("works from any folder, and creates no log", async () => {
    const dir = await repo("help");
    const result = await run(BOOTSTRAP, ["-h"], { cwd: tmpdir(), env: { ...process.env, CONFIG_DIR: dir.dir } });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("--yes-destroy-persistent-auth=<cluster name>");
    expect(logFiles(dir.dir)).toEqual([]);
  });
});

describe("refusals before anything runs", () => {
  it.each<[string[], RegExp]>([
    [["--bogus"], /^bootstrap: unknown option --bogus/m],
    [["--only=00", "--start-from=01"], /^bootstrap: --only and --start-from exclude each other/m],
    [
      ["--destroy=persistent-auth", "--auto-approve"],
      /^bootstrap: refused: --destroy=persistent-auth destroys 00-persistent-auth .* takes two keys/m,
    ],
  ])("%j: exit 2, the reason, no log, the engine never called", async (args, message) => {
    const dir = await repo("usage");
    const engine = fakeEngine(join(work, `usage-${args.join("")}`));
    const result = await runBootstrap(dir.dir, args, { env: { ...CLEAN_ENV, ...engine.env } });
    expect(result.status).toBe(2);
    expect(result.output).toMatch(message);
    expect(result.output).toContain("Run ./bootstrap.sh --help for the options.");
    expect(engine.calls()).toEqual([]);
    expect(logFiles(dir.dir)).toEqual([]);
  });

  it("a CONFIG_DIR that does not exist", async () => {
    const result = await runBootstrap(join(work, "absent"), ["--plan"]);
    expect(result.status).toBe(1);
    expect(result.output).toBe(`bootstrap: error: CONFIG_DIR=${join(work, "absent")} is not a directory\n`);
  });
});

describe("preflight failures, as a user sees them", () => {
  it("an invalid config: its file:line:col lines, a hint, exit 1, nothing synthesized, the engine never run", async () => {
    const dir = await repo("invalid");
    writeFileSync(
      join(dir.dir, "cluster.yaml"),
      readFileSync(join(dir.dir, "cluster.yaml"), "utf8").replace(/^node_cidr: .*$/m, "node_cidr: 192.168.10.0/33"),
    );
    await dir.commit("broken");
    const engine = fakeEngine(join(work, "invalid-engine"));
    const outdir = join(work, "invalid-out");
    const result = await runBootstrap(dir.dir, ["--plan"], {
      env: { ...CLEAN_ENV, ...engine.env, CDKTF_OUTDIR: outdir },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/^ {2}✗ config: the cluster configuration in \S+ is invalid \(\d+ errors?\)$/m);
    expect(result.output).toMatch(new RegExp(`^ {6}${dir.dir}/cluster\\.yaml:\\d+:\\d+ node_cidr: `, "m"));
    expect(result.output).toMatch(/^ {4}hint: fix the lines above/m);
    expect(result.output).toMatch(/^bootstrap: error: preflight failed; nothing was changed$/m);
    expect(existsSync(outdir)).toBe(false);
    // Only `version`, to report whether an engine is there at all.
    expect(engine.calls()).toEqual(["version"]);
    // The log holds what was shown.
    const [log] = logFiles(dir.dir);
    expect(log).toMatch(/\/logs\/bootstrap-\d{8}T\d{6}Z\.log$/);
    expect(readFileSync(log, "utf8")).toContain("✗ config: the cluster configuration");
  });

  it("a cluster of clusters/ keeping its state where another does: both named at file:line:key, nothing synthesized", async () => {
    const dir = await repo("clusters");
    const cluster = readFileSync(join(dir.dir, "cluster.yaml"), "utf8");
    for (const name of ["prod", "staging"]) {
      mkdirSync(join(dir.dir, "clusters", name), { recursive: true });
      // staging forgot its own cluster_name: the default pg schema is prod's.
      const own = name === "prod" ? cluster.replace(/^cluster_name: .*$/m, "cluster_name: prod") : cluster;
      writeFileSync(join(dir.dir, "clusters", name, "cluster.yaml"), `${own}state_backend:\n  type: pg\n`);
      writeFileSync(join(dir.dir, "clusters", name, "nodes.yaml"), readFileSync(join(dir.dir, "nodes.yaml")));
    }
    writeFileSync(
      join(dir.dir, "clusters", "staging", "cluster.yaml"),
      readFileSync(join(dir.dir, "clusters", "staging", "cluster.yaml"), "utf8").replace(
        "type: pg\n",
        "type: pg\n  schema_name: prod\n",
      ),
    );
    await dir.commit("two clusters");
    const engine = fakeEngine(join(work, "clusters-engine"));
    const outdir = join(work, "clusters-out");
    const staging = join(dir.dir, "clusters", "staging");
    const result = await runBootstrap(staging, ["--plan"], {
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env, CDKTF_OUTDIR: outdir, PG_CONN_STR: "postgres://127.0.0.1/x" },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/^ {2}✗ config: the cluster configuration in \S+ is invalid \(1 error\)$/m);
    expect(result.output).toMatch(
      new RegExp(
        `^ {6}${staging}/cluster\\.yaml:\\d+:3 state_backend\\.schema_name: the PostgreSQL schema prod is also clusters/prod's \\(${dir.dir}/clusters/prod/cluster\\.yaml:\\d+:1 state_backend\\): two clusters of one repository never share it`,
        "m",
      ),
    );
    expect(result.output).toMatch(/^bootstrap: error: preflight failed; nothing was changed$/m);
    expect(result.output).not.toMatch(/^\s+at /m);
    expect(existsSync(outdir)).toBe(false);
    expect(engine.calls()).toEqual(["version"]);
  });

  it("a dirty tree: the changed file named, and every other problem of the run with it", async () => {
    const dir = await repo("dirty");
    appendFileSync(join(dir.dir, "cluster.yaml"), "# an uncommitted edit\n");
    const engine = fakeEngine(join(work, "dirty-engine"));
    const result = await runBootstrap(dir.dir, [], { env: { ...CLEAN_ENV, ...engine.env } });
    expect(result.status).toBe(1);
    const problems = result.output.slice(result.output.indexOf("preflight found"));
    expect(problems).toMatch(/^preflight found 3 problems; nothing was changed:$/m);
    expect(problems).toMatch(/^ {2}✗ git: the work tree \S+ has uncommitted changes: cluster\.yaml$/m);
    expect(problems).toMatch(/^ {2}✗ terminal: stdin is not a terminal, so the plans cannot be confirmed$/m);
    expect(problems).toMatch(
      /^ {2}✗ environment: 00-persistent-auth, 01-infrastructure(?:, \S+)* need the Proxmox API: PROXMOX_VE_API_TOKEN is not set$/m,
    );
    expect(problems.match(/^ {4}hint: /gm)).toHaveLength(3);
    // Validated, but no backend touched: no init with a backend, no plan, no apply.
    expect(
      engine
        .calls()
        .filter((c) => !/^(version|init -backend=false -input=false -no-color|validate -json -no-color)$/.test(c)),
    ).toEqual([]);
  });

  it("the same tree with --allow-dirty and the environment gets past preflight", async () => {
    const dir = await repo("allow-dirty");
    appendFileSync(join(dir.dir, "cluster.yaml"), "# an uncommitted edit\n");
    const engine = fakeEngine(join(work, "allow-dirty-engine"), {});
    const result = await runBootstrap(dir.dir, ["--allow-dirty", "--plan", "--only=persistent-auth"], {
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
    });
    expect(result.output).toContain("  - git: skipped (--allow-dirty)");
    expect(result.status).toBe(0);
    expect(result.output).toMatch(/^00-persistent-auth\s+plan\s+no changes\s+0\s+0\s+0\s+\d+s$/m);
  });
});

describe("confirmations on a terminal", () => {
  it("a plan is applied only after 'yes': anything else stops the run, and nothing is applied", async () => {
    const dir = await repo("decline");
    const engine = fakeEngine(join(work, "decline-engine"));
    const result = await runBootstrap(dir.dir, ["--only=persistent-auth"], {
      tty: true,
      input: "y\n",
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
    });
    expect(result.output).toContain("00-persistent-auth apply: apply this plan? Only 'yes' is accepted:");
    expect(result.output).toMatch(/bootstrap: error: apply of 00-persistent-auth declined/);
    expect(result.output).toMatch(/^00-persistent-auth\s+apply\s+declined\s+1\s+0\s+0/m);
    expect(result.status).toBe(1);
    expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(false);
  });

  it("'yes' applies exactly the plan that was shown", async () => {
    const dir = await repo("accept");
    const engine = fakeEngine(join(work, "accept-engine"));
    const result = await runBootstrap(dir.dir, ["--only=persistent-auth"], {
      tty: true,
      input: "yes\n",
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
    });
    expect(result.status).toBe(0);
    const plan = engine.calls().find((c) => c.startsWith("plan "))!;
    const planFile = /-out=(\S+)/.exec(plan)![1];
    expect(engine.calls().filter((c) => c.startsWith("apply "))).toEqual([
      `apply -input=false -no-color -lock-timeout=0s ${planFile}`,
    ]);
  });

  it.each<[string, string, RegExp]>([
    [
      "a wrong name",
      "homelab-x\n",
      /✗ persistent-auth: refused: 'homelab-x' is not the name of this cluster, so 00-persistent-auth stays/,
    ],
    ["nothing", "\n", /✗ persistent-auth: refused: '' is not the name of this cluster/],
  ])(
    "destroying 00 with %s typed is refused before synthesis and before the engine runs",
    async (_, typed, message) => {
      const dir = await repo("typed-wrong");
      const engine = fakeEngine(join(work, `typed-${typed.trim() || "empty"}`));
      const outdir = join(work, `typed-out-${typed.trim() || "empty"}`);
      const result = await runBootstrap(dir.dir, ["--destroy", "--including-persistent-auth", "--auto-approve"], {
        tty: true,
        input: typed,
        env: { ...CLEAN_ENV, ...engine.env, CDKTF_OUTDIR: outdir },
      });
      expect(result.output).toContain("Type the cluster name (homelab) to confirm:");
      expect(result.output).toMatch(message);
      expect(result.status).toBe(1);
      expect(engine.calls()).toEqual([]);
      expect(existsSync(outdir)).toBe(false);
    },
  );

  it("destroying 00 with the name typed synthesizes with the context that lifts prevent_destroy", async () => {
    const dir = await repo("typed-right");
    const engine = fakeEngine(join(work, "typed-right-engine"));
    const outdir = join(work, "typed-right-out");
    const result = await runBootstrap(dir.dir, ["--destroy", "--including-persistent-auth", "--auto-approve"], {
      tty: true,
      input: "homelab\n",
      env: {
        ...CLEAN_ENV,
        ...engine.env,
        CDKTF_OUTDIR: outdir,
        PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000",
      },
    });
    expect(result.output).toContain(
      "✓ persistent-auth: both keys given for homelab: prevent_destroy is lifted for this run",
    );
    expect(result.status).toBe(0);
    const stack = readFileSync(join(outdir, "stacks", "00-persistent-auth", "cdk.tf.json"), "utf8");
    expect(stack).toContain('"prevent_destroy": false');
    expect(stack).not.toContain('"prevent_destroy": true');
    // The fake state is empty: every layer has nothing to destroy, top-down.
    expect([...result.output.matchAll(/^(\S+)\s+destroy\s+nothing to destroy/gm)].map((m) => m[1])).toEqual(
      [...readdirSync(join(outdir, "stacks"))].sort().reverse(),
    );
  });
});

describe("phases after preflight", () => {
  it("after applying 01 the run waits for the Kubernetes API in its kubeconfig, with bounded retries, and fails naming the layer", async () => {
    const dir = await repo("wait-api");
    const engine = fakeEngine(join(work, "wait-api-engine"));
    // The kubeconfig 01 would have written, pointing at a closed port.
    mkdirSync(join(dir.dir, "credentials"));
    writeFileSync(
      join(dir.dir, "credentials", "kubeconfig"),
      stringify({
        clusters: [{ name: "homelab", cluster: { server: "https://127.0.0.1:9", "certificate-authority-data": "" } }],
        users: [{ name: "admin", user: {} }],
        contexts: [{ name: "admin@homelab", context: { cluster: "homelab", user: "admin" } }],
        "current-context": "admin@homelab",
      }),
    );
    const env = {
      ...CLEAN_ENV,
      ...engine.env,
      FAKE_STATE_RESOURCES: "1",
      PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000",
      BOOTSTRAP_API_TIMEOUT: "2",
      BOOTSTRAP_API_INTERVAL: "1",
    };
    const result = await runBootstrap(dir.dir, ["--only=infrastructure", "--auto-approve"], { env });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/^=== \[1\/2\] apply 01-infrastructure$/m);
    expect(result.output).toMatch(/^=== \[2\/2\] wait-api 01-infrastructure$/m);
    expect(result.output).toContain("  waiting for https://127.0.0.1:9/readyz (every 1s, at most 2s)");
    expect(
      result.output.match(
        /^ {2}attempt \d\/3 \(\d+s of 2s\): https:\/\/127\.0\.0\.1:9\/readyz: connect ECONNREFUSED/gm,
      ),
    ).toHaveLength(3);
    expect(result.output).toMatch(/^bootstrap: error: the Kubernetes API of the cluster did not become ready$/m);
    expect(result.output).toMatch(/^01-infrastructure\s+apply\s+applied\s+1\s+0\s+0/m);
    expect(result.output).toMatch(/^01-infrastructure\s+wait-api\s+failed\s+-\s+-\s+-/m);
    expect(result.output).toMatch(/^bootstrap: failed \(exit 1\); log: \S+\.log$/m);
  });

  describe("a plan of 00 that deletes or replaces", () => {
    const losing = {
      resource_changes: [
        { address: "tls_private_key.orphan", mode: "managed", change: { actions: ["delete"] } },
        { address: "talos_machine_secrets.cluster", mode: "managed", change: { actions: ["create", "delete"] } },
      ],
    };

    it("is refused before it is applied, each address named with its action", async () => {
      const dir = await repo("guard-refused");
      const engine = fakeEngine(join(work, "guard-refused-engine"), losing);
      const result = await runBootstrap(dir.dir, ["--only=persistent-auth", "--auto-approve"], {
        env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
      });
      expect(result.status).toBe(1);
      expect(result.output).toContain("refused: the plan of 00-persistent-auth would lose what cannot be made again:");
      expect(result.output).toMatch(/^ {4}tls_private_key\.orphan \(delete\)$/m);
      expect(result.output).toMatch(/^ {4}talos_machine_secrets\.cluster \(replace\)$/m);
      expect(result.output).toMatch(
        /^bootstrap: error: the plan of 00-persistent-auth deletes or replaces what cannot be made again; refused$/m,
      );
      expect(result.output).toMatch(/^00-persistent-auth\s+apply\s+refused\s+1\s+0\s+2/m);
      expect(engine.calls().some((c) => c.startsWith("apply"))).toBe(false);
    });

    it("--plan refuses it too (a PR that would lose a key fails its plan job)", async () => {
      const dir = await repo("guard-plan");
      const engine = fakeEngine(join(work, "guard-plan-engine"), losing);
      const result = await runBootstrap(dir.dir, ["--plan", "--only=persistent-auth"], {
        env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
      });
      expect(result.status).toBe(1);
      expect(result.output).toMatch(/^00-persistent-auth\s+plan\s+refused/m);
    });

    it("with both keys it is applied, synthesized with prevent_destroy lifted", async () => {
      const dir = await repo("guard-keys");
      const engine = fakeEngine(join(work, "guard-keys-engine"), losing);
      const outdir = join(work, "guard-keys-out");
      const result = await runBootstrap(
        dir.dir,
        [
          "--only=persistent-auth",
          "--auto-approve",
          "--including-persistent-auth",
          "--yes-destroy-persistent-auth=homelab",
        ],
        { env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env, CDKTF_OUTDIR: outdir } },
      );
      expect(result.status, result.output).toBe(0);
      expect(result.output).not.toContain("refused:");
      expect(engine.calls().filter((c) => c.startsWith("apply "))).toHaveLength(1);
      const stack = readFileSync(join(outdir, "stacks", "00-persistent-auth", "cdk.tf.json"), "utf8");
      expect(stack).toContain('"prevent_destroy": false');
    });
  });

  it("Ctrl-C during an apply: the engine's last words still reach the screen and the log, then the run stops", async () => {
    const dir = await repo("interrupt");
    const engine = fakeEngine(join(work, "interrupt-engine"));
    const child = spawn(BOOTSTRAP, ["--only=persistent-auth", "--auto-approve"], {
      cwd: REPO,
      env: {
        ...process.env,
        ...CLEAN_ENV,
        ...TOKEN_ENV,
        ...engine.env,
        CONFIG_DIR: dir.dir,
        FAKE_APPLY_WAIT: "1",
      } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, as a terminal's foreground job
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c));
    child.stderr.on("data", (c: Buffer) => (output += c));
    const status = new Promise<number | null>((resolve) => child.on("close", resolve));
    const start = Date.now();
    while (!output.includes("applying (fake)") && Date.now() - start < 60_000)
      await new Promise((r) => setTimeout(r, 100));
    process.kill(-child.pid!, "SIGINT");
    expect(await status).toBe(1);
    expect(output).toContain("engine: interrupted, state saved, lock released");
    expect(output).toMatch(/^bootstrap: error: apply of 00-persistent-auth failed$/m);
    expect(output).toMatch(/^00-persistent-auth\s+apply\s+failed/m);
    const log = readFileSync(logFiles(dir.dir)[0], "utf8");
    expect(log).toContain("engine: interrupted, state saved, lock released");
    expect(log).toMatch(/^bootstrap: failed \(exit 1\); log: /m);
  });
  it("killed (SIGTERM) during an apply: the run says it failed, never that it is done", async () => {
    const dir = await repo("terminate");
    const engine = fakeEngine(join(work, "terminate-engine"));
    const child = spawn(BOOTSTRAP, ["--only=persistent-auth", "--auto-approve"], {
      cwd: REPO,
      env: {
        ...process.env,
        ...CLEAN_ENV,
        ...TOKEN_ENV,
        ...engine.env,
        CONFIG_DIR: dir.dir,
        FAKE_APPLY_WAIT: "1",
      } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c));
    child.stderr.on("data", (c: Buffer) => (output += c));
    const status = new Promise<number | null>((resolve) => child.on("close", resolve));
    const start = Date.now();
    while (!output.includes("applying (fake)") && Date.now() - start < 60_000)
      await new Promise((r) => setTimeout(r, 100));
    process.kill(-child.pid!, "SIGTERM");
    expect(await status).toBe(143);
    expect(output).not.toMatch(/^bootstrap: done/m);
    const log = readFileSync(logFiles(dir.dir)[0], "utf8");
    expect(log).toMatch(/^bootstrap: failed \(exit 143\); log: /m);
  });
});

describe("./bootstrap.sh doctor (npm run doctor)", () => {
  it("runs every preflight check of a run over every layer and nothing else: no plan, no apply, exit 0", async () => {
    const dir = await repo("doctor");
    const engine = fakeEngine(join(work, "doctor-engine"));
    const result = await runBootstrap(dir.dir, ["doctor"], { env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env } });
    expect(result.output).toMatch(/^=== preflight$/m);
    expect(result.output).toMatch(/^ {2}✓ config: /m);
    expect(result.output).toMatch(/^ {2}✓ engine: OpenTofu \d/m);
    expect(result.output).toMatch(/^doctor: every check passed; a run would go through \d+ phase\(s\)$/m);
    expect(result.status).toBe(0);
    expect(engine.calls().filter((c) => /^(plan|apply|destroy)\b/.test(c))).toEqual([]);
    expect(result.output).not.toContain("export KUBECONFIG");
  });

  it("reports every problem at once and exits 1, without a terminal and without --plan", async () => {
    const dir = await repo("doctor-broken");
    const engine = fakeEngine(join(work, "doctor-broken-engine"));
    const result = await runBootstrap(dir.dir, ["doctor"], { env: { ...CLEAN_ENV, ...engine.env } });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/PROXMOX_VE_API_TOKEN/);
    expect(result.output).not.toMatch(/stdin is not a terminal/);
    expect(result.output).toMatch(/^bootstrap: error: preflight failed; nothing was changed$/m);
    expect(engine.calls().filter((c) => /^(plan|apply)\b/.test(c))).toEqual([]);
  });
});

describe("./bootstrap.sh etcd-snapshot and etcd-recover", () => {
  it("a snapshot outside the config folder is refused with every other problem, exit 1, nothing written", async () => {
    const dir = await repo("etcd-out");
    const engine = fakeEngine(join(work, "etcd-out-engine"));
    const result = await runBootstrap(dir.dir, ["etcd-snapshot", "--out=../etcd.db"], {
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env, TALOSCTL: "/nonexistent/talosctl" },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/^ {2}✗ out: --out=\.\.\/etcd\.db is \S+\/etcd\.db, outside the config folder /m);
    expect(result.output).toMatch(/^ {2}✗ talosctl: talosctl is not usable/m);
    expect(result.output).toMatch(/^bootstrap: error: etcd-snapshot failed \(see above\); no snapshot was written$/m);
    expect(existsSync(join(dir.dir, "..", "etcd.db"))).toBe(false);
    expect(existsSync(join(dir.dir, "backups"))).toBe(false);
  });

  it("etcd-recover without --from is a usage error, before any log", async () => {
    const dir = await repo("etcd-recover-usage");
    const result = await runBootstrap(dir.dir, ["etcd-recover"], { env: CLEAN_ENV });
    expect(result.status).toBe(2);
    expect(result.output).toContain(
      "etcd-recover needs the snapshot to restore: --from=<file> (inside the config folder)",
    );
    expect(logFiles(dir.dir)).toEqual([]);
  });

  it("etcd-recover --from a file that is not there is refused at its flag, nothing asked of any node", async () => {
    const dir = await repo("etcd-recover-from");
    const engine = fakeEngine(join(work, "etcd-recover-from-engine"));
    const result = await runBootstrap(dir.dir, ["etcd-recover", "--from=backups/none.db", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env, TALOSCTL: "/nonexistent/talosctl" },
    });
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/^ {2}✗ from: --from=backups\/none\.db: \S+\/backups\/none\.db does not exist$/m);
    expect(result.output).toMatch(/^bootstrap: error: preflight failed; nothing was changed$/m);
  });
});

describe("after a successful apply", () => {
  const withCredentials = async (prefix: string) => {
    const dir = await repo(prefix);
    mkdirSync(join(dir.dir, "credentials"));
    for (const file of ["kubeconfig", "talosconfig"]) writeFileSync(join(dir.dir, "credentials", file), "{}\n");
    return dir;
  };

  it("prints the export lines for KUBECONFIG and TALOSCONFIG", async () => {
    const dir = await withCredentials("exports");
    const engine = fakeEngine(join(work, "exports-engine"));
    const result = await runBootstrap(dir.dir, ["--only=persistent-auth", "--auto-approve"], {
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
    });
    expect(result.status).toBe(0);
    expect(result.output).toContain(`\nexport KUBECONFIG='${join(dir.dir, "credentials", "kubeconfig")}'\n`);
    expect(result.output).toContain(`\nexport TALOSCONFIG='${join(dir.dir, "credentials", "talosconfig")}'\n`);
  });

  it("prints none for --plan, which applies nothing", async () => {
    const dir = await withCredentials("exports-plan");
    const engine = fakeEngine(join(work, "exports-plan-engine"));
    const result = await runBootstrap(dir.dir, ["--plan", "--only=persistent-auth"], {
      env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
    });
    expect(result.status).toBe(0);
    expect(result.output).not.toContain("export KUBECONFIG");
  });
});

describe("the Proxmox firewall's own switches, read from the Proxmox API", () => {
  let sim: PveSim;
  beforeAll(async () => {
    sim = await startPveSim({ tokens: [TOKEN_ENV.PROXMOX_VE_API_TOKEN] });
  });
  afterAll(() => sim?.close());

  it("with proxmox_firewall_enabled, preflight refuses while the datacenter firewall is off, and passes once it is on", async () => {
    const dir = await repo("firewall", {
      proxmox_firewall_enabled: true,
      cilium_loadbalancer_mode: "snat",
      proxmox_api_url: sim.url,
      proxmox_api_insecure: true,
    });
    const engine = fakeEngine(join(work, "firewall-engine"), {});
    const run = () =>
      runBootstrap(dir.dir, ["--plan", "--only=infrastructure"], {
        env: { ...CLEAN_ENV, ...TOKEN_ENV, ...engine.env },
      });
    const refused = await run();
    expect(refused.status).toBe(1);
    expect(refused.output).toMatch(
      /^ {2}✗ proxmox-firewall: proxmox_firewall_enabled is true, and the datacenter firewall is off in Proxmox/m,
    );
    expect(refused.output).toContain("hint: turn it on (Datacenter → Firewall → Options → Firewall: Yes");
    expect(engine.calls().some((c) => c.startsWith("plan"))).toBe(false);
    sim.state.clusterFirewall = { enable: "1" };
    const passed = await run();
    expect(passed.output).toContain("  ✓ proxmox-firewall: the datacenter firewall is on");
    expect(passed.status).toBe(0);
  });
});
