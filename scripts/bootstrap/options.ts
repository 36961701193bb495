// Command-line options of ./bootstrap.sh, parsed once (by `init`, into the run document). Pure: no config, no
// engine, no files. Layer names stay as typed here (scope.ts resolves them against the catalog); only layer 00 is
// recognized now, because refusing to destroy it must happen before anything else runs.
import { parseArgs } from "node:util";
import { CLUSTER_NAME } from "../../config/clusters";
import { isPersistentAuth } from "./layers";

/** Subcommands: a word before or among the options. */
export const COMMANDS = ["upgrade", "restart", "doctor", "migrate-state", "etcd-snapshot", "etcd-recover"] as const;

export interface BootstrapOptions {
  /** `--help`: print the usage and do nothing else. */
  readonly help: boolean;
  /**
   * `layers`: apply, plan or destroy the layers; `upgrade`: the rolling Talos and Kubernetes upgrade of the nodes;
   * `restart`: the rolling restart of the VMs with changes pending in Proxmox; `doctor`: the preflight of a run
   * over every layer (as with --plan), and nothing else; `migrate-state`: copy each layer's state from
   * previous_state_backend to state_backend (cluster.yaml), after that preflight; `etcd-snapshot`: a snapshot of
   * etcd through a controller; `etcd-recover`: etcd restored from a snapshot once every controller waits for it.
   * @default "layers" (no subcommand)
   */
  readonly command: "layers" | (typeof COMMANDS)[number];
  /** What the run does to each layer in scope. */
  readonly action: "apply" | "destroy";
  /** `--plan`: plan every layer in scope, apply nothing. */
  readonly planOnly: boolean;
  /** `--auto-approve`: apply each plan without asking. */
  readonly autoApprove: boolean;
  /** `--allow-dirty`: skip the clean git work tree check. */
  readonly allowDirty: boolean;
  /** `--only=<layer>`, as typed. */
  readonly only?: string;
  /** `--start-from=<layer>`, as typed. */
  readonly startFrom?: string;
  /**
   * Lowest layer `--destroy` goes down to, as typed.
   * @default - 01-infrastructure; 00-persistent-auth with --including-persistent-auth
   */
  readonly destroyTo?: string;
  /**
   * `--including-persistent-auth`: the first key to destroy layer 00 (with --destroy), or to apply a plan of layer
   * 00 that deletes or replaces something (without it).
   */
  readonly includingPersistentAuth: boolean;
  /** `--yes-destroy-persistent-auth=<cluster name>`: the second key, instead of typing the cluster name. */
  readonly yesDestroyPersistentAuth?: string;
  /**
   * `--force-unlock=<lock id>` (with `--only=<layer>`): release the lock a killed run left on that layer's state,
   * after preflight and a confirmation; the engine refuses an ID that is not the lock's.
   */
  readonly forceUnlock?: string;
  /** `--cluster=<name>`: the config folder is clusters/<name> of this repository (instead of CONFIG_DIR). */
  readonly cluster?: string;
  /** `migrate-state --overwrite-target-state`: replace a state state_backend already holds for a layer. */
  readonly overwriteTargetState: boolean;
  /** `--plan --save-plans=<dir>`: keep each layer's plan file and a manifest in <dir> (saved-plans.ts), as typed. */
  readonly savePlans?: string;
  /**
   * `apply-plans --plans=<dir>`: apply the plans saved in <dir> (as typed), the layers of the run that saved them,
   * instead of planning them. A layer run (command `layers`) whose plans come from the folder.
   */
  readonly applyPlans?: string;
  /** `etcd-snapshot --out=<file>`: where the snapshot goes, as typed. @default - backups/etcd-<UTC time>.db */
  readonly etcdOut?: string;
  /** `etcd-recover --from=<file>`: the snapshot to restore, as typed. */
  readonly etcdFrom?: string;
  /** `etcd-recover --recover-skip-hash-check`: a snapshot copied from a node's disk has no integrity hash. */
  readonly recoverSkipHashCheck: boolean;
}

/** Bad command line: every problem, one per line. Exit status 2. */
export class UsageError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "UsageError";
  }
}

interface OptionSpec {
  /** `none`: a flag; `required`: `--x=v` or `--x v`; `optional`: only `--x=v` gives a value. */
  readonly value: "none" | "required" | "optional";
  readonly meta?: string;
  readonly short?: string;
}

/** Every option, for the parser and for the test that checks the usage text documents each one. */
export const OPTIONS = {
  help: { value: "none", short: "h" },
  plan: { value: "none" },
  "auto-approve": { value: "none" },
  "allow-dirty": { value: "none" },
  only: { value: "required", meta: "<layer>" },
  "start-from": { value: "required", meta: "<layer>" },
  destroy: { value: "optional", meta: "<layer>" },
  "including-persistent-auth": { value: "none" },
  "yes-destroy-persistent-auth": { value: "required", meta: "<cluster name>" },
  "force-unlock": { value: "required", meta: "<lock id>" },
  cluster: { value: "required", meta: "<name>" },
  "overwrite-target-state": { value: "none" },
  "save-plans": { value: "required", meta: "<dir>" },
  plans: { value: "required", meta: "<dir>" },
  out: { value: "required", meta: "<file>" },
  from: { value: "required", meta: "<file>" },
  "recover-skip-hash-check": { value: "none" },
} as const satisfies Readonly<Record<string, OptionSpec>>;

type OptionName = keyof typeof OPTIONS;

/** The options each subcommand takes; the others choose or guard layers, which they do not touch. */
const COMMAND_OPTIONS: Readonly<Record<(typeof COMMANDS)[number], ReadonlySet<OptionName>>> = {
  upgrade: new Set(["help", "plan", "auto-approve", "allow-dirty", "cluster"]),
  restart: new Set(["help", "plan", "auto-approve", "allow-dirty", "cluster"]),
  doctor: new Set(["help", "plan", "auto-approve", "allow-dirty", "cluster"]),
  "migrate-state": new Set(["help", "auto-approve", "allow-dirty", "cluster", "overwrite-target-state"]),
  "etcd-snapshot": new Set(["help", "allow-dirty", "cluster", "out"]),
  "etcd-recover": new Set([
    "help",
    "plan",
    "auto-approve",
    "allow-dirty",
    "cluster",
    "from",
    "recover-skip-hash-check",
  ]),
};

/** `apply-plans`: a layer run whose plans were saved by another; it takes these options alone. */
export const APPLY_PLANS = "apply-plans";
const APPLY_PLANS_OPTIONS: ReadonlySet<OptionName> = new Set([
  "help",
  "auto-approve",
  "allow-dirty",
  "cluster",
  "plans",
]);

/** Parses the arguments of ./bootstrap.sh; throws UsageError listing every problem. */
export function parseOptions(argv: readonly string[]): BootstrapOptions {
  const problems: string[] = [];
  const given = new Map<OptionName, string | true>();
  let command: BootstrapOptions["command"] = "layers";
  let applyPlans = false;
  // Lenient parse, then our own checks on its tokens: every problem is reported, not only the first.
  const { tokens } = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries(
      Object.entries(OPTIONS).map(([name, spec]: [string, OptionSpec]) => [
        name,
        {
          type: spec.value === "required" ? ("string" as const) : ("boolean" as const),
          ...(spec.short ? { short: spec.short } : {}),
        },
      ]),
    ),
  });
  for (const token of tokens) {
    if (token.kind === "positional") {
      const word = COMMANDS.find((c) => c === token.value);
      if (word && command === "layers" && !applyPlans) command = word;
      else if (token.value === APPLY_PLANS && command === "layers" && !applyPlans) applyPlans = true;
      else problems.push(`unexpected argument '${token.value}' (options start with --; see --help)`);
      continue;
    }
    if (token.kind === "option-terminator") continue;
    if (!(token.name in OPTIONS)) {
      problems.push(`unknown option ${token.rawName} (see --help)`);
      continue;
    }
    const name = token.name as OptionName;
    const spec: OptionSpec = OPTIONS[name];
    const needsValue = () => problems.push(`--${name} needs a value: --${name}=${spec.meta}`);
    let value: string | true = true;
    if (spec.value === "none") {
      if (token.value !== undefined) problems.push(`--${name} takes no value, got '${token.value}'`);
    } else if (token.value !== undefined) {
      // `--only --plan` gives --only the value "--plan": a value is never an option.
      if (token.value === "" || (!token.inlineValue && token.value.startsWith("-"))) {
        needsValue();
        continue;
      }
      value = token.value;
    } else if (spec.value === "required") {
      needsValue();
      continue;
    }
    if (given.has(name)) problems.push(`--${name} is given twice`);
    given.set(name, value);
  }

  const str = (name: OptionName) => {
    const v = given.get(name);
    return typeof v === "string" ? v : undefined;
  };
  const destroy = given.get("destroy");
  const options: BootstrapOptions = {
    help: given.has("help"),
    command,
    action: destroy === undefined ? "apply" : "destroy",
    // doctor checks what a run over every layer needs, as a --plan run would, and runs nothing; so does
    // migrate-state before it copies the states.
    planOnly: given.has("plan") || command === "doctor" || command === "migrate-state",
    autoApprove: given.has("auto-approve"),
    allowDirty: given.has("allow-dirty"),
    only: str("only"),
    startFrom: str("start-from"),
    destroyTo: typeof destroy === "string" ? destroy : undefined,
    includingPersistentAuth: given.has("including-persistent-auth"),
    yesDestroyPersistentAuth: str("yes-destroy-persistent-auth"),
    forceUnlock: str("force-unlock"),
    cluster: str("cluster"),
    overwriteTargetState: given.has("overwrite-target-state"),
    savePlans: str("save-plans"),
    applyPlans: applyPlans ? (str("plans") ?? "") : undefined,
    etcdOut: str("out"),
    etcdFrom: str("from"),
    recoverSkipHashCheck: given.has("recover-skip-hash-check"),
  };
  if (options.help) return options;
  if (options.cluster !== undefined && !CLUSTER_NAME.test(options.cluster))
    problems.push(
      `--cluster=${options.cluster}: expected the name of a folder in clusters/ (lower-case letters, digits, '-')`,
    );

  if (command !== "layers") {
    const allowed = COMMAND_OPTIONS[command];
    for (const name of given.keys()) {
      if (!allowed.has(name))
        problems.push(
          `--${name} does not go with ${command} (it takes ${[...allowed].map((o) => `--${o}`).join(", ")})`,
        );
    }
    if (command === "etcd-recover" && !given.has("from"))
      problems.push("etcd-recover needs the snapshot to restore: --from=<file> (inside the config folder)");
    if (problems.length > 0) throw new UsageError(problems);
    return options;
  }

  if (options.overwriteTargetState) problems.push("--overwrite-target-state goes with migrate-state only");
  for (const [name, command] of [
    ["out", "etcd-snapshot"],
    ["from", "etcd-recover"],
    ["recover-skip-hash-check", "etcd-recover"],
  ] as const)
    if (given.has(name)) problems.push(`--${name} goes with ${command} only: ./bootstrap.sh ${command} --${name}…`);
  if (applyPlans) {
    for (const name of given.keys())
      if (!APPLY_PLANS_OPTIONS.has(name))
        problems.push(
          `--${name} does not go with ${APPLY_PLANS} (it takes ${[...APPLY_PLANS_OPTIONS].map((o) => `--${o}`).join(", ")}): the layers and their plans are those of the run that saved them`,
        );
    if (!given.has("plans")) problems.push(`${APPLY_PLANS} needs the folder of the saved plans: --plans=<dir>`);
  } else if (given.has("plans"))
    problems.push(`--plans names the saved plans of ${APPLY_PLANS}: ./bootstrap.sh ${APPLY_PLANS} --plans=<dir>`);
  if (options.savePlans !== undefined && !applyPlans) {
    if (!options.planOnly)
      problems.push("--save-plans keeps the plans of a --plan run (which applies nothing): add --plan");
    for (const name of ["destroy", "force-unlock", "including-persistent-auth"] as const)
      if (given.has(name))
        problems.push(`--${name} does not combine with --save-plans, which saves the plans of an apply`);
  }
  if (options.only !== undefined && options.startFrom !== undefined) {
    problems.push(
      "--only and --start-from exclude each other: --only runs one layer, --start-from that layer and every one above it",
    );
  }
  if (options.action === "destroy") {
    for (const name of ["only", "start-from"] as const) {
      if (given.has(name))
        problems.push(
          `--${name} does not combine with --destroy: --destroy=<layer> destroys from the highest layer down to <layer>`,
        );
    }
    const to = options.destroyTo;
    if (to !== undefined && isPersistentAuth(to) && !options.includingPersistentAuth) {
      problems.push(
        `refused: --destroy=${to} destroys 00-persistent-auth (the cluster's PKI and tokens), which takes two keys: ` +
          `--including-persistent-auth and the cluster name (typed when asked, or --yes-destroy-persistent-auth=<cluster name>)`,
      );
    }
    if (to !== undefined && !isPersistentAuth(to) && options.includingPersistentAuth) {
      problems.push(
        `--including-persistent-auth destroys down to 00-persistent-auth, but --destroy=${to} stops above it: use --destroy alone`,
      );
    }
  } else if (options.includingPersistentAuth) {
    // Without --destroy, the keys let this run apply a plan of layer 00 that deletes or replaces something.
    for (const name of ["only", "start-from"] as const) {
      const layer = str(name);
      if (layer !== undefined && !isPersistentAuth(layer))
        problems.push(
          `--including-persistent-auth lets a plan of 00-persistent-auth delete or replace, but --${name}=${layer} leaves that layer out`,
        );
    }
  }
  if (options.forceUnlock !== undefined) {
    if (options.only === undefined)
      problems.push("--force-unlock releases the lock of one layer's state: name it with --only=<layer>");
    for (const name of ["plan", "destroy", "start-from", "including-persistent-auth"] as const) {
      if (given.has(name)) problems.push(`--${name} does not combine with --force-unlock, which only releases a lock`);
    }
    if (!/^[A-Za-z0-9._:-]+$/.test(options.forceUnlock))
      problems.push(`--force-unlock=${options.forceUnlock}: expected a lock ID as the engine printed it`);
  }
  if (options.yesDestroyPersistentAuth !== undefined && !options.includingPersistentAuth) {
    problems.push("--yes-destroy-persistent-auth is the second key: it needs --including-persistent-auth as well");
  }
  if (problems.length > 0) throw new UsageError(problems);
  return options;
}

/**
 * Whether the run was given the first key of layer 00: with --destroy it destroys 00; without, a plan of 00 that
 * deletes or replaces something may be applied (the second key, the cluster name, still to be checked).
 */
export function unlocksPersistentAuth(options: BootstrapOptions): boolean {
  return options.command === "layers" && options.includingPersistentAuth;
}

/** Whether layer 00's second key must be typed on the terminal (it was not given on the command line). */
export function asksClusterName(options: BootstrapOptions): boolean {
  return unlocksPersistentAuth(options) && options.yesDestroyPersistentAuth === undefined;
}
