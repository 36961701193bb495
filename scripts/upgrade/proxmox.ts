// The two Proxmox VE API calls a rolling restart needs, behind one interface: which of a VM's settings wait for a
// restart, and a restart that applies them. A reboot from inside the guest (talosctl reboot) keeps the same QEMU
// process, so it never applies a pending change of cores or memory; Proxmox's own reboot (qm reboot) does.
import { request } from "node:https";

export interface ProxmoxVms {
  /** The config keys of a VM whose change waits for a restart (`GET .../pending`). */
  pendingKeys(host: string, vmId: number): Promise<string[]>;
  /** `qm reboot`: shut the guest down and start it again, applying what was pending; resolves when the task ends. */
  reboot(host: string, vmId: number): Promise<void>;
}

export class ProxmoxError extends Error {}

export interface ProxmoxApiOptions {
  /** e.g. https://pve.example.com:8006/ (proxmox_api_url) */
  readonly url: string;
  /** `user@realm!tokenid=secret` (PROXMOX_VE_API_TOKEN) */
  readonly token?: string;
  /** Without a token: a user and password (PROXMOX_VE_USERNAME/PASSWORD), logged in for a ticket. */
  readonly login?: { readonly username: string; readonly password: string };
  /** Accept a self-signed certificate (proxmox_api_insecure). */
  readonly insecure: boolean;
  /** Between two questions about a running task. @default 2_000 */
  readonly taskPollMs?: number;
  /** How long a reboot task may take. @default 600_000 */
  readonly taskTimeoutMs?: number;
}

/** The Proxmox VE API over HTTPS with an API token, or a ticket of a user logged in with its password. */
export class ProxmoxApi implements ProxmoxVms {
  private ticket?: Promise<{ ticket: string; CSRFPreventionToken: string }>;

  constructor(private readonly options: ProxmoxApiOptions) {}

  /** `GET /api2/json/<path>`'s data. */
  get(path: string): Promise<unknown> {
    return this.call("GET", path);
  }

  async pendingKeys(host: string, vmId: number): Promise<string[]> {
    const entries = (await this.call("GET", `nodes/${host}/qemu/${vmId}/pending`)) as Array<{
      key: string;
      pending?: unknown;
      delete?: unknown;
    }>;
    return entries.filter((e) => e.pending !== undefined || e.delete !== undefined).map((e) => e.key);
  }

  async reboot(host: string, vmId: number): Promise<void> {
    const upid = (await this.call("POST", `nodes/${host}/qemu/${vmId}/status/reboot`)) as string;
    const poll = this.options.taskPollMs ?? 2_000;
    const deadline = Date.now() + (this.options.taskTimeoutMs ?? 600_000);
    for (;;) {
      const task = (await this.call("GET", `nodes/${host}/tasks/${encodeURIComponent(upid)}/status`)) as {
        status: string;
        exitstatus?: string;
      };
      if (task.status === "stopped") {
        if (task.exitstatus !== "OK")
          throw new ProxmoxError(`reboot of VM ${vmId} on ${host} failed: ${task.exitstatus}`);
        return;
      }
      if (Date.now() > deadline) throw new ProxmoxError(`reboot of VM ${vmId} on ${host} still running: ${upid}`);
      await new Promise((resolve) => setTimeout(resolve, poll));
    }
  }

  private async call(method: "GET" | "POST", path: string): Promise<unknown> {
    const { login, token } = this.options;
    if (token || !login) return this.send(method, path, { Authorization: `PVEAPIToken=${token ?? ""}` });
    this.ticket ??= this.send("POST", "access/ticket", {}, login) as Promise<{
      ticket: string;
      CSRFPreventionToken: string;
    }>;
    const { ticket, CSRFPreventionToken } = await this.ticket;
    return this.send(method, path, {
      Cookie: `PVEAuthCookie=${encodeURIComponent(ticket)}`,
      ...(method === "GET" ? {} : { CSRFPreventionToken }),
    });
  }

  private send(
    method: "GET" | "POST",
    path: string,
    headers: Record<string, string>,
    form?: Record<string, string>,
  ): Promise<unknown> {
    const body = form && new URLSearchParams(form).toString();
    const url = new URL(
      `api2/json/${path}`,
      this.options.url.endsWith("/") ? this.options.url : `${this.options.url}/`,
    );
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: body
            ? {
                ...headers,
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": Buffer.byteLength(body),
              }
            : headers,
          rejectUnauthorized: !this.options.insecure,
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) {
              reject(new ProxmoxError(`${method} /${path}: HTTP ${res.statusCode} ${res.statusMessage ?? ""}`.trim()));
              return;
            }
            try {
              resolve((JSON.parse(text) as { data: unknown }).data);
            } catch {
              reject(new ProxmoxError(`${method} /${path}: the answer is not JSON`));
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("no answer in 30 s")));
      req.on("error", (e) => reject(new ProxmoxError(`${method} /${path}: ${e.message}`)));
      req.end(body);
    });
  }
}
