// Plan summaries from real `tofu show -json` documents (fixtures/, made by OpenTofu 1.11 from terraform_data
// resources: one of each action), the summary table, and the explanation of a state lock held by someone else.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explainFailure, parseLockError } from "../../scripts/bootstrap/explain";
import { describePlan, summarizePlan, type PlanJson } from "../../scripts/bootstrap/plan-summary";
import { formatDuration, formatSummary } from "../../scripts/bootstrap/report";

const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, "fixtures", name), "utf8")) as PlanJson;

describe("summarizePlan", () => {
  it("counts as the engine's own 'Plan:' line does (the fixture's was 2 to add, 1 to change, 2 to destroy)", () => {
    // gone: delete; keep: no-op; new: create; replace: delete+create; update: update; output `changes` updated.
    expect(summarizePlan(fixture("plan-mixed.show.json"))).toEqual({
      add: 2,
      change: 1,
      destroy: 2,
      forget: 0,
      import: 0,
      outputs: 1,
      hasChanges: true,
    });
    expect(describePlan(summarizePlan(fixture("plan-mixed.show.json")))).toBe(
      "2 to add, 1 to change, 2 to destroy, 1 output changed",
    );
  });

  it("a plan of no-ops has no changes", () => {
    const s = summarizePlan(fixture("plan-none.show.json"));
    expect(s).toMatchObject({ add: 0, change: 0, destroy: 0, outputs: 0, hasChanges: false });
    expect(describePlan(s)).toBe("no changes");
  });

  it("a destroy plan", () => {
    expect(summarizePlan(fixture("plan-destroy.show.json"))).toMatchObject({
      add: 0,
      change: 0,
      destroy: 4,
      hasChanges: true,
    });
  });

  it.each<[string, PlanJson, Partial<ReturnType<typeof summarizePlan>>]>([
    [
      "create-before-destroy replacement",
      { resource_changes: [{ address: "a.b", change: { actions: ["create", "delete"] } }] },
      { add: 1, destroy: 1 },
    ],
    [
      "data sources are not counted",
      { resource_changes: [{ address: "data.a.b", mode: "data", change: { actions: ["read"] } }] },
      { hasChanges: false },
    ],
    [
      "forget (removed block)",
      { resource_changes: [{ address: "a.b", change: { actions: ["forget"] } }] },
      { forget: 1, hasChanges: true },
    ],
    [
      "import",
      { resource_changes: [{ address: "a.b", change: { actions: ["no-op"], importing: { id: "x" } } }] },
      { import: 1, hasChanges: true },
    ],
    ["only outputs change", { output_changes: { x: { actions: ["create"] } } }, { outputs: 1, hasChanges: true }],
    ["nothing at all", {}, { hasChanges: false }],
  ])("%s", (_, plan, expected) => {
    expect(summarizePlan(plan)).toMatchObject(expected);
  });

  it("an errored plan is an error, not a summary", () => {
    expect(() => summarizePlan({ errored: true })).toThrow(/the plan errored/);
  });
});

describe("the summary table", () => {
  it("has a row per phase, counts right-aligned, '-' where there is no count, and a total", () => {
    const table = formatSummary(
      [
        { layer: "00-persistent-auth", action: "apply", result: "applied", add: 1, change: 0, destroy: 0, seconds: 4 },
        {
          layer: "01-infrastructure",
          action: "apply",
          result: "applied",
          add: 16,
          change: 0,
          destroy: 0,
          seconds: 312,
        },
        { layer: "01-infrastructure", action: "wait-api", result: "ready", seconds: 40 },
        { layer: "02-services", action: "plan", result: "validated only", seconds: 0 },
      ],
      371,
    );
    expect(table.split("\n")).toEqual([
      "layer               action    result          add  change  destroy   time",
      "------------------  --------  --------------  ---  ------  -------  -----",
      "00-persistent-auth  apply     applied           1       0        0     4s",
      "01-infrastructure   apply     applied          16       0        0  5m12s",
      "01-infrastructure   wait-api  ready             -       -        -    40s",
      "02-services         plan      validated only    -       -        -     0s",
      "total                                                               6m11s",
    ]);
  });

  it.each([
    [0, "0s"],
    [59.4, "59s"],
    [60, "1m00s"],
    [3725, "62m05s"],
  ])("formatDuration(%d) = %s", (s, expected) => {
    expect(formatDuration(s)).toBe(expected);
  });
});

// What OpenTofu 1.11 printed for `plan` while the HTTP state server held another client's lock.
const LOCKED = `
Error: Error acquiring the state lock

Error message: HTTP remote state already locked: ID=abc-123
Lock Info:
  ID:        abc-123
  Path:      
  Operation: OperationTypeApply
  Who:       alice@box
  Version:   1.11.14
  Created:   2025-11-23 15:00:00 +0000 UTC
  Info:      


OpenTofu acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended.
`;

describe("explainFailure", () => {
  it("reads the holder of a state lock", () => {
    expect(parseLockError(LOCKED)).toEqual({
      id: "abc-123",
      who: "alice@box",
      operation: "apply",
      created: "2025-11-23 15:00:00 +0000 UTC",
    });
  });

  const place = { layer: "00-persistent-auth", repo: "/repo", configDir: "/repo" };

  it("says who holds the lock, that nothing changed, and how to release a stale lock", () => {
    const text = explainFailure(LOCKED, place)!;
    expect(text.split("\n")).toEqual([
      "bootstrap: the state of 00-persistent-auth is locked by another run (alice@box, running apply, since 2025-11-23 15:00:00 +0000 UTC; lock ID abc-123).",
      "Nothing was changed by this run. Wait for the other run to finish, then start again.",
      "If no run is active any more (it was killed), release the lock: cd /repo && ./bootstrap.sh --only=00-persistent-auth --force-unlock=abc-123",
    ]);
  });

  it("local: names the holder, and that a killed run's lock ended with it (no --force-unlock to give)", () => {
    const text = explainFailure(LOCKED, { ...place, backend: "local" })!;
    expect(text.split("\n")).toEqual([
      "bootstrap: the state of 00-persistent-auth is locked by another run (alice@box, running apply, since 2025-11-23 15:00:00 +0000 UTC; lock ID abc-123).",
      "Nothing was changed by this run. Wait for the other run to finish, then start again.",
      "The local backend's lock is the engine's lock on the state file: it ends with the engine's process, so a killed run leaves nothing to release (only its note, state/.00-persistent-auth.tfstate.lock.info, which the next run replaces).",
    ]);
  });

  it.each([
    "Workspace is already locked: default",
    // A new state's creation lock, as OpenTofu 1.12 words it (capitalized).
    "Already locked for workspace creation: default",
    "Cannot lock workspace; already locked for workspace creation: default",
  ])(
    "pg (%s): the lock info in the engine's error is the requester's, so the holder is not named from it",
    (message) => {
      const pg = LOCKED.replace(
        "Error acquiring the state lock",
        `Error acquiring the state lock\n\nError message: ${message}`,
      );
      const text = explainFailure(pg, place, { PGAPPNAME: "bootstrap[42] bob@ci homelab" })!;
      expect(text).toMatch(
        /^bootstrap: the state of 00-persistent-auth is locked by another session of its PostgreSQL database/,
      );
      expect(text).not.toContain("alice@box");
      expect(text).toContain("nothing to release");
      // The holder's name is its session's application_name, which bootstrap's runs set (PGAPPNAME).
      expect(text).toContain('this one\'s are "bootstrap[42] bob@ci homelab"');
      expect(text).toContain("SELECT pid, application_name, usename");
    },
  );

  it("names CONFIG_DIR when the config is elsewhere", () => {
    expect(explainFailure(LOCKED, { ...place, configDir: "/clusters/homelab" })).toContain(
      "cd /repo && CONFIG_DIR=/clusters/homelab ./bootstrap.sh --only=00-persistent-auth --force-unlock=abc-123",
    );
  });

  it("has nothing to add to other failures", () => {
    expect(explainFailure("Error: Unsupported argument", place)).toBeUndefined();
  });
});
