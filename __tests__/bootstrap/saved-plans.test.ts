// ./bootstrap.sh --plan --save-plans and apply-plans, the real script with a recording fake engine (each layer's
// plan chosen by the test; a plan file it writes is OpenTofu's encrypted payload unless told otherwise): the one
// gate for the new paths, the refusals, the order and what a layer not planned by the saving run gets. The real
// engine's side (encryption, a stale plan refused, no secret in clear) is __tests__/engine/saved-plans.test.ts.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { runOk } from "../support/run";
import { configRepo, REPO, runBootstrap, type ConfigRepo } from "./support";

const work = mkdtempSync(join(tmpdir(), "bootstrap-saved-plans-"));
const repos: ConfigRepo[] = [];
const ENV = {
  PROXMOX_VE_API_TOKEN: "root@pam!ci=00000000-0000-0000-0000-000000000000",
  TF_VAR_state_passphrase: "a passphrase of the tests, not a secret",
  TF_HTTP_USERNAME: undefined,
  TF_HTTP_PASSWORD: undefined,
  CDKTF_OUTDIR: undefined,
  CDKTF_CONTEXT_JSON: undefined,
  BOOTSTRAP_PROVIDER_STAND_INS: undefined,
};
const CREATE = { resource_changes: [{ address: "a.b", change: { actions: ["create"] } }] };
const NOTHING = { resource_changes: [] };

/** A fake engine: logs `<layer>|<args>`, writes plan files, shows the plan of `plans[<layer>]`. */
function engine(name: string, plans: Record<string, object>, plainPlans = false) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [layer, plan] of Object.entries(plans)) writeFileSync(join(dir, `${layer}.json`), JSON.stringify(plan));
  const log = join(dir, "calls.log");
  const path = join(dir, "tofu");
  const payload = plainPlans
    ? "PK\\003\\004 a plain zip"
    : '{"meta":{},"encrypted_data":"eA==","encryption_version":"v0"}';
  writeFileSync(
    path,
    `#!/usr/bin/env bash
layer="$(basename "$PWD")"
printf '%s|%s\\n' "$layer" "$*" >>"${log}"
case "$1" in
  version) echo "OpenTofu v1.12.6" ;;
  validate) echo '{"valid":true,"error_count":0,"warning_count":0,"diagnostics":[]}' ;;
  show)
    if [[ "$*" == *.tfplan* ]]; then cat "${dir}/$layer.json" 2>/dev/null || echo '{}'
    else echo '{"format_version":"1.0"}'; fi ;;
  plan)
    for a in "$@"; do [[ "$a" != -out=* ]] || printf '${payload}' >"\${a#-out=}"; done
    echo "Plan: (fake)" ;;
  output) echo '{}' ;;
esac
`,
  );
  chmodSync(path, 0o755);
  return {
    env: { ...ENV, TF_BINARY: path },
    calls: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []),
  };
}

async function repo(prefix: string, cluster: Record<string, unknown> = { state_encryption: true }) {
  const r = await configRepo(prefix, { cluster: { proxmox_csi_enabled: false, ...cluster } });
  repos.push(r);
  return r;
}

const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, "plans.json"), "utf8"));

beforeAll(() => runOk(process.execPath, [join(REPO, "scripts", "build.mjs"), "app", "bootstrap"]));
afterAll(() => {
  for (const r of repos) r.remove();
  rmSync(work, { recursive: true, force: true });
});

describe("--plan --save-plans=<dir>", () => {
  it("keeps each planned layer's file and a manifest; a layer reading one with changes is recorded as not planned", async () => {
    const r = await repo("save");
    const fake = engine("save", { "00-persistent-auth": CREATE });
    const run = await runBootstrap(r.dir, ["--plan", "--save-plans=plans"], { env: fake.env });
    expect(run.status, run.output).toBe(0);
    const dir = join(r.dir, "plans");
    expect(readdirSync(dir).sort()).toEqual(["00-persistent-auth.tfplan", "plans.json"]);
    const m = manifest(dir);
    expect(m.scope).toEqual(["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"]);
    expect(m.engine).toBe("opentofu 1.12.6");
    expect(m.layers.map((l: Record<string, unknown>) => [l.layer, l.file ?? `reads ${l.blocker}`, l.changes])).toEqual([
      ["00-persistent-auth", "00-persistent-auth.tfplan", true],
      ["01-infrastructure", "reads 00-persistent-auth", undefined],
      ["02-services", "reads 00-persistent-auth", undefined],
      ["03-configuration", "reads 01-infrastructure", undefined],
    ]);
    expect(m.layers[0].stack).toMatch(/^[0-9a-f]{64}$/);
    expect(run.output).toContain("01-infrastructure not planned (reads 00-persistent-auth)");
  });

  it("refuses without state_encryption, naming cluster.yaml's line, and writes nothing", async () => {
    const r = await repo("plain", { state_encryption: false });
    const fake = engine("plain", { "00-persistent-auth": CREATE });
    const run = await runBootstrap(r.dir, ["--plan", "--save-plans=plans"], { env: fake.env });
    expect(run.status, run.output).toBe(1);
    const line =
      readFileSync(join(r.dir, "cluster.yaml"), "utf8")
        .split("\n")
        .findIndex((l) => l.startsWith("state_encryption:")) + 1;
    expect(line).toBeGreaterThan(0);
    expect(run.output).toContain(
      `✗ plans: ${join(r.dir, "cluster.yaml")}:${line}: state_encryption is off: a saved plan holds`,
    );
    expect(existsSync(join(r.dir, "plans"))).toBe(false);
    expect(fake.calls().filter((c) => c.includes("|plan "))).toEqual([]);
  });

  it("refuses a plan file the engine wrote unencrypted, and keeps none", async () => {
    const r = await repo("unencrypted");
    const fake = engine("unencrypted", { "00-persistent-auth": CREATE }, true);
    const run = await runBootstrap(r.dir, ["--plan", "--save-plans=plans", "--only=00"], { env: fake.env });
    expect(run.status, run.output).toBe(1);
    expect(run.output).toContain("00-persistent-auth: the engine wrote its plan file unencrypted; it was not saved");
    expect(readdirSync(join(r.dir, "plans"))).toEqual(["plans.json"]);
  });

  it.each([
    ["../elsewhere", /--save-plans=\.\.\/elsewhere is .*, outside the config folder/],
    ["/tmp/plans", /--save-plans=\/tmp\/plans is \/tmp\/plans, outside the config folder/],
    [".", /--save-plans=\. is .*, outside the config folder/],
    ["link/plans", /--save-plans=link\/plans is .*\(.*\), outside the config folder/],
    ["cluster.yaml", /--save-plans=cluster\.yaml: .*cluster\.yaml is not a folder/],
    ["full", /--save-plans=full: .*full is not empty; the plans of two runs must not mix/],
  ])("refuses --save-plans=%s before anything runs", async (value, message) => {
    const r = await repo("paths");
    symlinkSync(work, join(r.dir, "link"));
    mkdirSync(join(r.dir, "full"));
    writeFileSync(join(r.dir, "full", "x"), "");
    const fake = engine(`paths-${value.replace(/\W/g, "")}`, {});
    const run = await runBootstrap(r.dir, ["--plan", `--save-plans=${value}`, "--allow-dirty"], { env: fake.env });
    expect(run.status, run.output).toBe(1);
    expect(run.output).toMatch(message);
    expect(fake.calls().filter((c) => c.includes("|plan "))).toEqual([]);
  });
});

describe("apply-plans --plans=<dir>", () => {
  it("applies the saved plan of 00, then plans 01 (not planned by the saving run) and refuses its changes; 02 and 03 are not touched", async () => {
    const r = await repo("apply");
    const saving = engine("apply-save", { "00-persistent-auth": CREATE });
    expect((await runBootstrap(r.dir, ["--plan", "--save-plans=reviewed"], { env: saving.env })).status).toBe(0);
    // The folder is untracked (not in .gitignore as plans/ is): apply-plans' git check leaves it out.
    const applying = engine("apply-apply", { "00-persistent-auth": CREATE, "01-infrastructure": CREATE });
    const run = await runBootstrap(r.dir, ["apply-plans", "--plans=reviewed", "--auto-approve"], { env: applying.env });
    expect(run.status, run.output).toBe(1);
    const calls = applying.calls().filter((c) => /\|(plan|apply) /.test(c));
    expect(calls[0]).toBe(
      `00-persistent-auth|apply -input=false -no-color -lock-timeout=0s ${join(r.dir, "reviewed", "00-persistent-auth.tfplan")}`,
    );
    expect(calls.slice(1).map((c) => c.split(" ")[0])).toEqual(["01-infrastructure|plan"]);
    expect(run.output).toContain(
      "01-infrastructure was not planned by the run that saved the plans (it reads 00-persistent-auth, which had changes then), and its plan now has changes nobody reviewed: refused",
    );
  });

  it("applies a saved plan with no changes too (the engine's stale check), and plans no layer the saving run planned", async () => {
    const r = await repo("apply-nothing");
    const saving = engine("nothing-save", { "00-persistent-auth": NOTHING });
    expect((await runBootstrap(r.dir, ["--plan", "--save-plans=plans", "--only=00"], { env: saving.env })).status).toBe(
      0,
    );
    const applying = engine("nothing-apply", { "00-persistent-auth": NOTHING });
    const run = await runBootstrap(r.dir, ["apply-plans", "--plans=plans", "--auto-approve"], { env: applying.env });
    expect(run.status, run.output).toBe(0);
    expect(applying.calls().filter((c) => /\|(plan|apply) /.test(c))).toEqual([
      `00-persistent-auth|apply -input=false -no-color -lock-timeout=0s ${join(r.dir, "plans", "00-persistent-auth.tfplan")}`,
    ]);
  });

  it("refuses, before anything is applied, plans made from other stacks than this commit synthesizes", async () => {
    const r = await repo("moved");
    const saving = engine("moved-save", { "00-persistent-auth": CREATE });
    expect((await runBootstrap(r.dir, ["--plan", "--save-plans=plans"], { env: saving.env })).status).toBe(0);
    const file = join(r.dir, "cluster.yaml");
    const doc = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, stringify({ ...doc, cluster_name: "renamed" }));
    const nodes = join(r.dir, "nodes.yaml");
    writeFileSync(nodes, readFileSync(nodes, "utf8").replace("vm_memory: 16384", "vm_memory: 32768"));
    await r.commit("another cluster name, more memory for worker0");
    const applying = engine("moved-apply", { "00-persistent-auth": CREATE });
    const run = await runBootstrap(r.dir, ["apply-plans", "--plans=plans", "--auto-approve"], { env: applying.env });
    expect(run.status, run.output).toBe(1);
    expect(run.output).toMatch(/the plans are of cluster \S+, and this config is cluster renamed/);
    expect(run.output).toContain(
      "01-infrastructure: the stack synthesized now differs from the one its plan was made from",
    );
    expect(applying.calls().filter((c) => /\|(plan|apply) /.test(c))).toEqual([]);
  });

  it("refuses a folder without a complete manifest, and options that choose layers", async () => {
    const r = await repo("incomplete");
    mkdirSync(join(r.dir, "plans"));
    const fake = engine("incomplete", {});
    let run = await runBootstrap(r.dir, ["apply-plans", "--plans=plans", "--auto-approve"], { env: fake.env });
    expect(run.status, run.output).toBe(1);
    expect(run.output).toMatch(/plans\/plans\.json does not exist: no plans were saved there/);
    writeFileSync(
      join(r.dir, "plans", "plans.json"),
      JSON.stringify({
        version: 1,
        cluster: "x",
        engine: "opentofu 1.12.6",
        scope: ["00-persistent-auth"],
        layers: [],
      }),
    );
    run = await runBootstrap(r.dir, ["apply-plans", "--plans=plans", "--auto-approve"], { env: fake.env });
    expect(run.status, run.output).toBe(1);
    expect(run.output).toContain("no plan of 00-persistent-auth: the run that saved the plans did not finish");
    run = await runBootstrap(r.dir, ["apply-plans", "--plans=plans", "--only=01"], { env: fake.env });
    expect(run.status).toBe(2);
    expect(run.output).toContain("--only does not go with apply-plans");
    expect(fake.calls().filter((c) => /\|(plan|apply) /.test(c))).toEqual([]);
  });
});
