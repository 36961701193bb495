// The synth command end to end, as a user runs it: node dist/main.js with CONFIG_DIR.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleSources, REPO } from "./support/synth";

const work = mkdtempSync(join(tmpdir(), "main-"));
beforeAll(() => execFileSync("node", [join(REPO, "scripts/build.mjs")]));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(name: string, sources: { cluster: string; nodes: string }) {
  const dir = join(work, name);
  execFileSync("mkdir", ["-p", dir]);
  writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
  writeFileSync(join(dir, "nodes.yaml"), sources.nodes);
  const outdir = join(dir, "cdktf.out");
  const result = spawnSync("node", [join(REPO, "dist/main.js")], { cwd: REPO, env: { ...process.env, CONFIG_DIR: dir, CDKTF_OUTDIR: outdir }, encoding: "utf8" });
  return { ...result, dir, outdir };
}

describe("synth command", () => {
  it("writes both layers for a valid config", () => {
    const { status, outdir, stderr } = run("valid", exampleSources());
    expect(stderr).toBe("");
    expect(status).toBe(0);
    for (const layer of ["00-persistent-auth", "01-infrastructure"]) {
      expect(JSON.parse(readFileSync(join(outdir, "stacks", layer, "cdk.tf.json"), "utf8")).terraform).toBeDefined();
    }
  });

  it("stops on bad input with file:line:col key messages, exit 1, and writes nothing", () => {
    const sources = exampleSources({ nodes: (n) => [...n, { ...n[0], name: "dup", vm_memory: 100 }] });
    const { status, stderr, outdir, dir } = run("invalid", sources);
    expect(status).toBe(1);
    expect(stderr).toContain(`${dir}/nodes.yaml:`);
    expect(stderr).toMatch(/nodes\.yaml:\d+:\d+ nodes\[5\]\.vm_memory: Talos needs at least 2048 MiB of memory, got 100/);
    expect(stderr).toContain("Nothing was synthesized.");
    expect(stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
    expect(existsSync(outdir)).toBe(false);
  });

  it("prints warnings and still synthesizes", () => {
    const sources = exampleSources({ cluster: { cloudflare_domain: "example.com" } });
    const { status, stderr } = run("warning", sources);
    expect(status).toBe(0);
    expect(stderr).toMatch(/cluster\.yaml:\d+:1 warning: cloudflare_domain: is a cluster-template key this project does not use; ignored/);
  });

  it("reports a missing config folder as a config error", () => {
    const result = spawnSync("node", [join(REPO, "dist/main.js")], { cwd: REPO, env: { ...process.env, CONFIG_DIR: join(work, "absent") }, encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/cluster\.yaml .*cannot read/);
  });
});
