import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadConfig, parseConfig, resolveCluster } from "../config";
import {
  DOCS_FILE,
  docsWithInventory,
  inventoryFolders,
  inventoryMarkdown,
  inventoryReport,
  inventoryRows,
} from "../scripts/inventory";
import { run } from "./support/run";
import { exampleSources, REPO } from "./support/synth";

describe("npm run inventory", () => {
  it("one row per Talos node, VM and container, by id, with zone, DNS name, sizing, HA and backups", () => {
    const rows = inventoryRows(resolveCluster(loadConfig(join(REPO, "examples/zoned-ha"))));
    expect(rows.map((r) => [r.id, r.name, r.kind, r.host, r.zone, r.dnsName, r.address, r.ha, r.backup])).toEqual([
      [
        "100",
        "firewall",
        "vm",
        "pve-a",
        "mgmt",
        "firewall.mgmt.internal",
        "10.10.10.2",
        "started, prefers pve-a > pve-b",
        "daily",
      ],
      ["101", "dns", "vm", "pve-b", "mgmt", "dns.mgmt.internal", "10.10.10.53", "started", "daily"],
      [
        "110",
        "nextcloud",
        "vm",
        "pve-a",
        "dmz",
        "nextcloud.dmz.internal",
        "10.10.50.10",
        "started, prefers pve-a",
        "daily",
      ],
      ["120", "mqtt", "lxc", "pve-b", "iot", "mqtt.iot.internal", "10.10.30.5", "started", "-"],
      ["200", "dev-box", "vm", "pve-b", "lan", "dev-box.lan.internal", "10.10.20.50", "-", "-"],
      ["240", "cp-a", "talos", "pve-a", "-", "-", "10.10.40.11", "yes", "-"],
      ["241", "cp-b", "talos", "pve-b", "-", "-", "10.10.40.12", "yes", "-"],
      ["242", "cp-c", "talos", "pve-c", "-", "-", "10.10.40.13", "-", "-"],
    ]);
  });

  it("a guest with several NICs: each NIC's zone, DNS name and address, net0 first", () => {
    const dir = join(REPO, "examples/zoned-ha");
    const workloads = parse(readFileSync(join(dir, "workloads.yaml"), "utf8"));
    workloads.zones.push({ name: "wan", vlan: 0, cidr: "192.168.0.0/24" });
    workloads.vms[0].extra_networks = [{ zone: "wan", address: "192.168.0.2" }, { bridge: "vmbr1" }];
    const config = parseConfig({
      cluster: readFileSync(join(dir, "cluster.yaml"), "utf8"),
      nodes: readFileSync(join(dir, "nodes.yaml"), "utf8"),
      workloads: stringify(workloads),
    });
    const firewall = inventoryRows(resolveCluster(config)).find((r) => r.name === "firewall");
    expect(firewall).toMatchObject({
      zone: "mgmt, wan, -",
      dnsName: "firewall.mgmt.internal, firewall.wan.internal, -",
      address: "10.10.10.2, 192.168.0.2, dhcp",
    });
  });

  it("sizes and privilege of containers, disks of clones", () => {
    const rows = Object.fromEntries(
      inventoryRows(resolveCluster(loadConfig(join(REPO, "examples/lxc-homelab")))).map((r) => [r.name, r]),
    );
    expect(rows.apps).toMatchObject({
      cores: 4,
      memory: 4096,
      disk: "32 GiB + 64 GiB",
      privileged: "no",
      backup: "nightly",
    });
    expect(rows.media).toMatchObject({ disk: "8 GiB + bind /tank/media", privileged: "yes", backup: "-" });
    expect(rows.haos).toMatchObject({ kind: "vm", disk: "64 GiB", privileged: "-", address: "dhcp" });
    expect(rows.k8s0).toMatchObject({ kind: "talos", cores: 2, memory: 4096, disk: "32 GiB" });
  });

  it("lists just the Talos nodes without workloads.yaml, nodes without a fixed id last", () => {
    const definition = resolveCluster(
      parseConfig(
        exampleSources({
          nodes: (nodes) => [...nodes, { name: "extra", address: "192.168.10.40", controller: false }],
        }),
      ),
    );
    const rows = inventoryRows(definition);
    expect(rows.map((r) => r.kind)).toEqual(rows.map(() => "talos"));
    expect(rows.at(-1)).toMatchObject({ id: "auto", name: "extra" });
    expect(inventoryMarkdown(definition).split("\n")[0]).toBe(
      "| id | name | kind | host | zone | DNS name | address | cores | memory (MiB) | disk | privileged | HA | backup |",
    );
  });

  it("the table in docs/workloads.md is up to date (npm run inventory -- --readme)", () => {
    expect(readFileSync(join(REPO, DOCS_FILE), "utf8")).toBe(docsWithInventory());
  });
});

describe("npm run inventory in a repository of several clusters", () => {
  const repo = mkdtempSync(join(tmpdir(), "inventory-clusters-"));
  afterAll(() => rmSync(repo, { recursive: true, force: true }));
  const write = (
    dir: string,
    cluster: Record<string, unknown>,
    nodes?: (n: Record<string, unknown>[]) => Record<string, unknown>[],
  ) => {
    mkdirSync(dir, { recursive: true });
    const sources = exampleSources({ cluster: { proxmox_csi_enabled: false, ...cluster }, nodes });
    writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
    writeFileSync(join(dir, "nodes.yaml"), sources.nodes);
  };
  write(join(repo, "clusters", "prod"), { cluster_name: "prod" });
  write(join(repo, "clusters", "staging"), { cluster_name: "staging" }, (nodes) => nodes.slice(0, 2));

  it("without a name, every cluster under its name; with --cluster, that one; a folder given, that one alone", () => {
    const all = inventoryReport(inventoryFolders([], {}, repo));
    expect(all.status).toBe(0);
    expect(all.stdout.match(/^## .*$/gm)).toEqual(["## Cluster clusters/prod", "## Cluster clusters/staging"]);
    const staging = all.stdout.split("## Cluster clusters/staging")[1];
    expect(staging.match(/\| talos \|/g)).toHaveLength(2);

    const one = inventoryReport(inventoryFolders(["--cluster", "staging"], {}, repo));
    expect(one.stdout.split("\n")[0]).toBe("## Cluster clusters/staging");
    expect(one.stdout).not.toContain("prod");

    const folder = join(repo, "clusters", "prod");
    expect(inventoryFolders([folder], {}, repo)).toEqual([{ dir: folder }]);
    expect(inventoryFolders([], { CONFIG_DIR: folder }, repo)).toEqual([{ dir: folder }]);
    expect(() => inventoryFolders(["--cluster=dev"], {}, repo)).toThrow(
      "--cluster=dev: there is no clusters/dev/cluster.yaml (clusters: prod, staging)",
    );
    expect(() => inventoryFolders(["--cluster=prod"], { CONFIG_DIR: folder }, repo)).toThrow(
      "a config folder (or CONFIG_DIR) and --cluster both name the config folder",
    );
    // The single-folder layout: no clusters/, the folder of the command.
    expect(inventoryFolders([], {}, join(repo, "clusters", "prod"))).toEqual([{ dir: "." }]);
  });

  it("a cluster sharing another's state is refused under its name; the others are still listed, exit 1", () => {
    const s3 = { type: "s3", bucket: "tfstate", key: "shared/{layer}.tfstate" };
    write(join(repo, "clusters", "copy"), { cluster_name: "copy", state_backend: s3 });
    write(join(repo, "clusters", "copy-2"), { cluster_name: "copy-2", state_backend: s3 });
    try {
      const all = inventoryReport(inventoryFolders([], {}, repo));
      expect(all.status).toBe(1);
      expect(all.stdout.match(/^## .*$/gm)).toEqual(["## Cluster clusters/prod", "## Cluster clusters/staging"]);
      for (const [name, other] of [
        ["copy", "copy-2"],
        ["copy-2", "copy"],
      ])
        expect(all.stderr).toMatch(
          new RegExp(
            `^clusters/${name}: 1 error in the cluster configuration:\n {2}\\S+/clusters/${name}/cluster\\.yaml:\\d+:\\d+ state_backend\\.key: the state s3://tfstate/shared/00-persistent-auth\\.tfstate is also clusters/${other}'s`,
            "m",
          ),
        );
    } finally {
      for (const name of ["copy", "copy-2"]) rmSync(join(repo, "clusters", name), { recursive: true, force: true });
    }
  });

  it("the command: an unknown cluster is refused naming the clusters there are, exit 1, no stack trace", async () => {
    const result = await run(
      join(REPO, "node_modules/.bin/tsx"),
      [join(REPO, "scripts/inventory.ts"), "--cluster=no-such"],
      {
        cwd: REPO,
        env: { ...process.env, CONFIG_DIR: undefined },
      },
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^--cluster=no-such: there is no clusters\/no-such\/cluster\.yaml \(/);
    expect(result.stderr).not.toMatch(/\bat .*\.[jt]s:\d+/);
    expect(result.stdout).toBe("");
  });
});
