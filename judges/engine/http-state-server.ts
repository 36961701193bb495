/**
 * A test server for the Terraform/OpenTofu `http` state backend, kept in memory.
 *
 * Protocol (as OpenTofu's internal/backend/remote-state/http/client.go speaks it):
 * - `GET <path>`: 200 with the state, or 404 when there is none (the client reads 404, 204
 *   and an empty body as "no state yet"). A `Content-MD5` header carries the body's MD5.
 * - `<updateMethod> <path>[?ID=<lock id>]`: stores the body as the state. While the path is
 *   locked, the `ID` must be the holder's; an `ID` for a path that holder doesn't hold is refused.
 * - `<lockMethod> <path>`: the body is the lock info JSON (`ID`, `Operation`, `Who`, ...). 200 when
 *   taken; 423 Locked with the current holder's lock info when someone holds it (the client
 *   turns that into a lock error naming the holder).
 * - `<unlockMethod> <path>`: the body is lock info with the `ID` to release (`tofu force-unlock`
 *   sends only the `ID`). 200 when released or not locked; 423 with the holder's info when
 *   the `ID` is someone else's.
 * - `DELETE <path>`: forgets the state.
 * One state and one lock per URL path, so point `address`, `lock_address` and `unlock_address`
 * at the same URL. With `username` set, requests need that basic auth: 401 without
 * credentials, 403 with wrong ones (the statuses the client reports as such).
 *
 * Library: `startStateServer({ port: 0 })`. CLI, until SIGINT/SIGTERM:
 *   node --import tsx judges/engine/http-state-server.ts [--port N] [--host H]
 *     [--username U --password P] [--lock-method M] [--unlock-method M] [--update-method M]
 * Node 20 built-ins only.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, METHODS, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";

/** Lock info as the client sends it (statemgr.LockInfo marshalled). */
export interface LockInfo {
  readonly ID: string;
  readonly Operation?: string;
  readonly Info?: string;
  readonly Who?: string;
  readonly Version?: string;
  readonly Created?: string;
  readonly Path?: string;
}

export interface StateServerOptions {
  /**
   * Port to listen on; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * Address to listen on.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Basic auth user name every request must carry; `password` goes with it.
   * @default - no authentication
   */
  readonly username?: string;
  /**
   * Basic auth password, used only with `username`.
   * @default ''
   */
  readonly password?: string;
  /**
   * Method that takes a lock (the backend's `lock_method`). Must be one Node's HTTP parser knows.
   * @default 'LOCK'
   */
  readonly lockMethod?: string;
  /**
   * Method that releases a lock (the backend's `unlock_method`).
   * @default 'UNLOCK'
   */
  readonly unlockMethod?: string;
  /**
   * Method that writes the state (the backend's `update_method`).
   * @default 'POST'
   */
  readonly updateMethod?: string;
}

export interface StateServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`; append a path per state. */
  readonly url: string;
  readonly port: number;
  /** The state stored at `path` (e.g. `/states/dev`), parsed as JSON, or undefined if none. */
  getState(path: string): unknown;
  /** The raw state stored at `path`, or undefined if none. */
  getRawState(path: string): string | undefined;
  /** The lock info held on `path`, or undefined if unlocked. */
  getLock(path: string): LockInfo | undefined;
  /** Stores a state at `path`, as a client's write would. */
  setState(path: string, state: string | object): void;
  /** Takes the lock on `path` as some other client would; false if it is already held. */
  lock(path: string, info: LockInfo): boolean;
  /** Drops the lock on `path`, whoever holds it. */
  unlock(path: string): void;
  /** Every request served so far, in order: method and path (with query). */
  readonly requests: ReadonlyArray<{ readonly method: string; readonly url: string }>;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string = "",
  ) {
    super(`HTTP ${status}`);
  }
}

/** Starts the server; resolves once it listens. */
export async function startStateServer(options: StateServerOptions = {}): Promise<StateServer> {
  const lockMethod = options.lockMethod ?? "LOCK";
  const unlockMethod = options.unlockMethod ?? "UNLOCK";
  const updateMethod = options.updateMethod ?? "POST";
  const problems: string[] = [];
  const methods = { lockMethod, unlockMethod, updateMethod };
  for (const [prop, value] of Object.entries(methods)) {
    if (!METHODS.includes(value)) {
      problems.push(`'${prop}' (${value}) must be a method Node's HTTP parser accepts: ${METHODS.join(", ")}`);
    }
    if (value === "GET" || value === "DELETE")
      problems.push(`'${prop}' (${value}) clashes with the ${value} of the state`);
  }
  if (new Set(Object.values(methods)).size !== 3) {
    problems.push(
      `'lockMethod' (${lockMethod}), 'unlockMethod' (${unlockMethod}) and 'updateMethod' (${updateMethod}) must differ`,
    );
  }
  if (options.password !== undefined && options.username === undefined) {
    problems.push(`'password' is set but 'username' is not`);
  }
  if (problems.length > 0) throw new Error(`startStateServer: ${problems.join("; ")}`);

  const states = new Map<string, string>();
  const locks = new Map<string, LockInfo>();
  const requests: Array<{ method: string; url: string }> = [];
  const expectedAuth =
    options.username === undefined
      ? undefined
      : Buffer.from(`Basic ${Buffer.from(`${options.username}:${options.password ?? ""}`).toString("base64")}`);

  function checkAuth(req: IncomingMessage): void {
    if (expectedAuth === undefined) return;
    const given = req.headers.authorization;
    if (given === undefined) throw new HttpError(401, "authentication required");
    const buf = Buffer.from(given);
    if (buf.length !== expectedAuth.length || !timingSafeEqual(buf, expectedAuth)) {
      throw new HttpError(403, "invalid credentials");
    }
  }

  function parseLockInfo(body: string): LockInfo {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new HttpError(400, "lock info must be JSON");
    }
    const id = (parsed as { ID?: unknown } | null)?.ID;
    if (typeof id !== "string" || id === "") throw new HttpError(400, 'lock info needs a non-empty "ID"');
    return parsed as LockInfo;
  }

  function handle(
    method: string,
    path: string,
    query: URLSearchParams,
    req: IncomingMessage,
    body: string,
  ): [number, string] {
    checkAuth(req);
    const held = locks.get(path);
    switch (method) {
      case "GET": {
        const state = states.get(path);
        if (state === undefined) throw new HttpError(404);
        return [200, state];
      }
      case "DELETE":
        states.delete(path);
        return [200, ""];
      case updateMethod: {
        const md5 = req.headers["content-md5"];
        if (typeof md5 === "string" && md5 !== createHash("md5").update(body).digest("base64")) {
          throw new HttpError(400, "Content-MD5 does not match the body");
        }
        const id = query.get("ID");
        if (held !== undefined && id !== held.ID) throw new HttpError(423, JSON.stringify(held));
        if (held === undefined && id !== null) throw new HttpError(409, `no lock ${id} on ${path}`);
        states.set(path, body);
        return [200, ""];
      }
      case lockMethod: {
        const info = parseLockInfo(body);
        if (held !== undefined) throw new HttpError(423, JSON.stringify(held));
        locks.set(path, info);
        return [200, ""];
      }
      case unlockMethod: {
        const info = parseLockInfo(body);
        if (held !== undefined && held.ID !== info.ID) throw new HttpError(423, JSON.stringify(held));
        locks.delete(path);
        return [200, ""];
      }
      default:
        throw new HttpError(405, `method ${method} not served`);
    }
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const method = req.method ?? "GET";
      const url = new URL(req.url ?? "/", "http://state.invalid");
      requests.push({ method, url: `${url.pathname}${url.search}` });
      let status: number;
      let body: string;
      try {
        [status, body] = handle(method, url.pathname, url.searchParams, req, Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        [status, body] = err instanceof HttpError ? [err.status, err.body] : [500, String(err)];
      }
      const headers: Record<string, string> = {};
      if (status === 401) headers["WWW-Authenticate"] = 'Basic realm="state"';
      if (body !== "") {
        headers["Content-Type"] = body.startsWith("{") ? "application/json" : "text/plain";
        headers["Content-MD5"] = createHash("md5").update(body).digest("base64");
      }
      res.writeHead(status, headers).end(body);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    getRawState: (path) => states.get(path),
    getState: (path) => {
      const raw = states.get(path);
      return raw === undefined ? undefined : JSON.parse(raw);
    },
    getLock: (path) => locks.get(path),
    setState: (path, state) => {
      states.set(path, typeof state === "string" ? state : JSON.stringify(state));
    },
    lock: (path, info) => {
      if (locks.has(path)) return false;
      locks.set(path, info);
      return true;
    },
    unlock: (path) => {
      locks.delete(path);
    },
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function cli(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      "lock-method": { type: "string" },
      "unlock-method": { type: "string" },
      "update-method": { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port (${values.port}) must be 0..65535`);
  const server = await startStateServer({
    port,
    host: values.host,
    username: values.username,
    password: values.password,
    lockMethod: values["lock-method"],
    unlockMethod: values["unlock-method"],
    updateMethod: values["update-method"],
  });
  process.stdout.write(`${server.url}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

// Run as a CLI only when this file is the entry point (works under both ESM and CJS via tsx).
if (/http-state-server\.[cm]?[jt]s$/.test(process.argv[1] ?? "")) {
  cli(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`http-state-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
