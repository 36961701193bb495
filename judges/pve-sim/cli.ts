/**
 * Runs the Proxmox VE API simulator until SIGINT/SIGTERM:
 *   npm run pve-sim -- --port <p> [--state <file>] [--nodes pve1,pve2] [--storage <spec>]... [--token <t>]...
 *     [--root-password <pw>] [--pci <node>=<id>[;<id>]]... [--pci-mapping <name>:<node>=<id>[;<node>=<id>]]...
 *     [--no-guest-agent]
 * --storage <id>:<type>:<content,...>[:shared][:<node>;<node>] (repeatable) replaces the default storages
 *   (local: dir iso,vztmpl,backup,snippets,import; local-lvm: lvmthin images,rootdir).
 * --token user@realm!id=secret (repeatable): a token accepted besides those created through the API; without
 *   any, one for root@pam is made up and printed.
 * --root-password: root@pam's password, for a login with a ticket (the provider's PROXMOX_VE_USERNAME/PASSWORD).
 * Prints the endpoint and, for a made-up token, `PROXMOX_VE_API_TOKEN=...` on stdout.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { startPveSim } from "./server";
import type { StorageDef } from "./state";

function parseStorage(spec: string): StorageDef {
  const [id, type, content, ...rest] = spec.split(":");
  if (!id || !type || !content)
    throw new Error(`--storage ${spec}: expected <id>:<type>:<content,...>[:shared][:<node>;<node>]`);
  const shared = rest.includes("shared");
  const nodes = rest.find((r) => r !== "shared");
  return { id, type, content: content.split(","), shared, ...(nodes ? { nodes: nodes.split(";") } : {}) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8006" },
      state: { type: "string" },
      nodes: { type: "string", default: "pve" },
      storage: { type: "string", multiple: true },
      token: { type: "string", multiple: true },
      "root-password": { type: "string" },
      pci: { type: "string", multiple: true },
      "pci-mapping": { type: "string", multiple: true },
      "no-guest-agent": { type: "boolean", default: false },
    },
  });
  const tokens = values.token ?? [];
  const madeUp = tokens.length === 0 ? `root@pam!pve-sim=${randomUUID()}` : undefined;
  const pciDevices: Record<string, string[]> = {};
  for (const p of values.pci ?? []) {
    const [node, ids] = p.split("=");
    pciDevices[node] = [...(pciDevices[node] ?? []), ...ids.split(";")];
  }
  const pciMappings: Record<string, Record<string, string>> = {};
  for (const m of values["pci-mapping"] ?? []) {
    const [name, entries] = [m.slice(0, m.indexOf(":")), m.slice(m.indexOf(":") + 1)];
    pciMappings[name] = Object.fromEntries(entries.split(";").map((e) => e.split("=") as [string, string]));
  }
  const sim = await startPveSim({
    port: Number(values.port),
    stateFile: values.state,
    nodes: values.nodes!.split(","),
    storages: values.storage?.map(parseStorage),
    tokens: madeUp ? [madeUp] : tokens,
    rootPassword: values["root-password"],
    pciDevices,
    pciMappings,
    guestAgent: !values["no-guest-agent"],
  });
  process.stdout.write(`pve-sim listening on ${sim.url} (self-signed certificate)\n`);
  if (madeUp) process.stdout.write(`PROXMOX_VE_API_TOKEN=${madeUp}\n`);
  const stop = () => void sim.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: Error) => {
  process.stderr.write(`pve-sim: ${error.message}\n`);
  process.exit(1);
});
