#!/usr/bin/env node
// A recording stand-in for talosctl (no Talos node exists in the tests). Its world is a JSON file
// (FAKE_TALOSCTL_STATE): { client, nodes: { <address>: { version, down, etcd } }, kubernetes, rejoinPolls,
// failUpgradeOn, failHealth, failSnapshotOn }. Every call is appended to FAKE_TALOSCTL_LOG as one JSON line (argv without
// --talosconfig). An upgraded node answers nothing for `rejoinPolls` version calls, as a rebooting node does.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";

const statePath = process.env.FAKE_TALOSCTL_STATE;
const world = JSON.parse(readFileSync(statePath, "utf8"));
const argv = process.argv.slice(2);
appendFileSync(
  process.env.FAKE_TALOSCTL_LOG,
  `${JSON.stringify(argv.filter((a) => !a.startsWith("--talosconfig")))}\n`,
);
const flag = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const save = () => writeFileSync(statePath, JSON.stringify(world));
const fail = (message) => {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
};

const node = flag("nodes");
switch (argv[0]) {
  case "version": {
    process.stdout.write(`Client:\n\tTag:         ${world.client}\n`);
    if (argv.includes("--client")) break;
    const n = world.nodes[node];
    if (!n) fail(`rpc error: unknown node ${node}`);
    if (n.down > 0) {
      n.down--;
      save();
      fail(`rpc error: code = Unavailable desc = connection refused (${node})`);
    }
    process.stdout.write(`Server:\n\tNODE:        ${node}\n\tTag:         ${n.version}\n`);
    break;
  }
  case "upgrade": {
    if (world.failUpgradeOn === node) fail(`upgrade of ${node} failed: image pull error`);
    world.nodes[node].version = flag("image").split(":").at(-1);
    world.nodes[node].down = world.rejoinPolls ?? 0;
    save();
    break;
  }
  case "health":
    if (world.failHealth) fail("etcd is unhealthy");
    break;
  case "upgrade-k8s":
    world.kubernetes = flag("to");
    save();
    break;
  case "reset":
    world.nodes[node].reset = true;
    save();
    break;
  case "service": {
    const n = world.nodes[node];
    if (!n || n.down > 0) fail(`rpc error: code = Unavailable desc = connection refused (${node})`);
    process.stdout.write(`NODE     ${node}\nID       etcd\nSTATE    ${n.etcd ?? "Running"}\n`);
    break;
  }
  case "etcd": {
    // etcd snapshot <file>: as talosctl, never over an existing file's .part, the file written whole.
    const file = argv[2];
    if (world.failSnapshotOn === node)
      fail(`error reading file: rpc error: code = Unavailable desc = etcd down on ${node}`);
    if (existsSync(`${file}.part`)) fail("the .part file exists");
    writeFileSync(file, `snapshot of ${node}`);
    process.stdout.write(
      `etcd snapshot saved to "${file}" (16 bytes)\nsnapshot info: hash 0badc0de, revision 7, total keys 3, total size 16\n`,
    );
    break;
  }
  case "bootstrap":
    world.nodes[node].recoveredFrom = flag("recover-from");
    world.nodes[node].etcd = "Running";
    save();
    break;
  default:
    fail(`the stand-in knows no "${argv[0]}"`);
}
