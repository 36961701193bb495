import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  ConfigError,
  parseConfig,
  resolveCluster,
  type ClusterDefinition,
  type ConfigSources,
  type KeyPath,
} from "../config";
import { IGNORED_CLUSTER_KEYS, IGNORED_NODE_KEYS } from "../config/foreign-keys";
import { clusterSchema, nodeSchema, vmAdvancedSchema, vmDefaultsSchema } from "../config/schema";
import { buildApp } from "../layers/app";
import { PROPERTY_TIMEOUT, yieldToVitest } from "./support/run";

type Entry = Record<string, unknown>;
interface RawConfig {
  cluster: Entry;
  nodes: Entry[];
}

const serialize = (config: RawConfig): ConfigSources => ({
  cluster: stringify(config.cluster),
  nodes: stringify({ nodes: config.nodes }),
});

// Names of other constructs in the 01-infrastructure stack; nodes with these names once collided with them
// (regression test below).
const NAMES_TAKEN_IN_THE_STACK = ["talos", "proxmox", "local", "default", "backend"];

// ------------------------------------------------------------------------------------ valid configurations

// 0.0.0.0/8 and 224.0.0.0 and above are no server's address.
const usableIpV4 = fc.ipV4().filter((a) => Number(a.split(".")[0]) !== 0 && Number(a.split(".")[0]) < 224);
const dnsLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$/);
const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
const unicastMac = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .map(([first, ...rest]) => [first & 0xfe, ...rest].map((b) => b.toString(16).padStart(2, "0")).join(":"));

/** The first three octets of a /24 that overlaps neither the default pod/service networks nor the ones below. */
const network24 = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((c) => `192.168.${c}`),
  fc.tuple(fc.integer({ min: 16, max: 31 }), fc.integer({ min: 0, max: 255 })).map(([b, c]) => `172.${b}.${c}`),
);

const nodeOverrides = fc.record(
  {
    disk: fc.constantFrom("/dev/sda", "/dev/nvme0n1", "/dev/vdb"),
    schematic_id: hex(64),
    mtu: fc.integer({ min: 1450, max: 9000 }),
    secureboot: fc.boolean(),
    vm_cores: fc.integer({ min: 1, max: 512 }),
    vm_sockets: fc.integer({ min: 1, max: 8 }),
    vm_memory: fc.integer({ min: 2048, max: 4 * 1024 * 1024 }),
    vm_disk_size: fc.integer({ min: 10, max: 65536 }),
    vm_startup_order: fc.integer({ min: 0, max: 100 }),
    vm_startup_delay: fc.integer({ min: 0, max: 3600 }),
    vm_shutdown_delay: fc.integer({ min: 0, max: 3600 }),
    kernel_modules: fc.array(fc.stringMatching(/^[a-z0-9_-]{1,12}$/), { maxLength: 3 }),
    proxmox_node: fc.constantFrom("pve", "pve2", "node-b"),
  },
  { requiredKeys: [] },
);

const optionalClusterKeys = fc.record(
  {
    cluster_name: dnsLabel,
    node_dns_servers: fc.array(usableIpV4, { minLength: 1, maxLength: 3 }),
    node_ntp_servers: fc.array(fc.domain(), { minLength: 1, maxLength: 2 }),
    node_vlan_tag: fc.integer({ min: 1, max: 4094 }),
    cluster_api_vip: fc.boolean(),
    cluster_api_tls_sans: fc.array(fc.domain(), { maxLength: 2 }),
    cluster_cni: fc.constantFrom("cilium", "flannel", "none"),
    talos_extensions: fc.array(fc.stringMatching(/^siderolabs\/[a-z0-9-]{1,20}$/), { maxLength: 3 }),
    talos_image_factory_url: fc.constantFrom("https://factory.talos.dev", "http://factory.home.arpa:8080"),
    proxmox_api_insecure: fc.boolean(),
    proxmox_iso_storage: fc.constantFrom("local", "cephfs"),
    proxmox_disk_storage: fc.constantFrom("local-lvm", "ceph-rbd"),
    proxmox_vm_defaults: fc.record(
      {
        cores: fc.integer({ min: 1, max: 512 }),
        sockets: fc.integer({ min: 1, max: 8 }),
        memory: fc.integer({ min: 2048, max: 4 * 1024 * 1024 }),
        disk_size: fc.integer({ min: 10, max: 65536 }),
      },
      { requiredKeys: [] },
    ),
    proxmox_vm_advanced: fc.record(
      {
        bios: fc.constantFrom("ovmf", "seabios"),
        machine: fc.constantFrom("q35", "pc"),
        cpu_type: fc.constantFrom("host", "x86-64-v2-AES"),
        scsi_hw: fc.constantFrom("virtio-scsi-pci", "virtio-scsi-single", "lsi", "megasas", "pvscsi"),
        // At most the smallest memory a node can have, so that every generated config is valid: a balloon above
        // a node's memory is an error of its own (config.test.ts, "regressions").
        balloon: fc.integer({ min: 0, max: 2048 }),
        numa: fc.boolean(),
        qemu_agent: fc.boolean(),
        net_queues: fc.integer({ min: 0, max: 64 }),
        disk_discard: fc.boolean(),
        disk_ssd: fc.boolean(),
        // Unique: Proxmox merges a repeated tag, so the config refuses one (pve-fields.ts pveTags).
        tags: fc.uniqueArray(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9_.+-]{0,10}$/), {
          maxLength: 3,
          selector: (t) => t.toLowerCase(),
        }),
        network_bridge: fc.constantFrom("vmbr0", "vmbr1"),
      },
      { requiredKeys: [] },
    ),
    proxmox_csi_enabled: fc.boolean(),
    state_backend: fc.oneof(
      fc.constant({ type: "local" }),
      fc.record(
        {
          type: fc.constant("http"),
          address: fc.constantFrom("https://tfstate.example.com/state/homelab/{layer}", "http://10.0.0.5:8080/{layer}"),
          lock_address: fc.constant("https://tfstate.example.com/lock/{layer}"),
          lock_method: fc.constantFrom("LOCK", "POST"),
          skip_cert_verification: fc.boolean(),
        },
        { requiredKeys: ["type", "address"] },
      ),
    ),
  },
  { requiredKeys: [] },
);

/** Pod and service networks: both defaulted, or a pair that overlaps neither the other nor any node_cidr. */
const podAndServiceNetworks = fc.constantFrom<Entry>(
  {},
  { cluster_pod_cidr: "10.244.0.0/16", cluster_svc_cidr: "10.96.0.0/12" },
  { cluster_pod_cidr: "10.42.0.0/16" },
  { cluster_svc_cidr: "10.43.0.0/16" },
);

/** Random valid configurations: 1–9 nodes with unique names, addresses, vm_ids and MACs, at least one controller. */
const validConfig: fc.Arbitrary<RawConfig> = fc.integer({ min: 1, max: 9 }).chain((n) =>
  fc
    .record({
      net: network24,
      // Host octets from .2: .1 is the gateway when one is set; the last one is cluster_api_addr.
      hosts: fc.uniqueArray(fc.integer({ min: 2, max: 254 }), { minLength: n + 1, maxLength: n + 1 }),
      names: fc.uniqueArray(dnsLabel, { minLength: n, maxLength: n }),
      vmIds: fc.uniqueArray(fc.integer({ min: 100, max: 999_999_999 }), { minLength: n, maxLength: n }),
      macs: fc.uniqueArray(unicastMac, { minLength: n, maxLength: n }),
      controllers: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      alwaysController: fc.nat({ max: n - 1 }),
      withVmId: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      withMac: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      overrides: fc.array(nodeOverrides, { minLength: n, maxLength: n }),
      withGateway: fc.boolean(),
      networks: podAndServiceNetworks,
      optional: optionalClusterKeys,
    })
    .map((g): RawConfig => {
      const seabios = (g.optional.proxmox_vm_advanced as Entry | undefined)?.bios === "seabios";
      const nodes = g.names.map((name, i) => {
        const node: Entry = {
          name,
          address: `${g.net}.${g.hosts[i]}`,
          controller: g.controllers[i] || i === g.alwaysController,
          ...g.overrides[i],
        };
        if (g.withVmId[i]) node.vm_id = g.vmIds[i];
        if (g.withMac[i]) node.mac_addr = g.macs[i];
        if (seabios) delete node.secureboot; // SecureBoot needs OVMF
        return node;
      });
      const cluster: Entry = {
        node_cidr: `${g.net}.0/24`,
        cluster_api_addr: `${g.net}.${g.hosts[n]}`,
        talos_version: "v1.12.1",
        kubernetes_version: "v1.35.0",
        proxmox_api_url: "https://pve.example.com:8006/",
        proxmox_node: "pve",
        ...g.networks,
        ...g.optional,
      };
      if (g.withGateway) cluster.node_default_gateway = `${g.net}.1`;
      return { cluster, nodes };
    }),
);

describe("random valid configurations", () => {
  it(
    "load, with every node, in order, and nothing but warnings",
    async () => {
      await fc.assert(
        fc.asyncProperty(validConfig, async (config) => {
          await yieldToVitest();
          const { nodes, warnings } = parseConfig(serialize(config));
          expect(nodes.map((n) => n.name)).toEqual(config.nodes.map((n) => n.name));
          for (const warning of warnings) expect(warning.severity).toBe("warning");
        }),
        { numRuns: 300 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    "synthesize one Proxmox VM per node, with its name and vm_id",
    async () => {
      await fc.assert(
        fc.asyncProperty(validConfig, async (config) => {
          await yieldToVitest();
          const definition = parseConfig(serialize(config));
          const vms = Object.values(synthesizedVms(definition));
          expect(vms).toHaveLength(config.nodes.length);
          expect(vms.map((vm) => vm.name).sort()).toEqual(config.nodes.map((n) => n.name).sort());
          for (const node of config.nodes) {
            if (node.vm_id !== undefined) expect(vms.find((vm) => vm.name === node.name)?.vm_id).toBe(node.vm_id);
          }
        }),
        { numRuns: 15 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  // A node named like another construct of the 01 stack ("talos", "proxmox", ...) once made buildApp() throw.
  it(
    "synthesize whatever valid name a node has",
    async () => {
      for (const name of NAMES_TAKEN_IN_THE_STACK) {
        await yieldToVitest();
        const config: RawConfig = {
          cluster: {
            node_cidr: "192.168.1.0/24",
            cluster_api_addr: "192.168.1.10",
            talos_version: "v1.12.1",
            kubernetes_version: "v1.35.0",
            proxmox_api_url: "https://pve.example.com:8006/",
            proxmox_node: "pve",
          },
          nodes: [{ name, address: "192.168.1.21", controller: true }],
        };
        expect(Object.keys(synthesizedVms(parseConfig(serialize(config))))).toHaveLength(1);
      }
    },
    PROPERTY_TIMEOUT,
  );
});

/** Synthesizes into a fresh temporary folder and returns the proxmox_virtual_environment_vm resources of layer 01. */
function synthesizedVms(definition: ClusterDefinition): Record<string, { name: string; vm_id?: number }> {
  const dir = mkdtempSync(join(tmpdir(), "config-property-"));
  try {
    const outdir = join(dir, "cdktf.out");
    buildApp(resolveCluster(definition), { configDir: dir, outdir }).synth();
    const stack = JSON.parse(readFileSync(join(outdir, "stacks", "01-infrastructure", "cdk.tf.json"), "utf8"));
    return stack.resource.proxmox_virtual_environment_vm ?? {};
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- corruptions

interface Corrupted {
  readonly description: string;
  readonly sources: ConfigSources;
  /** The path of an error the loader must report, for corruptions that are certainly invalid. */
  readonly expectedErrorAt?: { readonly file: "cluster.yaml" | "nodes.yaml"; readonly path: KeyPath };
}

const shapeKeys = (schema: { shape: Record<string, unknown> }) => Object.keys(schema.shape);
/** The keys of a schema object without a default that are not optional. */
const requiredKeys = (schema: { shape: Record<string, { safeParse(value: unknown): { success: boolean } }> }) =>
  Object.entries(schema.shape).flatMap(([key, value]) => (value.safeParse(undefined).success ? [] : [key]));
const REQUIRED_CLUSTER_KEYS = requiredKeys(clusterSchema);
const REQUIRED_NODE_KEYS = requiredKeys(nodeSchema);
const NUMERIC_CLUSTER_PATHS = [
  ["node_vlan_tag"],
  ...["cores", "sockets", "memory", "disk_size"].map((k) => ["proxmox_vm_defaults", k]),
  ["proxmox_vm_advanced", "balloon"],
  ["proxmox_vm_advanced", "net_queues"],
];
const NUMERIC_NODE_KEYS = [
  "mtu",
  "vm_id",
  "vm_cores",
  "vm_sockets",
  "vm_memory",
  "vm_disk_size",
  "vm_startup_order",
  "vm_startup_delay",
  "vm_shutdown_delay",
];

/** Sets a value at a path, creating the mappings on the way. */
function setAt(root: Entry, path: readonly string[], value: unknown): void {
  let target = root;
  for (const key of path.slice(0, -1)) {
    target[key] ??= {};
    target = target[key] as Entry;
  }
  target[path[path.length - 1]] = value;
}

const corrupted = (
  config: RawConfig,
  description: string,
  expectedErrorAt?: Corrupted["expectedErrorAt"],
): Corrupted => ({
  description,
  sources: serialize(config),
  expectedErrorAt,
});

const deleteRequiredKey = (config: RawConfig): fc.Arbitrary<Corrupted> =>
  fc.oneof(
    fc.constantFrom(...REQUIRED_CLUSTER_KEYS).map((key) => {
      const c = structuredClone(config);
      delete c.cluster[key];
      return corrupted(c, `cluster.yaml without ${key}`, { file: "cluster.yaml", path: [key] });
    }),
    fc.tuple(fc.nat({ max: config.nodes.length - 1 }), fc.constantFrom(...REQUIRED_NODE_KEYS)).map(([i, key]) => {
      const c = structuredClone(config);
      delete c.nodes[i][key];
      return corrupted(c, `nodes[${i}] without ${key}`, { file: "nodes.yaml", path: ["nodes", i, key] });
    }),
  );

/**
 * Every numeric key takes whole numbers from 0 or 1 up, so a string other than digits (which cluster-template's
 * keys accept), a negative number or a fraction is wrong.
 */
const badNumber = fc.oneof(
  fc.integer({ min: 1, max: 100_000 }).map((n) => `${n} MiB`),
  fc.integer({ min: -100_000, max: -1 }),
  fc.integer({ min: 0, max: 100_000 }).map((n) => n + 0.5),
);

const breakNumber = (config: RawConfig): fc.Arbitrary<Corrupted> =>
  fc.oneof(
    fc.tuple(fc.constantFrom(...NUMERIC_CLUSTER_PATHS), badNumber).map(([path, value]) => {
      const c = structuredClone(config);
      setAt(c.cluster, path, value);
      return corrupted(c, `cluster.yaml ${path.join(".")}: ${JSON.stringify(value)}`, { file: "cluster.yaml", path });
    }),
    fc
      .tuple(fc.nat({ max: config.nodes.length - 1 }), fc.constantFrom(...NUMERIC_NODE_KEYS), badNumber)
      .map(([i, key, value]) => {
        const c = structuredClone(config);
        c.nodes[i][key] = value;
        return corrupted(c, `nodes[${i}].${key}: ${JSON.stringify(value)}`, {
          file: "nodes.yaml",
          path: ["nodes", i, key],
        });
      }),
  );

const duplicateNode = (config: RawConfig): fc.Arbitrary<Corrupted> =>
  fc.tuple(fc.nat({ max: config.nodes.length - 1 }), fc.nat({ max: config.nodes.length })).map(([source, at]) => {
    const c = structuredClone(config);
    c.nodes.splice(at, 0, structuredClone(config.nodes[source]));
    // The copy and the original: the later of the two is reported.
    const original = at <= source ? source + 1 : source;
    return corrupted(c, `nodes[${source}] copied to nodes[${at}]`, {
      file: "nodes.yaml",
      path: ["nodes", Math.max(original, at), "name"],
    });
  });

// Built once: constructing a stringMatching arbitrary is costly, and the known keys do not depend on the config.
const keyName = fc.stringMatching(/^[a-z][a-z_]{2,15}$/);
const unknownKeyName = (known: readonly string[]) =>
  keyName.filter((key) => !known.includes(key) && !IGNORED_CLUSTER_KEYS.has(key) && !IGNORED_NODE_KEYS.has(key));
const UNKNOWN_KEY = {
  cluster: unknownKeyName(shapeKeys(clusterSchema)),
  proxmox_vm_defaults: unknownKeyName(shapeKeys(vmDefaultsSchema)),
  proxmox_vm_advanced: unknownKeyName(shapeKeys(vmAdvancedSchema)),
  node: unknownKeyName(shapeKeys(nodeSchema)),
  nodesFile: unknownKeyName(["nodes"]),
};
const anyScalar = fc.oneof(fc.integer(), fc.string(), fc.boolean());

const insertUnknownKey = (config: RawConfig): fc.Arbitrary<Corrupted> =>
  fc.oneof(
    fc.tuple(UNKNOWN_KEY.cluster, anyScalar).map(([key, value]) => {
      const c = structuredClone(config);
      c.cluster[key] = value;
      return corrupted(c, `cluster.yaml ${key}`, { file: "cluster.yaml", path: [key] });
    }),
    fc
      .constantFrom("proxmox_vm_defaults", "proxmox_vm_advanced")
      .chain((parent) => fc.tuple(fc.constant(parent), UNKNOWN_KEY[parent], anyScalar))
      .map(([parent, key, value]) => {
        const c = structuredClone(config);
        setAt(c.cluster, [parent, key], value);
        return corrupted(c, `cluster.yaml ${parent}.${key}`, { file: "cluster.yaml", path: [parent, key] });
      }),
    fc.tuple(fc.nat({ max: config.nodes.length - 1 }), UNKNOWN_KEY.node, anyScalar).map(([i, key, value]) => {
      const c = structuredClone(config);
      c.nodes[i][key] = value;
      return corrupted(c, `nodes[${i}].${key}`, { file: "nodes.yaml", path: ["nodes", i, key] });
    }),
    fc.tuple(UNKNOWN_KEY.nodesFile, anyScalar).map(([key, value]) => {
      const sources = serialize(config);
      return {
        description: `nodes.yaml ${key}`,
        sources: { ...sources, nodes: `${sources.nodes}${stringify({ [key]: value })}` },
        expectedErrorAt: { file: "nodes.yaml" as const, path: [key] },
      };
    }),
  );

/** Certainly invalid: each must be reported as a ConfigError with an error at the corrupted path. */
const invalidCorruption = validConfig.chain((config) =>
  fc.oneof(deleteRequiredKey(config), breakNumber(config), duplicateNode(config), insertUnknownKey(config)),
);

const truncate = (config: RawConfig): fc.Arbitrary<Corrupted> =>
  fc.tuple(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true })).map(([inCluster, fraction]) => {
    const sources = serialize(config);
    const file = inCluster ? "cluster" : "nodes";
    const at = Math.floor(sources[file].length * fraction);
    return {
      description: `${file}.yaml cut after ${at} characters`,
      sources: { ...sources, [file]: sources[file].slice(0, at) },
    };
  });

// Raw text for a YAML value, YAML's syntax characters included ("*" too: an alias without its anchor is reported
// as a ConfigError, config.test.ts "regressions").
const rawUnicode = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({ unit: fc.constantFrom(..."*&!%|>-:[]{},#?@`\"' \n\t0.a"), maxLength: 12 }),
);

/** A random value of the text replaced by random unicode, written into the YAML text as it is (unquoted). */
const replaceValueText = (config: RawConfig): fc.Arbitrary<Corrupted> =>
  fc.tuple(fc.boolean(), fc.nat(), rawUnicode).map(([inCluster, pick, text]) => {
    const sources = serialize(config);
    const file = inCluster ? "cluster" : "nodes";
    const lines = sources[file].split("\n");
    const valueLines = lines.flatMap((line, i) => (/^\s*(- )?[a-z_]+: \S/.test(line) ? [i] : []));
    const i = valueLines[pick % valueLines.length];
    const key = /^(\s*(?:- )?[a-z_]+: )/.exec(lines[i])![1];
    lines[i] = key + text;
    return {
      description: `${file}.yaml line ${i + 1} set to ${JSON.stringify(lines[i])}`,
      sources: { ...sources, [file]: lines.join("\n") },
    };
  });

/** A random value replaced by a random unicode string, serialized properly. */
const replaceValue = (config: RawConfig): fc.Arbitrary<Corrupted> =>
  fc.tuple(fc.nat(), fc.string({ unit: "grapheme", maxLength: 12 })).map(([pick, text]) => {
    const c = structuredClone(config);
    const targets: [Entry, string][] = [
      ...Object.keys(c.cluster).map((k): [Entry, string] => [c.cluster, k]),
      ...c.nodes.flatMap((node) => Object.keys(node).map((k): [Entry, string] => [node, k])),
    ];
    const [entry, key] = targets[pick % targets.length];
    entry[key] = text;
    return corrupted(c, `${key}: ${JSON.stringify(text)}`);
  });

const anyCorruption = validConfig.chain((config) =>
  fc.oneof(
    deleteRequiredKey(config),
    breakNumber(config),
    duplicateNode(config),
    insertUnknownKey(config),
    truncate(config),
    replaceValueText(config),
    replaceValue(config),
  ),
);

/** parseConfig's ConfigError, undefined when it accepts the input; any other exception propagates. */
function configErrorOf(sources: ConfigSources): ConfigError | undefined {
  try {
    parseConfig(sources);
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

/** Every issue can be shown as `file:line:col path: message`, in file and line order, and the count is right. */
function expectWellFormed(error: ConfigError): void {
  const errors = error.issues.filter((i) => i.severity === "error");
  expect(errors.length).toBeGreaterThan(0);
  expect(
    error.message.startsWith(`${errors.length} error${errors.length === 1 ? "" : "s"} in the cluster configuration:\n`),
  ).toBe(true);
  for (const issue of error.issues) {
    expect(["cluster.yaml", "nodes.yaml"]).toContain(issue.file);
    expect(issue.line).toBeGreaterThanOrEqual(1);
    expect(issue.col).toBeGreaterThanOrEqual(1);
    expect(issue.message.trim()).not.toBe("");
  }
  const order = error.issues.map((i) => [i.file, i.line!] as const);
  const sorted = [...order].sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1]);
  expect(order).toEqual(sorted);
}

describe("random corruptions of a valid configuration", () => {
  it(
    "are accepted or reported as a ConfigError with well-formed issues, never another exception",
    async () => {
      await fc.assert(
        fc.asyncProperty(anyCorruption, async ({ sources }) => {
          await yieldToVitest();
          const error = configErrorOf(sources);
          if (error) expectWellFormed(error);
        }),
        { numRuns: 1000 },
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    "that are certainly invalid are reported as an error at the corrupted key",
    async () => {
      await fc.assert(
        fc.asyncProperty(invalidCorruption, async ({ sources, expectedErrorAt }) => {
          await yieldToVitest();
          const error = configErrorOf(sources);
          expect(error).toBeInstanceOf(ConfigError);
          expectWellFormed(error!);
          expect(error!.issues).toContainEqual(expect.objectContaining({ severity: "error", ...expectedErrorAt }));
        }),
        { numRuns: 500 },
      );
    },
    PROPERTY_TIMEOUT,
  );
});
