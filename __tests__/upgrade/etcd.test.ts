// ./bootstrap.sh etcd-snapshot and etcd-recover below the script: the gate their paths go through, the refusal
// unless every controller's etcd waits for a bootstrap, and the talosctl calls they make (through the real
// TalosctlCli seam, against the recording stand-in). The real talosctl against the Talos node simulators runs them
// in __tests__/engine/etcd-recovery-e2e.test.ts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  defaultSnapshotFile,
  recoverRefusals,
  recoverSource,
  runRecovery,
  snapshotTarget,
  takeSnapshot,
} from "../../scripts/upgrade/etcd";
import { nodesAt, standInTalosctl } from "./stand-in";

const work = mkdtempSync(join(tmpdir(), "etcd-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const config = join(work, "config");
mkdirSync(join(config, "backups"), { recursive: true });
writeFileSync(join(config, "backups", "old.db"), "old");
mkdirSync(join(work, "elsewhere"));
symlinkSync(join(work, "elsewhere"), join(config, "outside-link"));

const controllers = [
  { name: "cp0", address: "10.0.0.10" },
  { name: "cp1", address: "10.0.0.11" },
];
const standIn = (name: string, etcd: Record<string, string> = {}) => {
  const s = standInTalosctl(join(work, name), {
    client: "v1.12.6",
    nodes: nodesAt(["10.0.0.10", "10.0.0.11", "10.0.0.20"], "v1.11.6"),
  });
  s.set({ nodes: Object.fromEntries(Object.entries(s.world().nodes).map(([a, n]) => [a, { ...n, etcd: etcd[a] }])) });
  return s;
};

describe("the snapshot's file", () => {
  const now = new Date("2026-12-04T11:35:04.123Z");

  it("is backups/etcd-<UTC time>.db inside the config folder by default", () => {
    expect(defaultSnapshotFile(now)).toBe("backups/etcd-2026-12-04T113504Z.db");
    expect(snapshotTarget(config, undefined, now)).toEqual({
      file: join(config, "backups/etcd-2026-12-04T113504Z.db"),
    });
  });

  it("is --out when given, in a folder that may not exist yet", () => {
    expect(snapshotTarget(config, "snapshots/a.db", now)).toEqual({ file: join(config, "snapshots/a.db") });
  });

  it.each<[string, RegExp]>([
    [
      "../a.db",
      /^--out=\.\.\/a\.db is \S+\/a\.db, outside the config folder \S+config; etcd's snapshots stay beside cluster\.yaml$/,
    ],
    ["/tmp/a.db", /^--out=\/tmp\/a\.db is \/tmp\/a\.db, outside the config folder/],
    [
      "outside-link/a.db",
      /^--out=outside-link\/a\.db is \S+config\/outside-link\/a\.db \(\S+elsewhere\/a\.db\), outside/,
    ],
    [
      "backups/old.db",
      /^--out=backups\/old\.db: \S+ exists already; a snapshot never replaces a file \(name a new one\)$/,
    ],
    ["backups/old.db/a.db", /^--out=backups\/old\.db\/a\.db: \S+old\.db is not a folder$/],
  ])("refuses --out=%s", (out, reason) => {
    expect(snapshotTarget(config, out, now)).toEqual({ reason: expect.stringMatching(reason) });
  });

  it("--from is an existing file inside the config folder", () => {
    expect(recoverSource(config, "backups/old.db")).toEqual({ file: join(config, "backups/old.db") });
    expect(recoverSource(config, "backups/none.db")).toEqual({ reason: expect.stringMatching(/does not exist$/) });
    expect(recoverSource(config, "backups")).toEqual({ reason: expect.stringMatching(/is not a file$/) });
    expect(recoverSource(config, "../elsewhere/x.db")).toEqual({ reason: expect.stringMatching(/outside the config/) });
  });
});

describe("etcd-snapshot", () => {
  it("asks the first controller, and the next when it gives none", async () => {
    const s = standIn("snapshot");
    s.set({ failSnapshotOn: "10.0.0.10" });
    const file = join(config, "backups", "new.db");
    const log: string[] = [];
    expect(await takeSnapshot(s.talosctl, controllers, file, (l) => log.push(l))).toEqual(controllers[1]);
    expect(readFileSync(file, "utf8")).toBe("snapshot of 10.0.0.11");
    expect(s.calls().map((c) => c.slice(0, 3))).toEqual([
      ["etcd", "snapshot", file],
      ["etcd", "snapshot", file],
    ]);
    expect(log).toContain("cp0 gave no snapshot; trying the next controller");
  });

  it("fails naming every controller when none gives one", async () => {
    const s = standIn("no-snapshot");
    s.set({ failSnapshotOn: "10.0.0.10" });
    await expect(takeSnapshot(s.talosctl, controllers.slice(0, 1), join(config, "x.db"), () => {})).rejects.toThrow(
      /^no controller gave a snapshot: cp0: .*etcd down on 10\.0\.0\.10/,
    );
  });
});

describe("etcd-recover", () => {
  it("is refused unless every controller's etcd waits for a bootstrap, naming each that does not", async () => {
    const s = standIn("refused", { "10.0.0.10": "Preparing" });
    s.set({ nodes: { ...s.world().nodes, "10.0.0.11": { version: "v1.11.6", etcd: "Running" } } });
    expect(await recoverRefusals(s.talosctl, controllers)).toEqual([
      "cp1 (10.0.0.11): etcd is Running, not waiting for a bootstrap (Preparing)",
    ]);
    s.set({ nodes: { ...s.world().nodes, "10.0.0.11": { version: "v1.11.6", down: 5 } } });
    expect(await recoverRefusals(s.talosctl, controllers)).toEqual([
      "cp1 (10.0.0.11): etcd is not answering, not waiting for a bootstrap (Preparing)",
    ]);
  });

  it("restores on the first controller alone, then waits for talosctl health of every node", async () => {
    const s = standIn("recover", { "10.0.0.10": "Preparing", "10.0.0.11": "Preparing" });
    expect(await recoverRefusals(s.talosctl, controllers)).toEqual([]);
    const file = join(config, "backups", "old.db");
    await runRecovery({
      talosctl: s.talosctl,
      controllers,
      workers: [{ name: "w0", address: "10.0.0.20" }],
      file,
      skipHashCheck: false,
      log: () => {},
    });
    const calls = s.calls().filter((c) => c[0] !== "service");
    expect(calls).toEqual([
      ["bootstrap", "--nodes=10.0.0.10", "--endpoints=10.0.0.10", `--recover-from=${file}`],
      [
        "health",
        "--nodes=10.0.0.10",
        "--endpoints=10.0.0.10",
        "--control-plane-nodes=10.0.0.10,10.0.0.11",
        "--worker-nodes=10.0.0.20",
        "--wait-timeout=10m",
      ],
    ]);
    expect(s.world().nodes["10.0.0.11"].recoveredFrom).toBeUndefined();
  });

  it("passes --recover-skip-hash-check when asked, and stops when health does not pass", async () => {
    const s = standIn("skip-hash", { "10.0.0.10": "Preparing", "10.0.0.11": "Preparing" });
    s.set({ failHealth: true });
    await expect(
      runRecovery({ talosctl: s.talosctl, controllers, workers: [], file: "f.db", skipHashCheck: true, log: () => {} }),
    ).rejects.toThrow(/health .*etcd is unhealthy/);
    expect(s.calls()[0]).toEqual([
      "bootstrap",
      "--nodes=10.0.0.10",
      "--endpoints=10.0.0.10",
      "--recover-from=f.db",
      "--recover-skip-hash-check",
    ]);
  });
});
