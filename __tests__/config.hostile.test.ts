// Careless and hostile input: the loader reports it as a ConfigError at its file, line and key, never with a
// stack trace, never hanging, never echoing a secret or a megabyte back.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  ConfigError,
  formatIssue,
  loadConfig,
  MAX_FILE_BYTES,
  MAX_KEYS,
  parseConfig,
  type ConfigSources,
} from "../config";
import { TESTED_KUBERNETES_VERSION, TESTED_TALOS_VERSION } from "../config/versions";
import { PROPERTY_TIMEOUT, runOk, yieldToVitest } from "./support/run";
import { patchOf, synth } from "./support/synth";

type Entry = Record<string, unknown>;
interface Config {
  cluster: Entry;
  nodes: Entry[];
}

// Line numbers below follow from this layout: cluster.yaml keys on lines 1-7 (a key added by an edit is on
// line 8), nodes.yaml nodes[i] starting on line 2 + 3i.
const BASE: Config = {
  cluster: {
    node_cidr: "192.168.1.0/24",
    node_default_gateway: "192.168.1.1",
    cluster_api_addr: "192.168.1.10",
    talos_version: "v1.12.1",
    kubernetes_version: "v1.35.0",
    proxmox_api_url: "https://pve.example.com:8006/",
    proxmox_node: "pve",
  },
  nodes: [
    { name: "controlplane0", address: "192.168.1.21", controller: true },
    { name: "worker0", address: "192.168.1.31", controller: false },
    { name: "worker1", address: "192.168.1.32", controller: false },
  ],
};

function edited(edit: (config: Config) => void = () => {}): ConfigSources {
  const config = structuredClone(BASE);
  edit(config);
  return { cluster: stringify(config.cluster), nodes: stringify({ nodes: config.nodes }) };
}

/** The ConfigError parseConfig throws; fails the test for any other outcome. */
function configErrorOf(sources: ConfigSources): ConfigError {
  try {
    parseConfig(sources);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected parseConfig to throw a ConfigError, but the config was accepted");
}

const issuesOf = (sources: ConfigSources) => configErrorOf(sources).issues.map((i) => formatIssue(i));

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "config-hostile-"));
  dirs.push(dir);
  writeFileSync(join(dir, "cluster.yaml"), edited().cluster);
  return dir;
}

describe("the base pair", () => {
  it("is valid", () => {
    expect(parseConfig(edited()).nodes).toHaveLength(3);
  });
});

describe("keys named like Object.prototype members are ordinary unknown keys", () => {
  const names = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "__defineGetter__"];
  const places: {
    where: string;
    edit: (c: Config, key: string) => void;
    path: (key: string) => (string | number)[];
  }[] = [
    {
      where: "top level of cluster.yaml",
      edit: (c, k) => Object.defineProperty(c.cluster, k, { value: "x", enumerable: true }),
      path: (k) => [k],
    },
    {
      where: "a nested mapping of cluster.yaml",
      edit: (c, k) => (c.cluster.proxmox_vm_advanced = Object.defineProperty({}, k, { value: 1, enumerable: true })),
      path: (k) => ["proxmox_vm_advanced", k],
    },
    {
      where: "a node",
      edit: (c, k) => Object.defineProperty(c.nodes[1], k, { value: { a: 1 }, enumerable: true }),
      path: (k) => ["nodes", 1, k],
    },
  ];
  for (const { where, edit, path } of places) {
    it.each(names)(`%s in ${where}`, (key) => {
      const error = configErrorOf(edited((c) => edit(c, key)));
      expect(error.issues).toEqual([
        expect.objectContaining({ severity: "error", path: path(key), message: expect.stringMatching(/^unknown key/) }),
      ]);
    });
  }
});

describe("the loader never throws anything but a ConfigError", () => {
  const prototypeName = fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype), "__proto__", "prototype");
  const keyName = fc.oneof(prototypeName, fc.string({ maxLength: 20 }), fc.string({ unit: "grapheme", maxLength: 8 }));
  const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(Infinity, -Infinity, NaN, null, ""));
  /** A random key with a random value put somewhere: the top level, a nested mapping, a node. */
  const hostile = fc
    .tuple(fc.array(fc.tuple(keyName, value, fc.nat({ max: 4 })), { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([entries, replace]) =>
      edited((c) => {
        for (const [key, v, at] of entries) {
          c.cluster.proxmox_vm_defaults ??= {};
          const targets = [c.cluster, c.cluster.proxmox_vm_defaults as Entry, ...c.nodes];
          const target = targets[at % targets.length];
          // Also replace known keys' values: the key is then one the schema knows.
          const name = replace ? (Object.keys(target)[at] ?? key) : key;
          Object.defineProperty(target, name, { value: v, enumerable: true, configurable: true, writable: true });
        }
      }),
    );

  it(
    "for random keys and values anywhere: accepted, or a ConfigError with a location for every issue",
    async () => {
      await fc.assert(
        fc.asyncProperty(hostile, async (sources) => {
          await yieldToVitest();
          let error: unknown;
          try {
            parseConfig(sources);
          } catch (e) {
            error = e;
          }
          if (error === undefined) return;
          expect(error).toBeInstanceOf(ConfigError);
          for (const issue of (error as ConfigError).issues) {
            expect(issue.line).toBeGreaterThanOrEqual(1);
            expect(formatIssue(issue)).not.toMatch(/\n| {4}at /);
          }
        }),
        { numRuns: 400 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});

describe("files that are not config files", () => {
  it("a FIFO as nodes.yaml is refused at once instead of waiting for a writer", async () => {
    const dir = configDir();
    await runOk("mkfifo", [join(dir, "nodes.yaml")]);
    expect(() => loadConfig(dir)).toThrow(`cannot read ${join(dir, "nodes.yaml")}: not a regular file`);
  }, 30_000);

  it("/dev/zero as nodes.yaml is refused without reading it", () => {
    const dir = configDir();
    symlinkSync("/dev/zero", join(dir, "nodes.yaml"));
    expect(() => loadConfig(dir)).toThrow(`cannot read ${join(dir, "nodes.yaml")}: not a regular file`);
  }, 30_000);

  it("a folder as nodes.yaml is a ConfigError", () => {
    const dir = configDir();
    mkdirSync(join(dir, "nodes.yaml"));
    expect(() => loadConfig(dir)).toThrow(ConfigError);
  });

  it(`a regular file larger than ${MAX_FILE_BYTES} bytes is refused, whatever it holds`, () => {
    const dir = configDir();
    writeFileSync(join(dir, "nodes.yaml"), `${edited().nodes}#${"x".repeat(MAX_FILE_BYTES)}\n`);
    expect(() => loadConfig(dir)).toThrow(
      `cannot read ${join(dir, "nodes.yaml")}: larger than ${MAX_FILE_BYTES} bytes`,
    );
  });

  it("text larger than the limit given to parseConfig directly is refused too", () => {
    const sources = { ...edited(), cluster: `${edited().cluster}#${"x".repeat(MAX_FILE_BYTES)}\n` };
    expect(issuesOf(sources)).toEqual([
      `cluster.yaml (top level): larger than ${MAX_FILE_BYTES} bytes; a cluster's configuration is a few KiB`,
    ]);
  });

  it(`more than ${MAX_KEYS} keys is one error, not one per key`, () => {
    let keys = "";
    for (let i = 0; i <= MAX_KEYS; i++) keys += `k${i}: ${i}\n`;
    expect(issuesOf({ ...edited(), cluster: edited().cluster + keys })).toEqual([
      `cluster.yaml:1:1 (top level): more than ${MAX_KEYS} keys; a cluster's configuration has a few hundred at most`,
    ]);
  });
});

describe("messages stay short", () => {
  const MEGABYTE = "x".repeat(1_000_000);

  it("a long value is cut in the message", () => {
    const [issue] = issuesOf(edited((c) => (c.cluster.proxmox_node = [MEGABYTE])));
    expect(issue).toMatch(
      /^cluster\.yaml:8:3 proxmox_node: expected string, received array, got \["x+\.\.\. \(1000004 characters\)$/,
    );
    expect(issue.length).toBeLessThan(200);
  });

  it("a long unknown key is cut in the message", () => {
    const key = "y".repeat(1000);
    const [issue] = issuesOf(edited((c) => (c.nodes[0][key] = 1)));
    expect(issue).toMatch(/^nodes\.yaml:5:5 nodes\[0\]\.y+\.\.\. \(1000 characters\): unknown key$/);
    expect(issue.length).toBeLessThan(200);
  });
});

describe("many unknown keys", () => {
  /** The least CPU time of three runs (not wall time: the machine may be busy), in µs, of parsing n unknown keys. */
  function parseTime(n: number): number {
    let keys = "";
    for (let i = 0; i < n; i++) keys += `unknown_key_${i}: ${i}\n`;
    const sources = { ...edited(), cluster: edited().cluster + keys };
    let best = Infinity;
    for (let run = 0; run < 3; run++) {
      const start = process.cpuUsage();
      expect(configErrorOf(sources).issues).toHaveLength(n);
      const used = process.cpuUsage(start);
      best = Math.min(best, used.user + used.system);
    }
    return best;
  }

  it("take linear time: four times the keys take well under sixteen times as long", () => {
    parseTime(250); // warm-up
    const small = parseTime(1000);
    const large = parseTime(4000);
    expect(large / small).toBeLessThan(8);
  }, 60_000);

  it("still get a suggestion when one is close", () => {
    expect(issuesOf(edited((c) => (c.cluster.proxmox_nod = "pve")))).toContain(
      'cluster.yaml:8:1 proxmox_nod: unknown key; did you mean "proxmox_node"?',
    );
  });
});

describe("one run reports every problem", () => {
  it("a schema error in cluster.yaml does not hide the cross-field errors of its valid keys", () => {
    const sources = edited((c) => {
      c.cluster.talos_version = "1.12.1"; // schema error
      c.cluster.cluster_api_addr = "192.168.1.21"; // nodes[0]'s address: a cross-field error
      c.cluster.cluster_svc_cidr = "10.42.0.0/16"; // overlaps the default pod network
    });
    expect(issuesOf(sources)).toEqual([
      "cluster.yaml:3:19 cluster_api_addr: 192.168.1.21 is the address of nodes[0] (controlplane0); the API address must be a free address of its own",
      'cluster.yaml:4:16 talos_version: expected a Talos version like "v1.12.7" (with the leading v), got "1.12.1"',
      "cluster.yaml:8:19 cluster_svc_cidr: 10.42.0.0/16 overlaps cluster_pod_cidr 10.42.0.0/16; the three networks must be disjoint (pod and service networks default to 10.42.0.0/16 and 10.43.0.0/16)",
    ]);
  });

  it("a missing required key in cluster.yaml does not hide node errors against node_cidr", () => {
    const sources = edited((c) => {
      delete c.cluster.proxmox_api_url;
      c.nodes[2].address = "192.168.2.32";
    });
    expect(issuesOf(sources)).toEqual([
      "cluster.yaml:1:1 proxmox_api_url: required key is missing (string)",
      "nodes.yaml:9:14 nodes[2].address: 192.168.2.32 is outside node_cidr 192.168.1.0/24",
    ]);
  });
});

describe("credentials in URLs are refused with the environment variable to use instead", () => {
  const SECRET = "hunter2-do-not-print";
  const cases: { name: string; sources: ConfigSources; issue: string }[] = [
    {
      name: "proxmox_api_url",
      sources: edited((c) => (c.cluster.proxmox_api_url = `https://root%40pam:${SECRET}@pve.example.com:8006/`)),
      issue:
        'cluster.yaml:6:18 proxmox_api_url: a URL with a user name or password in it; remove "user:password@" and set PROXMOX_VE_API_TOKEN in the environment (user@realm!token-name=secret)',
    },
    {
      name: "the state backend address",
      sources: edited(
        (c) => (c.cluster.state_backend = { type: "http", address: `https://user:${SECRET}@state.example/{layer}` }),
      ),
      issue:
        'cluster.yaml:10:12 state_backend.address: a URL with a user name or password in it; remove "user:password@" and set TF_HTTP_USERNAME and TF_HTTP_PASSWORD in the environment',
    },
    {
      name: "the state backend lock address, user name only",
      sources: edited(
        (c) =>
          (c.cluster.state_backend = {
            type: "http",
            address: "https://state.example/{layer}",
            lock_address: `https://${SECRET}@state.example/{layer}/lock`,
          }),
      ),
      issue:
        'cluster.yaml:11:17 state_backend.lock_address: a URL with a user name or password in it; remove "user:password@" and set TF_HTTP_USERNAME and TF_HTTP_PASSWORD in the environment',
    },
    {
      name: "a password with an @ in it",
      sources: edited((c) => (c.cluster.talos_image_factory_url = `http://admin:${SECRET}@x@factory.example/`)),
      issue:
        'cluster.yaml:8:26 talos_image_factory_url: a URL with a user name or password in it; remove "user:password@" and credentials never go in the config files; Proxmox takes PROXMOX_VE_API_TOKEN, the HTTP state backend TF_HTTP_USERNAME / TF_HTTP_PASSWORD, from the environment',
    },
  ];

  it.each(cases)("$name", ({ sources, issue }) => {
    const error = configErrorOf(sources);
    expect(error.issues.map((i) => formatIssue(i))).toEqual([issue]);
    expect(error.message).not.toContain(SECRET);
  });

  it("an invalid value shown after 'got' has its URL credentials masked", () => {
    const error = configErrorOf(edited((c) => (c.cluster.proxmox_node = [`https://u:${SECRET}@x/`])));
    expect(error.message).not.toContain(SECRET);
  });
});

describe("identifiers follow Proxmox' own rules; names, hosts and paths are refused when no literal makes sense", () => {
  const cases: { name: string; edit: (c: Config) => void; path: (string | number)[]; message: RegExp }[] = [
    {
      name: "a NUL byte in proxmox_node",
      edit: (c) => (c.cluster.proxmox_node = "pve\0x"),
      path: ["proxmox_node"],
      message: /^expected a Proxmox node name/,
    },
    {
      name: "a / in proxmox_node",
      edit: (c) => (c.cluster.proxmox_node = "pve/../x"),
      path: ["proxmox_node"],
      message: /^expected a Proxmox node name/,
    },
    {
      name: "a dot in a node's proxmox_node",
      edit: (c) => (c.nodes[1].proxmox_node = "pve.a"),
      path: ["nodes", 1, "proxmox_node"],
      message: /^expected a Proxmox node name/,
    },
    {
      name: "an expression in proxmox_node",
      edit: (c) => (c.cluster.proxmox_node = 'pve${file("/etc/hostname")}'),
      path: ["proxmox_node"],
      message: /^expected a Proxmox node name/,
    },
    {
      name: "a / in a storage id",
      edit: (c) => (c.cluster.proxmox_iso_storage = "local/../x"),
      path: ["proxmox_iso_storage"],
      message: /^expected a Proxmox storage id/,
    },
    {
      name: "a NUL byte in a storage id",
      edit: (c) => (c.cluster.proxmox_disk_storage = "local\0"),
      path: ["proxmox_disk_storage"],
      message: /^expected a Proxmox storage id/,
    },
    {
      name: "a storage id starting with a digit",
      edit: (c) => (c.cluster.proxmox_csi_storage = "1local"),
      path: ["proxmox_csi_storage"],
      message: /^expected a Proxmox storage id/,
    },
    {
      name: "a ; in the bridge",
      edit: (c) => (c.cluster.proxmox_vm_advanced = { network_bridge: "vmbr0;x" }),
      path: ["proxmox_vm_advanced", "network_bridge"],
      message: /^expected a bridge name/,
    },
    {
      name: "a bridge name too long for Linux",
      edit: (c) => (c.cluster.proxmox_vm_advanced = { network_bridge: "vmbr0123456789ab" }),
      path: ["proxmox_vm_advanced", "network_bridge"],
      message: /at most 15 characters/,
    },
    { name: "VLAN 4095", edit: (c) => (c.cluster.node_vlan_tag = 4095), path: ["node_vlan_tag"], message: /<=4094/ },
    { name: 'VLAN "0"', edit: (c) => (c.cluster.node_vlan_tag = "0"), path: ["node_vlan_tag"], message: />=1/ },
    {
      name: "../ in the install disk",
      edit: (c) => (c.nodes[0].disk = "/dev/../etc/passwd"),
      path: ["nodes", 0, "disk"],
      message: /^expected a device path/,
    },
    {
      name: "a trailing /.. in the install disk",
      edit: (c) => (c.nodes[0].disk = "/dev/disk/by-id/.."),
      path: ["nodes", 0, "disk"],
      message: /^expected a device path/,
    },
    {
      name: "the all-zero MAC",
      edit: (c) => (c.nodes[0].mac_addr = "00:00:00:00:00:00"),
      path: ["nodes", 0, "mac_addr"],
      message: /all-zero MAC/,
    },
    {
      name: "DNS server 0.0.0.0",
      edit: (c) => (c.cluster.node_dns_servers = ["0.0.0.0"]),
      path: ["node_dns_servers", 0],
      message: /^not a server's address/,
    },
    {
      name: "DNS server 255.255.255.255",
      edit: (c) => (c.cluster.node_dns_servers = ["1.1.1.1", "255.255.255.255"]),
      path: ["node_dns_servers", 1],
      message: /^not a server's address/,
    },
    {
      name: "an NTP server with an empty label",
      edit: (c) => (c.cluster.node_ntp_servers = ["time..example.com"]),
      path: ["node_ntp_servers", 0],
      message: /^expected a host name \(RFC 1123/,
    },
    {
      name: "an NTP server 0.0.0.0",
      edit: (c) => (c.cluster.node_ntp_servers = ["0.0.0.0"]),
      path: ["node_ntp_servers", 0],
      message: /^expected a host name \(RFC 1123/,
    },
    {
      name: "an underscore in a TLS SAN",
      edit: (c) => (c.cluster.cluster_api_tls_sans = ["k8s_api.example.com"]),
      path: ["cluster_api_tls_sans", 0],
      message: /^expected a host name \(RFC 1123/,
    },
    {
      name: "a label over 63 characters in a TLS SAN",
      edit: (c) => (c.cluster.cluster_api_tls_sans = [`${"a".repeat(64)}.example`]),
      path: ["cluster_api_tls_sans", 0],
      message: /^expected a host name/,
    },
  ];

  it.each(cases)("$name", ({ edit, path, message }) => {
    const error = configErrorOf(edited(edit));
    expect(error.issues).toEqual([
      expect.objectContaining({ severity: "error", path, message: expect.stringMatching(message) }),
    ]);
  });

  it("host names that would share a resource id (pve.a and pve_a) are both refused", () => {
    const error = configErrorOf(
      edited((c) => {
        c.nodes[0].proxmox_node = "pve.a";
        c.nodes[1].proxmox_node = "pve_a";
      }),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      ["nodes", 0, "proxmox_node"],
      ["nodes", 1, "proxmox_node"],
    ]);
  });

  it("host names, addresses and device paths that are fine are accepted", () => {
    const { cluster, nodes } = parseConfig(
      edited((c) => {
        c.cluster.node_ntp_servers = ["time.cloudflare.com", "162.159.200.1", "ntp"];
        c.cluster.cluster_api_tls_sans = ["k8s.home.arpa", "203.0.113.7", "K8S-API"];
        c.cluster.proxmox_iso_storage = "cephfs.iso_1";
        c.cluster.proxmox_vm_advanced = { network_bridge: "vmbr0.20" };
        c.nodes[0].disk = "/dev/disk/by-id/nvme-Samsung_SSD_980_1TB_S649NF0R123456A";
        c.nodes[1].disk = "/dev/disk/by-path/pci-0000:00:05.0-scsi-0:0:0:0";
        c.nodes[2].proxmox_node = "PVE-2";
      }),
    );
    expect(cluster.node_ntp_servers).toEqual(["time.cloudflare.com", "162.159.200.1", "ntp"]);
    expect(nodes.map((n) => n.disk)).toEqual([
      "/dev/disk/by-id/nvme-Samsung_SSD_980_1TB_S649NF0R123456A",
      "/dev/disk/by-path/pci-0000:00:05.0-scsi-0:0:0:0",
      undefined,
    ]); // no disk: resolved to /dev/sda
  });
});

describe("network edge cases", () => {
  const cases: { name: string; edit: (c: Config) => void; issues: string[] }[] = [
    {
      name: "API address is the network address",
      edit: (c) => (c.cluster.cluster_api_addr = "192.168.1.0"),
      issues: ["cluster.yaml:3:19 cluster_api_addr: 192.168.1.0 is the network or broadcast address of 192.168.1.0/24"],
    },
    {
      name: "API address is the broadcast address",
      edit: (c) => (c.cluster.cluster_api_addr = "192.168.1.255"),
      issues: [
        "cluster.yaml:3:19 cluster_api_addr: 192.168.1.255 is the network or broadcast address of 192.168.1.0/24",
      ],
    },
    {
      name: "a node on the implicit default gateway",
      edit: (c) => {
        delete c.cluster.node_default_gateway;
        c.nodes[1].address = "192.168.1.1";
      },
      issues: [
        "nodes.yaml:6:14 nodes[1].address: 192.168.1.1 is the default gateway (node_default_gateway defaults to the first address of node_cidr); use another address or set node_default_gateway",
      ],
    },
    {
      name: "the API address on the implicit default gateway",
      edit: (c) => {
        delete c.cluster.node_default_gateway;
        c.cluster.cluster_api_addr = "192.168.1.1";
      },
      issues: [
        "cluster.yaml:2:19 cluster_api_addr: 192.168.1.1 is the default gateway (node_default_gateway defaults to the first address of node_cidr); use another address or set node_default_gateway",
      ],
    },
    {
      name: "the gateway is the broadcast address",
      edit: (c) => (c.cluster.node_default_gateway = "192.168.1.255"),
      issues: [
        "cluster.yaml:2:23 node_default_gateway: 192.168.1.255 is the network or broadcast address of 192.168.1.0/24",
      ],
    },
    {
      name: "a /32 node network",
      edit: (c) => {
        c.cluster.node_cidr = "192.168.1.21/32";
        c.cluster.cluster_api_vip = false;
        delete c.cluster.node_default_gateway;
      },
      issues: [
        "cluster.yaml:1:12 node_cidr: 192.168.1.21/32 leaves no room for nodes, a gateway and the API address; use a /30 or larger, e.g. a /24",
      ],
    },
    {
      name: "a node network with host bits set",
      edit: (c) => (c.cluster.node_cidr = "192.168.1.21/24"),
      issues: ["cluster.yaml:1:12 node_cidr: 192.168.1.21/24 has host bits set; the network is 192.168.1.0/24"],
    },
    {
      name: "a pod network with host bits set",
      edit: (c) => (c.cluster.cluster_pod_cidr = "10.42.1.0/16"),
      issues: ["cluster.yaml:8:19 cluster_pod_cidr: 10.42.1.0/16 has host bits set; the network is 10.42.0.0/16"],
    },
    {
      name: "a firewall source with host bits set",
      edit: (c) => (c.cluster.proxmox_firewall_allow_from = ["10.0.0.5/8"]),
      issues: [
        "cluster.yaml:9:5 proxmox_firewall_allow_from[0]: 10.0.0.5/8 has host bits set; the network is 10.0.0.0/8",
      ],
    },
    {
      name: "a service network too small for a cluster",
      edit: (c) => (c.cluster.cluster_svc_cidr = "10.43.0.0/28"),
      issues: [
        "cluster.yaml:8:19 cluster_svc_cidr: 10.43.0.0/28 is too small for a cluster's services; use a /24 or larger (the default is 10.43.0.0/16)",
      ],
    },
    {
      name: "a service network larger than Kubernetes accepts",
      edit: (c) => (c.cluster.cluster_svc_cidr = "32.0.0.0/4"),
      issues: [
        "cluster.yaml:8:19 cluster_svc_cidr: 32.0.0.0/4 is larger than Kubernetes accepts for services (at most a /12)",
      ],
    },
    {
      name: "a pod network with fewer /24s than nodes",
      edit: (c) => (c.cluster.cluster_pod_cidr = "10.42.0.0/23"),
      issues: [
        "cluster.yaml:8:19 cluster_pod_cidr: 10.42.0.0/23 is too small: each node gets a /24 of it, so 3 nodes need a /22 or larger (the default is 10.42.0.0/16)",
      ],
    },
  ];

  it.each(cases)("$name", ({ edit, issues }) => {
    expect(issuesOf(edited(edit))).toEqual(issues);
  });
});

describe("cluster-template's files load as they are", () => {
  it("without talos_version and kubernetes_version: the versions this release is tested with", () => {
    const { cluster } = parseConfig(
      edited((c) => {
        delete c.cluster.talos_version;
        delete c.cluster.kubernetes_version;
      }),
    );
    expect(cluster.talos_version).toBe(TESTED_TALOS_VERSION);
    expect(cluster.kubernetes_version).toBe(TESTED_KUBERNETES_VERSION);
  });

  it('node_vlan_tag: "20" and mtu: "9000" written as strings are numbers', () => {
    const { cluster, nodes } = parseConfig(
      edited((c) => {
        c.cluster.node_vlan_tag = "20";
        c.nodes[0].mtu = "9000";
      }),
    );
    expect(cluster.node_vlan_tag).toBe(20);
    expect(nodes[0].mtu).toBe(9000);
  });

  it("encrypt_disk encrypts the node's disk: sealed to the TPM with secureboot, to the node's id without", () => {
    const { infrastructure } = synth({
      nodes: (nodes) =>
        nodes.map((n, i) =>
          i === 0 ? { ...n, encrypt_disk: true, secureboot: true } : i === 1 ? { ...n, encrypt_disk: true } : n,
        ),
    });
    const names = Object.keys(infrastructure.data!.talos_machine_configuration);
    const keysOf = (name: string) => patchOf(infrastructure, name).machine.systemDiskEncryption;
    expect(keysOf(names[0])).toEqual({
      state: { provider: "luks2", keys: [{ slot: 0, tpm: {} }] },
      ephemeral: { provider: "luks2", keys: [{ slot: 0, tpm: {} }] },
    });
    expect(keysOf(names[1])).toEqual({
      state: { provider: "luks2", keys: [{ slot: 0, nodeID: {} }] },
      ephemeral: { provider: "luks2", keys: [{ slot: 0, nodeID: {} }] },
    });
    expect(keysOf(names[2])).toBeUndefined();
  });

  it("node_ntp_servers and cluster_api_tls_sans reach every node's Talos configuration", () => {
    const { infrastructure } = synth({
      cluster: { node_ntp_servers: ["time.example.com", "192.0.2.123"], cluster_api_tls_sans: ["k8s.example.com"] },
    });
    for (const name of Object.keys(infrastructure.data!.talos_machine_configuration)) {
      const patch = patchOf(infrastructure, name);
      expect(patch.machine.time.servers).toEqual(["time.example.com", "192.0.2.123"]);
      if (name.startsWith("controlplane")) expect(patch.cluster.apiServer.certSANs).toContain("k8s.example.com");
    }
  });

  it("a private Flux repository is accepted", () => {
    const { cluster } = parseConfig(
      edited((c) => Object.assign(c.cluster, { repository_name: "me/home-ops", repository_visibility: "private" })),
    );
    expect(cluster.repository_visibility).toBe("private");
  });

  it("a string that is not digits is still an error", () => {
    expect(issuesOf(edited((c) => (c.cluster.node_vlan_tag = "twenty")))).toEqual([
      'cluster.yaml:8:16 node_vlan_tag: expected number, received string, got "twenty"',
    ]);
  });
});

describe("cdktf's token marker", () => {
  // No escape hides "${TfToken[...]}" from cdktf: synthesis would substitute another value or crash.
  it.each(["${TfToken[TOKEN.1]}", "#{TfToken[TOKEN.2]}", "x&{TfToken[TOKEN.3]}"])(
    "%s in a free-text value is refused",
    (text) => {
      expect(issuesOf(edited((c) => (c.cluster.repository_path = text)))).toEqual([
        `cluster.yaml:8:18 repository_path: contains "TfToken[", the marker of cdktf's references, which no configuration value may`,
      ]);
    },
  );
});
