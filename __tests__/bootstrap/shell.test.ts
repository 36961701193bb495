// The lines bash evaluates: any value arrives in bash exactly as it was, and nothing in it runs.
import { describe, expect, it } from "vitest";
import { shellAssignments, shellQuote } from "../../scripts/bootstrap/shell";
import { run } from "../support/run";

/** Evaluates the assignments in bash as bootstrap.sh's load() does and prints each variable back, NUL-separated. */
async function throughBash(values: Record<string, string | number | boolean | undefined>): Promise<string[]> {
  const names = Object.keys(values);
  const script = `set -Eeuo pipefail\neval "$1"\nprintf '%s\\0' ${names.map((n) => `"\${${n}}"`).join(" ")}`;
  const result = await run("bash", ["-c", script, "bash", shellAssignments(values)]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  return result.stdout.split("\0").slice(0, -1);
}

describe("shellAssignments", () => {
  it("one NAME='value' line per value; booleans as 1/0, undefined as empty", () => {
    expect(
      shellAssignments({
        ENGINE: "/usr/bin/tofu",
        PHASE_COUNT: 3,
        HELP: false,
        AUTO_APPROVE: true,
        PHASE_BLOCKER: undefined,
      }),
    ).toBe("ENGINE='/usr/bin/tofu'\nPHASE_COUNT='3'\nHELP='0'\nAUTO_APPROVE='1'\nPHASE_BLOCKER=''\n");
  });

  it.each([
    ["a path with spaces", "/tmp/my config/credentials/kubeconfig"],
    ["quotes", `it's "quoted" ''`],
    ["shell syntax that must not run", "$(touch /tmp/pwned) `id` ${HOME} $PATH; exit 7 | & > x"],
    ["newlines and tabs", "line 1\nline 2\n\tindented\n"],
    ["unicode", "café ← →"],
    ["empty", ""],
  ])("round-trips %s", async (_, value) => {
    expect(await throughBash({ VALUE: value, AFTER: "still here" })).toEqual([value, "still here"]);
  });

  it("refuses a name that is not an upper-case shell variable", () => {
    expect(() => shellAssignments({ "X; rm -rf /": "v" })).toThrow(/not a shell variable name/);
    expect(() => shellAssignments({ lower: "v" })).toThrow(/not a shell variable name/);
  });

  it("shellQuote closes and reopens the quote around a quote", () => {
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
});
