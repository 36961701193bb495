// The GitHub Actions workflows (.github/workflows/) judged by actionlint (judges/actionlint, built from its Go
// module): expressions and the contexts they read, job needs, action inputs, and every run: script through
// shellcheck. .ci/run builds it; under CI a missing build is a failure, never a pass.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
});
