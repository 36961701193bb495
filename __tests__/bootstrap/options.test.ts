// Arguments of ./bootstrap.sh: what each accepted command line means, and every refusal with its reason.
import { describe, expect, it } from "vitest";
import {
  unlocksPersistentAuth,
  parseOptions,
  UsageError,
  type BootstrapOptions,
} from "../../scripts/bootstrap/options";

const defaults: BootstrapOptions = {
  help: false,
  command: "layers",
  action: "apply",
  planOnly: false,
  autoApprove: false,
  allowDirty: false,
  only: undefined,
  startFrom: undefined,
  destroyTo: undefined,
  includingPersistentAuth: false,
  yesDestroyPersistentAuth: undefined,
  forceUnlock: undefined,
  cluster: undefined,
  overwriteTargetState: false,
  savePlans: undefined,
  applyPlans: undefined,
  etcdOut: undefined,
  etcdFrom: undefined,
  recoverSkipHashCheck: false,
};

function problems(argv: string[]): string[] {
  try {
    parseOptions(argv);
  } catch (e) {
    if (e instanceof UsageError) return [...e.problems];
    throw e;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
}

describe("parseOptions accepts", () => {
  it.each<[string[], Partial<BootstrapOptions>]>([
    [[], {}],
    [["--help"], { help: true }],
    [["-h"], { help: true }],
    [["--plan"], { planOnly: true }],
    [["--auto-approve", "--allow-dirty"], { autoApprove: true, allowDirty: true }],
    [["--only=persistent-auth", "--auto-approve"], { only: "persistent-auth", autoApprove: true }],
    [["--only", "01-infrastructure"], { only: "01-infrastructure" }],
    [["--start-from=infrastructure"], { startFrom: "infrastructure" }],
    [["--start-from", "01", "--plan"], { startFrom: "01", planOnly: true }],
    [["--destroy"], { action: "destroy" }],
    [["--destroy=services"], { action: "destroy", destroyTo: "services" }],
    [["--destroy", "--plan"], { action: "destroy", planOnly: true }],
    [["--destroy", "--including-persistent-auth"], { action: "destroy", includingPersistentAuth: true }],
    [
      ["--destroy=persistent-auth", "--including-persistent-auth", "--yes-destroy-persistent-auth=homelab"],
      {
        action: "destroy",
        destroyTo: "persistent-auth",
        includingPersistentAuth: true,
        yesDestroyPersistentAuth: "homelab",
      },
    ],
    [
      ["--destroy=00-persistent-auth", "--including-persistent-auth", "--yes-destroy-persistent-auth", "homelab"],
      {
        action: "destroy",
        destroyTo: "00-persistent-auth",
        includingPersistentAuth: true,
        yesDestroyPersistentAuth: "homelab",
      },
    ],
    // Without --destroy, the keys let a plan of 00 that deletes or replaces be applied.
    [
      ["--including-persistent-auth", "--yes-destroy-persistent-auth=homelab", "--auto-approve"],
      { includingPersistentAuth: true, yesDestroyPersistentAuth: "homelab", autoApprove: true },
    ],
    [["--only=00", "--including-persistent-auth"], { only: "00", includingPersistentAuth: true }],
    [
      ["--only=00", "--force-unlock=2f6c1c7e-9a1b-4c1d-8e3f-0a1b2c3d4e5f"],
      { only: "00", forceUnlock: "2f6c1c7e-9a1b-4c1d-8e3f-0a1b2c3d4e5f" },
    ],
    [["--cluster=prod", "--plan"], { cluster: "prod", planOnly: true }],
    [["upgrade", "--cluster", "staging"], { command: "upgrade", cluster: "staging" }],
    [["upgrade"], { command: "upgrade" }],
    [["upgrade", "--plan"], { command: "upgrade", planOnly: true }],
    [["doctor"], { command: "doctor", planOnly: true }],
    [["doctor", "--allow-dirty"], { command: "doctor", planOnly: true, allowDirty: true }],
    [["migrate-state", "--auto-approve"], { command: "migrate-state", planOnly: true, autoApprove: true }],
    [
      ["migrate-state", "--overwrite-target-state", "--cluster=prod"],
      { command: "migrate-state", planOnly: true, overwriteTargetState: true, cluster: "prod" },
    ],
    [["restart", "--plan"], { command: "restart", planOnly: true }],
    [["etcd-snapshot"], { command: "etcd-snapshot" }],
    [
      ["etcd-snapshot", "--out=backups/before-upgrade.db"],
      { command: "etcd-snapshot", etcdOut: "backups/before-upgrade.db" },
    ],
    [["etcd-recover", "--from=backups/a.db"], { command: "etcd-recover", etcdFrom: "backups/a.db" }],
    [
      ["etcd-recover", "--from", "a.db", "--recover-skip-hash-check", "--plan"],
      { command: "etcd-recover", etcdFrom: "a.db", recoverSkipHashCheck: true, planOnly: true },
    ],
    [["--plan", "--save-plans=plans"], { planOnly: true, savePlans: "plans" }],
    [["--plan", "--only=00", "--save-plans", "p"], { planOnly: true, only: "00", savePlans: "p" }],
    // apply-plans is a run of the layers whose plans come from the folder.
    [["apply-plans", "--plans=plans", "--auto-approve"], { applyPlans: "plans", autoApprove: true }],
    [["--cluster=prod", "apply-plans", "--plans=p"], { applyPlans: "p", cluster: "prod" }],
    [["--plan", "upgrade", "--auto-approve"], { command: "upgrade", planOnly: true, autoApprove: true }],
    // --help wins over everything else, so that it always prints the usage.
    [["--help", "--only=x", "--start-from=y"], { help: true, only: "x", startFrom: "y" }],
  ])("%j", (argv, expected) => {
    expect(parseOptions(argv)).toEqual({ ...defaults, ...expected });
  });
});

describe("parseOptions refuses", () => {
  it.each<[string[], RegExp]>([
    [["--bogus"], /^unknown option --bogus/],
    [["apply"], /^unexpected argument 'apply'/],
    [["--plan=yes"], /^--plan takes no value, got 'yes'/],
    [["--only"], /^--only needs a value: --only=<layer>/],
    [["--only="], /^--only needs a value/],
    [["--only", "--plan"], /^--only needs a value/],
    [["--plan", "--plan"], /^--plan is given twice/],
    [["--only=00", "--start-from=01"], /^--only and --start-from exclude each other/],
    [["--destroy", "--only=01"], /^--only does not combine with --destroy/],
    [["--force-unlock=abc"], /^--force-unlock releases the lock of one layer's state: name it with --only=<layer>$/],
    [["--only=00", "--force-unlock=abc", "--plan"], /^--plan does not combine with --force-unlock/],
    [["--only=00", "--force-unlock=a b"], /^--force-unlock=a b: expected a lock ID as the engine printed it$/],
    [["--cluster=../prod"], /^--cluster=\.\.\/prod: expected the name of a folder in clusters\//],
    [["upgrade", "upgrade"], /^unexpected argument 'upgrade'/],
    [["upgrade", "restart"], /^unexpected argument 'restart'/],
    [
      ["restart", "--start-from=01"],
      /^--start-from does not go with restart \(it takes --help, --plan, --auto-approve, --allow-dirty, --cluster\)$/,
    ],
    [["upgrad"], /^unexpected argument 'upgrad'/],
    [["etcd-recover"], /^etcd-recover needs the snapshot to restore: --from=<file> \(inside the config folder\)$/],
    [
      ["etcd-snapshot", "--from=a.db"],
      /^--from does not go with etcd-snapshot \(it takes --help, --allow-dirty, --cluster, --out\)$/,
    ],
    [["etcd-snapshot", "--plan"], /^--plan does not go with etcd-snapshot/],
    [["etcd-recover", "--from=a.db", "--out=b.db"], /^--out does not go with etcd-recover/],
    [["--out=a.db"], /^--out goes with etcd-snapshot only/],
    [["--from=a.db", "--plan"], /^--from goes with etcd-recover only/],
    [
      ["upgrade", "--only=01"],
      /^--only does not go with upgrade \(it takes --help, --plan, --auto-approve, --allow-dirty, --cluster\)$/,
    ],
    [["upgrade", "--destroy"], /^--destroy does not go with upgrade/],
    [["doctor", "--only=01"], /^--only does not go with doctor/],
    [["migrate-state", "--plan"], /^--plan does not go with migrate-state/],
    [["--save-plans=p"], /^--save-plans keeps the plans of a --plan run \(which applies nothing\): add --plan$/],
    [["--plan", "--destroy", "--save-plans=p"], /^--destroy does not combine with --save-plans/],
    [["doctor", "--save-plans=p"], /^--save-plans does not go with doctor/],
    [["apply-plans"], /^apply-plans needs the folder of the saved plans: --plans=<dir>$/],
    [["apply-plans", "--plans=p", "--start-from=01"], /^--start-from does not go with apply-plans/],
    [["apply-plans", "--plans=p", "--save-plans=q"], /^--save-plans does not go with apply-plans/],
    [["--plans=p"], /^--plans names the saved plans of apply-plans/],
    [["apply-plans", "upgrade", "--plans=p"], /^unexpected argument 'upgrade'/],
    [["upgrade", "apply-plans"], /^unexpected argument 'apply-plans'/],
    [["migrate-state", "--only=00"], /^--only does not go with migrate-state/],
    [["--overwrite-target-state"], /^--overwrite-target-state goes with migrate-state only$/],
    [["doctor", "--overwrite-target-state"], /^--overwrite-target-state does not go with doctor/],
    [["upgrade", "--including-persistent-auth"], /^--including-persistent-auth does not go with upgrade/],
    [["--destroy", "--start-from=01"], /^--start-from does not combine with --destroy/],
    [
      ["--only=infrastructure", "--including-persistent-auth"],
      /^--including-persistent-auth lets a plan of 00-persistent-auth delete or replace, but --only=infrastructure leaves that layer out/,
    ],
    [
      ["--start-from=02", "--including-persistent-auth"],
      /^--including-persistent-auth lets a plan of 00-persistent-auth delete or replace, but --start-from=02 leaves/,
    ],
    [
      ["--destroy", "--yes-destroy-persistent-auth=homelab"],
      /^--yes-destroy-persistent-auth is the second key: it needs --including-persistent-auth/,
    ],
    [
      ["--destroy=infrastructure", "--including-persistent-auth"],
      /^--including-persistent-auth destroys down to 00-persistent-auth, but --destroy=infrastructure stops above it/,
    ],
  ])("%j", (argv, message) => {
    const found = problems(argv);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it.each(["persistent-auth", "00-persistent-auth", "00", "0"])(
    "--destroy=%s without --including-persistent-auth: the first key is missing",
    (layer) => {
      const found = problems([`--destroy=${layer}`, "--auto-approve"]);
      expect(found).toEqual([
        expect.stringMatching(
          /^refused: --destroy=\S+ destroys 00-persistent-auth .* takes two keys: --including-persistent-auth and the cluster name/,
        ),
      ]);
    },
  );

  it("even with the second key alone", () => {
    expect(problems(["--destroy=persistent-auth", "--yes-destroy-persistent-auth=homelab"])).toEqual([
      expect.stringMatching(/^refused:/),
      expect.stringMatching(/^--yes-destroy-persistent-auth is the second key/),
    ]);
  });

  it("reports every problem at once", () => {
    expect(problems(["--bogus", "x", "--only=a", "--start-from=b", "--including-persistent-auth"])).toHaveLength(5);
  });
});

describe("unlocksPersistentAuth", () => {
  it.each<[string[], boolean]>([
    [[], false],
    [["--including-persistent-auth"], true],
    [["--only=00", "--including-persistent-auth"], true],
    [["--destroy"], false],
    [["--destroy=services"], false],
    [["--destroy", "--including-persistent-auth"], true],
    [["--destroy=persistent-auth", "--including-persistent-auth"], true],
  ])("%j → %s", (argv, expected) => {
    expect(unlocksPersistentAuth(parseOptions(argv))).toBe(expected);
  });
});
