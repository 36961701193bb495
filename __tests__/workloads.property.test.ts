// Nothing but a ConfigError comes out of the loader for any workloads.yaml or public key file: random
// corruptions of the examples' workloads.yaml, and random key files, are accepted or reported with file:line.
// (cluster.yaml and nodes.yaml: config.property.test.ts; split so that no worker runs long.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ConfigError, loadConfig, parseConfig, resolveCluster } from "../config";
import { buildApp } from "../layers/app";
import { stringLeavesOf } from "./support/literals";
import { yieldToVitest } from "./support/run";
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
  it("are accepted or reported as a ConfigError with well-formed issues, never another exception", async () => {
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
  });
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
  it("load as a ConfigError or as literal data that synthesizes with no template evaluated", async () => {
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
  });
});
