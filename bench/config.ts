// The benchmark's cluster: the root example's cluster.yaml widened for `nodes` nodes (three controllers, the
// rest workers, spread over three hosts). A unit test loads it for every size the bench runs, so a new config
// rule cannot break the bench unnoticed.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";

/** Writes cluster.yaml and nodes.yaml for `nodes` nodes into `dir`. */
export function writeBenchConfig(dir: string, nodes: number): void {
  const cluster = {
    ...parse(readFileSync(join(__dirname, "..", "cluster.yaml"), "utf8")),
    node_cidr: "10.20.0.0/20",
    node_default_gateway: "10.20.0.1",
    cluster_api_addr: "10.20.0.2",
    cilium_loadbalancer_pool: { start: "10.20.15.200", stop: "10.20.15.250" },
    // A /24 of pods per node: 500 nodes need a /15.
    cluster_pod_cidr: "10.64.0.0/14",
  };
  const list = Array.from({ length: nodes }, (_, i) => ({
    name: `node${i}`,
    address: `10.20.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
    controller: i < Math.min(3, nodes),
    vm_id: 2000 + i,
    proxmox_node: `pve${i % 3}`,
  }));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cluster.yaml"), stringify(cluster));
  writeFileSync(join(dir, "nodes.yaml"), stringify({ nodes: list }));
}
