// The S3 state backend against a real S3 server on 127.0.0.1, versitygw (judges/s3-store, a store that honours
// conditional writes), and the pg backend against a real PostgreSQL (judges/postgres): layer 00 applies offline and
// plans nothing after, layer 01 plans reading 00 through terraform_remote_state, wrong credentials fail, state
// encryption stores nothing readable, a lock held by another client stops a plan, and preflight refuses a store
// that drops If-None-Match. Through ./bootstrap.sh on S3, pg and the local backend: two runs at once and a killed
// run; migrate-state local -> S3 -> pg -> local.
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { connect as connectNet, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { basename, join } from "node:path";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { startPostgres, type Postgres } from "../../judges/postgres/server";
import { startS3Store, type S3Store } from "../../judges/s3-store/server";
import { s3Request } from "../../scripts/bootstrap/s3-probe";
import { configRepo, type ConfigRepo } from "../bootstrap/support";
import {
  BOOTSTRAP,
  DUMMY_PROXMOX_TOKEN,
  engineEnv,
  startBootstrap,
  summaryRow,
  waitFor,
  type BootstrapRun,
} from "./bootstrap-support";
import {
  REPO,
  deriveConfig,
  plannedActions,
  startImageFactory,
  startTrap,
  stringLeaves,
  synthesize,
  tempDir,
  tofu,
  type Layer,
  type StubServer,
  type SynthesizedStack,
} from "./support";

const PASSPHRASE = "engine-test passphrase, not a secret";
const NODES = 5;
const BUCKET = "tfstate";

let s3: S3Store;
let pg: Postgres;
let factory: StubServer;
let proxmox: Awaited<ReturnType<typeof startTrap>>;
const work = tempDir("state-backends");
const repos: ConfigRepo[] = [];

beforeAll(async () => {
  [s3, pg, factory, proxmox] = await Promise.all([
    startS3Store([BUCKET]),
    startPostgres(),
    startImageFactory(),
    startTrap(),
  ]);
});

afterAll(async () => {
  await Promise.all([s3?.close(), pg?.close(), factory?.close(), proxmox?.close()]);
  for (const r of repos) r.remove();
  work.remove();
});

interface Backend {
  /** state_backend for the states of `name`. */
  config(name: string, endpoint?: string): Record<string, unknown>;
  /** What the engine reads from the environment. */
  env(): Record<string, string>;
  /** The stored state of a layer, as the server holds it, or undefined. */
  stored(name: string, layer: Layer): Promise<string | undefined>;
}

const BACKENDS: Record<"s3" | "pg", Backend> = {
  s3: {
    config: (name, endpoint = s3.url) => ({
      type: "s3",
      bucket: BUCKET,
      key: `${name}/{layer}.tfstate`,
      endpoint,
      use_path_style: true,
    }),
    env: () => ({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }),
    stored: async (name, layer) => {
      const file = join(s3.root, BUCKET, name, `${layer}.tfstate`);
      return existsSync(file) ? readFileSync(file, "utf8") : undefined;
    },
  },
  pg: {
    config: (name) => ({ type: "pg", schema_name: name.replaceAll("-", "_") }),
    env: () => ({ PG_CONN_STR: pg.connectionString }),
    stored: async (name, layer) => {
      const schema = name.replaceAll("-", "_");
      const exists = await pg.query(
        `SELECT count(*) FROM pg_tables WHERE schemaname = '${schema}' AND tablename = '${layer}'`,
      );
      if (exists !== "1") return undefined;
      return (await pg.query(`SELECT data FROM "${schema}"."${layer}" WHERE name = 'default'`)) || undefined;
    },
  },
};

function baseCluster(): Record<string, unknown> {
  return { proxmox_csi_enabled: false, talos_image_factory_url: factory.url, proxmox_api_url: proxmox.url };
}

function engineRunEnv(backend: Backend, extra: Record<string, string> = {}): Record<string, string> {
  return { PROXMOX_VE_API_TOKEN: DUMMY_PROXMOX_TOKEN, ...backend.env(), ...extra };
}

/** `tofu plan` of layer 01 without its Helm release (a new one downloads its chart index at plan time). */
async function planInfrastructure(stack: SynthesizedStack, env: Record<string, string>) {
  await tofu(stack, ["init", "-input=false", "-no-color"], { env });
  await tofu(stack, ["plan", "-input=false", "-no-color", "-out=test.tfplan", "-exclude=helm_release.cilium"], { env });
  return JSON.parse((await tofu(stack, ["show", "-json", "test.tfplan"], { env })).stdout) as Parameters<
    typeof plannedActions
  >[0];
}

describe.each<"s3" | "pg">(["s3", "pg"])("%s state backend", (kind) => {
  const backend = BACKENDS[kind];
  // Not pg-...: PostgreSQL keeps the schemas named pg_* to itself.
  const name = `plain-${kind}`;
  let stacks: Record<Layer, SynthesizedStack>;

  it("layer 00 applies into it and then plans no changes; no lock is left behind", async () => {
    const config = deriveConfig(join(work.dir, name, "config"), {
      ...baseCluster(),
      state_backend: backend.config(name),
    });
    stacks = await synthesize(config, join(work.dir, name));
    const layer00 = stacks["00-persistent-auth"];
    const env = engineRunEnv(backend);
    await tofu(layer00, ["init", "-input=false", "-no-color"], { env });
    await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env });
    const stored = JSON.parse((await backend.stored(name, "00-persistent-auth"))!) as {
      resources: Array<{ type: string }>;
    };
    expect(stored.resources.map((r) => r.type)).toContain("talos_machine_secrets");
    await tofu(layer00, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], { env });
    if (kind === "s3") expect(existsSync(join(s3.root, BUCKET, name, "00-persistent-auth.tfstate.tflock"))).toBe(false);
    else expect(await pg.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).toBe("0");
  });

  it("layer 01 plans a fresh cluster reading layer 00's outputs from it", async () => {
    const plan = await planInfrastructure(stacks["01-infrastructure"], engineRunEnv(backend));
    expect(plannedActions(plan).proxmox_virtual_environment_vm).toEqual({ create: NODES });
    expect(proxmox.connections()).toBe(0);
  });

  it("the credentials come from the environment: without them the engine cannot reach the state", async () => {
    const layer00 = stacks["00-persistent-auth"];
    const wrong =
      kind === "s3"
        ? { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: "not-the-secret" }
        : { PG_CONN_STR: pg.connectionString.replace(/:[^:@/]+@/, ":not-the-password@") };
    const plan = await tofu(layer00, ["plan", "-input=false", "-no-color"], {
      env: { PROXMOX_VE_API_TOKEN: DUMMY_PROXMOX_TOKEN, ...wrong },
      ok: [1],
    });
    expect(plan.stderr).toMatch(kind === "s3" ? /SignatureDoesNotMatch|403/ : /password authentication failed/);
    const text = Object.values(stacks)
      .map((s) => readFileSync(join(s.dir, "cdk.tf.json"), "utf8"))
      .join("\n");
    for (const secret of Object.values(backend.env())) expect(text).not.toContain(secret);
    if (kind === "pg") expect(text).not.toContain(pg.connectionString.split("@")[0]);
  });
});

describe.each<"s3" | "pg">(["s3", "pg"])("state encryption on the %s backend", (kind) => {
  const backend = BACKENDS[kind];
  const name = `encrypted-${kind}`;

  it("the stored state of layer 00 holds no plaintext, and layer 01 still plans against it", async () => {
    const config = deriveConfig(join(work.dir, name, "config"), {
      ...baseCluster(),
      state_backend: backend.config(name),
      state_encryption: true,
    });
    const stacks = await synthesize(config, join(work.dir, name));
    const env = engineRunEnv(backend, { TF_VAR_state_passphrase: PASSPHRASE });
    const layer00 = stacks["00-persistent-auth"];
    await tofu(layer00, ["init", "-input=false", "-no-color"], { env });
    await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env });

    const stored = (await backend.stored(name, "00-persistent-auth"))!;
    expect(Object.keys(JSON.parse(stored)).sort()).toEqual([
      "encrypted_data",
      "encryption_version",
      "lineage",
      "meta",
      "serial",
    ]);
    const outputs = JSON.parse((await tofu(layer00, ["output", "-json", "-no-color"], { env })).stdout);
    const material = stringLeaves(outputs).filter((v) => v.length >= 20);
    expect(material.some((v) => v.includes("PRIVATE KEY"))).toBe(true);
    expect(material.filter((v) => stored.includes(v))).toEqual([]);
    expect(stored).not.toMatch(/BEGIN|PRIVATE|talos_machine_secrets/);

    const plan = await planInfrastructure(stacks["01-infrastructure"], env);
    expect(plannedActions(plan).proxmox_virtual_environment_vm).toEqual({ create: NODES });
  });
});

describe.each<"s3" | "pg">(["pg", "s3"])("%s: one store for the clusters of one repository", (kind) => {
  it("two clusters of clusters/ with their default schema or key (from cluster_name) keep apart states; a third sharing one is refused before the engine", async () => {
    const names = ["alpha-one", "beta"];
    const env = engineRunEnv(BACKENDS[kind]);
    const store =
      kind === "pg" ? { type: "pg" } : { type: "s3", bucket: BUCKET, endpoint: s3.url, use_path_style: true };
    // One repository: synthesizing each cluster loads the other's config and compares where their states are.
    const repo = join(work.dir, `one-store-${kind}`);
    for (const name of names) {
      const config = deriveConfig(join(repo, "clusters", name), {
        ...baseCluster(),
        cluster_name: name,
        state_backend: store,
      });
      const layer00 = (await synthesize(config, join(work.dir, `one-store-${kind}-${name}`)))["00-persistent-auth"];
      expect(layer00.json.terraform?.backend).toMatchObject(
        kind === "pg"
          ? {
              pg: {
                schema_name: name.replaceAll("-", "_"),
                table_name: "00-persistent-auth",
                index_name: "00-persistent-auth_by_name",
              },
            }
          : { s3: { bucket: BUCKET, key: `${name}/00-persistent-auth.tfstate`, use_lockfile: true } },
      );
      await tofu(layer00, ["init", "-input=false", "-no-color"], { env });
      await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env });
    }
    const states = await Promise.all(names.map((n) => BACKENDS[kind].stored(n, "00-persistent-auth")));
    const [alpha, beta] = states.map((s) => JSON.parse(s!) as { lineage: string; resources: unknown[] });
    expect(alpha.lineage).not.toBe(beta.lineage);
    const secrets = (state: { resources: unknown[] }) =>
      stringLeaves(state.resources).filter((v) => v.includes("PRIVATE KEY"));
    const alphaSecrets = secrets(alpha);
    expect(alphaSecrets.length).toBeGreaterThan(0);
    expect(secrets(beta).filter((v) => alphaSecrets.includes(v))).toEqual([]);
    if (kind === "pg")
      expect(
        await pg.query(
          "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname) FROM pg_tables WHERE schemaname IN ('alpha_one', 'beta')",
        ),
      ).toBe("alpha_one.00-persistent-auth,beta.00-persistent-auth");

    // A third cluster named like the first: its default schema or key is the first's. Nothing is synthesized.
    const copy = deriveConfig(join(repo, "clusters", "copy"), {
      ...baseCluster(),
      cluster_name: "alpha-one",
      state_backend: store,
    });
    const refused = await synthesize(copy, join(work.dir, `one-store-${kind}-copy`)).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(
      kind === "pg"
        ? /clusters\/copy\/cluster\.yaml:\d+:\d+ state_backend: the PostgreSQL schema alpha_one is also clusters\/alpha-one's/
        : /clusters\/copy\/cluster\.yaml:\d+:\d+ state_backend: the state s3:\/\/tfstate\/alpha-one\/00-persistent-auth\.tfstate is also clusters\/alpha-one's/,
    );
    expect(refused?.stderr).toContain("Nothing was synthesized.");
    expect(existsSync(join(work.dir, `one-store-${kind}-copy`, "cdktf.out"))).toBe(false);
  });
});

describe("locks held by someone else stop a plan, naming what the engine knows, and change nothing", () => {
  it("s3: the lock file <key>.tflock, written by another client, names its holder", async () => {
    const name = "s3-held";
    const config = deriveConfig(join(work.dir, name, "config"), {
      ...baseCluster(),
      state_backend: BACKENDS.s3.config(name),
    });
    const layer00 = (await synthesize(config, join(work.dir, name)))["00-persistent-auth"];
    const env = engineRunEnv(BACKENDS.s3);
    await tofu(layer00, ["init", "-input=false", "-no-color"], { env });
    await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env });
    const before = await BACKENDS.s3.stored(name, "00-persistent-auth");
    const lock = {
      ID: randomUUID(),
      Operation: "OperationTypeApply",
      Info: "",
      Who: "someone@elsewhere",
      Version: "1.11.14",
      Created: new Date().toISOString(),
      Path: `${BUCKET}/${name}/00-persistent-auth.tfstate`,
    };
    const location = { endpoint: s3.url, bucket: BUCKET, region: "us-east-1", usePathStyle: true };
    const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
    const lockKey = `${name}/00-persistent-auth.tfstate.tflock`;
    expect((await s3Request("PUT", location, credentials, lockKey, JSON.stringify(lock))).status).toBe(200);
    const plan = await tofu(layer00, ["plan", "-lock-timeout=0s", "-input=false", "-no-color"], { env, ok: [1] });
    expect(plan.stderr).toMatch(/Error acquiring the state lock/);
    expect(plan.stderr).toContain(lock.ID);
    expect(plan.stderr).toContain(lock.Who);
    expect(await BACKENDS.s3.stored(name, "00-persistent-auth")).toBe(before);
    // Released by the holder, the next plan goes through.
    expect((await s3Request("DELETE", location, credentials, lockKey)).status).toBe(204);
    await tofu(layer00, ["plan", "-detailed-exitcode", "-lock-timeout=0s", "-input=false", "-no-color"], { env });
  });
});

// ------------------------------------------------------------------------------------------------ ./bootstrap.sh

async function cluster(name: string, stateBackend: Record<string, unknown>, backend: Backend) {
  const repo = await configRepo(name, { cluster: { ...baseCluster(), state_backend: stateBackend } });
  repos.push(repo);
  const env = (extra: Record<string, string | undefined> = {}) => ({
    CONFIG_DIR: repo.dir,
    ...engineEnv(),
    ...engineRunEnv(backend),
    CDKTF_OUTDIR: undefined,
    CDKTF_CONTEXT_JSON: undefined,
    ...extra,
  });
  return {
    repo,
    run: (args: string[], extra: Record<string, string | undefined> = {}): Promise<BootstrapRun> =>
      startBootstrap(args, env(extra)),
    /** A run in a process group of its own, to be killed with everything it started (the engine). */
    killable: (args: string[], extra: Record<string, string | undefined> = {}) => {
      const fullEnv: NodeJS.ProcessEnv = { ...process.env, ...env(extra) };
      for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k];
      const child = spawn(BOOTSTRAP, args, { cwd: REPO, env: fullEnv, detached: true, stdio: "ignore" });
      const done = new Promise<BootstrapRun>((resolve) =>
        child.on("close", (status) => resolve({ status, output: "" })),
      );
      return {
        done,
        kill: () => process.kill(-child.pid!, "SIGKILL"),
        /** Signals the run and everything it started (SIGSTOP freezes it as it is, SIGCONT lets it go on). */
        signal: (signal: NodeJS.Signals) => process.kill(-child.pid!, signal),
      };
    },
  };
}

function expectStatus(run: BootstrapRun, status: number): void {
  expect(run.status, run.output).toBe(status);
}

interface Proxy {
  readonly url: string;
  /** How many requests (HTTP) or connections (TCP) are being held. */
  held(): number;
  /** Stops holding and forwards what was held, or (`drop`) never forwards it. */
  release(drop?: boolean): void;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of the S3 store. `strip`: drops If-None-Match from every request, as a store that ignores
 * conditional writes would (the probe does not sign that header, so the store still accepts the request).
 * `holdPut`: holds every PUT whose path ends with it until release() (the engine writes no empty state for the
 * default workspace on S3: the first PUT of a new state is the apply's).
 */
async function startS3Proxy(options: { strip?: boolean; holdPut?: string }): Promise<Proxy> {
  let holding = options.holdPut;
  let waiting: Array<() => void> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers = { ...req.headers };
      if (options.strip) delete headers["if-none-match"];
      const forward = () => {
        const upstream = request(`${s3.url}${req.url}`, { method: req.method, headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        upstream.on("error", (e) => res.writeHead(502).end(String(e)));
        upstream.end(Buffer.concat(chunks));
      };
      const path = (req.url ?? "").split("?")[0];
      if (holding && req.method === "PUT" && path.endsWith(holding)) waiting.push(forward);
      else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held: () => waiting.length,
    release: (drop = false) => {
      holding = undefined;
      const pending = waiting;
      waiting = [];
      if (!drop) for (const forward of pending) forward();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("./bootstrap.sh preflight refuses an S3 store that ignores conditional writes", () => {
  it("three conditional puts all stored: refused before any engine touches the state", async () => {
    const name = "s3-ignoring";
    const proxy = await startS3Proxy({ strip: true });
    try {
      const c = await cluster(name, BACKENDS.s3.config(name, proxy.url), BACKENDS.s3);
      const run = await c.run(["--only=persistent-auth", "--auto-approve"]);
      expectStatus(run, 1);
      expect(run.output).toMatch(
        /✗ state: s3:\/\/tfstate at http:\/\/127\.0\.0\.1:\d+ ignores conditional writes: 3 PutObject requests with If-None-Match: \* on one new object were all stored \(HTTP 200, 200, 200\)/,
      );
      expect(run.output).toContain("preflight failed; nothing was changed");
      // No state was written, and the probe removed its object.
      const folder = join(s3.root, BUCKET, name);
      expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

/**
 * A TCP proxy in front of PostgreSQL that holds (never forwards, until release) everything a connection sends from
 * the apply's state write on (the parameters of the backend's INSERT, with the applied resources in them; the
 * empty state a new workspace starts with goes through): the engine then waits in the middle of its apply with its
 * advisory lock taken, its database session idle, as it is between two queries.
 */
async function startPgProxy(): Promise<Proxy> {
  let holding = true;
  /** The connections being held, each with what its client sent since. */
  const held: Array<{ upstream: Socket; chunks: Buffer[] | undefined }> = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    const upstream = connectNet(pg.port, "127.0.0.1");
    sockets.add(client).add(upstream);
    const connection: { upstream: Socket; chunks: Buffer[] | undefined } = { upstream, chunks: undefined };
    client.on("data", (chunk: Buffer) => {
      if (!connection.chunks && holding && chunk.includes("talos_machine_secrets")) {
        connection.chunks = [];
        held.push(connection);
      }
      if (connection.chunks) connection.chunks.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    // A closed client (a killed engine) closes its session: PostgreSQL ends it and every lock it held.
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    held: () => held.length,
    release: (drop = false) => {
      holding = false;
      for (const connection of held.splice(0)) {
        const chunks = connection.chunks ?? [];
        // From now on this connection's data goes straight through.
        connection.chunks = undefined;
        if (drop) connection.upstream.destroy();
        else for (const c of chunks) connection.upstream.write(c);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A state_backend and its environment that reach the store through `proxy`. */
function throughProxy(kind: "s3" | "pg", name: string, proxy: Proxy) {
  if (kind === "s3") return { config: BACKENDS.s3.config(name, proxy.url), env: {} };
  const [, port] = proxy.url.split(":");
  return {
    config: BACKENDS.pg.config(name),
    env: { PG_CONN_STR: pg.connectionString.replace(`127.0.0.1:${pg.port}/`, `127.0.0.1:${port}/`) },
  };
}

async function startProxy(kind: "s3" | "pg", name: string): Promise<Proxy> {
  return kind === "s3" ? startS3Proxy({ holdPut: `/${BUCKET}/${name}/00-persistent-auth.tfstate` }) : startPgProxy();
}

/** The lock file a run left on the S3 store, parsed, or undefined. */
function s3Lock(name: string): { ID: string; Who: string; Operation: string } | undefined {
  const file = join(s3.root, BUCKET, name, "00-persistent-auth.tfstate.tflock");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}

async function advisoryLocks(): Promise<number> {
  return Number(await pg.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"));
}

describe.each<"s3" | "pg">(["s3", "pg"])("./bootstrap.sh twice at once on the %s backend", (kind) => {
  // Three runs of ./bootstrap.sh, each well under a minute on an idle machine; minutes each under a heavy load.
  it("the second run stops at the lock naming the holder, changes nothing; the first completes", {
    timeout: 1_200_000,
  }, async () => {
    const name = `twice-${kind}`;
    const proxy = await startProxy(kind, name);
    try {
      const via = throughProxy(kind, name, proxy);
      const c = await cluster(name, via.config, BACKENDS[kind]);
      const first = c.run(["--only=persistent-auth", "--auto-approve"], via.env);
      await waitFor(() => proxy.held() > 0, "the first run's state write", first);

      const second = await c.run(["--only=persistent-auth", "--auto-approve"], via.env);
      expectStatus(second, 1);
      expect(second.output).toMatch(/Error acquiring the state lock/);
      if (kind === "s3") {
        const holder = s3Lock(name)!;
        expect(holder.Operation).toBe("OperationTypeApply");
        expect(second.output).toContain(
          `bootstrap: the state of 00-persistent-auth is locked by another run (${holder.Who}, running apply`,
        );
        expect(second.output).toContain(`lock ID ${holder.ID}`);
      } else {
        expect(second.output).toContain(
          "bootstrap: the state of 00-persistent-auth is locked by another session of its PostgreSQL database",
        );
        expect(await advisoryLocks()).toBeGreaterThan(0);
        // The holder's session is named after its run (PGAPPNAME): another run than the second, which says its own.
        const holder = await pg.query(
          "SELECT string_agg(DISTINCT application_name, ',') FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE locktype = 'advisory'",
        );
        const named = new RegExp(`^bootstrap\\[(\\d+)\\] \\S+@\\S+ ${basename(c.repo.dir)}$`);
        expect(holder).toMatch(named);
        const own = /this one's are "([^"]+)"/.exec(second.output)?.[1];
        expect(own).toMatch(named);
        expect(named.exec(own!)![1]).not.toBe(named.exec(holder)![1]);
      }
      expect(second.output).toMatch(/^bootstrap: error: plan of 00-persistent-auth failed$/m);
      // Nothing was stored, at most the empty state a new workspace starts with.
      const stored = await BACKENDS[kind].stored(name, "00-persistent-auth");
      expect(stored === undefined ? [] : (JSON.parse(stored) as { resources: [] }).resources).toEqual([]);

      proxy.release();
      expectStatus(await first, 0);
      const after = JSON.parse((await BACKENDS[kind].stored(name, "00-persistent-auth"))!) as {
        resources: Array<{ type: string }>;
      };
      expect(after.resources.map((r) => r.type)).toContain("talos_machine_secrets");
      if (kind === "s3") expect(s3Lock(name)).toBeUndefined();
      const again = await c.run(["--only=persistent-auth", "--auto-approve"], via.env);
      expectStatus(again, 0);
      expect(summaryRow(again.output, "00-persistent-auth", "apply")?.[2]).toBe("no changes");
    } finally {
      proxy.release(true);
      await proxy.close();
    }
  });
});

describe.each<"s3" | "pg">(["s3", "pg"])("a run killed in the middle of its apply on the %s backend", (kind) => {
  it(kind === "s3"
    ? "leaves its lock file: the next run names it, --force-unlock refuses another ID and releases that one"
    : "leaves no lock: it ended with the engine's session, and the next run applies", {
    timeout: 1_200_000,
  }, async () => {
    const name = `killed-${kind}`;
    const proxy = await startProxy(kind, name);
    try {
      const via = throughProxy(kind, name, proxy);
      const c = await cluster(name, via.config, BACKENDS[kind]);
      const first = c.killable(["--only=persistent-auth", "--auto-approve"], via.env);
      await waitFor(() => proxy.held() > 0, "the first run's state write", first.done);
      first.kill();
      await first.done;
      proxy.release(true);

      if (kind === "pg") {
        // The session ends once PostgreSQL reads the closed connection.
        for (let i = 0; i < 100 && (await advisoryLocks()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
        expect(await advisoryLocks()).toBe(0);
      } else {
        const lock = s3Lock(name)!;
        expect(lock.Operation).toBe("OperationTypeApply");
        const blocked = await c.run(["--only=persistent-auth", "--auto-approve"], via.env);
        expectStatus(blocked, 1);
        expect(blocked.output).toContain(`lock ID ${lock.ID}`);
        expect(blocked.output).toContain(`./bootstrap.sh --only=00-persistent-auth --force-unlock=${lock.ID}`);

        const wrong = await c.run(
          ["--only=00-persistent-auth", `--force-unlock=${randomUUID()}`, "--auto-approve"],
          via.env,
        );
        expectStatus(wrong, 1);
        expect(wrong.output).toMatch(/the engine did not release lock/);
        expect(s3Lock(name)?.ID).toBe(lock.ID);

        const unlock = await c.run(
          ["--only=00-persistent-auth", `--force-unlock=${lock.ID}`, "--auto-approve"],
          via.env,
        );
        expectStatus(unlock, 0);
        expect(unlock.output).toContain(`lock ${lock.ID} of 00-persistent-auth released`);
        expect(s3Lock(name)).toBeUndefined();
      }
      const next = await c.run(["--only=persistent-auth", "--auto-approve"], via.env);
      expectStatus(next, 0);
      expect(summaryRow(next.output, "00-persistent-auth", "apply")?.[2]).toBe("applied");
      const stored = JSON.parse((await BACKENDS[kind].stored(name, "00-persistent-auth"))!) as {
        resources: Array<{ type: string }>;
      };
      expect(stored.resources.map((r) => r.type)).toContain("talos_machine_secrets");
    } finally {
      proxy.release(true);
      await proxy.close();
    }
  });
});

describe("./bootstrap.sh on the local backend: the engine's lock on the state file", () => {
  // Four short runs of layer 00 (offline); minutes each under a heavy load.
  it("a second run at once stops naming the holder, which then completes; a killed run leaves only its note", {
    timeout: 1_200_000,
  }, async () => {
    const c = await cluster("local-lock", { type: "local" }, BACKENDS.s3);
    const args = ["--only=persistent-auth", "--auto-approve"];
    const stateDir = join(c.repo.dir, "state");
    const note = join(stateDir, ".00-persistent-auth.tfstate.lock.info");
    const readNote = () => JSON.parse(readFileSync(note, "utf8")) as { ID: string; Who: string; Operation: string };
    /** A run frozen (SIGSTOP) while its engine holds the lock: its note written, its lock not yet released. */
    const frozenHolder = async () => {
      const run = c.killable(args);
      let ended = false;
      void run.done.then(() => (ended = true));
      for (;;) {
        while (!existsSync(note)) {
          if (ended) throw new Error("the run ended before its engine took the lock");
          await new Promise((r) => setTimeout(r, 10));
        }
        run.signal("SIGSTOP");
        // The engine removes its note before it releases the lock: still there, the lock is still held.
        if (existsSync(note)) return run;
        run.signal("SIGCONT");
      }
    };

    const first = await frozenHolder();
    const holder = readNote();
    const second = await c.run(args);
    expectStatus(second, 1);
    expect(second.output).toMatch(/Error acquiring the state lock/);
    expect(second.output).toContain(
      `bootstrap: the state of 00-persistent-auth is locked by another run (${holder.Who}, running ${holder.Operation.replace("OperationType", "").toLowerCase()}`,
    );
    expect(second.output).toContain(`lock ID ${holder.ID}`);
    expect(second.output).toContain("a killed run leaves nothing to release");
    expect(second.output).not.toContain("--force-unlock=");
    expect(second.output).toMatch(/^bootstrap: error: plan of 00-persistent-auth failed$/m);
    first.signal("SIGCONT");
    expect((await first.done).status).toBe(0);
    expect(existsSync(note)).toBe(false);
    const applied = JSON.parse(readFileSync(join(stateDir, "00-persistent-auth.tfstate"), "utf8")) as {
      serial: number;
      resources: Array<{ type: string }>;
    };
    expect(applied.resources.map((r) => r.type)).toContain("talos_machine_secrets");

    // kill -9 while holding the lock: the kernel ends the engine's lock with it, its note stays.
    const killed = await frozenHolder();
    const left = readNote();
    killed.kill();
    await killed.done;
    expect(readNote().ID).toBe(left.ID);
    const unlock = await c.run(["--only=00-persistent-auth", `--force-unlock=${left.ID}`, "--auto-approve"]);
    expectStatus(unlock, 1);
    expect(unlock.output).toContain(
      `✗ lock: --force-unlock=${left.ID}: the local backend's lock is the engine's lock on the state file, which ends with the engine's process, so there is nothing to release`,
    );
    expect(unlock.output).toContain(`${note}: ${left.Who}`);
    const next = await c.run(args);
    expectStatus(next, 0);
    expect(next.output).toContain(`✓ lock: 1 lock note in ${stateDir}/`);
    expect(summaryRow(next.output, "00-persistent-auth", "apply")?.[2]).toBe("no changes");
    expect(existsSync(note)).toBe(false);
    const after = JSON.parse(readFileSync(join(stateDir, "00-persistent-auth.tfstate"), "utf8")) as typeof applied;
    expect(after.resources).toEqual(applied.resources);
  });
});

describe("./bootstrap.sh migrate-state: local → S3 → pg → local, encrypted, with no changes planned after", () => {
  it("each move copies layer 00 with a backup first, refuses a target that holds a state unless told, and changes nothing", {
    timeout: 2_400_000,
  }, async () => {
    const name = "migrate-roundtrip";
    const c = await cluster(name, { type: "local" }, BACKENDS.s3);
    const env = { ...BACKENDS.s3.env(), ...BACKENDS.pg.env(), TF_VAR_state_passphrase: PASSPHRASE };
    const configFile = join(c.repo.dir, "cluster.yaml");
    const moveTo = async (to: Record<string, unknown>, from?: Record<string, unknown>) => {
      const doc = parseYaml(readFileSync(configFile, "utf8")) as Record<string, unknown>;
      doc.state_backend = to;
      if (from) doc.previous_state_backend = from;
      else delete doc.previous_state_backend;
      writeFileSync(configFile, stringifyYaml({ ...doc, state_encryption: true }));
      await c.repo.commit(`state_backend: ${String(to.type)}`);
    };
    const localState = join(c.repo.dir, "state", "00-persistent-auth.tfstate");
    const stored = {
      local: async () => (existsSync(localState) ? readFileSync(localState, "utf8") : undefined),
      s3: () => BACKENDS.s3.stored(name, "00-persistent-auth"),
      pg: () => BACKENDS.pg.stored(name, "00-persistent-auth"),
    };
    const backends = {
      local: { type: "local" },
      s3: BACKENDS.s3.config(name),
      pg: BACKENDS.pg.config(name),
    };

    await moveTo(backends.local);
    const applied = await c.run(["--only=persistent-auth", "--auto-approve"], env);
    expectStatus(applied, 0);
    expect(JSON.parse((await stored.local())!)).toHaveProperty("encrypted_data");

    const backups: string[] = [];
    for (const [from, to] of [
      ["local", "s3"],
      ["s3", "pg"],
      ["pg", "local"],
    ] as const) {
      await moveTo(backends[to], backends[from]);
      let run = await c.run(["migrate-state", "--auto-approve"], env);
      if (to === "local") {
        // The local state of the start is still there: migration never deletes a source.
        expectStatus(run, 1);
        expect(run.output).toMatch(
          /✗ 00-persistent-auth: state_backend \(.*\/state\/\) already holds a state of it \(lineage [0-9a-f-]+, serial \d+\)/,
        );
        expect(run.output).toContain("refused: migrating would replace the states above; nothing was migrated");
        expect(readdirSync(join(c.repo.dir, "state", "backups")).length).toBe(backups.length);
        run = await c.run(["migrate-state", "--auto-approve", "--overwrite-target-state"], env);
      }
      expectStatus(run, 0);
      expect(run.output).toMatch(
        /✓ 00-persistent-auth: migrated to .* \(the same resources and outputs as the source\); the plan there has no changes/,
      );
      for (const layer of ["01-infrastructure", "02-services", "03-configuration"])
        expect(run.output).toContain(`- ${layer}: previous_state_backend holds no state of it; nothing to migrate`);
      // The engine may give a remote copy a lineage of its own; bootstrap compared the decrypted contents.
      const target = JSON.parse((await stored[to]())!) as { lineage: string; serial: number };
      expect(target).toHaveProperty("encrypted_data");
      // The source keeps its copy; the backup is the engine's encrypted format, nothing readable.
      expect(await stored[from]()).toBeDefined();
      const backupDir = /backups are in (\S+)\./.exec(run.output)![1];
      const backup = readFileSync(join(backupDir, "00-persistent-auth.tfstate"), "utf8");
      expect(JSON.parse(backup)).toHaveProperty("encrypted_data");
      expect(backup).not.toMatch(/PRIVATE KEY|talos_machine_secrets/);
      backups.push(backupDir);
    }

    // While previous_state_backend is set, a plain run is refused; without it, the run on the last backend
    // finds nothing to change.
    const refused = await c.run(["--only=persistent-auth", "--auto-approve"], env);
    expectStatus(refused, 1);
    expect(refused.output).toMatch(/✗ migration: previous_state_backend is set in cluster\.yaml/);
    await moveTo(backends.local);
    const again = await c.run(["--only=persistent-auth", "--auto-approve"], env);
    expectStatus(again, 0);
    expect(summaryRow(again.output, "00-persistent-auth", "apply")?.[2]).toBe("no changes");
  });
});
