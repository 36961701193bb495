// Several clusters in one repository: clusters/<name>/ each hold a cluster.yaml and nodes.yaml (and workloads.yaml),
// beside the repository's own cluster.yaml, if it keeps one. Which folder a name selects, and what two clusters of
// one repository must never share: a state (of state_backend or previous_state_backend), the credentials/ folder
// layer 01 writes, the Proxmox CSI user layer 00 keeps.
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { CLUSTERS_DIR, CREDENTIALS_DIR, LAYERS } from "../layers/catalog";
import { formatPath, type ConfigIssue, type KeyPath } from "./issues";
import { resolveStateBackend } from "./resolve";
import type { ClusterConfig, StateBackendConfig } from "./schema";

/** A folder name under clusters/: a DNS label, so never a path. */
export const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A cluster name that selects no folder; the message names the clusters there are. */
export class ClusterNameError extends Error {}

/** The folders of <repo>/clusters/ holding a cluster.yaml, sorted; none without clusters/. */
export function clusterNames(repo: string): string[] {
  const dir = join(repo, CLUSTERS_DIR);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.filter((name) => existsSync(join(dir, name, "cluster.yaml"))).sort();
}

/** The config folder `--cluster=<name>` selects: <repo>/clusters/<name>, holding a cluster.yaml, in the repository. */
export function clusterFolder(repo: string, name: string): string {
  if (!CLUSTER_NAME.test(name))
    throw new ClusterNameError(
      `--cluster=${name}: expected the name of a folder in ${CLUSTERS_DIR}/ (lower-case letters, digits, '-')`,
    );
  const dir = join(repo, CLUSTERS_DIR, name);
  if (!existsSync(join(dir, "cluster.yaml"))) {
    const known = clusterNames(repo);
    throw new ClusterNameError(
      `--cluster=${name}: there is no ${CLUSTERS_DIR}/${name}/cluster.yaml (${known.length ? `clusters: ${known.join(", ")}` : `no folder of ${CLUSTERS_DIR}/ has a cluster.yaml`})`,
    );
  }
  // A link may lead anywhere: what a name selects stays in the repository.
  const real = realpathSync(dir);
  if (!real.startsWith(`${realpathSync(repo)}${sep}`))
    throw new ClusterNameError(
      `--cluster=${name}: ${CLUSTERS_DIR}/${name} leads outside the repository (to ${real}); make it a folder of its own`,
    );
  return dir;
}

/** One cluster of a repository, loaded. */
export interface RepositoryCluster {
  /** "clusters/<name>", or "." for the repository's own cluster.yaml. */
  readonly name: string;
  readonly dir: string;
  readonly cluster: ClusterConfig;
  /** Where a key of its cluster.yaml is written: "<dir>/cluster.yaml:<line>:<col> <key>". */
  where(path: KeyPath): string;
}

/**
 * The config folders of the repository `dir` belongs to, `dir` first: when it is clusters/<name>, the other folders
 * of clusters/ and the repository's own cluster.yaml; when it holds a clusters/ folder, those. Only `dir` when it
 * is alone.
 */
export function repositoryClusterDirs(dir: string): string[] {
  const own = resolve(dir);
  const top = basename(dirname(own)) === CLUSTERS_DIR ? dirname(dirname(own)) : own;
  const all = [top, ...clusterNames(top).map((name) => join(top, CLUSTERS_DIR, name))].filter(
    (d) => d !== own && existsSync(join(d, "cluster.yaml")),
  );
  return [own, ...all];
}

/** The name of a config folder in its repository (see RepositoryCluster.name). */
export function repositoryClusterName(dir: string): string {
  const own = resolve(dir);
  return basename(dirname(own)) === CLUSTERS_DIR ? `${CLUSTERS_DIR}/${basename(own)}` : ".";
}

/** Something a cluster keeps for itself; two clusters with one equal id would share it. */
interface Place {
  readonly id: string;
  /** What it is, for the message. */
  readonly shown: string;
  /** The key of cluster.yaml it follows from. */
  readonly path: KeyPath;
  /** How to give each cluster its own. */
  readonly hint: string;
}

/**
 * Everything `own` would share with another cluster of its repository, one issue per key of its cluster.yaml and
 * other cluster. Each state backend's places are what the engine addresses: a local state/ folder and credentials/
 * by their real path (a link to another cluster's folder shares them), every layer's object key and lock file in
 * an S3 bucket (whatever the endpoint: one store may be named two ways), a pg schema (the database comes from
 * PG_CONN_STR, one variable for every cluster), every layer's HTTP address, lock and unlock address.
 */
export function sharedWithOtherClusters(own: RepositoryCluster, others: readonly RepositoryCluster[]): ConfigIssue[] {
  const mine = places(own);
  const issues: ConfigIssue[] = [];
  for (const other of others) {
    const theirs = new Map(places(other).map((p) => [p.id, p]));
    // One issue per key of cluster.yaml, and per thing shared (an HTTP address may also be the lock address).
    const reported = new Set<string>();
    for (const place of mine) {
      const same = theirs.get(place.id);
      const key = formatPath(place.path);
      if (!same) continue;
      const fresh = !reported.has(key) && !reported.has(place.id);
      reported.add(key).add(place.id);
      if (!fresh) continue;
      issues.push({
        file: "cluster.yaml",
        path: place.path,
        severity: "error",
        message: `${place.shown} is also ${other.name}'s (${other.where(same.path)}): two clusters of one repository never share it; ${place.hint}`,
      });
    }
  }
  return issues;
}

function places(c: RepositoryCluster): Place[] {
  const result: Place[] = [
    ...statePlaces(c, "state_backend", c.cluster.state_backend),
    ...(c.cluster.previous_state_backend
      ? statePlaces(c, "previous_state_backend", c.cluster.previous_state_backend)
      : []),
    {
      id: `file:${realPath(join(c.dir, CREDENTIALS_DIR))}`,
      shown: `the credentials folder ${join(c.dir, CREDENTIALS_DIR)}/ (kubeconfig, talosconfig)`,
      path: [],
      hint: linkedFolderHint(c, CREDENTIALS_DIR),
    },
  ];
  if (c.cluster.proxmox_csi_enabled) {
    const user = `${c.cluster.cluster_name}-csi@pve`;
    result.push({
      id: `pve:${new URL(c.cluster.proxmox_api_url).host}/${user}`,
      shown: `the Proxmox CSI user ${user} (and its role and token) on ${c.cluster.proxmox_api_url}`,
      path: ["cluster_name"],
      hint: "give each cluster on one Proxmox its own cluster_name (the CSI user and role are named after it)",
    });
  }
  return result;
}

function statePlaces(c: RepositoryCluster, key: string, config: StateBackendConfig): Place[] {
  const backend = resolveStateBackend(c.cluster, config);
  const given = config as Record<string, unknown>;
  const at = (field: string): KeyPath => (given[field] === undefined ? [key] : [key, field]);
  const perLayer = (template: string) => LAYERS.map((layer) => template.replaceAll("{layer}", layer));
  switch (backend.type) {
    case "local": {
      const folder = join(c.dir, "state");
      return [
        {
          id: `file:${realPath(folder)}`,
          shown: `the local state folder ${folder}/`,
          path: [key],
          hint: linkedFolderHint(c, "state"),
        },
      ];
    }
    case "s3":
      return perLayer(backend.key).flatMap((object) =>
        [
          [object, "state"],
          [`${object}.tflock`, "lock file"],
        ].map(([name, what]) => ({
          id: `s3:${backend.bucket}/${name}`,
          shown: `the ${what} s3://${backend.bucket}/${name}`,
          path: at("key"),
          hint: `give each cluster its own ${key}.key (by default <cluster_name>/{layer}.tfstate: a cluster_name of its own is enough)`,
        })),
      );
    case "pg":
      return [
        {
          id: `pg:${backend.schema_name}`,
          shown: `the PostgreSQL schema ${backend.schema_name}`,
          path: at("schema_name"),
          hint: `give each cluster its own ${key}.schema_name (by default cluster_name with '-' as '_')`,
        },
      ];
    case "http":
      return (["address", "lock_address", "unlock_address"] as const).flatMap((field) =>
        perLayer(backend[field] ?? backend.address).map((url) => ({
          id: `http:${new URL(url).href}`,
          shown: `the HTTP ${field.replace("_", " ")} ${url}`,
          path: at(field),
          hint: `give each cluster its own ${key}.address (and lock_address, unlock_address)`,
        })),
      );
  }
}

function linkedFolderHint(c: RepositoryCluster, folder: string): string {
  return `each cluster keeps its own ${folder}/ beside its cluster.yaml; ${c.name} or its ${folder}/ is a link to another cluster's: make it a folder of its own`;
}

/** The real path of `path`, through the links of its nearest existing parent (it may not exist yet). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPath(parent), relative(parent, path));
  }
}
