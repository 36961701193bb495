/**
 * A real S3 server on 127.0.0.1 for the engine tests: versitygw (built by judges/s3-store/build.sh) serving a
 * temporary folder, one root account, the buckets asked for. Node 20 built-ins only.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BUILD = join(__dirname, "build.sh");

export interface S3Store {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The folder behind the store: a bucket is a folder, an object a file under it. */
  readonly root: string;
  close(): Promise<void>;
}

/** The versitygw binary; throws with what to run when it is not built. */
export function versitygw(): string {
  const run = spawnSync(BUILD, ["--print-env"], { encoding: "utf8" });
  const binary = /^VERSITYGW=(.+)$/m.exec(run.stdout ?? "")?.[1];
  if (run.status !== 0 || !binary)
    throw new Error(`The S3 store is not built: run judges/s3-store/build.sh.\n${run.stderr ?? ""}`);
  return binary;
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for the server to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts connections; rejects after `timeoutMs` or when `exited()` says so. */
export async function waitForPort(port: number, exited: () => string | undefined, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.on("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    const why = exited();
    if (why) throw new Error(why);
    if (Date.now() - start > timeoutMs) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startS3Store(buckets: readonly string[]): Promise<S3Store> {
  const binary = versitygw();
  const root = mkdtempSync(join(tmpdir(), "s3-store-"));
  // versitygw's posix backend: every folder at the top is a bucket.
  for (const bucket of buckets) mkdirSync(join(root, "data", bucket), { recursive: true });
  const accessKeyId = "s3-store-test";
  const secretAccessKey = "s3-store-test-secret-key";
  const port = await freePort();
  let output = "";
  let exit: string | undefined;
  const child = spawn(binary, ["--port", `127.0.0.1:${port}`, "--quiet", "posix", join(root, "data")], {
    env: { PATH: process.env.PATH, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
  const exited = new Promise<void>((resolve) =>
    child.on("exit", (code, signal) => {
      exit = `versitygw exited (${signal ?? code}):\n${output}`;
      resolve();
    }),
  );
  try {
    await waitForPort(port, () => exit);
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    accessKeyId,
    secretAccessKey,
    root: join(root, "data"),
    close: async () => {
      if (!exit) child.kill("SIGTERM");
      await exited;
      rmSync(root, { recursive: true, force: true });
    },
  };
}
