// The flow judge (judges/firewall-flows) on what the stacks synthesize: every example, with the Proxmox firewall
// on, under every combination of the switches that change what must pass (Cilium's load-balancer mode, its
// LoadBalancer pool with layer-2 announcements, the admin networks), against the flows a Talos + Cilium cluster
// needs and those that must stay closed. The hosts' firewall options are those bootstrap's preflight demands.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResolvedCluster } from "../config";
import { hostFirewallRequirements } from "../scripts/bootstrap/proxmox-firewall";
import { ciliumShape, talosNodes, vmNics, type StackJson } from "../judges/firewall-flows/from-stack";
import { clusterFlows, type ClusterShape } from "../judges/firewall-flows/flows";
import { sendFlow, type ProxmoxFirewalls } from "../judges/firewall-flows/network";
import { REPO } from "./support/synth";

const run = promisify(execFile);
const EXAMPLES = readdirSync(join(REPO, "examples"));

interface Switches {
  readonly loadBalancer: "dsr" | "snat";
  readonly pool: boolean;
  readonly admin: boolean;
}
const SWITCHES: Switches[] = (["dsr", "snat"] as const).flatMap((loadBalancer) =>
  [true, false].flatMap((pool) => [true, false].map((admin) => ({ loadBalancer, pool, admin }))),
);
const label = (s: Switches) =>
  `${s.loadBalancer}, ${s.pool ? "L2 pool" : "no pool"}, ${s.admin ? "admin networks" : "no admin network"}`;

interface Case {
  readonly switches: Switches;
  readonly cluster: ResolvedCluster;
  readonly infrastructure: StackJson;
}

/** The example with the firewall on and the switches set, in a folder of its own. */
async function configFor(example: string, switches: Switches, root: string): Promise<string> {
  const dir = await mkdtemp(join(root, "case-"));
  await cp(join(REPO, "examples", example), dir, { recursive: true });
  const cluster = parse(await readFile(join(dir, "cluster.yaml"), "utf8"));
  const [base, prefix] = String(cluster.node_cidr).split("/");
  const top =
    base
      .split(".")
      .map(Number)
      .reduce((a, o) => a * 256 + o, 0) +
    2 ** (32 - Number(prefix));
  const address = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
  Object.assign(cluster, {
    proxmox_firewall_enabled: true,
    cilium_loadbalancer_mode: switches.loadBalancer,
    cilium_loadbalancer_pool: switches.pool
      ? (cluster.cilium_loadbalancer_pool ?? { start: address(top - 30), stop: address(top - 20) })
      : undefined,
    proxmox_firewall_allow_from: switches.admin ? (cluster.proxmox_firewall_allow_from ?? ["198.51.100.0/24"]) : [],
  });
  if (!switches.pool) delete cluster.cilium_loadbalancer_pool;
  await writeFile(join(dir, "cluster.yaml"), stringify(cluster));
  return dir;
}

/** The firewalls Proxmox would run: the datacenter's on, each host as preflight demands, the VMs' as synthesized. */
function firewallsOf(c: Case): ProxmoxFirewalls {
  const nics = vmNics(c.infrastructure);
  const hosts = new Set(Object.values(nics).map((n) => n.host));
  const required = hostFirewallRequirements(c.cluster);
  return {
    datacenterEnabled: true,
    allowInvalid: Object.fromEntries([...hosts].map((h) => [h, required.nf_conntrack_allow_invalid === true])),
    nics,
  };
}

function shapeOf(c: Case): ClusterShape {
  const cilium = ciliumShape(c.infrastructure);
  const pool = c.cluster.features.cilium?.pool;
  return {
    nodes: talosNodes(c.infrastructure),
    nodeCidr: c.cluster.network.nodes.cidr,
    podCidr: c.cluster.network.pods.cidr,
    apiVip: c.cluster.api.vip ? c.cluster.api.address : undefined,
    adminCidrs: c.cluster.features.firewall?.allowFrom ?? [],
    cilium: cilium && {
      ...cilium,
      loadBalancerAddress: cilium.l2Announcements && pool ? pool.start : undefined,
    },
  };
}

let root: string;
const cases = new Map<string, Case[]>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "firewall-flows-"));
  // One child per example synthesizes its eight cases; two at a time, the machine has two cores.
  const queue = [...EXAMPLES];
  const worker = async () => {
    for (let example = queue.shift(); example; example = queue.shift()) {
      const dirs = await Promise.all(SWITCHES.map((s) => configFor(example!, s, root)));
      const { stdout } = await run(
        join(REPO, "node_modules/.bin/tsx"),
        [join(REPO, "__tests__/support/synth-child.ts"), ...dirs],
        { cwd: REPO, maxBuffer: 256 * 1024 * 1024 },
      );
      const synthesized = JSON.parse(stdout) as Array<Omit<Case, "switches">>;
      cases.set(
        example,
        synthesized.map((s, i) => ({ ...s, switches: SWITCHES[i] })),
      );
    }
  };
  await Promise.all([worker(), worker()]);
}, 600_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe.each(EXAMPLES)("examples/%s with the Proxmox firewall on", (example) => {
  it.each(SWITCHES.map((s) => [label(s), s] as const))(
    "%s: every needed flow passes, every other stays closed",
    (_, switches) => {
      const c = cases.get(example)!.find((x) => x.switches === switches)!;
      const flows = clusterFlows(shapeOf(c));
      const firewalls = firewallsOf(c);
      const wrong = flows.flatMap((flow) => {
        const verdict = sendFlow(firewalls, flow.hops);
        if (verdict.accepted === flow.open) return [];
        return [`${flow.name}: ${flow.open ? `dropped (${verdict.accepted ? "" : verdict.why})` : "open"}`];
      });
      expect(wrong).toEqual([]);
      // Both halves of the matrix are there, whatever the example.
      expect(flows.some((f) => f.open)).toBe(true);
      expect(flows.some((f) => !f.open)).toBe(true);
    },
  );
});
