/**
 * The contract between the server and the handlers: a handler gets the verified parameters and the state,
 * returns the response's `data`, and throws an ApiError for an answer other than 200. Tasks (UPIDs) are
 * created here: their work runs at once, so the first status poll finds them stopped, OK or failed.
 */
import type { ParamValue } from "./params";
import type { SimState, Task } from "./state";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Per-parameter problems (PVE's `errors` object of a 400). */
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

/** 400 with one parameter's problem, as PVE's raise_param_exc. */
export function paramError(name: string, message: string): ApiError {
  return new ApiError(400, "Parameter verification failed.", { [name]: message });
}

export interface Ctx {
  readonly state: SimState;
  /** Path, query and body parameters, verified against the schema. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** The user the API token belongs to, e.g. `root@pam`. */
  readonly user: string;
  /** The task helper bound to this request's user. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a task's work returns its log lines, or nothing
  task(node: string, type: string, id: string, work: () => readonly string[] | void): string;
}

export type Handler = (ctx: Ctx) => unknown;

/** Handlers by `<METHOD> <schema path>`, e.g. `GET /nodes/{node}/qemu/{vmid}/config`. */
export type Routes = Readonly<Record<string, Handler>>;

/** A parameter as one string (the last of a repeated key); undefined when absent. */
export function str(ctx: Ctx, name: string): string | undefined {
  const value = ctx.params[name];
  return typeof value === "string" || value === undefined ? value : value[value.length - 1];
}

/** A required parameter as a string (the schema already checked it is present). */
export function need(ctx: Ctx, name: string): string {
  const value = str(ctx, name);
  if (value === undefined) throw paramError(name, "property is missing and it is not optional");
  return value;
}

/**
 * Runs `work` as a PVE task on `node` and records it: `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`
 * (the layout the provider parses). A throw in `work` fails the task with its message as the exit status.
 */
export function runTask(
  state: SimState,
  node: string,
  type: string,
  id: string,
  user: string,
  // biome-ignore lint/suspicious/noConfusingVoidType: a task's work returns its log lines, or nothing
  work: () => readonly string[] | void,
): string {
  // PVE::Tools upid_decode: the id is `[^:\s]*`; one with a colon would make the UPID unreadable (its user lost).
  if (/[:\s]/.test(id)) throw new Error(`simulator bug: task id '${id}' cannot be in a UPID`);
  state.taskCounter++;
  const starttime = Math.floor(Date.now() / 1000);
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
  const upid = `UPID:${node}:${hex(0x1000 + state.taskCounter)}:${hex(state.taskCounter)}:${hex(starttime)}:${type}:${id}:${user}:`;
  let exitstatus = "OK";
  let log: readonly string[] = [];
  try {
    log = work() ?? [];
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    exitstatus = error.message;
    log = [error.message];
  }
  const task: Task = {
    upid,
    node,
    type,
    id,
    user,
    starttime,
    exitstatus,
    log: [...log, exitstatus === "OK" ? "TASK OK" : `TASK ERROR: ${exitstatus}`],
  };
  state.tasks[upid] = task;
  return upid;
}
