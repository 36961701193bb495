// ./bootstrap.sh --cluster=<name>: the config folder is clusters/<name> of the repository holding the tool. The
// tool's `init` is run from a copy of the bundle in a temporary repository, so clusters/ can be laid out freely.
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "./support";

const execFileAsync = promisify(execFile);
const repo = mkdtempSync(join(tmpdir(), "bootstrap-clusters-"));

beforeAll(async () => {
  await execFileAsync(process.execPath, [join(REPO, "scripts", "build.mjs"), "bootstrap"], { cwd: REPO });
  mkdirSync(join(repo, "dist"));
  copyFileSync(join(REPO, "dist", "bootstrap.cjs"), join(repo, "dist", "bootstrap.cjs"));
  for (const name of ["prod", "staging"]) {
    mkdirSync(join(repo, "clusters", name), { recursive: true });
    writeFileSync(join(repo, "clusters", name, "cluster.yaml"), `cluster_name: ${name}\n`);
  }
});
afterAll(() => rmSync(repo, { recursive: true, force: true }));

async function init(args: string[], configDirGiven = false) {
  const runDir = mkdtempSync(join(repo, "run-"));
  const argv = [join(repo, "dist", "bootstrap.cjs"), "init", "--run-dir", runDir, "--config-dir", repo];
  argv.push("--config-dir-given", configDirGiven ? "1" : "", "--outdir", join(runDir, "out"), "--", ...args);
  try {
    const { stdout } = await execFileAsync(process.execPath, argv);
    return { status: 0, stdout, configDir: JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")).configDir };
  } catch (e) {
    const failed = e as { code: number; stderr: string };
    return { status: failed.code, stdout: failed.stderr, configDir: undefined };
  }
}

describe("--cluster=<name>", () => {
  it("takes clusters/<name>/ of the repository as the config folder and tells the script", async () => {
    const run = await init(["--cluster=staging", "--plan"]);
    expect(run.status).toBe(0);
    expect(run.configDir).toBe(join(repo, "clusters", "staging"));
    expect(run.stdout).toContain(`CONFIG_DIR='${join(repo, "clusters", "staging")}'`);
  });

  it("without it, the folder stays CONFIG_DIR (the single-folder layout)", async () => {
    expect((await init(["--plan"])).configDir).toBe(repo);
  });

  it("refuses a folder without cluster.yaml, naming the clusters there are, and CONFIG_DIR given as well", async () => {
    const missing = await init(["--cluster=dev"]);
    expect(missing.status).toBe(2);
    expect(missing.stdout).toContain("--cluster=dev: there is no clusters/dev/cluster.yaml (clusters: prod, staging)");
    const both = await init(["--cluster=prod"], true);
    expect(both.status).toBe(2);
    expect(both.stdout).toContain("CONFIG_DIR and --cluster both name the config folder: use one of them");
  });
});
