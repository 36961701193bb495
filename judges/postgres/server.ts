/**
 * A real PostgreSQL on 127.0.0.1 for the engine tests: a throwaway cluster (Debian's postgresql package: initdb and
 * pg_ctl from /usr/lib/postgresql/<version>/bin) in a temporary folder, on a free port, with one password-protected
 * role. PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to and runs as the `postgres` user
 * the package creates. Node 20 built-ins only.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../s3-store/server";

const execFileAsync = promisify(execFile);

export interface Postgres {
  /** postgres://<user>:<password>@127.0.0.1:<port>/postgres?sslmode=disable: what PG_CONN_STR gets. */
  readonly connectionString: string;
  readonly port: number;
  /** Runs SQL as the role, through psql; resolves with its unaligned, tuples-only output. */
  query(sql: string): Promise<string>;
  close(): Promise<void>;
}

/** The newest installed PostgreSQL's bin folder; throws with what to install when there is none. */
export function postgresBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error("PostgreSQL is not installed: apt-get install postgresql (.ci/run installs it when missing)");
  return join(base, versions[0], "bin");
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  const dir = mkdtempSync("/tmp/postgres-judge-");
  const asRoot = userInfo().uid === 0;
  const owner = asRoot ? await idsOf("postgres") : undefined;
  const user = "tofu";
  const password = `judge-${Math.random().toString(36).slice(2)}`;
  const data = join(dir, "data");
  writeFileSync(join(dir, "password"), `${password}\n`);
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(join(dir, "password"), owner.uid, owner.gid);
  }
  chmodSync(dir, 0o700);
  // As root, every PostgreSQL program runs as the postgres user.
  const run = (program: string, args: string[]) =>
    owner
      ? execFileAsync("runuser", ["-u", "postgres", "--", join(bin, program), ...args], { cwd: dir })
      : execFileAsync(join(bin, program), args, { cwd: dir });
  const port = await freePort();
  try {
    await run("initdb", [
      "-D",
      data,
      "-U",
      user,
      `--pwfile=${join(dir, "password")}`,
      "--auth=scram-sha-256",
      "--no-sync",
      "-E",
      "UTF8",
    ]);
    await run("pg_ctl", [
      "-D",
      data,
      "-l",
      join(dir, "log"),
      "-w",
      "-t",
      "60",
      "-o",
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off`,
      "start",
    ]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const connectionString = `postgres://${user}:${password}@127.0.0.1:${port}/postgres?sslmode=disable`;
  return {
    connectionString,
    port,
    query: async (sql) =>
      (
        await execFileAsync(join(bin, "psql"), ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, connectionString])
      ).stdout.trim(),
    close: async () => {
      await run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function idsOf(name: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all(
    ["-u", "-g"].map(async (flag) => Number((await execFileAsync("id", [flag, name])).stdout.trim())),
  );
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`no user ${name} (apt-get install postgresql)`);
  return { uid, gid };
}
