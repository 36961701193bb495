// A minimal client of the Proxmox VE API simulator for the tests: one form-encoded request, the JSON answer,
// and a task's end state.
import { request } from "node:https";
import type { PveSim } from "../../judges/pve-sim/server";

export interface PveAnswer {
  readonly status: number;
  readonly body: { data: unknown; errors?: Record<string, string>; message?: string };
}

/** An API token (`user@realm!id=secret`) or a ticket with its CSRF token (from POST /access/ticket). */
export type PveAuth = string | { readonly ticket: string; readonly csrf: string };

/** `method path` with `params` (query for GET and DELETE, form body otherwise), authenticated by `auth`. */
export function call(
  sim: PveSim,
  auth: PveAuth,
  method: string,
  path: string,
  params: Record<string, string> = {},
): Promise<PveAnswer> {
  const form = new URLSearchParams(params).toString();
  const withQuery = method === "GET" || method === "DELETE";
  return new Promise((resolve, reject) => {
    const req = request(
      `${sim.url}api2/json${path}${withQuery && form ? `?${form}` : ""}`,
      {
        method,
        rejectUnauthorized: false,
        headers: {
          ...(typeof auth === "string"
            ? { Authorization: `PVEAPIToken=${auth}` }
            : { Cookie: `PVEAuthCookie=${encodeURIComponent(auth.ticket)}`, CSRFPreventionToken: auth.csrf }),
          ...(withQuery ? {} : { "Content-Type": "application/x-www-form-urlencoded" }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }),
        );
      },
    );
    req.on("error", reject);
    req.end(withQuery ? undefined : form);
  });
}

/** The exit status of the task a call answered with ("OK" or the error); throws when the call itself failed. */
export async function taskResult(sim: PveSim, auth: PveAuth, answer: PveAnswer): Promise<string> {
  if (answer.status !== 200 || typeof answer.body.data !== "string")
    throw new Error(`expected a task, got ${answer.status}: ${answer.body.message ?? JSON.stringify(answer.body)}`);
  const upid = answer.body.data;
  const node = upid.split(":")[1];
  const status = await call(sim, auth, "GET", `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`);
  return (status.body.data as { exitstatus: string }).exitstatus;
}
