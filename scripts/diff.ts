// Usage: npx tsx scripts/diff.ts --base <git ref> [--format text|markdown] [--cluster <name>]
//        (npm run diff -- --base <ref>)
//
// What a change does to the synthesized stacks, for review: synthesizes the working tree and <ref> offline and
// prints, per layer, the resources, data sources, outputs, providers and backend it adds, changes and removes,
// with the attribute-level changes. Changes that destroy or may replace what layer 00 keeps for the life of the
// cluster are flagged at the top. Secrets are never printed.
// Exit status, like `terraform plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error.
//
// Several clusters in one repository (clusters/<name>/): --cluster <name> diffs that one, as ./bootstrap.sh
// --cluster does; without it and without CONFIG_DIR, every cluster of the repository (its top-level cluster.yaml,
// if any, then each folder of clusters/), each under its name; exit 2 when any changed.
//
// Environment:
//   CONFIG_DIR   folder of cluster.yaml and nodes.yaml (default "."). Inside the repository: read from the
//                working tree on one side and from <ref> on the other, as `npm run synth` reads it. Outside it
//                (a config repository of your own): both sides read it as it is now, so the diff shows what
//                <ref>'s code makes of your config.
//   *TOKEN*, *PASSWORD*, *SECRET*, *PASSPHRASE*, *KEY*   the values of these variables are never printed.
//
// How the base is built: a temporary `git worktree` of <ref> (removed afterwards, also on error or Ctrl-C)
// that shares this tree's node_modules, and its .gen/ too unless <ref> vendors other provider schemas (then it
// generates its own), compiled with its own scripts/build.mjs. Each side's cluster.yaml and nodes.yaml (and
// workloads.yaml with its key files) are copied into a scratch folder with cdktf.out beside them, laid out as in the repository, so that the relative
// state and credentials paths come out as for a user and equal on both sides.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { constants, tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { ClusterNameError, clusterFolder, clusterNames, repositoryClusterDirs } from "../config/clusters";
import { MAX_FILE_BYTES, readConfigFolderFile } from "../config/files";
import { treeDigest } from "./bindings-digest";
import { cliEnv } from "./diff/cli-env";
import { compare, type Stacks } from "./diff/compare";
import { Masker } from "./diff/mask";
import { MARKER, MAX_MARKDOWN_CHARS, renderMarkdown, renderText, type RenderInput } from "./diff/render";

const ROOT = resolve(__dirname, "..");
const CONFIG_FILES = ["cluster.yaml", "nodes.yaml"] as const;
/** Optional, with the public key files it names (relative to the config folder). */
const WORKLOADS_FILE = "workloads.yaml";
const FORMATS = ["text", "markdown"] as const;
const USAGE = "usage: npm run diff -- --base <git ref> [--format text|markdown] [--cluster <name>]";

/** A failure the user can act on: printed as one message without a stack trace, exit status 1. */
class DiffError extends Error {}

interface Options {
  /** The git ref to compare with, as given. */
  readonly base: string;
  readonly format: (typeof FORMATS)[number];
  /**
   * The config folders relative to the repository root, "." for the root ("config" for one outside it): one, or
   * every cluster of the repository.
   */
  readonly configDirs: readonly string[];
  /** Each diff says which cluster it is (--cluster, or several clusters). */
  readonly named: boolean;
  /** A config folder outside the repository (a config repository of its own): both sides read it. */
  readonly outside?: string;
}

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options | "help" {
  let values: { base?: string; format?: string; help?: boolean; cluster?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        base: { type: "string" },
        format: { type: "string", default: "text" },
        cluster: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new DiffError(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) return "help";

  const problems: string[] = [];
  if (!values.base) problems.push("--base <git ref> is required, e.g. --base origin/main");
  const format = FORMATS.find((f) => f === values.format);
  if (!format) problems.push(`--format must be text or markdown, got "${values.format}"`);
  if (values.cluster !== undefined && env.CONFIG_DIR !== undefined)
    problems.push("CONFIG_DIR and --cluster both name the config folder: use one of them");
  if (problems.length) throw new DiffError(`${problems.join("\n")}\n${USAGE}`);
  const base = values.base!;
  if (values.cluster !== undefined) {
    try {
      return { base, format: format!, configDirs: [relative(ROOT, clusterFolder(ROOT, values.cluster))], named: true };
    } catch (e) {
      if (!(e instanceof ClusterNameError)) throw e;
      throw new DiffError(e.message);
    }
  }
  if (env.CONFIG_DIR === undefined && clusterNames(ROOT).length > 0) {
    const configDirs = repositoryClusterDirs(ROOT)
      .filter((dir) => existsSync(join(dir, "cluster.yaml")))
      .map((dir) => relative(ROOT, dir) || ".");
    return { base, format: format!, configDirs: configDirs.sort(), named: true };
  }
  const configDir = relative(ROOT, resolve(env.CONFIG_DIR ?? ".")) || ".";
  // Outside the repository the git ref holds no config: both sides synthesize the folder as it is now.
  if (configDir === ".." || configDir.startsWith(`..${sep}`) || isAbsolute(configDir))
    return { base, format: format!, configDirs: ["config"], named: false, outside: resolve(env.CONFIG_DIR!) };
  return { base, format: format!, configDirs: [configDir], named: false };
}

// ----------------------------------------------------------------------------------------- running commands

interface RunOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Applied to the command's output before it goes into an error message. */
  readonly rewrite?: (text: string) => string;
}

/** The command running now, stopped first when a signal arrives. */
let running: ChildProcess | undefined;

/**
 * Runs a command to completion and returns its stdout; a failure becomes a DiffError with its output.
 * Asynchronous on purpose: a blocked event loop would not see Ctrl-C until the command ends.
 */
function run(what: string, command: string, args: readonly string[], options: RunOptions): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running = child;
    const out: string[] = [];
    const err: string[] = [];
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => out.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => err.push(chunk));
    child.on("error", (e) => reject(new DiffError(`${what}: ${e.message}`)));
    child.on("close", (status, signal) => {
      running = undefined;
      if (status === 0) return resolvePromise(out.join("").trim());
      const output = (options.rewrite ?? ((t: string) => t))(`${err.join("")}${out.join("")}`).trim();
      reject(new DiffError(`${what} failed (${signal ?? `exit ${status}`})${output ? `:\n${output}` : ""}`));
    });
  });
}

function git(...args: string[]): Promise<string> {
  return run(`git ${args.join(" ")}`, "git", args, { cwd: ROOT });
}

/** Stops the running command, if any, and waits (at most 5 s before SIGKILL) until it is gone. */
function stopRunning(): Promise<void> {
  const child = running;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("close", () => {
      clearTimeout(force);
      done();
    });
    child.kill("SIGTERM");
  });
}

function progress(message: string): void {
  if (process.stderr.isTTY) process.stderr.write(`synth-diff: ${message}\n`);
}

// ------------------------------------------------------------------------------------------------ cleanups

/** Undo steps, run newest first on the way out, whether by return, error or signal. */
const cleanups: (() => void | Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;

/**
 * Runs the undo steps once, however many callers ask (the normal exit and a signal may both). Asynchronous, so
 * that the event loop stays free to acknowledge signals: tsx SIGKILLs a child that leaves a relayed signal
 * unacknowledged for about 60 ms, which would cut the cleanup short.
 */
function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (e) {
        process.stderr.write(`synth-diff: cleanup: ${(e as Error).message}\n`);
      }
    }
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------- synthesis

/** Compiles the app of `tree` with its own scripts/build.mjs. */
async function compile(tree: string, label: string): Promise<void> {
  await run(`compiling ${side(label)} (scripts/build.mjs)`, process.execPath, [join(tree, "scripts/build.mjs")], {
    cwd: tree,
  });
}

function side(label: string): string {
  return label ? label.slice(0, -1) : "the working tree";
}

/**
 * Synthesizes `tree`'s config with its compiled app, the config copied to `scratch` with cdktf.out beside it, and
 * the other clusters of its repository with it (their configs are compared with this one's when it loads).
 * `label` prefixes file names in error messages ("" or "origin/main:").
 */
async function synthesize(
  tree: string,
  configDir: string,
  scratch: string,
  label: string,
  outside?: string,
): Promise<Stacks> {
  const source = outside ?? join(tree, configDir);
  const configCopy = join(scratch, configDir);
  copyConfig(source, configCopy);
  if (!outside)
    for (const other of repositoryClusterDirs(source).slice(1)) copyConfig(other, join(scratch, relative(tree, other)));
  const outdir = join(scratch, "cdktf.out");
  await run(`synthesizing ${side(label)}`, process.execPath, [join(tree, "dist/main.js")], {
    cwd: tree,
    env: { ...cliEnv(tree, process.env), CONFIG_DIR: configCopy, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: "1" },
    rewrite: (text) => text.split(`${scratch}/`).join(label),
  });
  return readStacks(outdir);
}

/**
 * Copies a config folder's files (cluster.yaml, nodes.yaml, workloads.yaml and the key files it names), read as the
 * app reads them (regular files inside the folder, bounded, never blocking on a FIFO); a file that cannot be read is
 * left out for the app to report, in its own words.
 */
function copyConfig(source: string, copy: string): void {
  mkdirSync(copy, { recursive: true });
  for (const file of [...CONFIG_FILES, WORKLOADS_FILE, ...keyFiles(source)]) {
    let text: string;
    try {
      text = readConfigFolderFile(source, file, MAX_FILE_BYTES);
    } catch {
      continue;
    }
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    writeFileSync(join(copy, file), text);
  }
}

/**
 * The relative public key files workloads.yaml names (`ssh_keys: [{file}]`); none when it is absent or unreadable.
 * Any shape is taken (a mapping where a list belongs, a number where a file name belongs): the app reports it.
 */
export function keyFiles(configDir: string): string[] {
  let doc: unknown;
  try {
    doc = parseYaml(readConfigFolderFile(configDir, WORKLOADS_FILE, MAX_FILE_BYTES));
  } catch {
    return [];
  }
  const listAt = (value: unknown, key: string): unknown[] => {
    const list = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
    return Array.isArray(list) ? list : [];
  };
  const guests = [...listAt(doc, "containers"), ...listAt(doc, "vms")];
  return guests
    .flatMap((g) => listAt(g, "ssh_keys"))
    .map((k) => (k !== null && typeof k === "object" ? (k as Record<string, unknown>).file : undefined))
    .filter((f): f is string => typeof f === "string" && !isAbsolute(f) && !f.split("/").includes(".."));
}

/** Every `stacks/<layer>/cdk.tf.json` under a cdktf outdir, by layer. */
function readStacks(outdir: string): Stacks {
  const dir = join(outdir, "stacks");
  if (!existsSync(dir)) return {};
  const layers = readdirSync(dir)
    .filter((layer) => existsSync(join(dir, layer, "cdk.tf.json")))
    .sort();
  return Object.fromEntries(
    layers.map((layer) => [layer, JSON.parse(readFileSync(join(dir, layer, "cdk.tf.json"), "utf8"))]),
  );
}

interface BaseSide {
  readonly stacks: Stacks;
  /** What the reader should know about how the base was synthesized. */
  readonly notes: string[];
}

/** The base checked out, compiled when it has the project. */
interface BaseTree {
  readonly tree: string;
  /** What the reader should know about how the base was built. */
  readonly notes: string[];
}

/** Checks `commit` out in a temporary worktree under `scratch` and compiles it there, if it has main.ts. */
async function prepareBase(ref: string, commit: string, scratch: string, outside?: string): Promise<BaseTree> {
  const tree = join(scratch, "base-tree");
  cleanups.push(() => removeWorktree(tree)); // also undoes a half-made worktree
  await git("worktree", "add", "--detach", "--quiet", tree, commit);
  if (!existsSync(join(tree, "main.ts"))) return { tree, notes: [] };
  for (const required of ["scripts/build.mjs", "package.json"]) {
    if (!existsSync(join(tree, required)))
      throw new DiffError(`cannot synthesize ${ref}: it has main.ts but no ${required}`);
  }

  const notes: string[] = outside
    ? ["CONFIG_DIR is outside the repository: both sides synthesize the config folder as it is now."]
    : [];
  linkInto(tree, "node_modules");
  if (bindingInputs(tree) === bindingInputs(ROOT)) {
    if (!existsSync(join(ROOT, ".gen")))
      throw new DiffError("the working tree has no .gen/; run npm ci (or npm run gen) first");
    linkInto(tree, ".gen");
  } else {
    progress(`${ref} vendors other provider schemas; generating its bindings`);
    await run(
      `generating the provider bindings of ${ref} (scripts/gen-bindings.sh)`,
      "bash",
      ["scripts/gen-bindings.sh"],
      { cwd: tree },
    );
    notes.push(`${ref} vendors other provider schemas than this branch; its bindings were generated from them.`);
  }
  if (readIfExists(join(tree, "package-lock.json")) !== readIfExists(join(ROOT, "package-lock.json"))) {
    notes.push(`${ref} has another package-lock.json; it was synthesized with this branch's node_modules.`);
  }
  await compile(tree, `${ref}:`);
  return { tree, notes };
}

/** Synthesizes a config folder on the base, or says why every layer shows as new. */
async function synthesizeBase(
  base: BaseTree,
  ref: string,
  configDir: string,
  scratch: string,
  outside?: string,
): Promise<BaseSide> {
  const missing = ["main.ts", ...(outside ? [] : CONFIG_FILES.map((f) => join(configDir, f)))].filter(
    (path) => !existsSync(join(base.tree, path)),
  );
  if (missing.length) {
    return {
      stacks: {},
      notes: [
        `${ref} has no ${missing.join(", ")}: it predates the project or this config, so every layer shows as new.`,
      ],
    };
  }
  return { stacks: await synthesize(base.tree, configDir, scratch, `${ref}:`, outside), notes: base.notes };
}

/** Symlinks `<tree>/<name>` to the working tree's, unless the base has one of its own. */
function linkInto(tree: string, name: string): void {
  if (!existsSync(join(tree, name))) symlinkSync(join(ROOT, name), join(tree, name), "dir");
}

/** Removes a temporary worktree; the links into this tree are unlinked first, never followed. */
async function removeWorktree(tree: string): Promise<void> {
  for (const name of ["node_modules", ".gen"]) {
    if (lstatSync(join(tree, name), { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(join(tree, name));
  }
  // Twice --force: a worktree whose `add` was interrupted is still locked ("initializing").
  const removed = await git("worktree", "remove", "--force", "--force", tree).then(
    () => true,
    () => false,
  );
  if (!removed) {
    rmSync(tree, { recursive: true, force: true });
    await git("worktree", "unlock", tree).catch(() => undefined);
    await git("worktree", "prune");
  }
}

/** What .gen/ is generated from: the vendored provider schemas and the providers cdktf.json asks for. */
function bindingInputs(tree: string): string {
  const schemas = join(tree, "providers/schema-cache");
  const cdktf = readIfExists(join(tree, "cdktf.json"));
  const providers = cdktf === undefined ? null : (JSON.parse(cdktf).terraformProviders ?? null);
  return createHash("sha256")
    .update(existsSync(schemas) ? treeDigest(schemas) : "no schemas")
    .update(JSON.stringify(providers))
    .digest("hex");
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

// ---------------------------------------------------------------------------------------------------- main

async function main(argv: readonly string[], masker: Masker): Promise<number> {
  const options = parseOptions(argv, process.env);
  if (options === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const scratch = mkdtempSync(join(tmpdir(), "synth-diff-"));
  cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  try {
    const commit = spawnSync(
      "git",
      ["rev-parse", "--verify", "--quiet", "--end-of-options", `${options.base}^{commit}`],
      { cwd: ROOT, encoding: "utf8" },
    );
    if (commit.status !== 0) {
      throw new DiffError(
        `${options.base} is not a commit in this repository (in CI, check out with fetch-depth: 0 so that the base branch is there)`,
      );
    }
    const baseCommit = commit.stdout.trim();

    await compile(ROOT, "");
    progress(`checking out ${options.base} (${baseCommit.slice(0, 7)})`);
    const baseTree = await prepareBase(options.base, baseCommit, scratch, options.outside);
    const blocks: string[] = [];
    let changed = false;
    for (const [i, configDir] of options.configDirs.entries()) {
      const name = configDir === "." ? ". (the repository's cluster.yaml)" : configDir;
      progress(`synthesizing ${options.named ? `${name} of ` : ""}the working tree`);
      const head = await synthesize(ROOT, configDir, join(scratch, `head-${i}`), "", options.outside);
      progress(`synthesizing ${options.named ? `${name} of ` : ""}${options.base}`);
      const base = await synthesizeBase(baseTree, options.base, configDir, join(scratch, `base-${i}`), options.outside);
      const result = compare(base.stacks, head, { masker });
      changed ||= result.changed;
      const input: RenderInput = { result, base: options.base, baseCommit, notes: base.notes };
      if (options.format === "text") {
        const text = renderText(input);
        blocks.push(options.named ? `== cluster ${name} ==\n${text}` : text);
      } else {
        // One marker for the sticky comment, and a share of its size for each cluster.
        const md = renderMarkdown(input, MAX_MARKDOWN_CHARS / options.configDirs.length);
        blocks.push(options.named ? `### Cluster \`${configDir}\`\n\n${md.slice(`${MARKER}\n`.length)}` : md);
      }
    }
    const output =
      options.named && options.format === "markdown" ? `${MARKER}\n${blocks.join("\n")}` : blocks.join("\n");
    process.stdout.write(masker.text(output));
    return changed ? 2 : 0;
  } finally {
    await runCleanups();
  }
}

if (require.main === module) {
  // A signal may come more than once (Ctrl-C reaches the whole process group, and tsx relays it again): the
  // first stops the running command, cleans up and exits; later ones are ignored so they cannot cut that short.
  let signalled = false;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      // Once cleaning up has begun, the running command is part of it: let it finish.
      void (cleaning ?? stopRunning().then(runCleanups)).finally(() => process.exit(128 + constants.signals[signal]));
    });
  }
  const masker = Masker.fromEnv(process.env);
  main(process.argv.slice(2), masker).then(
    (status) => (process.exitCode = status),
    (e: unknown) => {
      if (!(e instanceof DiffError)) throw e;
      if (signalled) return; // the command it reports was stopped by the signal
      process.stderr.write(`synth-diff: ${masker.text(e.message)}\n`);
      process.exitCode = 1;
    },
  );
}
