// Several clusters in one repository (config/clusters.ts): loading one cluster of clusters/<name>/ refuses whatever it
// would share with another cluster of the repository (a state, the credentials folder, the Proxmox CSI user), at the
// key of its cluster.yaml, naming the other's file:line:key. Repositories are laid out in temporary folders from the
// tests' fixture, never the root example.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../config";
import { ClusterNameError, clusterFolder, clusterNames } from "../config/clusters";
import { exampleSources } from "./support/synth";

const work = mkdtempSync(join(tmpdir(), "clusters-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let repos = 0;
/** A repository with clusters/<name>/ for each entry (cluster.yaml keys over the fixture's); "." is the root's. */
function repository(clusters: Record<string, Record<string, unknown>>): string {
  const repo = join(work, `repo-${repos++}`);
  for (const [name, cluster] of Object.entries(clusters)) {
    const dir = name === "." ? repo : join(repo, "clusters", name);
    mkdirSync(dir, { recursive: true });
    const sources = exampleSources({
      cluster: { proxmox_csi_enabled: false, cluster_name: name === "." ? "root" : name, ...cluster },
    });
    writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
    writeFileSync(join(dir, "nodes.yaml"), sources.nodes);
  }
  return repo;
}

/** The error lines of loading a folder, [] when it loads. */
function refusals(dir: string): string[] {
  try {
    loadConfig(dir);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.message
      .split("\n")
      .slice(1)
      .map((l) => l.trim());
  }
}

/** The line of `key:` in a cluster's cluster.yaml. */
function lineOf(repo: string, name: string, key: string): number {
  const text = readFileSync(join(repo, "clusters", name, "cluster.yaml"), "utf8");
  return text.split("\n").findIndex((l) => l.trimStart().startsWith(`${key}:`)) + 1;
}

const s3 = (extra: Record<string, unknown> = {}) => ({ type: "s3", bucket: "tfstate", ...extra });

describe("clusters of one repository keep their own states", () => {
  it("clusters with their own names are apart on every backend's defaults, local state and credentials included", () => {
    const repo = repository({
      prod: { state_backend: s3() },
      staging: { state_backend: s3() },
      lab: { state_backend: { type: "pg" } },
      dev: { state_backend: { type: "pg" } },
      home: {},
      "home-2": {},
    });
    for (const name of clusterNames(repo)) expect(refusals(join(repo, "clusters", name)), name).toEqual([]);
  });

  it("s3: the same key in one bucket is refused in both clusters, at the key given or at state_backend", () => {
    const repo = repository({
      prod: { state_backend: s3() },
      copy: { state_backend: s3({ key: "prod/{layer}.tfstate", endpoint: "http://127.0.0.1:9000" }) },
    });
    const prod = join(repo, "clusters", "prod");
    const copy = join(repo, "clusters", "copy");
    expect(refusals(copy)).toEqual([
      `${copy}/cluster.yaml:${lineOf(repo, "copy", "key")}:3 state_backend.key: the state s3://tfstate/prod/00-persistent-auth.tfstate is also clusters/prod's (${prod}/cluster.yaml:${lineOf(repo, "prod", "state_backend")}:1 state_backend): two clusters of one repository never share it; give each cluster its own state_backend.key (by default <cluster_name>/{layer}.tfstate: a cluster_name of its own is enough)`,
    ]);
    expect(refusals(prod)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${prod}/cluster\\.yaml:\\d+:1 state_backend: the state s3://tfstate/prod/00-persistent-auth\\.tfstate is also clusters/copy's \\(${copy}/cluster\\.yaml:\\d+:3 state_backend\\.key\\)`,
        ),
      ),
    ]);
  });

  it("s3: objects, not folders: a cluster's state that is another's lock file is refused in both", () => {
    const repo = repository({
      a: { state_backend: s3({ key: "x/{layer}.tfstate" }) },
      b: { state_backend: s3({ key: "x/00-persistent-auth.tfstate/{layer}" }) },
    });
    expect(refusals(join(repo, "clusters", "a"))).toEqual([]);
    const locked = repository({
      a: { state_backend: s3({ key: "{layer}.tfstate" }) },
      c: { state_backend: s3({ key: "{layer}.tfstate.tflock" }) },
    });
    expect(refusals(join(locked, "clusters", "a"))).toEqual([
      expect.stringContaining(
        "state_backend.key: the lock file s3://tfstate/00-persistent-auth.tfstate.tflock is also clusters/c's",
      ),
    ]);
    expect(refusals(join(locked, "clusters", "c"))).toEqual([
      expect.stringContaining(
        "state_backend.key: the state s3://tfstate/00-persistent-auth.tfstate.tflock is also clusters/a's",
      ),
    ]);
  });

  it("pg: a schema_name that is another cluster's default schema is refused", () => {
    const repo = repository({
      "prod-1": { state_backend: { type: "pg" } },
      b: { state_backend: { type: "pg", schema_name: "prod_1" } },
    });
    expect(refusals(join(repo, "clusters", "b"))).toEqual([
      expect.stringMatching(
        /cluster\.yaml:\d+:\d+ state_backend\.schema_name: the PostgreSQL schema prod_1 is also clusters\/prod-1's \(.*\/clusters\/prod-1\/cluster\.yaml:\d+:1 state_backend\): .*give each cluster its own state_backend\.schema_name/,
      ),
    ]);
  });

  it("http: another cluster's lock address that is this one's state address is refused", () => {
    const repo = repository({
      a: { state_backend: { type: "http", address: "https://state.example.com/a/{layer}" } },
      b: {
        state_backend: {
          type: "http",
          address: "https://state.example.com/b/{layer}",
          lock_address: "https://STATE.example.com:443/a/{layer}",
        },
      },
    });
    expect(refusals(join(repo, "clusters", "a"))).toEqual([
      expect.stringMatching(
        /cluster\.yaml:\d+:3 state_backend\.address: the HTTP address https:\/\/state\.example\.com\/a\/00-persistent-auth is also clusters\/b's \(.*cluster\.yaml:\d+:\d+ state_backend\.lock_address\)/,
      ),
    ]);
  });

  it("previous_state_backend: moving from where another cluster keeps its state is refused", () => {
    const repo = repository({
      a: { state_backend: s3() },
      b: { state_backend: { type: "pg" }, previous_state_backend: s3({ key: "a/{layer}.tfstate" }) },
    });
    expect(refusals(join(repo, "clusters", "b"))).toEqual([
      expect.stringContaining(
        "previous_state_backend.key: the state s3://tfstate/a/00-persistent-auth.tfstate is also clusters/a's",
      ),
    ]);
  });

  it("a cluster folder, or its state/ or credentials/, linked to another cluster's is refused", () => {
    const repo = repository({ a: {}, b: {} });
    symlinkSync(join(repo, "clusters", "a"), join(repo, "clusters", "c"));
    expect(refusals(join(repo, "clusters", "c"))).toEqual([
      expect.stringMatching(/state_backend: the local state folder .*\/clusters\/c\/state\/ is also clusters\/a's/),
      expect.stringMatching(
        /\(top level\): the credentials folder .*\/clusters\/c\/credentials\/ \(kubeconfig, talosconfig\) is also clusters\/a's .*make it a folder of its own$/,
      ),
    ]);
    rmSync(join(repo, "clusters", "c"));

    mkdirSync(join(repo, "clusters", "a", "state"));
    symlinkSync(join(repo, "clusters", "a", "state"), join(repo, "clusters", "b", "state"));
    mkdirSync(join(repo, "clusters", "a", "credentials"));
    symlinkSync(join("..", "a", "credentials"), join(repo, "clusters", "b", "credentials"));
    expect(refusals(join(repo, "clusters", "b"))).toEqual([
      expect.stringMatching(/state_backend: the local state folder .*\/clusters\/b\/state\/ is also clusters\/a's/),
      expect.stringMatching(
        /\(top level\): the credentials folder .*\/clusters\/b\/credentials\/ \(kubeconfig, talosconfig\) is also clusters\/a's .*make it a folder of its own$/,
      ),
    ]);
  });

  it("the repository's own cluster.yaml is one of its clusters", () => {
    const repo = repository({ ".": { cluster_name: "prod", state_backend: s3() }, prod: { state_backend: s3() } });
    expect(refusals(repo)).toEqual([
      expect.stringContaining(
        "state_backend: the state s3://tfstate/prod/00-persistent-auth.tfstate is also clusters/prod's",
      ),
    ]);
    expect(refusals(join(repo, "clusters", "prod"))).toEqual([expect.stringContaining("is also .'s")]);
  });

  it("one Proxmox, one name: the CSI user layer 00 keeps would be shared; on another Proxmox it is not", () => {
    const csi = { proxmox_csi_enabled: true, cluster_name: "k8s" };
    const repo = repository({
      a: { ...csi, state_backend: s3({ key: "a/{layer}" }) },
      b: { ...csi, state_backend: s3({ key: "b/{layer}" }) },
    });
    expect(refusals(join(repo, "clusters", "b"))).toEqual([
      expect.stringMatching(
        /cluster_name: the Proxmox CSI user k8s-csi@pve \(and its role and token\) on https:\/\/pve\.home\.arpa:8006\/ is also clusters\/a's/,
      ),
    ]);
    const apart = repository({
      a: { ...csi, state_backend: s3({ key: "a/{layer}" }) },
      b: { ...csi, proxmox_api_url: "https://pve2.home.arpa:8006/", state_backend: s3({ key: "b/{layer}" }) },
    });
    expect(refusals(join(apart, "clusters", "b"))).toEqual([]);
  });

  it("a cluster whose config does not load is left to its own runs; outside a repository of clusters nothing is compared", () => {
    const repo = repository({ a: { state_backend: s3() }, b: { state_backend: s3({ key: "a/{layer}.tfstate" }) } });
    writeFileSync(join(repo, "clusters", "b", "nodes.yaml"), "nodes: 3\n");
    expect(refusals(join(repo, "clusters", "a"))).toEqual([]);
    expect(refusals(join(repo, "clusters", "b"))[0]).toMatch(/nodes\.yaml.*nodes/);
    // The single-folder layout: the root's cluster.yaml alone.
    const single = repository({ ".": { state_backend: s3() } });
    expect(refusals(single)).toEqual([]);
  });
});

describe("--cluster=<name> selects a folder of clusters/ and nothing else", () => {
  const repo = repository({ prod: {}, staging: {} });
  const refused = (name: string) => {
    try {
      clusterFolder(repo, name);
    } catch (e) {
      if (e instanceof ClusterNameError) return e.message;
      throw e;
    }
    return undefined;
  };

  it("a name of clusters/ is its folder; an unknown one is refused naming the clusters there are", () => {
    expect(clusterFolder(repo, "prod")).toBe(join(repo, "clusters", "prod"));
    expect(refused("dev")).toBe("--cluster=dev: there is no clusters/dev/cluster.yaml (clusters: prod, staging)");
    expect(refused("../prod")).toMatch(/^--cluster=\.\.\/prod: expected the name of a folder in clusters\//);
    expect(refused("")).toMatch(/expected the name of a folder/);
  });

  it("a folder of clusters/ linked outside the repository is refused", () => {
    const outside = repository({ ".": {} });
    symlinkSync(outside, join(repo, "clusters", "elsewhere"));
    expect(refused("elsewhere")).toBe(
      `--cluster=elsewhere: clusters/elsewhere leads outside the repository (to ${outside}); make it a folder of its own`,
    );
    expect(clusterNames(repo)).toEqual(["elsewhere", "prod", "staging"]);
  });
});
