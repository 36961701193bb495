// Saved plans (./bootstrap.sh --plan --save-plans, apply-plans: what CI applies on merge) against the real engine,
// layer 00 of an encrypted cluster on the local backend: the plans saved, applied, nothing planned after; a plan
// saved before someone else's apply is refused by the engine itself ("Saved plan is stale"), nothing applied; a
// saved plan file holds the layer's secrets only encrypted; without state_encryption nothing is saved. The order,
// the layers not planned and the other refusals: __tests__/bootstrap/saved-plans.test.ts (fake engine).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { configRepo, type ConfigRepo } from "../bootstrap/support";
import { DUMMY_PROXMOX_TOKEN, engineEnv, startBootstrap, summaryRow, type BootstrapRun } from "./bootstrap-support";
import { startTrap, stringLeaves, synthesize, tempDir, tofu } from "./support";

const PASSPHRASE = "engine-test passphrase, not a secret";
const LAYER = "00-persistent-auth";
const work = tempDir("saved-plans");
let proxmox: Awaited<ReturnType<typeof startTrap>>;
let repo: ConfigRepo;

beforeAll(async () => {
  proxmox = await startTrap();
  repo = await configRepo("saved-plans", {
    cluster: { proxmox_csi_enabled: false, proxmox_api_url: proxmox.url, state_encryption: true },
  });
  // Saved plans are kept out of git (as plans/ in this repository's .gitignore), or the next run finds the tree dirty.
  writeFileSync(join(repo.dir, ".gitignore"), `${readFileSync(join(repo.dir, ".gitignore"), "utf8")}plans-*/\n`);
  await repo.commit("plans out of git");
});

afterAll(async () => {
  await proxmox?.close();
  repo?.remove();
  work.remove();
});

const run = (args: string[]): Promise<BootstrapRun> =>
  startBootstrap(args, {
    ...engineEnv(),
    CONFIG_DIR: repo.dir,
    PROXMOX_VE_API_TOKEN: DUMMY_PROXMOX_TOKEN,
    TF_VAR_state_passphrase: PASSPHRASE,
    CDKTF_OUTDIR: undefined,
    CDKTF_CONTEXT_JSON: undefined,
  });

function expectStatus(r: BootstrapRun, status: number): void {
  expect(r.status, r.output).toBe(status);
}

const manifest = (dir: string) => JSON.parse(readFileSync(join(repo.dir, dir, "plans.json"), "utf8"));
const stateFile = () => join(repo.dir, "state", `${LAYER}.tfstate`);

describe("saved plans of layer 00, encrypted, on the local backend", () => {
  it("saved and applied: nothing planned after; a plan saved before that apply is stale and refused; no secret in clear", {
    timeout: 1_800_000,
  }, async () => {
    const first = await run(["--plan", "--only=00", "--save-plans=plans-a"]);
    expectStatus(first, 0);
    expect(manifest("plans-a").layers).toEqual([
      expect.objectContaining({ layer: LAYER, file: `${LAYER}.tfplan`, changes: true }),
    ]);
    // A second review of the same state: its plan will be stale once the first is applied.
    expectStatus(await run(["--plan", "--only=00", "--save-plans=plans-b"]), 0);
    for (const dir of ["plans-a", "plans-b"])
      expect(JSON.parse(readFileSync(join(repo.dir, dir, `${LAYER}.tfplan`), "utf8"))).toHaveProperty("encrypted_data");

    const applied = await run(["apply-plans", "--plans=plans-a", "--auto-approve"]);
    expectStatus(applied, 0);
    expect(applied.output).toContain(`the saved plan: ${join(repo.dir, "plans-a", `${LAYER}.tfplan`)}`);
    expect(summaryRow(applied.output, LAYER, "apply")?.[2]).toBe("applied");
    expect(applied.output).not.toMatch(/^\s*\+ resource|Plan: \d+ to add/m); // the saved plan, not a new one

    const after = await run(["--plan", "--only=00", "--save-plans=plans-c"]);
    expectStatus(after, 0);
    expect(summaryRow(after.output, LAYER, "plan")?.[2]).toBe("no changes");
    expect(manifest("plans-c").layers[0]).toMatchObject({ layer: LAYER, changes: false });

    const state = readFileSync(stateFile(), "utf8");
    const stale = await run(["apply-plans", "--plans=plans-b", "--auto-approve"]);
    expectStatus(stale, 1);
    expect(stale.output).toContain("Saved plan is stale");
    expect(stale.output).toContain(`the state of ${LAYER} changed after its plan was saved`);
    expect(readFileSync(stateFile(), "utf8")).toBe(state);

    // plans-c holds layer 00's state as its plan's prior state: the engine decrypts it to the Talos PKI...
    const stacks = await synthesize(repo.dir, join(work.dir, "show"));
    const env = { PROXMOX_VE_API_TOKEN: DUMMY_PROXMOX_TOKEN, TF_VAR_state_passphrase: PASSPHRASE };
    await tofu(stacks[LAYER], ["init", "-input=false", "-no-color"], { env });
    const shown = await tofu(stacks[LAYER], ["show", "-json", join(repo.dir, "plans-c", `${LAYER}.tfplan`)], { env });
    const prior = JSON.parse(shown.stdout) as {
      prior_state: { values: { root_module: { resources: Array<{ type: string; values: unknown }> } } };
    };
    const secrets = prior.prior_state.values.root_module.resources
      .filter((r) => r.type === "talos_machine_secrets")
      .flatMap((r) => stringLeaves(r.values))
      .filter((s) => s.length >= 24);
    expect(secrets.length).toBeGreaterThan(5);
    // ...and no file of the folder holds any of it in clear; the plan file is no (compressed) zip but the engine's
    // encrypted payload.
    const planFile = readFileSync(join(repo.dir, "plans-c", `${LAYER}.tfplan`), "latin1");
    expect(planFile.startsWith("PK")).toBe(false);
    expect(JSON.parse(planFile)).toHaveProperty("encrypted_data");
    for (const file of readdirSync(join(repo.dir, "plans-c"))) {
      const text = readFileSync(join(repo.dir, "plans-c", file), "latin1");
      for (const secret of secrets) expect(text.includes(secret), `${file} holds a secret in clear`).toBe(false);
    }
    expect(proxmox.connections()).toBe(0);
  });

  it("without state_encryption, --save-plans is refused before anything is planned, and nothing is written", async () => {
    const file = join(repo.dir, "cluster.yaml");
    writeFileSync(file, stringify({ ...(parse(readFileSync(file, "utf8")) as object), state_encryption: false }));
    await repo.commit("state_encryption off");
    const refused = await run(["--plan", "--only=00", "--save-plans=plans-d"]);
    expectStatus(refused, 1);
    expect(refused.output).toMatch(/✗ plans: .*cluster\.yaml:\d+: state_encryption is off: a saved plan holds/);
    expect(existsSync(join(repo.dir, "plans-d"))).toBe(false);
    expect(refused.output).not.toMatch(/=== \[1\/1\] plan/);
  });
});
