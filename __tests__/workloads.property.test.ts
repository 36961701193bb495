// Nothing but a ConfigError comes out of the loader for any workloads.yaml or public key file: random
// corruptions of the examples' workloads.yaml, and random key files, are accepted or reported with file:line.
// Then the other ways in that read the config, as far as they run without a Proxmox: bootstrap's preflight (every
// check, the outside world faked), npm run inventory (in process, and the command itself), and what npm run diff
// reads of workloads.yaml itself (the key files it copies; the rest it leaves to the synth, main.test.ts).
// (cluster.yaml and nodes.yaml: config.property.test.ts; split so that no worker runs long.)
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ConfigError, loadConfig, parseConfig, resolveCluster } from "../config";
import { LAYERS } from "../layers/catalog";
import { buildApp } from "../layers/app";
import type { Layer } from "../scripts/bootstrap/layers";
import { parseOptions } from "../scripts/bootstrap/options";
import { runPreflight, type PreflightDeps } from "../scripts/bootstrap/preflight";
import { keyFiles } from "../scripts/diff";
import { inventoryMarkdown } from "../scripts/inventory";
import { stringLeavesOf } from "./support/literals";
import { PROPERTY_TIMEOUT, run, yieldToVitest } from "./support/run";
import { REPO } from "./support/synth";

const EXAMPLES = ["lxc-homelab", "zoned-ha", "gpu-single-host"].map((name) => {
  const dir = join(REPO, "examples", name);
  const read = (file: string) => readFileSync(join(dir, file), "utf8");
  return { dir, cluster: read("cluster.yaml"), nodes: read("nodes.yaml"), workloads: read("workloads.yaml") };
});

/** Every path to a value (leaves and containers) of a parsed document. */
function pathsOf(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  const here = [path];
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => pathsOf(v, [...path, i]))];
  if (value && typeof value === "object")
    return [...here, ...Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...path, k]))];
  return here;
}

const hostileText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 16 }),
  fc.constantFrom(
    '${file("/etc/shadow")}',
    "%{ if true }x%{ endif }",
    "${TfToken[TOKEN.1]}",
    "__proto__",
    "constructor",
    "a\0b",
    "https://u:p@example.com/x.tar.zst",
    "../../etc/passwd",
    "/dev/zero",
    "TF_VAR_state_passphrase",
    "TF_VAR_pbs_password",
  ),
);
const hostileValue = fc.oneof(
  hostileText,
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1.8881545897087626e289, Number.MAX_SAFE_INTEGER, -1, 0.5, null, true, [], {}),
);
const keyName = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "toString", "prototype", "hasOwnProperty", "file", "env", "${x}"),
  fc.string({ maxLength: 10 }),
);

/** One random edit of an example's workloads.yaml: a value replaced, a key added or removed, a tag, a cut. */
const corruptedWorkloads = fc
  .tuple(fc.nat({ max: EXAMPLES.length - 1 }), fc.nat(), fc.nat({ max: 4 }), hostileValue, keyName, fc.nat())
  .map(([e, pick, kind, value, key, cut]) => {
    const example = EXAMPLES[e];
    const doc = parse(example.workloads);
    const paths = pathsOf(doc);
    const path = paths[pick % paths.length];
    const parent = path.slice(0, -1).reduce((at: any, p) => at[p], doc);
    const last = path[path.length - 1];
    let text: string;
    if (kind === 0 && path.length) parent[last] = value;
    else if (kind === 1 && path.length) delete parent[last];
    else if (kind === 2) {
      const target = path.reduce((at: any, p) => at[p], doc);
      if (target && typeof target === "object" && !Array.isArray(target))
        Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
    }
    if (kind === 3) text = example.workloads.replace(/: /, `: !${key.replace(/\W/g, "") || "x"} `);
    else if (kind === 4) text = example.workloads.slice(0, cut % (example.workloads.length + 1));
    else text = stringify(doc);
    return { example, text };
  });

function configErrorOf(load: () => unknown): ConfigError | undefined {
  try {
    load();
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

function expectWellFormed(error: ConfigError): void {
  expect(error.issues.some((i) => i.severity === "error")).toBe(true);
  for (const issue of error.issues) {
    expect(["cluster.yaml", "nodes.yaml", "workloads.yaml"]).toContain(issue.file);
    expect(issue.message.trim()).not.toBe("");
    if (issue.line !== undefined) expect(issue.line).toBeGreaterThanOrEqual(1);
  }
}

const work = mkdtempSync(join(tmpdir(), "workloads-property-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("random corruptions of workloads.yaml", () => {
  it(
    "are accepted or reported as a ConfigError with well-formed issues, never another exception",
    async () => {
      await fc.assert(
        fc.asyncProperty(corruptedWorkloads, async ({ example, text }) => {
          await yieldToVitest();
          const error = configErrorOf(() =>
            parseConfig({ cluster: example.cluster, nodes: example.nodes, workloads: text }, example.dir),
          );
          if (error) expectWellFormed(error);
        }),
        { numRuns: 300 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});

describe("random public key files", () => {
  const lxc = EXAMPLES[0];
  const keyLine = fc
    .tuple(fc.constantFrom("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ssh-foo", ""), hostileText)
    .map(([type, comment]) => `${type} AAAAC3NzaC1lZDI1NTE5AAAAIFy ${comment}`);
  const keyFile = fc.oneof(
    fc.array(keyLine, { minLength: 1, maxLength: 3 }).map((lines) => Buffer.from(lines.join("\n"))),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  );
  it(
    "load as a ConfigError or as literal data that synthesizes with no template evaluated",
    async () => {
      await fc.assert(
        fc.asyncProperty(keyFile, fc.boolean(), async (content, synthesize) => {
          await yieldToVitest();
          const dir = mkdtempSync(join(work, "k-"));
          writeFileSync(join(dir, "cluster.yaml"), lxc.cluster);
          writeFileSync(join(dir, "nodes.yaml"), lxc.nodes);
          writeFileSync(join(dir, "admin.pub"), content);
          writeFileSync(join(dir, "workloads.yaml"), lxc.workloads.replaceAll("keys/admin.pub", "admin.pub"));
          let definition: ReturnType<typeof loadConfig>;
          try {
            definition = loadConfig(dir);
          } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            expectWellFormed(e);
            return;
          }
          if (!synthesize) return;
          const out = join(dir, "out");
          buildApp(resolveCluster(definition), { configDir: dir, outdir: out }).synth();
          const stack = JSON.parse(readFileSync(join(out, "stacks", "01-infrastructure", "cdk.tf.json"), "utf8"));
          for (const leaf of stringLeavesOf(stack)) expect(leaf).not.toMatch(/(^|[^$])\$\{file\(|(^|[^%])%\{ if true/);
        }),
        { numRuns: 40 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});

// ------------------------------------------------------------------------------------- the other ways in

/** A config folder: an example with `workloads` as its workloads.yaml and its keys/ folder. */
function folderWith(example: (typeof EXAMPLES)[number], workloads: string): string {
  const dir = mkdtempSync(join(work, "w-"));
  writeFileSync(join(dir, "cluster.yaml"), example.cluster);
  writeFileSync(join(dir, "nodes.yaml"), example.nodes);
  writeFileSync(join(dir, "workloads.yaml"), workloads);
  if (existsSync(join(example.dir, "keys"))) cpSync(join(example.dir, "keys"), join(dir, "keys"), { recursive: true });
  return dir;
}

/** The loader's verdict on a folder: its ConfigError, or undefined when it loads. */
const loaderErrorOf = (dir: string) => configErrorOf(() => resolveCluster(loadConfig(dir)));

/** Lines a user sees that name a config file of `dir` with its line and column, or the file alone. */
const LOCATED = (dir: string) =>
  new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/(cluster|nodes|workloads)\\.yaml(:\\d+:\\d+)? `);
const STACK_FRAME = /^\s+at .*(\.[cm]?[jt]s:\d+|<anonymous>|node:)/m;

/** Everything preflight asks of the world, answered as a reachable, empty world would; the config is read for real. */
function offlineWorld(log: string[]): PreflightDeps {
  return {
    gitStatus: (dir) => ({ toplevel: dir, changes: [] }),
    missingNodeDeps: () => [],
    loadConfig,
    findEngine: () => ({ path: "/bin/tofu", kind: "opentofu", version: "1.12.6" }),
    synth: () => ({ status: 0, output: "" }),
    readLayers: (outdir): Layer[] =>
      LAYERS.map((name, i) => ({ name, dir: join(outdir, "stacks", name), dependencies: LAYERS.slice(0, i) })),
    configuredProviders: (layer) => (layer.name === "01-infrastructure" ? ["proxmox", "talos"] : ["talos"]),
    engine: (_engine, _dir, args) => {
      const stdout =
        args[0] === "validate"
          ? JSON.stringify({ valid: true, diagnostics: [] })
          : args[0] === "show"
            ? JSON.stringify({ values: { root_module: { resources: [{}] } } })
            : args[0] === "output"
              ? "[]"
              : "";
      return { status: 0, stdout, stderr: "" };
    },
    s3Probe: () => ({ kind: "honoured" }),
    log: (line) => log.push(line),
  };
}

describe("the other ways in, on random corruptions of workloads.yaml", () => {
  it(
    "bootstrap's preflight: every check runs or is skipped; a config problem names file:line, never an exception",
    async () => {
      await fc.assert(
        fc.asyncProperty(corruptedWorkloads, async ({ example, text }) => {
          await yieldToVitest();
          const dir = folderWith(example, text);
          const log: string[] = [];
          const result = runPreflight(
            {
              options: parseOptions(["--plan"]),
              repo: REPO,
              configDir: dir,
              outdir: join(dir, "cdktf.out"),
              env: {
                PATH: "/bin",
                PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000",
                TF_VAR_state_passphrase: "a passphrase of 16+ chars",
              },
              stdinIsTTY: false,
            },
            offlineWorld(log),
          );
          const configProblem = result.problems.find((p) => p.check === "config");
          expect(configProblem !== undefined, log.join("\n")).toBe(loaderErrorOf(dir) !== undefined);
          for (const line of configProblem?.details ?? []) expect(line).toMatch(LOCATED(dir));
          expect(log.join("\n")).not.toMatch(STACK_FRAME);
        }),
        { numRuns: 100 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    "npm run inventory, in process: the table, or the loader's ConfigError",
    async () => {
      await fc.assert(
        fc.asyncProperty(corruptedWorkloads, async ({ example, text }) => {
          await yieldToVitest();
          const dir = folderWith(example, text);
          const error = configErrorOf(() => inventoryMarkdown(resolveCluster(loadConfig(dir))));
          if (error) expectWellFormed(error);
        }),
        { numRuns: 100 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    "npm run inventory, the command: exit 0 with the table, or exit 1 with file:line lines, no stack trace",
    async () => {
      await fc.assert(
        fc.asyncProperty(corruptedWorkloads, async ({ example, text }) => {
          const dir = folderWith(example, text);
          const result = await run(join(REPO, "node_modules/.bin/tsx"), [join(REPO, "scripts/inventory.ts"), dir], {
            cwd: REPO,
          });
          expect(result.stderr).not.toMatch(STACK_FRAME);
          if (loaderErrorOf(dir)) {
            expect(result.status).toBe(1);
            const [summary, ...lines] = result.stderr.trimEnd().split("\n");
            expect(summary).toMatch(/^\d+ errors? in the cluster configuration:$/);
            for (const line of lines) expect(line.trimStart()).toMatch(LOCATED(dir));
          } else {
            expect(result.status, result.stderr).toBe(0);
            expect(result.stdout).toMatch(/^\| /);
          }
        }),
        { numRuns: 4 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    "npm run diff's own reading (the key files it copies): a list of relative paths, never an exception",
    async () => {
      await fc.assert(
        fc.asyncProperty(corruptedWorkloads, async ({ example, text }) => {
          await yieldToVitest();
          const files = keyFiles(folderWith(example, text));
          for (const file of files) expect(file).not.toMatch(/^\/|(^|\/)\.\.(\/|$)/);
        }),
        { numRuns: 300 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it("npm run diff's own reading takes a mapping where the list of keys belongs (the loader reports it)", () => {
    const lxc = EXAMPLES[0];
    const dir = folderWith(
      lxc,
      lxc.workloads.replace("ssh_keys: [{ file: keys/admin.pub }]", "ssh_keys: { file: keys/admin.pub }"),
    );
    expect(keyFiles(dir)).toContain("keys/admin.pub");
    expect(loaderErrorOf(dir)?.message).toMatch(/workloads\.yaml:\d+:\d+ containers\[0\]\.ssh_keys: expected array/);
  });
});
