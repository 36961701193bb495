// The GitHub Actions workflows (.github/workflows/) judged by actionlint (judges/actionlint, built from its Go
// module): expressions and the contexts they read, job needs, action inputs, and every run: script through
// shellcheck. .ci/run builds it; under CI a missing build is a failure, never a pass.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO } from "./support/synth";

const execFileAsync = promisify(execFile);
const WORKFLOWS = join(REPO, ".github", "workflows");
const work = mkdtempSync(join(tmpdir(), "workflows-"));
let actionlint: string | undefined;

beforeAll(async () => {
  try {
    const { stdout } = await execFileAsync(join(REPO, "judges", "actionlint", "build.sh"), ["--print-env"]);
    actionlint = /^ACTIONLINT=(.+)$/m.exec(stdout)?.[1];
  } catch {
    actionlint = undefined;
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** actionlint's findings on `files` (empty when it accepts them). */
async function lint(files: string[]): Promise<{ status: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(actionlint!, ["-no-color", "-oneline", ...files], { cwd: REPO });
    return { status: 0, output: `${stdout}${stderr}` };
  } catch (e) {
    const failed = e as { code?: number; stdout?: string; stderr?: string };
    return { status: failed.code ?? -1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

describe("GitHub Actions workflows", () => {
  for (const file of readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f))) {
    it(`${file} passes actionlint`, async (ctx) => {
      if (!actionlint) {
        if (process.env.CI)
          expect.fail("actionlint is not built and CI is set: .ci/run runs judges/actionlint/build.sh");
        ctx.skip();
      }
      expect(await lint([join(WORKFLOWS, file)])).toEqual({ status: 0, output: "" });
    });
  }

  it("actionlint refuses a step output read from a step the job does not have", async (ctx) => {
    if (!actionlint) {
      if (process.env.CI) expect.fail("actionlint is not built and CI is set: .ci/run runs judges/actionlint/build.sh");
      ctx.skip();
    }
    const pr = readFileSync(join(WORKFLOWS, "pr.yml"), "utf8");
    const broken = pr.replaceAll("steps.secrets.outputs.enabled", "steps.secret.outputs.enabled");
    expect(broken).not.toBe(pr);
    const file = join(work, "pr.yml");
    writeFileSync(file, broken);
    const result = await lint([file]);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/property "secret" is not defined/);
  });

  it("actionlint refuses apply.yml reading the run id from a step it does not have", async (ctx) => {
    if (!actionlint) {
      if (process.env.CI) expect.fail("actionlint is not built and CI is set: .ci/run runs judges/actionlint/build.sh");
      ctx.skip();
    }
    const apply = readFileSync(join(WORKFLOWS, "apply.yml"), "utf8");
    const broken = apply.replace("steps.reviewed.outputs.run-id", "steps.review.outputs.run-id");
    expect(broken).not.toBe(apply);
    const file = join(work, "apply.yml");
    writeFileSync(file, broken);
    const result = await lint([file]);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/property "review" is not defined/);
  });
});

interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, string>;
}
const workflow = (file: string) =>
  parse(readFileSync(join(WORKFLOWS, file), "utf8")) as {
    on: Record<string, unknown>;
    concurrency: { group: string; "cancel-in-progress": boolean };
    jobs: Record<string, { steps: Step[] }>;
  };

describe("CI apply: apply.yml applies what pr.yml saved", () => {
  const pr = workflow("pr.yml");
  const apply = workflow("apply.yml");
  const upload = pr.jobs.plan.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
  const download = apply.jobs.apply.steps.find((s) => s.uses?.startsWith("actions/download-artifact@"))!;

  it("the artifact apply.yml downloads is the one pr.yml's plan job uploads, into the folder each gives bootstrap", () => {
    expect(download.with?.name).toBe(upload.with?.name);
    const saved = upload.with!.path.replace(/\/$/, "");
    const plan = pr.jobs.plan.steps.find((s) => s.run?.includes("./bootstrap.sh --plan"))!;
    expect(plan.run).toContain(`--save-plans=${saved}`);
    expect(download.with?.path).toBe(saved);
    const applied = apply.jobs.apply.steps.find((s) => s.run?.includes("./bootstrap.sh"))!;
    expect(applied.run?.trim()).toBe(`./bootstrap.sh apply-plans --plans=${saved} --auto-approve`);
    // The run of another workflow: its id and a token that may read its artifacts.
    expect(download.with?.["run-id"]).toMatch(/^\$\{\{ steps\.\w+\.outputs\.run-id \}\}$/);
    expect(download.with?.["github-token"]).toBeDefined();
  });

  it("runs on pushes to main only, one at a time, never cancelling an apply under way", () => {
    expect(apply.on).toEqual({ push: { branches: ["main"] } });
    expect(apply.concurrency.group).toBeTruthy();
    expect(apply.concurrency["cancel-in-progress"]).toBe(false);
  });
});
