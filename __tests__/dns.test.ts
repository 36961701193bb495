// npm run dns: the records of the cluster and its guests, and real DNS servers loading what it writes (BIND's
// named-checkzone and named, dnsmasq, Unbound, each on 127.0.0.1, asked with dig).
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig, resolveCluster } from "../config";
import {
  checkZone,
  type DnsServer,
  missingDnsTools,
  startDnsmasq,
  startNamed,
  startUnbound,
} from "../judges/dns/servers";
import { dnsOutput, parseDnsArgs } from "../scripts/dns/cli";
import { DEFAULT_ZONE_OPTIONS, dnsmasqConf, zoneFiles } from "../scripts/dns/formats";
import { clusterRecords, compareNames } from "../scripts/dns/records";
import { REPO } from "./support/synth";

const run = promisify(execFile);
const EXAMPLES = readdirSync(join(REPO, "examples")).sort();
/** A router VM with NICs in two zones and on a WAN bridge, a container with two in one zone and one on DHCP. */
const ROUTER = join(REPO, "__tests__/fixtures/router-homelab");
const CONFIGS: Array<[string, string]> = [
  ...EXAMPLES.map((example): [string, string] => [`examples/${example}`, join(REPO, "examples", example)]),
  ["the router fixture", ROUTER],
];
const recordsIn = (dir: string) => clusterRecords(resolveCluster(loadConfig(dir)));
const recordsOf = (example: string) => recordsIn(join(REPO, "examples", example));
/** The addresses of `name`, sorted as the answers are compared. */
const addressesOf = (set: ReturnType<typeof recordsIn>, name: string) =>
  set.records
    .filter((r) => r.name === name)
    .map((r) => r.address)
    .sort();

describe("the records", () => {
  it("the API address and every node under <cluster>.<domain>, every guest as <name>.<zone>.<domain>", () => {
    const set = recordsOf("zoned-ha");
    expect(set.domain).toBe("internal");
    expect(set.records.map((r) => [r.name, r.address])).toEqual([
      ["nextcloud.dmz.internal", "10.10.50.10"],
      ["mqtt.iot.internal", "10.10.30.5"],
      ["dev-box.lan.internal", "10.10.20.50"],
      ["dns.mgmt.internal", "10.10.10.53"],
      ["firewall.mgmt.internal", "10.10.10.2"],
      ["api.zoned.internal", "10.10.40.10"],
      ["cp-a.zoned.internal", "10.10.40.11"],
      ["cp-b.zoned.internal", "10.10.40.12"],
      ["cp-c.zoned.internal", "10.10.40.13"],
    ]);
  });

  it("a guest's NICs: a name in each zone it has a fixed address in, a DHCP NIC's apart, a NIC outside zones unnamed", () => {
    // router: lan (net0), mgmt (net1), a WAN bridge (net2); vpn: mgmt (net0 and net2), lan on DHCP (net1).
    const set = recordsIn(ROUTER);
    const guests = set.records.filter((r) => /^(vm|lxc) /.test(r.of));
    expect(guests.map((r) => [r.name, r.address, r.of])).toEqual([
      ["router.lan.internal", "10.20.20.2", "vm 100"],
      ["router.mgmt.internal", "10.20.10.2", "vm 100"],
      ["vpn.mgmt.internal", "10.20.10.3", "lxc 101"],
      ["vpn.mgmt.internal", "10.20.10.4", "lxc 101"],
    ]);
    expect(set.dynamic).toEqual(["vpn.lan.internal"]);
    const reverse = zoneFiles(set, { ...DEFAULT_ZONE_OPTIONS, reverse: true });
    expect(reverse.get("20.20.10.in-addr.arpa")).toMatch(/^2 +IN PTR router\.lan\.internal\.$/m);
    expect(reverse.get("10.20.10.in-addr.arpa")).toMatch(/^2 +IN PTR router\.mgmt\.internal\.$/m);
    expect([...reverse.keys()].some((zone) => zone.endsWith("198.in-addr.arpa"))).toBe(false);
  });

  it("guests on DHCP are named apart, with no address record", () => {
    const set = recordsOf("lxc-homelab");
    expect(set.dynamic.length).toBeGreaterThan(0);
    for (const name of set.dynamic) expect(set.records.map((r) => r.name)).not.toContain(name);
    expect(zoneFiles(set).get(set.domain)).toContain(`not listed: ${set.dynamic.join(", ")}`);
  });

  it("without workloads.yaml, the cluster's records in the default domain", () => {
    const set = recordsOf("single-node");
    expect(set.domain).toBe("internal");
    expect(set.records.every((r) => r.name.endsWith(".internal"))).toBe(true);
    expect(set.records.some((r) => r.name.startsWith("api."))).toBe(true);
  });

  it("sorted in DNS canonical order, the same bytes every time", () => {
    for (const [, dir] of CONFIGS) {
      const set = recordsIn(dir);
      const names = set.records.map((r) => r.name);
      expect([...names].sort(compareNames)).toEqual(names);
      const request = parseDnsArgs([dir, "--out", "unused", "--reverse"]);
      expect(dnsOutput(request)).toEqual(dnsOutput(request));
    }
  });

  it("a zone named like the cluster is refused with file, line and key (its guests would share the nodes' names)", () => {
    const dir = join(REPO, "examples", "zoned-ha");
    const sources = {
      cluster: readFileSync(join(dir, "cluster.yaml"), "utf8"),
      nodes: readFileSync(join(dir, "nodes.yaml"), "utf8"),
      workloads: readFileSync(join(dir, "workloads.yaml"), "utf8").replace(/name: dmz\b/, "name: zoned"),
    };
    expect(sources.workloads).toContain("name: zoned");
    let error: unknown;
    try {
      parseConfig(sources);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/workloads\.yaml:\d+:\d+ zones\[\d+\]\.name: zoned is also cluster_name/);
  });

  it("the command line: one meaning per flag, usage errors named", () => {
    expect(() => parseDnsArgs(["--serial", "0"])).toThrow(/--serial is a whole number/);
    expect(() => parseDnsArgs(["--serial", "1e3"])).toThrow(/--serial/);
    expect(() => parseDnsArgs(["--ns", '${file("/etc/shadow")}'])).toThrow(/--ns is a host name/);
    expect(() => parseDnsArgs(["--format", "hosts"])).toThrow(/--format is one of zone, dnsmasq, unbound/);
    expect(() => parseDnsArgs(["--reverse"])).toThrow(/give --out DIR/);
    expect(() => parseDnsArgs(["a", "b"])).toThrow(/one config folder/);
    expect(() => parseDnsArgs(["--what"])).toThrow(/Unknown option/);
    expect(parseDnsArgs(["--ns", "ns1.example.net.", "--serial", "2026120301"]).zone).toMatchObject({
      nameServer: "ns1.example.net",
      serial: 2026120301,
    });
  });

  it("the command: a usage error exits 2 and a config error 1, each with one line and no stack trace", async () => {
    const cli = [join(REPO, "node_modules", ".bin", "tsx"), join(REPO, "scripts", "dns", "cli.ts")];
    const failure = async (args: string[]) => {
      try {
        await run(cli[0], [cli[1], ...args], { cwd: REPO });
      } catch (e) {
        return e as { code: number; stderr: string };
      }
      throw new Error("expected a failure");
    };
    const usage = await failure(["--serial", "x"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^npm run dns: --serial/);
    const config = await failure([join(REPO, "examples", "no-such-example")]);
    expect(config.code).toBe(1);
    expect(config.stderr).not.toMatch(/\n\s+at /);
    const out = await failure([join(REPO, "examples", "zoned-ha"), "--out", "/nonexistent-parent/dns"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/parent folder does not exist/);
  });
});

// Real servers: .ci/run installs them; under CI a missing one is a broken setup, never a pass.
describe.each(CONFIGS)("%s: the files loaded by real DNS servers on 127.0.0.1", { timeout: 180_000 }, (_, config) => {
  let dir: string;
  let files: Map<string, string>;
  let missing: string[];
  const servers: DnsServer[] = [];
  const set = recordsIn(config);

  beforeAll(async () => {
    missing = await missingDnsTools();
    dir = mkdtempSync(join(tmpdir(), "dns-judge-"));
    const request = parseDnsArgs([config, "--out", dir, "--reverse", "--serial", "2026120301"]);
    files = dnsOutput(request);
    const { writeDnsOutput } = await import("../scripts/dns/cli");
    writeDnsOutput(dir, files);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const needTools = (ctx: { skip: (note: string) => void }) => {
    if (missing.length === 0) return true;
    if (process.env.CI) expect.fail(`${missing.join(", ")} not installed and CI is set: .ci/run installs them`);
    ctx.skip(`${missing.join(", ")} not installed (outside CI: skipped)`);
    return false;
  };
  const zones = () => [...files.keys()].filter((f) => f.endsWith(".zone")).map((f) => f.slice(0, -".zone".length));

  it("every zone file passes named-checkzone, and named answers every name and address", async (ctx) => {
    if (!needTools(ctx)) return;
    for (const zone of zones()) {
      const verdict = await checkZone(zone, join(dir, `${zone}.zone`));
      expect(verdict.output).toMatch(/OK/);
      expect(verdict.ok).toBe(true);
    }
    const named = await startNamed(dir, new Map(zones().map((z) => [z, `${z}.zone`])), set.records[0].name);
    servers.push(named);
    for (const record of set.records) {
      expect((await named.ask(record.name, "A")).sort()).toEqual(addressesOf(set, record.name));
      expect(await named.ask(record.address, "PTR")).toEqual(
        set.records
          .filter((r) => r.address === record.address)
          .map((r) => `${r.name}.`)
          .sort(),
      );
    }
    expect(await named.ask(`no-such-guest.${set.domain}`, "A")).toEqual([]);
    for (const name of set.dynamic) expect(await named.ask(name, "A")).toEqual([]);
  });

  it("dnsmasq loads its file and answers every name and address", async (ctx) => {
    if (!needTools(ctx)) return;
    const dnsmasq = await startDnsmasq(dir, join(dir, "dnsmasq.conf"), set.records[0].name);
    servers.push(dnsmasq);
    for (const record of set.records) {
      expect((await dnsmasq.ask(record.name, "A")).sort()).toEqual(addressesOf(set, record.name));
      expect(await dnsmasq.ask(record.address, "PTR")).toContain(`${record.name}.`);
    }
    // Without --reverse: address= lines, one per address of a name.
    writeFileSync(join(dir, "forward-dnsmasq.conf"), dnsmasqConf(set, false));
    const forward = await startDnsmasq(dir, join(dir, "forward-dnsmasq.conf"), set.records[0].name);
    servers.push(forward);
    for (const record of set.records)
      expect((await forward.ask(record.name, "A")).sort()).toEqual(addressesOf(set, record.name));
  });

  it("unbound loads its file and answers every name and address", async (ctx) => {
    if (!needTools(ctx)) return;
    const unbound = await startUnbound(dir, join(dir, "unbound.conf"), set.records[0].name);
    servers.push(unbound);
    for (const record of set.records) {
      expect((await unbound.ask(record.name, "A")).sort()).toEqual(addressesOf(set, record.name));
      expect(await unbound.ask(record.address, "PTR")).toContain(`${record.name}.`);
    }
  });
});

it("dnsmasq without --reverse answers names with address= lines", () => {
  expect(dnsmasqConf(recordsOf("single-node"), false)).toMatch(/^address=\/api\.[a-z0-9-]+\.internal\/[0-9.]+$/m);
});
