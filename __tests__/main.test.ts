// The synth command end to end, as a user runs it: node dist/main.js with CONFIG_DIR.
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as runChild, runOk } from "./support/run";
import { exampleSources, REPO } from "./support/synth";

const work = mkdtempSync(join(tmpdir(), "main-"));
beforeAll(() => runOk("node", [join(REPO, "scripts/build.mjs")]));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** node dist/main.js, as npm run synth runs it, with `env` added to this process's environment. */
const synthCommand = (env: NodeJS.ProcessEnv, cwd = REPO) =>
  runChild("node", [join(REPO, "dist/main.js")], { cwd, env: { ...process.env, ...env } });

async function run(name: string, sources: { cluster: string; nodes: string }) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
  writeFileSync(join(dir, "nodes.yaml"), sources.nodes);
  const outdir = join(dir, "cdktf.out");
  const result = await synthCommand({ CONFIG_DIR: dir, CDKTF_OUTDIR: outdir });
  return { ...result, dir, outdir };
}

describe("synth command", () => {
  it("writes both layers for a valid config", async () => {
    const { status, outdir, stderr } = await run("valid", exampleSources());
    expect(stderr).toBe("");
    expect(status).toBe(0);
    for (const layer of ["00-persistent-auth", "01-infrastructure"]) {
      expect(JSON.parse(readFileSync(join(outdir, "stacks", layer, "cdk.tf.json"), "utf8")).terraform).toBeDefined();
    }
  });

  it("stops on bad input with file:line:col key messages, exit 1, and writes nothing", async () => {
    const sources = exampleSources({ nodes: (n) => [...n, { ...n[0], name: "dup", vm_memory: 100 }] });
    const { status, stderr, outdir, dir } = await run("invalid", sources);
    expect(status).toBe(1);
    expect(stderr).toContain(`${dir}/nodes.yaml:`);
    expect(stderr).toMatch(
      /nodes\.yaml:\d+:\d+ nodes\[5\]\.vm_memory: Talos needs at least 2048 MiB of memory, got 100/,
    );
    expect(stderr).toContain("Nothing was synthesized.");
    expect(stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
    expect(existsSync(outdir)).toBe(false);
  });

  it("prints warnings and still synthesizes", async () => {
    const sources = exampleSources({ cluster: { cloudflare_domain: "example.com" } });
    const { status, stderr } = await run("warning", sources);
    expect(status).toBe(0);
    expect(stderr).toMatch(
      /cluster\.yaml:\d+:1 warning: cloudflare_domain: is a cluster-template key this project does not use; ignored/,
    );
  });

  it("refuses an output folder whose parent does not exist, naming CDKTF_OUTDIR, and writes nothing", async () => {
    const { dir } = await run("outdir-parent", exampleSources());
    const outdir = join(dir, "missing", "deeper", "out");
    const result = await synthCommand({ CONFIG_DIR: dir, CDKTF_OUTDIR: outdir });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`the output folder ${outdir} cannot be made`);
    expect(result.stderr).toContain("(CDKTF_OUTDIR)");
    expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/);
    expect(existsSync(join(dir, "missing"))).toBe(false);
  });

  it("reports a missing config folder as a config error", async () => {
    const result = await synthCommand({ CONFIG_DIR: join(work, "absent") });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/cluster\.yaml .*cannot read/);
  });
});

describe("the destroy key of layer 00 comes only from bootstrap's confirmation", () => {
  const preventDestroy = (outdir: string) =>
    Object.values(
      JSON.parse(readFileSync(join(outdir, "stacks", "00-persistent-auth", "cdk.tf.json"), "utf8")).resource as Record<
        string,
        Record<string, { lifecycle: { prevent_destroy: boolean } }>
      >,
    ).flatMap((r) => Object.values(r).map((x) => x.lifecycle.prevent_destroy));
  const synthIn = async (name: string, env: Record<string, string>, cwd = REPO) => {
    const { dir } = await run(name, exampleSources());
    const outdir = join(dir, "again");
    const result = await synthCommand({ CONFIG_DIR: dir, CDKTF_OUTDIR: outdir, ...env }, cwd);
    return { ...result, outdir };
  };

  it("allowDestroyPersistentAuth in CDKTF_CONTEXT_JSON is refused with a clear error, nothing written", async () => {
    const { status, stderr, outdir } = await synthIn("context-env", {
      CDKTF_CONTEXT_JSON: '{"allowDestroyPersistentAuth":"homelab"}',
    });
    expect(status).toBe(1);
    expect(stderr).toContain(
      "allowDestroyPersistentAuth in CDKTF_CONTEXT_JSON is refused: only ./bootstrap.sh --destroy lifts prevent_destroy on layer 00",
    );
    expect(stderr).not.toMatch(/\bat .*\.js:\d+/);
    expect(existsSync(outdir)).toBe(false);
  });

  it("allowDestroyPersistentAuth in cdktf.json's context is refused too", async () => {
    const cwd = join(work, "cdktf-json");
    mkdirSync(cwd, { recursive: true });
    writeFileSync(
      join(cwd, "cdktf.json"),
      JSON.stringify({
        language: "typescript",
        app: "node dist/main.js",
        context: { allowDestroyPersistentAuth: "homelab" },
      }),
    );
    const { status, stderr } = await synthIn("context-file", {}, cwd);
    expect(status).toBe(1);
    expect(stderr).toContain('allowDestroyPersistentAuth in the "context" of cdktf.json is refused');
  });

  it("bootstrap's confirmation (the cluster name) lifts prevent_destroy; another name does not", async () => {
    const lifted = await synthIn("confirmed", { BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH: "homelab" });
    expect(lifted.status).toBe(0);
    expect(new Set(preventDestroy(lifted.outdir))).toEqual(new Set([false]));
    const other = await synthIn("other-cluster", { BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH: "other" });
    expect(new Set(preventDestroy(other.outdir))).toEqual(new Set([true]));
  });
});

describe("the output changes all at once", () => {
  const LAYERS = ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"];
  /** Every stack file of an output folder, undefined for a missing one. */
  const stacksOf = (outdir: string) =>
    LAYERS.map((layer) =>
      existsSync(join(outdir, "stacks", layer, "cdk.tf.json"))
        ? readFileSync(join(outdir, "stacks", layer, "cdk.tf.json"), "utf8")
        : undefined,
    );
  /** Names, sizes and times of everything synth writes beside the config: changes as soon as it writes anything. */
  const fingerprint = (dir: string): string => {
    try {
      return readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((entry) => entry.startsWith("cdktf.out"))
        .sort()
        .map((entry) => {
          const stat = statSync(join(dir, entry), { throwIfNoEntry: false });
          return `${entry}:${stat?.size}:${stat?.mtimeMs}`;
        })
        .join("\n");
    } catch (e) {
      // A folder renamed by the running synth while it is listed: it is writing.
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return "changing";
      throw e;
    }
  };

  it("a synth killed at random points leaves the previous output whole, and the next synth completes", async () => {
    // The previous output (cluster "alpha") and the one being written when killed (cluster "beta").
    const alpha = exampleSources({ cluster: { cluster_name: "alpha" } });
    const beta = exampleSources({ cluster: { cluster_name: "beta" } });
    const { dir, outdir } = await run("atomic", alpha);
    const old = stacksOf(outdir);
    const next = stacksOf((await run("atomic-reference", beta)).outdir);
    const env = { ...process.env, CONFIG_DIR: dir, CDKTF_OUTDIR: outdir };
    const synthOf = (sources: { cluster: string }) => {
      writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
      return synthCommand(env);
    };

    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) {
      writeFileSync(join(dir, "cluster.yaml"), beta.cluster);
      const child = spawn("node", [join(REPO, "dist/main.js")], { cwd: REPO, env, stdio: "ignore" });
      const exited = new Promise((r) => child.once("exit", r));
      // Half the kills hit the first write, the others a random moment of it (up to 30 ms later).
      const lag = i % 2 === 0 ? 0 : Math.random() * 30;
      const initial = fingerprint(dir);
      let running = true;
      void exited.then(() => (running = false));
      while (running && fingerprint(dir) === initial) await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setTimeout(r, lag));
      child.kill("SIGKILL");
      await exited;
      // What a reader finds: the previous output, or (for the instant between two renames) the previous output
      // moved aside, or the new one; never a mix, never half a file.
      const found = existsSync(outdir) ? stacksOf(outdir) : stacksOf(`${outdir}.previous`);
      const which =
        JSON.stringify(found) === JSON.stringify(old)
          ? "old"
          : JSON.stringify(found) === JSON.stringify(next)
            ? "new"
            : "mixed";
      outcomes.push(which);
      expect(which, `kill ${i}, ${lag.toFixed(0)} ms after the first write`).not.toBe("mixed");
      if (which === "new") expect((await synthOf(alpha)).status).toBe(0); // the previous output back, for the next round
    }
    expect(outcomes, "some kills landed before the output was replaced").toContain("old");

    // The next synth completes and cleans up what the killed ones left.
    expect((await synthOf(beta)).status).toBe(0);
    expect(stacksOf(outdir)).toEqual(next);
    expect(readdirSync(dir).filter((e) => e.startsWith("cdktf.out"))).toEqual(["cdktf.out"]);
  }, 480_000);
});
