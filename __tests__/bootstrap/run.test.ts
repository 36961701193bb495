// The run document, the seam between bootstrap.sh and its TypeScript: what a phase's outcome is called, which
// layers a --plan run cannot plan, and the document surviving a write and a read.
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseOptions } from "../../scripts/bootstrap/options";
import type { PhaseAction } from "../../scripts/bootstrap/phases";
import { resultsOf } from "../../scripts/bootstrap/report";
import {
  blockedBy,
  readRun,
  resultOf,
  updatePhase,
  writeRun,
  type Outcome,
  type PhaseRecord,
  type RunDocument,
} from "../../scripts/bootstrap/run";

const layer = (name: string, dependencies: string[]) => ({ name, dir: `/out/stacks/${name}`, dependencies }) as const;
const plan = (name: string, result?: string): PhaseRecord => ({
  action: "plan",
  layer: name as PhaseRecord["layer"],
  target: `/out/stacks/${name}`,
  result,
});

/** A --plan run over the four layers, with the results of the phases before the one asked about. */
function planRun(results: Array<string | undefined>): RunDocument {
  const names = ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"];
  return {
    options: parseOptions(["--plan"]),
    configDir: "/config",
    outdir: "/out",
    layers: [
      layer("00-persistent-auth", []),
      layer("01-infrastructure", ["00-persistent-auth"]),
      layer("02-services", ["00-persistent-auth", "01-infrastructure"]),
      layer("03-configuration", ["01-infrastructure"]),
    ] as RunDocument["layers"],
    phases: names.map((n, i) => plan(n, results[i])),
  };
}

describe("resultOf: the word in the summary", () => {
  it.each<[PhaseAction, Outcome, string]>([
    ["apply", "completed", "applied"],
    ["apply", "nothing", "no changes"],
    ["plan", "completed", "planned"],
    ["plan", "nothing", "no changes"],
    ["plan", "skipped", "validated only"],
    ["destroy", "completed", "destroyed"],
    ["destroy", "nothing", "nothing to destroy"],
    ["plan-destroy", "completed", "planned"],
    ["plan-destroy", "nothing", "nothing to destroy"],
    ["wait-api", "completed", "ready"],
    ["apply", "declined", "declined"],
    ["wait-api", "failed", "failed"],
  ])("%s %s → %s", (action, outcome, expected) => {
    expect(resultOf(action, outcome)).toBe(expected);
  });
});

describe("blockedBy: which layers a --plan run cannot plan", () => {
  it.each<[string, Array<string | undefined>, number, string | undefined]>([
    ["nothing planned yet", [], 1, undefined],
    ["00 has no changes", ["no changes"], 1, undefined],
    ["00 is still to create (first bootstrap)", ["planned"], 1, "00-persistent-auth"],
    ["01 has changes: 02 reads it", ["no changes", "planned"], 2, "01-infrastructure"],
    ["01 was not planned: neither is 03", ["planned", "validated only"], 3, "01-infrastructure"],
    ["03 does not read 00", ["planned", "no changes", "validated only"], 3, undefined],
  ])("%s", (_, results, index, expected) => {
    expect(blockedBy(planRun(results), index)).toBe(expected);
  });
});

describe("the document", () => {
  const dir = mkdtempSync(join(tmpdir(), "bootstrap-run-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a phase updated, written and read back; only finished phases reach the summary, with their plan's counts", () => {
    let doc = planRun([]);
    doc = updatePhase(doc, 0, (p) => ({
      ...p,
      plan: { add: 3, change: 0, destroy: 0 },
      result: resultOf(p.action, "completed"),
      seconds: 4,
    }));
    doc = updatePhase(doc, 1, (p) => ({ ...p, result: resultOf(p.action, "skipped"), seconds: 0 }));
    writeRun(dir, doc);
    expect(readdirSync(dir)).toEqual(["run.json"]);
    expect(statSync(join(dir, "run.json")).mode & 0o777).toBe(0o600);
    const read = readRun(dir);
    expect(read).toEqual(doc);
    expect(resultsOf(read.phases)).toEqual([
      { layer: "00-persistent-auth", action: "plan", result: "planned", add: 3, change: 0, destroy: 0, seconds: 4 },
      {
        layer: "01-infrastructure",
        action: "plan",
        result: "validated only",
        add: undefined,
        change: undefined,
        destroy: undefined,
        seconds: 0,
      },
    ]);
  });

  it("an index the plan does not have is an internal error", () => {
    expect(() => updatePhase(planRun([]), 4, (p) => p)).toThrow(/^internal: no phase 4 \(the run has 4\)$/);
  });
});
