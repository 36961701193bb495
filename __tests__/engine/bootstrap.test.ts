// ./bootstrap.sh against the real OpenTofu and providers (judges/engine/build.sh), with no Proxmox: the test
// config turns proxmox_csi_enabled off, so layer 00 holds only what is computed locally and applies offline; the
// layers above are planned (01 plans brand-new VMs offline) or validated. State lives in the real HTTP state
// server (judges/engine/http-state-server.ts) with locking; the Proxmox endpoint is a trap that counts
// connections, the image factory a stub on 127.0.0.1. The five proofs of issue 5, each on its own state paths.
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStateServer, type StateServer } from "../../judges/engine/http-state-server";
import { configRepo, type ConfigRepo } from "../bootstrap/support";
import {
  DUMMY_PROXMOX_TOKEN,
  engineEnv,
  startBootstrap,
  startHoldingProxy,
  summaryRow,
  waitFor,
  type BootstrapRun,
} from "./bootstrap-support";
import { engine, startImageFactory, startTrap, synthesize, tempDir, tofu, type StubServer } from "./support";

const AUTH = { username: "bootstrap", password: "s3cret-for-tests" };
let state: StateServer;
let factory: StubServer;
let proxmox: Awaited<ReturnType<typeof startTrap>>;
const repos: ConfigRepo[] = [];
const work = tempDir("bootstrap");

beforeAll(async () => {
  state = await startStateServer({ ...AUTH });
  factory = await startImageFactory();
  proxmox = await startTrap();
});
afterAll(async () => {
  await state?.close();
  await factory?.close();
  await proxmox?.close();
  for (const r of repos) r.remove();
  work.remove();
});

/**
 * A cluster whose states live under /<name>/<layer> on the state server (or `stateUrl`), committed in a git
 * repository of its own; `extra` is merged into cluster.yaml.
 */
async function cluster(name: string, stateUrl = state.url, extra: Record<string, unknown> = {}) {
  const repo = await configRepo(name, {
    cluster: {
      proxmox_csi_enabled: false,
      proxmox_api_url: proxmox.url,
      talos_image_factory_url: factory.url,
      state_backend: { type: "http", address: `${stateUrl}/${name}/{layer}` },
      ...extra,
    },
  });
  repos.push(repo);
  const path = (layer: string) => `/${name}/${layer}`;
  return {
    repo,
    dir: repo.dir,
    path,
    /** The state of a layer on the server, parsed, or undefined. */
    state: (layer = "00-persistent-auth") =>
      state.getState(path(layer)) as
        | { serial: number; lineage: string; resources: Array<{ type: string }> }
        | undefined,
    raw: (layer = "00-persistent-auth") => state.getRawState(path(layer)),
    /** Requests to this cluster's states since `from` (an index into state.requests). */
    requestsSince: (from: number) => state.requests.slice(from).filter((r) => r.url.startsWith(`/${name}/`)),
    run: (args: string[], env: Record<string, string | undefined> = {}): Promise<BootstrapRun> =>
      startBootstrap(args, {
        CONFIG_DIR: repo.dir,
        ...engineEnv(),
        TF_HTTP_USERNAME: AUTH.username,
        TF_HTTP_PASSWORD: AUTH.password,
        PROXMOX_VE_API_TOKEN: DUMMY_PROXMOX_TOKEN,
        CDKTF_OUTDIR: undefined,
        CDKTF_CONTEXT_JSON: undefined,
        ...env,
      }),
  };
}

/** Fails with the script's output, so a failing run explains itself. */
function expectStatus(run: BootstrapRun, status: number): void {
  expect(run.status, run.output).toBe(status);
}

describe("1. a first --only=persistent-auth --auto-approve applies 00 into the HTTP backend, with locking; the second run changes nothing", () => {
  const c = () => shared;
  let shared: Awaited<ReturnType<typeof cluster>>;
  beforeAll(async () => {
    shared = await cluster("first");
  });

  it("applies layer 00", async () => {
    const from = state.requests.length;
    const run = await c().run(["--only=persistent-auth", "--auto-approve"]);
    expectStatus(run, 0);
    const applied = c().state()!;
    expect(applied.resources.map((r) => r.type)).toContain("talos_machine_secrets");
    expect(summaryRow(run.output, "00-persistent-auth", "apply")?.slice(0, 3)).toEqual([
      "00-persistent-auth",
      "apply",
      "applied",
    ]);
    // The apply took the lock, wrote under it (POST ?ID=<lock id>), and released it.
    const methods = c()
      .requestsSince(from)
      .map((r) => `${r.method} ${r.url.replace(/ID=[^&]+/, "ID=<lock>")}`);
    const lock = methods.indexOf(`LOCK ${c().path("00-persistent-auth")}`);
    const write = methods.indexOf(`POST ${c().path("00-persistent-auth")}?ID=<lock>`);
    const unlock = methods.lastIndexOf(`UNLOCK ${c().path("00-persistent-auth")}`);
    expect(lock, methods.join("\n")).toBeGreaterThanOrEqual(0);
    expect(write).toBeGreaterThan(lock);
    expect(unlock).toBeGreaterThan(write);
    expect(state.getLock(c().path("00-persistent-auth"))).toBeUndefined();
    expect(proxmox.connections()).toBe(0);
  });

  it("a second run reports no changes and writes nothing", async () => {
    const before = c().raw();
    const from = state.requests.length;
    const run = await c().run(["--only=persistent-auth", "--auto-approve"]);
    expectStatus(run, 0);
    expect(summaryRow(run.output, "00-persistent-auth", "apply")?.slice(0, 6)).toEqual([
      "00-persistent-auth",
      "apply",
      "no changes",
      "0",
      "0",
      "0",
    ]);
    expect(c().raw()).toBe(before);
    expect(
      c()
        .requestsSince(from)
        .filter((r) => r.method === "POST"),
    ).toEqual([]);
  });
});

describe("2. destroying 00 takes both keys; without them the script refuses before the engine runs, and the engine refuses too", () => {
  let c: Awaited<ReturnType<typeof cluster>>;
  beforeAll(async () => {
    c = await cluster("destroy");
    expectStatus(await c.run(["--only=persistent-auth", "--auto-approve"]), 0);
  });

  it.each<[string, string[], number, RegExp]>([
    [
      "--destroy=persistent-auth alone",
      ["--destroy=persistent-auth", "--auto-approve"],
      2,
      /^bootstrap: refused: --destroy=persistent-auth destroys 00-persistent-auth .* takes two keys/m,
    ],
    [
      "the first key, no cluster name",
      ["--destroy", "--including-persistent-auth", "--auto-approve"],
      1,
      /✗ persistent-auth: destroying 00-persistent-auth needs the cluster name typed on a terminal, and stdin is not one/,
    ],
    [
      "the first key, the wrong cluster name",
      [
        "--destroy=persistent-auth",
        "--including-persistent-auth",
        "--yes-destroy-persistent-auth=prod",
        "--auto-approve",
      ],
      1,
      /✗ persistent-auth: refused: 'prod' is not the name of this cluster/,
    ],
  ])("%s: refused, no engine run, no state request", async (_, args, status, message) => {
    const before = c.raw();
    const from = state.requests.length;
    const run = await c.run(args, { TF_BINARY: "/nonexistent/the-engine-must-not-run" });
    expectStatus(run, status);
    expect(run.output).toMatch(message);
    expect(c.requestsSince(from)).toEqual([]);
    expect(c.raw()).toBe(before);
  });

  it("a raw tofu destroy of the synthesized 00 stack is refused by prevent_destroy", async () => {
    const before = c.raw();
    const stacks = await synthesize(c.dir, join(work.dir, "raw-destroy"));
    const env = { TF_HTTP_USERNAME: AUTH.username, TF_HTTP_PASSWORD: AUTH.password };
    await tofu(stacks["00-persistent-auth"], ["init", "-input=false", "-no-color"], { env });
    const destroy = await tofu(
      stacks["00-persistent-auth"],
      ["destroy", "-auto-approve", "-input=false", "-no-color"],
      { env, ok: [1] },
    );
    expect(destroy.stderr).toMatch(/Resource instance cannot be destroyed/);
    // OpenTofu 1.12's detail: "Resource instance <address> has prevent_destroy set" (the line may wrap).
    expect(destroy.stderr).toMatch(/talos_machine_secrets\.cluster\s+has\s+prevent_destroy\s+set/);
    expect(c.raw()).toBe(before);
    expect(state.getLock(c.path("00-persistent-auth"))).toBeUndefined();
  });

  it("with both keys, every layer is destroyed top-down, 00 last", async () => {
    const run = await c.run([
      "--destroy",
      "--including-persistent-auth",
      "--yes-destroy-persistent-auth=homelab",
      "--auto-approve",
    ]);
    expectStatus(run, 0);
    expect(run.output).toContain(
      "✓ persistent-auth: both keys given for homelab: prevent_destroy is lifted for this run",
    );
    const rows = run.output
      .slice(run.output.lastIndexOf("=== summary"))
      .split("\n")
      .filter((l) => /^\d+-\S+\s{2,}destroy\s/.test(l))
      .map((l) =>
        l
          .split(/\s{2,}/)
          .slice(0, 3)
          .join(" "),
      );
    expect(rows.at(-1)).toBe("00-persistent-auth destroy destroyed");
    expect(rows.slice(0, -1).every((r) => r.endsWith("nothing to destroy"))).toBe(true);
    expect(rows.map((r) => r.split(" ")[0])).toEqual([...rows.map((r) => r.split(" ")[0])].sort().reverse());
    expect(c.state()!.resources).toEqual([]);
    expect(proxmox.connections()).toBe(0);
  });
});

describe("3. preflight failures stop the run with their message and leave the state untouched", () => {
  let c: Awaited<ReturnType<typeof cluster>>;
  beforeAll(async () => {
    c = await cluster("preflight");
    expectStatus(await c.run(["--only=persistent-auth", "--auto-approve"]), 0);
  });

  const clusterYaml = () => join(c.dir, "cluster.yaml");
  const cases: Array<
    [
      string,
      () => Promise<{ args?: string[]; env?: Record<string, string | undefined>; undo?: () => Promise<void> | void }>,
      RegExp,
    ]
  > = [
    [
      "dirty tree",
      async () => {
        const original = readFileSync(clusterYaml(), "utf8");
        appendFileSync(clusterYaml(), "# not committed\n");
        return { undo: () => writeFileSync(clusterYaml(), original) };
      },
      /✗ git: the work tree \S+ has uncommitted changes: cluster\.yaml\n {4}hint: commit or stash them, or pass --allow-dirty/,
    ],
    [
      "invalid config",
      async () => {
        const original = readFileSync(clusterYaml(), "utf8");
        writeFileSync(clusterYaml(), original.replace(/^cluster_api_addr: .*$/m, "cluster_api_addr: 10.0.0.300"));
        await c.repo.commit("invalid");
        return {
          undo: () => {
            writeFileSync(clusterYaml(), original);
            return c.repo.commit("valid again");
          },
        };
      },
      /✗ config: the cluster configuration in \S+ is invalid \(\d+ errors?\)\n {6}\S+\/cluster\.yaml:\d+:\d+ cluster_api_addr: /,
    ],
    [
      "missing environment variable",
      async () => ({ env: { TF_HTTP_PASSWORD: undefined } }),
      /✗ environment: the http state backend needs TF_HTTP_USERNAME and TF_HTTP_PASSWORD; TF_HTTP_PASSWORD is not set/,
    ],
    [
      "a provider the engine cannot install",
      async () => {
        const providers = join(work.dir, "providers-unbuilt.json");
        const built = JSON.parse(readFileSync(engineEnv().BOOTSTRAP_PROVIDER_STAND_INS, "utf8"));
        built["siderolabs/talos"].built = "0.0.1";
        writeFileSync(providers, JSON.stringify(built));
        return { env: { BOOTSTRAP_PROVIDER_STAND_INS: providers } };
      },
      /✗ validate: 00-persistent-auth: init -backend=false failed\n(.*\n)* {6}.*siderolabs\/talos/,
    ],
  ];

  it.each(cases)("%s", async (_, setup, message) => {
    const serial = c.state()!.serial;
    const before = c.raw();
    const from = state.requests.length;
    const { env, undo } = await setup();
    try {
      const run = await c.run(["--only=persistent-auth", "--auto-approve"], env);
      expectStatus(run, 1);
      expect(run.output).toMatch(message);
      expect(run.output).toMatch(/^bootstrap: error: preflight failed; nothing was changed$/m);
      expect(run.output).not.toMatch(/=== \[1\/\d+\]/); // no phase started
    } finally {
      await undo?.();
    }
    expect(c.state()!.serial).toBe(serial);
    expect(c.raw()).toBe(before);
    expect(c.requestsSince(from)).toEqual([]);
  });

  it("after all of them, the run goes through again with no changes", async () => {
    const run = await c.run(["--only=persistent-auth", "--auto-approve"]);
    expectStatus(run, 0);
    expect(summaryRow(run.output, "00-persistent-auth", "apply")?.[2]).toBe("no changes");
  });
});

describe("4. a second bootstrap while the first holds the state lock fails clearly and corrupts nothing", () => {
  it("the second run stops at the lock, the first completes, the state stays whole", async () => {
    const proxy = await startHoldingProxy(state.url);
    try {
      const c = await cluster("lock", proxy.url);
      // The first run's state write is held at the proxy: its apply holds the lock until released.
      proxy.hold("POST");
      const first = c.run(["--only=persistent-auth", "--auto-approve"]);
      await waitFor(() => proxy.held() > 0, "the first run's state write", first);
      const holder = state.getLock(c.path("00-persistent-auth"));
      expect(holder?.Operation).toBe("OperationTypeApply");

      const second = await c.run(["--only=persistent-auth", "--auto-approve"]);
      expectStatus(second, 1);
      expect(second.output).toMatch(/Error acquiring the state lock/);
      expect(second.output).toContain(
        `bootstrap: the state of 00-persistent-auth is locked by another run (${holder!.Who}, running apply`,
      );
      expect(second.output).toContain(`lock ID ${holder!.ID}`);
      expect(second.output).toMatch(/^bootstrap: error: plan of 00-persistent-auth failed$/m);
      expect(summaryRow(second.output, "00-persistent-auth", "apply")?.[2]).toBe("failed");
      // The lock is still the first run's, and no state was written yet.
      expect(state.getLock(c.path("00-persistent-auth"))?.ID).toBe(holder!.ID);
      expect(c.raw()).toBeUndefined();

      proxy.release();
      expectStatus(await first, 0);
      expect(state.getLock(c.path("00-persistent-auth"))).toBeUndefined();
      expect(c.state()!.resources.map((r) => r.type)).toContain("talos_machine_secrets");
      const again = await c.run(["--only=persistent-auth", "--auto-approve"]);
      expectStatus(again, 0);
      expect(summaryRow(again.output, "00-persistent-auth", "apply")?.[2]).toBe("no changes");
    } finally {
      proxy.release();
      await proxy.close();
    }
  });
});

describe("5. --plan goes through every layer in order and applies nothing", () => {
  const layers = () =>
    Object.keys(JSON.parse(readFileSync(join(synthesizedOut, "manifest.json"), "utf8")).stacks).sort();
  const planned = (output: string) => [...output.matchAll(/^=== \[\d+\/\d+\] plan (\S+)$/gm)].map((m) => m[1]);
  /** Planning locks each state (LOCK, UNLOCK) and reads it; it never writes one. */
  const writes = (c: Awaited<ReturnType<typeof cluster>>, from: number) =>
    c.requestsSince(from).filter((r) => r.method === "POST" || r.method === "DELETE");
  let synthesizedOut: string;

  it("on a first bootstrap: 00 is planned, the layers above are validated only (they read 00's outputs)", async () => {
    const c = await cluster("plan-first");
    synthesizedOut = join(work.dir, "plan-first-out");
    const from = state.requests.length;
    const run = await c.run(["--plan"], { CDKTF_OUTDIR: synthesizedOut });
    expectStatus(run, 0);
    const all = layers();
    expect(planned(run.output)).toEqual(all);
    for (const layer of all) expect(run.output, layer).toMatch(new RegExp(`^ {2}✓ validate: ${layer}`, "m"));
    expect(summaryRow(run.output, "00-persistent-auth", "plan")?.slice(2, 4)).toEqual([
      "planned",
      expect.stringMatching(/^[1-9]/),
    ]);
    for (const layer of all.slice(1)) expect(summaryRow(run.output, layer, "plan")?.[2], layer).toBe("validated only");
    for (const layer of all) expect(c.raw(layer), layer).toBeUndefined();
    expect(writes(c, from)).toEqual([]);
  });

  // With cluster_cni: flannel, 01 holds no Helm release: its plan needs neither the chart repository nor Proxmox
  // (every VM is new), so it is planned offline.
  it("with 00 applied: 00 has no changes, 01 plans its new VMs offline, the layers that read 01 (they need its Kubernetes API) are validated only", async () => {
    const c = await cluster("plan-applied", state.url, { cluster_cni: "flannel" });
    expectStatus(await c.run(["--only=persistent-auth", "--auto-approve"]), 0);
    const serial = c.state()!.serial;
    const from = state.requests.length;
    synthesizedOut = join(work.dir, "plan-applied-out");
    const run = await c.run(["--plan"], { CDKTF_OUTDIR: synthesizedOut });
    expectStatus(run, 0);
    const all = layers();
    expect(planned(run.output)).toEqual(all);
    expect(summaryRow(run.output, "00-persistent-auth", "plan")?.[2]).toBe("no changes");
    const infrastructure = summaryRow(run.output, "01-infrastructure", "plan")!;
    expect(infrastructure[2]).toBe("planned");
    expect(Number(infrastructure[3])).toBeGreaterThan(0);
    expect(infrastructure.slice(4, 6)).toEqual(["0", "0"]);
    // A layer that reads 01 (or a layer not planned) is validated only; one that reads nothing pending is planned.
    const manifest = JSON.parse(readFileSync(join(synthesizedOut, "manifest.json"), "utf8")).stacks as Record<
      string,
      { dependencies: string[] }
    >;
    const notPlanned = new Set(["01-infrastructure"]);
    for (const layer of all.slice(2)) {
      const blocked = manifest[layer].dependencies.some((d) => notPlanned.has(d));
      if (blocked) notPlanned.add(layer);
      expect(summaryRow(run.output, layer, "plan")?.[2], layer).toMatch(
        blocked ? /^validated only$/ : /^(no changes|planned)$/,
      );
    }
    expect(notPlanned.has("02-services")).toBe(true);
    // Applied nothing: 00 unchanged, no other state, nothing written, Proxmox never called.
    expect(c.state()!.serial).toBe(serial);
    for (const layer of all.slice(1)) expect(c.raw(layer), layer).toBeUndefined();
    expect(writes(c, from)).toEqual([]);
    expect(proxmox.connections()).toBe(0);
  });

  // With Cilium (the default), 01 holds its Helm release, whose plan fetches the chart from helm.cilium.io.
  it("with Cilium, 01's plan needs the chart repository: offline the run stops there, names the layer and the log", async () => {
    const c = await cluster("plan-cilium");
    expectStatus(await c.run(["--only=persistent-auth", "--auto-approve"]), 0);
    const from = state.requests.length;
    const run = await c.run(["--plan"]);
    expectStatus(run, 1);
    expect(run.output).toMatch(/Error: .*chart/i);
    expect(run.output).toMatch(/^bootstrap: error: plan of 01-infrastructure failed$/m);
    expect(run.output).toMatch(/^bootstrap: failed \(exit 1\); log: \S+\/logs\/bootstrap-\S+\.log$/m);
    expect(planned(run.output)).toEqual(["00-persistent-auth", "01-infrastructure"]);
    expect(summaryRow(run.output, "01-infrastructure", "plan")?.[2]).toBe("failed");
    expect(writes(c, from)).toEqual([]);
  });
});

describe("6. layer 00 is planned on every run: applied when a feature is switched on later, refused when its plan deletes", () => {
  let c: Awaited<ReturnType<typeof cluster>>;
  const FLUX_PRIVATE = { repository_name: "owner/home-ops", repository_visibility: "private" };
  const resources = () =>
    c
      .state()!
      .resources.map((r) => `${r.type}.${(r as { name?: string }).name}`)
      .sort();
  const outputs = () => Object.keys((c.state() as { outputs?: Record<string, unknown> }).outputs ?? {});

  beforeAll(async () => {
    c = await cluster("every-run");
    expectStatus(await c.run(["--only=persistent-auth", "--auto-approve"]), 0);
    // The deploy key is kept from the start (layer 00 keeps it whatever repository_visibility says); the
    // output the layers above read comes with a private repository.
    expect(outputs()).not.toContain("flux_deploy_key_public");
  });

  it("a default run after a feature is switched on applies 00 first: the output the layers above read exists", async () => {
    const file = join(c.dir, "cluster.yaml");
    writeFileSync(
      file,
      `${readFileSync(file, "utf8")}repository_name: ${FLUX_PRIVATE.repository_name}\nrepository_visibility: private\n`,
    );
    await c.repo.commit("flux syncs a private repository");
    const run = await c.run(["--auto-approve"]);
    // 00 is applied (its only change is the new output: the key exists already); the run then stops at 01,
    // whose plan needs the Cilium chart (offline here).
    expect(summaryRow(run.output, "00-persistent-auth", "apply")?.slice(0, 6)).toEqual([
      "00-persistent-auth",
      "apply",
      "applied",
      "0",
      "0",
      "0",
    ]);
    expect(run.output).toMatch(/^bootstrap: error: plan of 01-infrastructure failed$/m);
    expect(resources()).toContain("tls_private_key.flux_deploy_key");
    expect(outputs()).toContain("flux_deploy_key_public");
    expect(run.output).toMatch(/Add it \(read-only is enough\)/);
  });

  it("a plan of 00 that deletes is refused before anything is applied, naming the address; with both keys it goes through", async () => {
    // A state holding what the config no longer has: the key moved to an address no block declares.
    const stacks = await synthesize(c.dir, join(work.dir, "every-run-mv"));
    const env = { TF_HTTP_USERNAME: AUTH.username, TF_HTTP_PASSWORD: AUTH.password };
    await tofu(stacks["00-persistent-auth"], ["init", "-input=false", "-no-color"], { env });
    await tofu(
      stacks["00-persistent-auth"],
      ["state", "mv", "tls_private_key.flux_deploy_key", "tls_private_key.orphan"],
      { env },
    );
    const before = c.raw();
    const from = state.requests.length;

    const refused = await c.run(["--auto-approve"]);
    expectStatus(refused, 1);
    expect(refused.output).toContain("refused: the plan of 00-persistent-auth would lose what cannot be made again:");
    expect(refused.output).toMatch(/^ {4}tls_private_key\.orphan \(delete\)$/m);
    expect(refused.output).toMatch(
      /^bootstrap: error: the plan of 00-persistent-auth deletes or replaces what cannot be made again; refused$/m,
    );
    expect(summaryRow(refused.output, "00-persistent-auth", "apply")?.slice(0, 6)).toEqual([
      "00-persistent-auth",
      "apply",
      "refused",
      "1",
      "0",
      "1",
    ]);
    expect(refused.output).not.toMatch(/^=== \[\d+\/\d+\] apply 01-infrastructure$/m);
    expect(c.raw()).toBe(before);
    expect(c.requestsSince(from).filter((r) => r.method === "POST")).toEqual([]);

    const unlocked = await c.run([
      "--only=persistent-auth",
      "--auto-approve",
      "--including-persistent-auth",
      "--yes-destroy-persistent-auth=homelab",
    ]);
    expectStatus(unlocked, 0);
    expect(summaryRow(unlocked.output, "00-persistent-auth", "apply")?.slice(2, 6)).toEqual(["applied", "1", "0", "1"]);
    expect(resources()).not.toContain("tls_private_key.orphan");
    expect(resources()).toContain("tls_private_key.flux_deploy_key");
  });
});

it("the engine is the one built for the tests", () => {
  expect(engineEnv().TF_BINARY).toBe(engine().tofu);
});
