// Real DNS servers from Debian's packages as judges of what `npm run dns` writes: BIND (named-checkzone, and a
// named on loopback answering the zones), dnsmasq and Unbound loading their files and answering on loopback,
// all asked with dig. Every server listens on 127.0.0.1 on a free port and is stopped by the caller.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const DNS_TOOLS = ["named", "named-checkzone", "dig", "dnsmasq", "unbound", "unbound-checkconf"] as const;

/** The tools missing on this machine (`.ci/run` installs them: bind9, bind9-utils, bind9-dnsutils, dnsmasq-base, unbound). */
export async function missingDnsTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of DNS_TOOLS) {
    try {
      await run("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  return missing;
}

/** named-checkzone's verdict on one zone file: its output, and whether it loaded. */
export async function checkZone(zone: string, file: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run("named-checkzone", ["-k", "fail", "-n", "fail", zone, file]);
    return { ok: true, output: stdout + stderr };
  } catch (e) {
    const { stdout = "", stderr = "" } = e as { stdout?: string; stderr?: string };
    return { ok: false, output: stdout + stderr };
  }
}

export interface DnsServer {
  readonly port: number;
  /** The answers dig gets for a name and type, in the order given, without TTLs. */
  ask(name: string, type: "A" | "PTR"): Promise<string[]>;
  stop(): Promise<void>;
}

/** A port free for both UDP and TCP on 127.0.0.1 at the time of asking. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() =>
          typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
        );
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket("udp4");
      socket.once("error", () => resolve(false));
      socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error("no free port on 127.0.0.1");
}

async function dig(port: number, name: string, type: "A" | "PTR"): Promise<string[]> {
  const args = ["@127.0.0.1", "-p", String(port), "+short", "+norecurse", "+time=2", "+tries=1"];
  const { stdout } = await run("dig", type === "PTR" ? [...args, "-x", name] : [...args, name, type]);
  // dig prints its warnings (";; Warning: query response not set" when something else holds the port) with +short
  // too: they are not answers.
  return stdout.split("\n").filter((line) => line !== "" && !line.startsWith(";"));
}

/**
 * Runs `start` on a free port, again on another one when it fails: between asking for a free port and the server
 * binding it, another engineer's process on this machine may take it.
 */
async function onFreePort(start: (port: number) => Promise<DnsServer>): Promise<DnsServer> {
  const errors: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
    }
  }
  throw new Error(errors.join("\n\n"));
}

/** Starts `command`, waits until it answers `probe` (or fails with its output), returns it as a DnsServer. */
async function serve(command: string, args: string[], port: number, probe: string): Promise<DnsServer> {
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const server: DnsServer = {
    port,
    ask: (name, type) => dig(port, name, type),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
  // named loads its zones in seconds on a quiet machine; under a loaded one it has taken longer than 15 s.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}:\n${output}`);
    // named stays up when it cannot bind its listen-on port: give the port back at once rather than wait 60 s.
    if (/address in use/i.test(output)) {
      await server.stop();
      throw new Error(`${command} could not bind 127.0.0.1:${port}:\n${output}`);
    }
    try {
      if ((await dig(port, probe, "A")).length > 0) return server;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await server.stop();
  throw new Error(`${command} did not answer ${probe} on 127.0.0.1:${port} within 60 s:\n${output}`);
}

/** named on 127.0.0.1, authoritative for `zones` (zone name -> file), answering `probe` when ready. */
export async function startNamed(dir: string, zones: ReadonlyMap<string, string>, probe: string): Promise<DnsServer> {
  return onFreePort(async (port) => {
    const conf = join(dir, "named.conf");
    writeFileSync(
      conf,
      [
        "options {",
        `  directory "${dir}";`,
        `  pid-file "${join(dir, "named.pid")}";`,
        `  session-keyfile "${join(dir, "session.key")}";`,
        `  listen-on port ${port} { 127.0.0.1; };`,
        "  listen-on-v6 { none; };",
        "  recursion no;",
        "  dnssec-validation no;",
        "};",
        ...[...zones].map(([zone, file]) => `zone "${zone}" { type primary; file "${file}"; };`),
        "",
      ].join("\n"),
    );
    await run("named-checkconf", [conf]);
    return serve("named", ["-g", "-4", "-c", conf], port, probe);
  });
}

/** dnsmasq on 127.0.0.1 with `file` as its only configuration (no upstream, no /etc/hosts). */
export async function startDnsmasq(dir: string, file: string, probe: string): Promise<DnsServer> {
  return onFreePort(async (port) => {
    await run("dnsmasq", ["--test", `--conf-file=${file}`]);
    return serve(
      "dnsmasq",
      [
        "--keep-in-foreground",
        `--conf-file=${file}`,
        `--port=${port}`,
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--no-dhcp-interface=lo",
        `--pid-file=${join(dir, "dnsmasq.pid")}`,
        "--user=root",
      ],
      port,
      probe,
    );
  });
}

/** unbound on 127.0.0.1 with `file` included in its server clause, checked by unbound-checkconf first. */
export async function startUnbound(dir: string, file: string, probe: string): Promise<DnsServer> {
  return onFreePort(async (port) => {
    const conf = join(dir, "unbound-main.conf");
    writeFileSync(
      conf,
      [
        "server:",
        "  interface: 127.0.0.1",
        `  port: ${port}`,
        "  do-ip6: no",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        `  directory: "${dir}"`,
        `  pidfile: "${join(dir, "unbound.pid")}"`,
        "  use-syslog: no",
        "  access-control: 127.0.0.0/8 allow",
        `include: "${file}"`,
        "",
      ].join("\n"),
    );
    await run("unbound-checkconf", [conf]);
    return serve("unbound", ["-d", "-c", conf], port, probe);
  });
}
