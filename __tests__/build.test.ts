import { execFile } from "node:child_process";
import { readFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = join(__dirname, "..");
const run = promisify(execFile);

describe("scripts/build.mjs", () => {
  it("rebuilds bootstrap when a file it bundles changes outside scripts/bootstrap (scripts/upgrade once went unseen)", async () => {
    await run("node", ["scripts/build.mjs", "bootstrap"], { cwd: root });
    const inputs: string[] = JSON.parse(readFileSync(join(root, "dist/bootstrap.cjs.inputs.json"), "utf8"));
    expect(inputs).toContain("scripts/upgrade/plan.ts");
    const source = join(root, "scripts/upgrade/plan.ts");
    const later = new Date(statSync(join(root, "dist/bootstrap.cjs")).mtimeMs + 1);
    utimesSync(source, later, later);
    await run("node", ["scripts/build.mjs", "bootstrap"], { cwd: root });
    expect(statSync(join(root, "dist/bootstrap.cjs")).mtimeMs).toBeGreaterThanOrEqual(later.getTime());
  });
});
