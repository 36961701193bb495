// BOOTSTRAP_PROVIDER_STAND_INS: the file is read through the gate (each problem named by file and key, nothing
// written), and the one rewrite it allows is a provider's required version, from its pin to the stand-in.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyStandIns, readStandIns } from "../../scripts/bootstrap/stand-ins";

const dir = mkdtempSync(join(tmpdir(), "stand-ins-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const STACK = {
  terraform: {
    required_providers: {
      talos: { source: "siderolabs/talos", version: "0.12.0" },
      proxmox: { source: "bpg/proxmox", version: "0.112.0" },
      helm: { source: "helm", version: "3.1.1" },
    },
    backend: { local: { path: "x" } },
  },
  resource: { null_resource: { a: { triggers: { version: "0.12.0" } } } },
};

function stack(name: string, json: unknown = STACK): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "cdk.tf.json"), `${JSON.stringify(json, null, 2)}\n`);
  return d;
}

describe("readStandIns", () => {
  it("reads the engine's providers.json format", () => {
    const f = file(
      "ok.json",
      JSON.stringify({
        "siderolabs/talos": { pinned: "0.12.0", built: "0.8.0", why: "the proxy serves 0.8.0" },
        "hashicorp/helm": { pinned: "3.1.1", built: "3.2.1-0.20260629194918-a4f1c1d8b008" },
        "bpg/proxmox": { pinned: "0.112.0", built: "0.112.0" },
      }),
    );
    expect(readStandIns(f)).toEqual({
      standIns: {
        "siderolabs/talos": { pinned: "0.12.0", built: "0.8.0", why: "the proxy serves 0.8.0" },
        "hashicorp/helm": { pinned: "3.1.1", built: "3.2.1-0.20260629194918-a4f1c1d8b008", why: undefined },
        "bpg/proxmox": { pinned: "0.112.0", built: "0.112.0", why: undefined },
      },
    });
  });

  it.each([
    ["missing", undefined, /missing\.json: cannot be read \(ENOENT\)/],
    ["not JSON", "{", /: not JSON/],
    ["a list", "[]", /expected an object of providers/],
    [
      "a bad source",
      JSON.stringify({ "../x": { pinned: "1.0.0", built: "1.0.0" } }),
      /"\.\.\/x": expected a provider source/,
    ],
    [
      "an expression as version",
      JSON.stringify({ "siderolabs/talos": { pinned: "0.12.0", built: '${file("/etc/passwd")}' } }),
      /siderolabs\/talos\.built: expected a version/,
    ],
    [
      "a constraint as version",
      JSON.stringify({ "a/b": { pinned: ">= 1.0.0", built: "1.0.0" } }),
      /a\/b\.pinned: expected a version/,
    ],
    [
      "a two-line why",
      JSON.stringify({ "a/b": { pinned: "1.0.0", built: "1.0.1", why: "a\nb" } }),
      /a\/b\.why: expected one line/,
    ],
  ])("refuses %s, naming the file and key", (name, content, message) => {
    const path = content === undefined ? join(dir, "missing.json") : file(`${name}.json`, content);
    const read = readStandIns(path);
    expect("problems" in read && read.problems.join("\n")).toMatch(message);
    expect("problems" in read && read.problems[0].startsWith(path)).toBe(true);
  });
});

describe("applyStandIns", () => {
  const standIns = {
    "siderolabs/talos": { pinned: "0.12.0", built: "0.8.0" },
    "hashicorp/helm": { pinned: "3.1.1", built: "3.2.1-0.1-abc" },
    "bpg/proxmox": { pinned: "0.112.0", built: "0.112.0" },
  };

  it("moves each stand-in's required version from the pin to the build, and nothing else", () => {
    const d = stack("moved");
    expect(applyStandIns(d, standIns)).toEqual({
      used: [
        { source: "siderolabs/talos", pinned: "0.12.0", built: "0.8.0" },
        { source: "hashicorp/helm", pinned: "3.1.1", built: "3.2.1-0.1-abc" },
      ],
    });
    const after = JSON.parse(readFileSync(join(d, "cdk.tf.json"), "utf8"));
    const expected = structuredClone(STACK);
    expected.terraform.required_providers.talos.version = "0.8.0";
    expected.terraform.required_providers.helm.version = "3.2.1-0.1-abc";
    expect(after).toEqual(expected);
  });

  it("refuses a stand-in built for another pin, and writes nothing", () => {
    const d = stack("drifted");
    const before = readFileSync(join(d, "cdk.tf.json"), "utf8");
    expect(applyStandIns(d, { ...standIns, "siderolabs/talos": { pinned: "0.11.0", built: "0.8.0" } })).toEqual({
      problems: ["siderolabs/talos: the stack requires 0.12.0, the stand-in is for 0.11.0"],
    });
    expect(readFileSync(join(d, "cdk.tf.json"), "utf8")).toBe(before);
  });
});
