// npm run dns -- [<config folder>] [--format zone|dnsmasq|unbound] [--reverse] [--serial N] [--ns NAME] [--out DIR]
//
// The DNS records of the cluster (API address, Talos nodes) and of every guest with a fixed address, for the
// user's own DNS. Without --out it prints one form (zone: the forward zone file); with --out DIR it writes every
// form there: <zone>.zone for the domain and, with --reverse, one reverse zone per /24; dnsmasq.conf;
// unbound.conf. CONFIG_DIR works as for synth.
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, resolveCluster } from "../../config";
import { DEFAULT_ZONE_OPTIONS, dnsmasqConf, unboundConf, type ZoneOptions, zoneFiles } from "./formats";
import { clusterRecords } from "./records";

const FORMATS = ["zone", "dnsmasq", "unbound"] as const;
type Format = (typeof FORMATS)[number];

class UsageError extends Error {}

export interface DnsRequest {
  readonly dir: string;
  readonly format: Format;
  readonly out?: string;
  readonly zone: ZoneOptions;
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The command line, checked: every value a flag takes has one meaning and one form. */
export function parseDnsArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): DnsRequest {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`one config folder at most, got ${positionals.join(" ")}`);
  const format = values.format ?? "zone";
  if (!(FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format is one of ${FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  const serial = values.serial ?? String(DEFAULT_ZONE_OPTIONS.serial);
  if (!/^[0-9]{1,10}$/.test(serial) || Number(serial) < 1 || Number(serial) > 4294967295)
    throw new UsageError(`--serial is a whole number from 1 to 4294967295, got ${JSON.stringify(serial)}`);
  const nameServer = (values.ns ?? DEFAULT_ZONE_OPTIONS.nameServer).replace(/\.$/, "");
  if (!HOSTNAME.test(nameServer))
    throw new UsageError(`--ns is a host name like ns1.example.net, got ${JSON.stringify(values.ns)}`);
  if (values.out === undefined && format === "zone" && values.reverse)
    throw new UsageError("--reverse writes one zone file per /24: give --out DIR");
  return {
    dir: positionals[0] ?? env.CONFIG_DIR ?? ".",
    format: format as Format,
    out: values.out,
    zone: { ...DEFAULT_ZONE_OPTIONS, serial: Number(serial), nameServer, reverse: values.reverse ?? false },
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      format: { type: "string" },
      reverse: { type: "boolean" },
      serial: { type: "string" },
      ns: { type: "string" },
      out: { type: "string" },
    },
  });
}

/** The files of a request, by name (relative to --out), or the one text to print. */
export function dnsOutput(request: DnsRequest): Map<string, string> {
  const records = clusterRecords(resolveCluster(loadConfig(request.dir)));
  const files = new Map<string, string>();
  const zones = zoneFiles(records, request.zone);
  if (request.out === undefined) {
    const text =
      request.format === "zone"
        ? zones.get(records.domain)
        : request.format === "dnsmasq"
          ? dnsmasqConf(records, request.zone.reverse)
          : unboundConf(records, request.zone);
    files.set("-", text ?? "");
    return files;
  }
  for (const [zone, text] of zones) files.set(`${zone}.zone`, text);
  files.set("dnsmasq.conf", dnsmasqConf(records, request.zone.reverse));
  files.set("unbound.conf", unboundConf(records, request.zone));
  return files;
}

/** Writes every file into `out` (made when missing, its parent must exist), or prints the one text. */
export function writeDnsOutput(out: string | undefined, files: Map<string, string>): void {
  if (out === undefined) {
    process.stdout.write(files.get("-") ?? "");
    return;
  }
  const target = resolve(out);
  if (!existsSync(dirname(target))) throw new UsageError(`--out ${out}: its parent folder does not exist`);
  if (existsSync(target) && !statSync(target).isDirectory()) throw new UsageError(`--out ${out} is not a folder`);
  mkdirSync(target, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(target, name), text);
  process.stderr.write(`wrote ${[...files.keys()].join(", ")} to ${out}\n`);
}

if (require.main === module) {
  try {
    const request = parseDnsArgs(process.argv.slice(2));
    writeDnsOutput(request.out, dnsOutput(request));
  } catch (e) {
    if (!(e instanceof ConfigError || e instanceof UsageError)) throw e;
    process.stderr.write(`${e instanceof UsageError ? "npm run dns: " : ""}${e.message}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
}
