/**
 * Who a request is, as PVE's HTTP server decides it: an API token (`Authorization: PVEAPIToken=user@realm!id=
 * secret`) authenticates as `user@realm!id` (never as the user itself: PVE's root@pam-only checks refuse even
 * root@pam's tokens), a ticket from `POST /access/ticket` (cookie `PVEAuthCookie`, and the
 * `CSRFPreventionToken` header on every request but GET) as its user. Tickets are kept in memory only.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { SimState } from "./state";

export interface TicketAnswer {
  readonly username: string;
  readonly ticket: string;
  readonly CSRFPreventionToken: string;
  readonly cap: Record<string, Record<string, number>>;
}

export class Authenticator {
  private readonly staticTokens: Map<string, string>;
  private readonly tickets = new Map<string, { user: string; csrf: string }>();

  constructor(
    private readonly state: SimState,
    tokens: readonly string[],
    /** root@pam's password; without it no ticket is issued. */
    private readonly rootPassword: string | undefined,
  ) {
    this.staticTokens = new Map(
      tokens.map((t) => {
        const m = /^([^!]+)!([^=]+)=(.+)$/.exec(t);
        if (!m) throw new Error(`pve-sim: token "${t.replace(/=.*/, "=...")}" is not user@realm!id=secret`);
        return [`${m[1]}!${m[2]}`, m[3]];
      }),
    );
  }

  /** The authenticated user of `req` (`user@realm!id` for a token); undefined when it is not authenticated. */
  userOf(req: IncomingMessage): string | undefined {
    const m = /^PVEAPIToken=([^!\s]+)!([^=\s]+)[=:](\S+)$/.exec(req.headers.authorization ?? "");
    if (m) {
      const [, user, id, secret] = m;
      if (this.staticTokens.get(`${user}!${id}`) === secret) return `${user}!${id}`;
      const token = this.state.users[user]?.tokens[id];
      return token && token.value === secret && this.state.users[user].enable ? `${user}!${id}` : undefined;
    }
    const cookie = /(?:^|;\s*)PVEAuthCookie=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    const ticket = cookie && this.tickets.get(decodeURIComponent(cookie));
    if (!ticket) return undefined;
    if (req.method !== "GET" && req.headers.csrfpreventiontoken !== ticket.csrf) return undefined;
    return ticket.user;
  }

  /** `POST /access/ticket`: a ticket for root@pam with its password; undefined for anything else. */
  ticket(username: string, password: string, realm?: string): TicketAnswer | undefined {
    const user = username.includes("@") ? username : `${username}@${realm ?? "pam"}`;
    if (user !== "root@pam" || this.rootPassword === undefined || password !== this.rootPassword) return undefined;
    const stamp = Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase();
    const ticket = `PVE:${user}:${stamp}::${randomBytes(32).toString("base64")}`;
    const csrf = `${stamp}:${randomBytes(16).toString("base64")}`;
    this.tickets.set(ticket, { user, csrf });
    return { username: user, ticket, CSRFPreventionToken: csrf, cap: {} };
  }
}
