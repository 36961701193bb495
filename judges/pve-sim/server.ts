/**
 * The Proxmox VE API simulator's HTTPS server on 127.0.0.1: `/api2/json/...` requests are authenticated
 * (`Authorization: PVEAPIToken=user@realm!id=secret`, else 401), matched to a path and method of the official
 * schema (else 501 naming the path, or 501 when the schema has it but the simulator does not model it), their
 * parameters verified (else 400 with PVE's per-parameter `errors`), then handled against the state.
 *
 * Library: `startPveSim(options)`; CLI: judges/pve-sim/cli.ts (`npm run pve-sim`).
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiError, runTask, type Ctx, type Routes } from "./api";
import { Authenticator } from "./auth";
import { selfSignedCertificate } from "./cert";
import { accessRoutes } from "./handlers/access";
import { backupJobRoutes } from "./handlers/backup-jobs";
import { cloneRoutes } from "./handlers/clone";
import { clusterRoutes } from "./handlers/cluster";
import { clusterFirewallRoutes, firewallRoutes } from "./handlers/firewall";
import { haRuleRoutes } from "./handlers/ha-rules";
import { lxcRoutes } from "./handlers/lxc";
import { mappingRoutes } from "./handlers/mapping";
import { nodeRoutes } from "./handlers/nodes";
import { poolRoutes } from "./handlers/pools";
import { qemuRoutes } from "./handlers/qemu";
import { replicationRoutes } from "./handlers/replication";
import { resizeRoutes } from "./handlers/resize";
import { sdnRoutes } from "./handlers/sdn";
import { storageRoutes } from "./handlers/storage";
import { NotModelled, verifyParams, type ParamValue } from "./params";
import { checkPermissions } from "./permissions";
import { apiSchema } from "./schema";
import { initialState, loadState, saveState, type InitialCluster, type SimState } from "./state";

export interface PveSimOptions extends InitialCluster {
  /**
   * Port on 127.0.0.1; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * API tokens accepted besides those created through /access/users/{userid}/token, as
   * `user@realm!id=secret`.
   * @default - none: only tokens created through the API
   */
  readonly tokens?: readonly string[];
  /**
   * File the state is loaded from (when it exists) and saved to after every change.
   * @default - kept in memory only
   */
  readonly stateFile?: string;
  /**
   * root@pam's password, for ticket authentication (`POST /access/ticket`, as the provider does with a user and
   * password); PVE lets only root@pam itself (not its API tokens) set some container options.
   * @default - none: no ticket is issued
   */
  readonly rootPassword?: string;
  /** An initial state instead of a fresh cluster (tests). @default - from the other options */
  readonly state?: SimState;
}

export interface RecordedCall {
  readonly method: string;
  /** Path below /api2/json, without the query. */
  readonly path: string;
  readonly status: number;
  /** When it was answered (performance.now() of this process: orders it against other judges' events). */
  readonly at: number;
}

export interface PveSim {
  /** `https://127.0.0.1:<port>/` (the provider's `endpoint`). */
  readonly url: string;
  readonly port: number;
  /** The live state (read it in tests; do not change it during a request). */
  readonly state: SimState;
  /** Every API call answered, in order. */
  readonly calls: RecordedCall[];
  close(): Promise<void>;
}

const ROUTES: Routes = {
  ...accessRoutes,
  ...cloneRoutes,
  ...clusterRoutes,
  ...firewallRoutes,
  ...clusterFirewallRoutes,
  ...lxcRoutes,
  ...mappingRoutes,
  ...nodeRoutes,
  ...poolRoutes,
  ...qemuRoutes,
  ...resizeRoutes,
  ...sdnRoutes,
  ...backupJobRoutes,
  ...replicationRoutes,
  ...haRuleRoutes,
  ...storageRoutes,
};
const API_PREFIX = "/api2/json/";

export async function startPveSim(options: PveSimOptions = {}): Promise<PveSim> {
  const schema = apiSchema();
  const state =
    options.state ??
    (options.stateFile && existsSync(options.stateFile) ? loadState(options.stateFile) : initialState(options));
  const calls: RecordedCall[] = [];
  const auth = new Authenticator(state, options.tokens ?? [], options.rootPassword);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const body = await readBody(req);
    const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length - 1) : url.pathname;
    const answer = (status: number, payload: Record<string, unknown>, statusText?: string) => {
      calls.push({ method, path, status, at: performance.now() });
      res
        .writeHead(status, statusText ?? "", { "Content-Type": "application/json;charset=UTF-8" })
        .end(JSON.stringify(payload));
    };
    if (!url.pathname.startsWith(API_PREFIX))
      return answer(
        501,
        { data: null, message: `not modelled: ${method} ${url.pathname} (only ${API_PREFIX})` },
        "Not Implemented",
      );
    if (method === "POST" && path === "/access/ticket") {
      const params = parseBody(req, body);
      const errors = verifyParams(schema.match(method, path)?.method?.parameters?.properties ?? {}, params);
      if (Object.keys(errors).length)
        return answer(
          400,
          { data: null, message: "Parameter verification failed.\n", errors },
          "Parameter verification failed.",
        );
      const one = (v: ParamValue | undefined) => (typeof v === "string" ? v : undefined);
      const ticket = auth.ticket(one(params.username) ?? "", one(params.password) ?? "", one(params.realm));
      return ticket
        ? answer(200, { data: ticket })
        : answer(401, { data: null, message: "authentication failure" }, "authentication failure");
    }
    const user = auth.userOf(req);
    if (!user) return answer(401, { data: null, message: "authentication failure" }, "No ticket");

    const route = schema.match(method, path);
    if (!route)
      return answer(
        501,
        { data: null, message: `not in the PVE API schema: ${method} ${path}` },
        `Method '${method} ${path}' not implemented`,
      );
    if (!route.method)
      return answer(
        501,
        { data: null, message: `the PVE API schema has no ${method} for ${route.template}` },
        `Method '${method} ${path}' not implemented`,
      );
    const handler = ROUTES[`${method} ${route.template}`];
    if (!handler)
      return answer(
        501,
        { data: null, message: `not modelled by the simulator: ${method} ${route.template} (${path})` },
        `Not modelled: ${method} ${path}`,
      );

    try {
      const params: Record<string, ParamValue> = {
        ...parseForm(url.searchParams),
        ...parseBody(req, body),
        ...route.pathParams,
      };
      const errors = verifyParams(route.method.parameters?.properties ?? {}, params);
      if (Object.keys(errors).length > 0) throw new ApiError(400, "Parameter verification failed.", errors);
      const ctx: Ctx = {
        state,
        params,
        user,
        task: (node, type, id, work) => runTask(state, node, type, id, user, work),
      };
      checkPermissions(ctx, method, route.template);
      const data = handler(ctx);
      if (method !== "GET" && options.stateFile) saveState(options.stateFile, state);
      answer(200, { data: data ?? null });
    } catch (error) {
      if (error instanceof NotModelled)
        return answer(
          501,
          { data: null, message: `not modelled by the simulator: ${error.message} in ${method} ${route.template}` },
          "Not modelled",
        );
      if (!(error instanceof ApiError)) {
        answer(500, { data: null, message: `simulator bug: ${(error as Error).stack}` }, "Simulator bug");
        return;
      }
      const text = error.message.split("\n")[0];
      answer(
        error.status,
        { data: null, message: `${error.message}\n`, ...(error.errors ? { errors: error.errors } : {}) },
        text,
      );
    }
  };

  const { key, cert } = selfSignedCertificate();
  const server: Server = createServer({ key, cert }, (req, res) => {
    handle(req, res).catch((error: Error) =>
      res.writeHead(500).end(JSON.stringify({ data: null, message: `simulator bug: ${error.stack}` })),
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/`,
    port,
    state,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Form or query parameters; a repeated key gives an array. */
function parseForm(search: URLSearchParams): Record<string, ParamValue> {
  const params: Record<string, ParamValue> = {};
  for (const key of new Set(search.keys())) {
    const values = search.getAll(key);
    params[key] = values.length === 1 ? values[0] : values;
  }
  return params;
}

function parseBody(req: IncomingMessage, body: string): Record<string, ParamValue> {
  if (body === "") return {};
  const type = req.headers["content-type"] ?? "";
  if (type.startsWith("application/x-www-form-urlencoded")) return parseForm(new URLSearchParams(body));
  if (type.startsWith("application/json")) {
    const json = JSON.parse(body) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)]));
  }
  throw new NotModelled(`request body of type '${type}'`);
}
