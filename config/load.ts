// Reads cluster.yaml, nodes.yaml and the optional workloads.yaml, validates them against the schema and the
// cross-field rules, and reports every problem at once with its file, line, column and key path.
import { lstatSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from "yaml";
import type { z } from "zod";
import { crossFieldIssues } from "./checks";
import { MAX_FILE_BYTES, readRegularFile } from "./files";

export { MAX_FILE_BYTES } from "./files";
import {
  credentialHint,
  hasUrlCredentials,
  IGNORED_CLUSTER_KEYS,
  IGNORED_NODE_KEYS,
  maskUrlCredentials,
  urlCredentialHint,
  withoutUrlCredentials,
} from "./foreign-keys";
import { hasTemplate, hasTokenMarker, isTokenNumber } from "./terraform-literal";
import {
  repositoryClusterDirs,
  repositoryClusterName,
  sharedWithOtherClusters,
  type RepositoryCluster,
} from "./clusters";
import { ConfigError, formatIssue, shorten, type ConfigFile, type ConfigIssue, type KeyPath } from "./issues";
import { clusterSchema, nodeSchema, nodesFileSchema, type ClusterConfig, type NodeConfig } from "./schema";
import { workloadsFileSchema, type WorkloadsConfig } from "./workloads";
import { envReferenceIssues } from "./env-references";
import { readOidcCaFile, readSshKeyFiles } from "./key-files";
import { workloadsIssues } from "./workloads-checks";

/** workloads.yaml after validation, with the public key files it names read. */
export interface Workloads {
  readonly config: WorkloadsConfig;
  /** Content of every `ssh_keys: [{file}]` entry, by the path as written. */
  readonly sshKeyFiles: ReadonlyMap<string, string>;
}

export interface ClusterDefinition {
  /** Strings as the user wrote them: they become engine literals at the gate into cdktf (config/terraform-literal.ts). */
  readonly cluster: ClusterConfig;
  readonly nodes: readonly NodeConfig[];
  /** Present when workloads.yaml exists. */
  readonly workloads?: Workloads;
  /** The PEM of cluster_api_oidc.ca_file, when it names one. */
  readonly oidcCaPem?: string;
  /** Warnings (ignored keys, even number of controllers); errors are thrown as ConfigError. */
  readonly warnings: readonly ConfigIssue[];
}

export interface ConfigSources {
  readonly cluster: string;
  readonly nodes: string;
  /** Text of workloads.yaml; undefined when the file does not exist. */
  readonly workloads?: string;
}

/** Most mapping keys in one file: far above any real cluster, low enough to keep every check fast. */
export const MAX_KEYS = 10_000;

export function readConfigSources(dir: string): ConfigSources {
  const problems: ConfigIssue[] = [];
  // The folder's path reaches the engine (the state files' paths) through the gate, which escapes templates but
  // cannot hide cdktf's token markers.
  if (hasTokenMarker(resolve(dir)))
    throw new ConfigError(
      [
        {
          file: "cluster.yaml",
          path: [],
          message: `the config folder's path ${resolve(dir)} contains "TfToken[", the marker of cdktf's references; rename the folder`,
          severity: "error",
        },
      ],
      dir,
    );
  const read = (file: ConfigFile) => {
    const path = join(dir, file);
    try {
      return readRegularFile(path);
    } catch (e) {
      problems.push({ file, path: [], message: `cannot read ${path}: ${(e as Error).message}`, severity: "error" });
      return "";
    }
  };
  // lstat, not exists: a workloads.yaml that is a link to nothing, or a loop, is an error, never "no workloads"
  // (the next apply would destroy every guest).
  const workloads = entryExists(join(dir, "workloads.yaml")) ? read("workloads.yaml") : undefined;
  const sources = { cluster: read("cluster.yaml"), nodes: read("nodes.yaml"), workloads };
  if (problems.length) throw new ConfigError(problems, dir);
  return sources;
}

function entryExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

/**
 * Loads `<dir>/cluster.yaml`, `<dir>/nodes.yaml` and `<dir>/workloads.yaml` if present; throws ConfigError listing
 * every problem. In a repository of several clusters (clusters/<name>/), it also refuses whatever this cluster would
 * share with another of them (config/clusters.ts); a cluster whose config does not load is left to its own runs.
 */
export function loadConfig(dir: string): ClusterDefinition {
  const sources = readConfigSources(dir);
  const definition = parseConfig(sources, dir);
  const [, ...others] = repositoryClusterDirs(dir);
  if (others.length === 0) return definition;
  const loaded: RepositoryCluster[] = [];
  for (const other of others) {
    try {
      const otherSources = readConfigSources(other);
      loaded.push(repositoryCluster(other, otherSources, parseConfig(otherSources, other).cluster));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  }
  const file = new YamlFile("cluster.yaml", sources.cluster);
  const shared = sharedWithOtherClusters(repositoryCluster(dir, sources, definition.cluster), loaded).map((issue) =>
    file.locate(issue, true),
  );
  shared.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (shared.length) throw new ConfigError([...shared, ...definition.warnings], dir);
  return definition;
}

function repositoryCluster(dir: string, sources: ConfigSources, cluster: ClusterConfig): RepositoryCluster {
  const file = new YamlFile("cluster.yaml", sources.cluster);
  return {
    name: repositoryClusterName(dir),
    dir,
    cluster,
    where: (path) => formatIssue(file.locate(clusterIssue(path), true), dir).slice(0, -": ".length),
  };
}

function clusterIssue(path: KeyPath): ConfigIssue {
  return { file: "cluster.yaml", path, message: "", severity: "error" };
}

/**
 * Validates the text of the files; throws ConfigError listing every problem. Public key files named in
 * workloads.yaml are read relative to `dir` (default: the working directory).
 */
export function parseConfig(sources: ConfigSources, dir?: string): ClusterDefinition {
  const clusterFile = new YamlFile("cluster.yaml", sources.cluster);
  const nodesFile = new YamlFile("nodes.yaml", sources.nodes);

  const cluster = clusterFile.validate(clusterSchema, (raw) =>
    stripForeignKeys(clusterFile, raw, [], IGNORED_CLUSTER_KEYS),
  );
  const nodesDoc = nodesFile.validate(nodesFileSchema, (raw) => {
    stripForeignKeys(nodesFile, raw, [], new Set(), false);
    const nodes = isRecord(raw) && Array.isArray(raw.nodes) ? raw.nodes : [];
    nodes.forEach((node, i) => stripForeignKeys(nodesFile, node, ["nodes", i], IGNORED_NODE_KEYS));
  });

  const workloadsFile = sources.workloads === undefined ? undefined : new YamlFile("workloads.yaml", sources.workloads);
  const workloadsDoc = workloadsFile?.validate(workloadsFileSchema, (raw) =>
    stripForeignKeys(workloadsFile, raw, [], new Set(), true, true),
  );

  const files = { "cluster.yaml": clusterFile, "nodes.yaml": nodesFile, "workloads.yaml": workloadsFile };
  const issues = [...clusterFile.issues, ...nodesFile.issues, ...(workloadsFile?.issues ?? [])];
  // Cross-field rules also run over the keys and entries that are valid on their own, so one run reports
  // everything.
  const nodes = nodesDoc?.nodes ?? nodesFile.validEntries("nodes", nodeSchema);
  const clusterKeys = cluster ?? clusterFile.validKeys(clusterSchema);
  const crossIssues = crossFieldIssues(clusterKeys, nodes);
  crossIssues.push(...envReferenceIssues(clusterKeys, workloadsDoc));
  const oidcCa = readOidcCaFile(clusterKeys, dir ?? ".");
  crossIssues.push(...oidcCa.issues);
  let sshKeyFiles: ReadonlyMap<string, string> = new Map();
  if (workloadsDoc) {
    crossIssues.push(...workloadsIssues(cluster, nodes, workloadsDoc));
    const keys = readSshKeyFiles(workloadsDoc, dir ?? ".");
    crossIssues.push(...keys.issues);
    sshKeyFiles = keys.contents;
  }
  for (const issue of crossIssues) issues.push(files[issue.file]!.locate(issue));
  issues.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  if (!cluster || !nodesDoc || (workloadsFile && !workloadsDoc) || issues.some((i) => i.severity === "error"))
    throw new ConfigError(issues, dir);
  const workloads = workloadsDoc && { config: workloadsDoc, sshKeyFiles };
  return {
    cluster,
    nodes: nodesDoc.nodes,
    ...(workloads && { workloads }),
    ...(oidcCa.pem !== undefined && { oidcCaPem: oidcCa.pem }),
    warnings: issues,
  };
}

/** Explicit tags that only say what the value already is (!!str "5"). */
const CORE_TAGS: ReadonlySet<string> = new Set(
  ["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`),
);

/** One YAML file: its parsed document, positions, and the issues found in it. */
class YamlFile {
  readonly issues: ConfigIssue[] = [];
  /** Paths of values with a template where none may be: refused unless the schema refuses them first. */
  readonly templates: KeyPath[] = [];
  /** Paths of values holding a NUL (a quoted escape makes one; the raw text has none): refused likewise. */
  readonly nuls: KeyPath[] = [];
  private readonly lines = new LineCounter();
  private readonly doc: Document.Parsed;
  /** The document as plain data, foreign keys removed; set by validate(). */
  private prepared?: Record<string, unknown>;

  constructor(
    readonly file: ConfigFile,
    text: string,
  ) {
    if (text.length > MAX_FILE_BYTES) {
      this.doc = parseDocument("");
      this.issues.push({
        file,
        path: [],
        message: `larger than ${MAX_FILE_BYTES} bytes; a cluster's configuration is a few KiB`,
        severity: "error",
      });
      return;
    }
    // yaml's own uniqueKeys check is quadratic in the number of keys; duplicates are found below instead.
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: false });
    for (const e of this.doc.errors) {
      const { line, col } = this.lines.linePos(e.pos[0]);
      this.issues.push({
        file,
        path: [],
        message: `YAML syntax: ${shorten(e.message.split("\n")[0], 200)}`,
        severity: "error",
        line,
        col,
      });
    }
    const nul = text.indexOf("\0");
    if (nul >= 0)
      this.issues.push({
        file,
        path: [],
        message: "a NUL character; not a text file",
        severity: "error",
        ...this.positionOf(nul),
      });
    let keys = 0;
    visit(this.doc, {
      Scalar: (_, node) => this.refuseTag(node),
      Seq: (_, node) => this.refuseTag(node),
      Map: (_, map) => {
        this.refuseTag(map);
        keys += map.items.length;
        if (keys > MAX_KEYS) {
          this.issues.push({
            file,
            path: [],
            message: `more than ${MAX_KEYS} keys; a cluster's configuration has a few hundred at most`,
            severity: "error",
            line: 1,
            col: 1,
          });
          return visit.BREAK;
        }
        const seen = new Set<unknown>();
        for (const pair of map.items) {
          const key = isScalar(pair.key) ? pair.key.value : pair.key;
          if (!seen.has(key)) seen.add(key);
          else
            this.issues.push({
              file,
              path: [],
              message: "YAML syntax: Map keys must be unique",
              severity: "error",
              ...this.positionOf((pair.key as Node).range?.[0] ?? 0),
            });
        }
        return undefined;
      },
    });
  }

  /**
   * Tags select a constructor (!!js/function) or promise an evaluation (!ENV) that never happens: a value is
   * written plainly, and quoted to be a string.
   */
  private refuseTag(node: Node): void {
    if (node.tag && !CORE_TAGS.has(node.tag))
      this.issues.push({
        file: this.file,
        path: [],
        message: `the YAML tag ${shorten(node.tag)} is not supported: write the value plainly (quoted to make it a string)`,
        severity: "error",
        ...this.positionOf(node.range?.[0] ?? 0),
      });
  }

  /** The entries of a top-level list that pass the schema on their own (undefined for the others). */
  validEntries<S extends z.ZodType>(key: string, schema: S): (z.output<S> | undefined)[] {
    const list = this.prepared?.[key];
    if (!Array.isArray(list)) return [];
    return list.map((entry) => {
      const result = schema.safeParse(entry);
      return result.success ? result.data : undefined;
    });
  }

  /** The top-level keys that pass the schema on their own, defaults applied (none when the file is unreadable). */
  validKeys<S extends z.ZodObject>(schema: S): Partial<z.output<S>> {
    const raw = this.prepared;
    if (!raw) return {};
    const valid: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      const result = field.safeParse(Object.hasOwn(raw, key) ? raw[key] : undefined);
      if (result.success && result.data !== undefined) valid[key] = result.data;
    }
    return valid as Partial<z.output<S>>;
  }

  /** Runs the schema on the document; undefined when the file has errors. */
  validate<S extends z.ZodType>(schema: S, prepare: (raw: unknown) => void): z.output<S> | undefined {
    if (this.issues.length > 0) return undefined;
    let raw: unknown;
    try {
      raw = this.doc.toJS({ maxAliasCount: 1000 }) ?? {};
    } catch (e) {
      // Unresolvable or runaway aliases: yaml throws instead of reporting.
      this.issues.push({
        ...this.positionOf(firstAlias(this.doc)),
        file: this.file,
        path: [],
        message: `YAML aliases: ${(e as Error).message}`,
        severity: "error",
      });
      return undefined;
    }
    if (!isRecord(raw)) {
      this.add({ path: [], message: "expected a mapping of keys to values at the top level" });
      return undefined;
    }
    stripUnsafeStrings(this, raw, []);
    prepare(raw);
    this.prepared = raw;
    const result = schema.safeParse(raw);
    if (!result.success) for (const issue of result.error.issues) this.addZodIssue(issue, raw);
    // Names, hosts, storages, URLs, paths: a template there is a mistake (or an attack), not a literal.
    const reported = new Set(this.issues.map((i) => JSON.stringify(i.path)));
    for (const path of this.templates)
      if (!reported.has(JSON.stringify(path)))
        this.add({
          path,
          message:
            'contains "${" or "%{": OpenTofu templates are not evaluated in this file, and this key takes no literal one',
        });
    for (const path of this.nuls)
      if (!this.issues.some((i) => JSON.stringify(i.path) === JSON.stringify(path)))
        this.add({ path, message: 'a NUL character (written as an escape such as "\\0"): no value can hold one' });
    if (result.success) return this.issues.some((i) => i.severity === "error") ? undefined : result.data;
    return undefined;
  }

  add(issue: { path: KeyPath; message: string; severity?: ConfigIssue["severity"] }, atKey = false): void {
    this.issues.push(this.locate({ file: this.file, severity: "error", ...issue }, atKey));
  }

  /** Fills in line and column: the value at the path, its key (atKey), or the nearest parent that exists. */
  locate(issue: ConfigIssue, atKey = false): ConfigIssue {
    let node: Node | null | undefined = this.doc.contents;
    let offset = node?.range?.[0] ?? 0;
    for (let i = 0; i < issue.path.length && node; i++) {
      const segment = issue.path[i];
      if (isMap(node)) {
        const pair = pairsOf(node).get(String(segment));
        if (!pair) break;
        const key = pair.key as Node;
        const isLast = i === issue.path.length - 1;
        offset =
          (atKey && isLast) || !pair.value ? (key.range?.[0] ?? offset) : ((pair.value as Node).range?.[0] ?? offset);
        node = pair.value as Node | null;
      } else if (isSeq(node) && typeof segment === "number" && node.items[segment]) {
        node = node.items[segment] as Node;
        offset = node.range?.[0] ?? offset;
      } else break;
    }
    return { ...issue, ...this.positionOf(offset) };
  }

  private positionOf(offset: number): { line: number; col: number } {
    return this.lines.linePos(offset);
  }

  private addZodIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): void {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    if (issue.code === "unrecognized_keys") {
      const known = knownKeysAt(path, this.file);
      for (const key of issue.keys) {
        const suggestion = closest(key, known);
        this.add(
          { path: [...path, key], message: `unknown key${suggestion ? `; did you mean "${suggestion}"?` : ""}` },
          true,
        );
      }
      return;
    }
    // A union without a message of its own (a number also written as digits) reports "Invalid input": say what
    // its first variant expects.
    if (issue.code === "invalid_union" && issue.message === "Invalid input" && issue.errors[0]?.[0])
      issue = { ...issue.errors[0][0], path: issue.path } as z.core.$ZodIssue;
    if (issue.code === "invalid_key") {
      // A record key that fails its schema: report the key's own message, at the key.
      const key = path[path.length - 1];
      this.add({ path, message: `${issue.issues[0]?.message ?? issue.message}, got ${JSON.stringify(key)}` }, true);
      return;
    }
    const value = valueAt(raw, path);
    if (value === undefined && issue.code === "invalid_type") {
      this.add({ path, message: `required key is missing (${issue.expected})` });
      return;
    }
    const message = issue.message.replace(/^Invalid input: /, "");
    this.add({ path, message: `${message}, got ${shown(value)}` });
  }
}

/** Keys of workloads.yaml whose text is prose shown in Proxmox, where "${" is a literal like any other text. */
const FREE_TEXT: ReadonlySet<string> = new Set(["description", "reason"]);

/**
 * Reports credentials in URLs and cdktf token markers anywhere in the document and removes them (so the rest is
 * still validated), recursing into mappings and lists.
 */
function stripUnsafeStrings(file: YamlFile, raw: unknown, path: KeyPath): void {
  if (!raw || typeof raw !== "object") return;
  const record = raw as Record<string | number, unknown>;
  for (const key of Object.keys(record).map((k) => (Array.isArray(raw) ? Number(k) : k))) {
    const value = record[key];
    // yaml keeps "__proto__" as data; a schema's map (labels, hosts, ranges) would drop it without a word (a
    // strict object reports it as an unknown key itself).
    const inMap = !Array.isArray(raw) && knownKeysAt(path, file.file).length === 0;
    if (typeof key === "string" && ((key === "__proto__" && inMap) || hasTokenMarker(key))) {
      file.add(
        {
          path: [...path, key],
          message:
            key === "__proto__"
              ? 'a key named "__proto__" is refused: it names no host, label or range'
              : 'a key with "TfToken[" in it, the marker of cdktf\'s references, which no configuration key may have',
        },
        true,
      );
      delete record[key];
      continue;
    }
    if (typeof value === "string" && value.includes("\0")) file.nuls.push([...path, key]);
    if (typeof value === "string" && hasUrlCredentials(value)) {
      const named = [...path, key].findLast((p): p is string => typeof p === "string") ?? "";
      file.add({
        path: [...path, key],
        message: `a URL with a user name or password in it; remove "user:password@" and ${urlCredentialHint(named)}`,
      });
      Object.defineProperty(record, key, {
        value: withoutUrlCredentials(value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else if (typeof value === "string" && hasTokenMarker(value)) {
      file.add({
        path: [...path, key],
        message: 'contains "TfToken[", the marker of cdktf\'s references, which no configuration value may',
      });
      Object.defineProperty(record, key, {
        value: value.replaceAll("TfToken[", "TfToken("),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else if (typeof value === "number" && isTokenNumber(value)) {
      file.add({ path: [...path, key], message: "a number in the range cdktf reserves for its references" });
      Object.defineProperty(record, key, { value: 0, enumerable: true, writable: true, configurable: true });
    } else if (
      typeof value === "string" &&
      file.file === "workloads.yaml" &&
      hasTemplate(value) &&
      !FREE_TEXT.has(String(key))
    ) {
      file.templates.push([...path, key]);
    } else {
      stripUnsafeStrings(file, value, [...path, key]);
    }
  }
}

/**
 * Reports and removes credential-like keys and ignored cluster-template keys (recursing into mappings, and
 * into lists with `intoLists`).
 */
function stripForeignKeys(
  file: YamlFile,
  raw: unknown,
  path: KeyPath,
  ignored: ReadonlySet<string>,
  recurse = true,
  intoLists = false,
): void {
  if (intoLists && Array.isArray(raw)) {
    raw.forEach((item, i) => stripForeignKeys(file, item, [...path, i], new Set(), true, true));
    return;
  }
  if (!isRecord(raw)) return;
  const known = new Set(knownKeysAt(path, file.file));
  for (const key of Object.keys(raw)) {
    const hint = known.has(key) ? undefined : credentialHint(key, file.file);
    if (hint) {
      file.add({ path: [...path, key], message: `looks like a credential; ${hint}` }, true);
      delete raw[key];
    } else if (ignored.has(key)) {
      file.add(
        {
          path: [...path, key],
          message: "is a cluster-template key this project does not use; ignored",
          severity: "warning",
        },
        true,
      );
      delete raw[key];
    } else if (recurse && (isRecord(raw[key]) || (intoLists && Array.isArray(raw[key])))) {
      stripForeignKeys(file, raw[key], [...path, key], new Set(), true, intoLists);
    }
  }
}

const pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

/** A mapping's pairs by key, built once per mapping so that locating n issues stays linear. */
function pairsOf(map: YAMLMap): Map<string, Pair> {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items)
      if (isPair(p) && isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
    pairIndex.set(map, index);
  }
  return index;
}

/** A value as shown after "got": short, and with any credentials in a URL masked. */
function shown(value: unknown): string {
  const text =
    typeof value === "number" || value === undefined ? String(value) : (JSON.stringify(value) ?? String(value));
  return shorten(maskUrlCredentials(text));
}

function firstAlias(doc: Document.Parsed): number {
  let offset = 0;
  visit(doc, {
    Alias(_, node) {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function valueAt(raw: unknown, path: KeyPath): unknown {
  let value = raw;
  for (const segment of path) value = (value as Record<string | number, unknown> | undefined)?.[segment];
  return value;
}

/** The keys a schema object accepts at a path, for "did you mean" hints. */
function knownKeysAt(path: KeyPath, file: ConfigFile): string[] {
  let schema: z.ZodType = {
    "cluster.yaml": clusterSchema,
    "nodes.yaml": nodesFileSchema,
    "workloads.yaml": workloadsFileSchema,
  }[file];
  for (const segment of path) schema = childSchema(schema, segment) ?? schema;
  const shape = (unwrap(schema) as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema as z.ZodType & { unwrap?: () => z.ZodType; def: { innerType?: z.ZodType } };
  while (s.def.innerType) s = s.def.innerType as typeof s;
  return s;
}

function childSchema(schema: z.ZodType, segment: string | number): z.ZodType | undefined {
  const s = unwrap(schema) as z.ZodType & { shape?: Record<string, z.ZodType>; def: { element?: z.ZodType } };
  if (typeof segment === "number") return s.def.element;
  // Own keys only: a key named "constructor" or "__proto__" must not find Object.prototype's members.
  return s.shape && Object.hasOwn(s.shape, segment) ? s.shape[segment] : undefined;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    // The distance is at least the difference in length: skip the quadratic work for hopeless candidates.
    if (Math.abs(word.length - candidate.length) >= bestDistance) continue;
    const d = levenshtein(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
