import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig, resolveCluster } from "../config";
import { DOCS_FILE, docsWithInventory, inventoryMarkdown, inventoryRows } from "../scripts/inventory";
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
