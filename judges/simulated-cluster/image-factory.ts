// A stand-in for the Talos image factory on 127.0.0.1 (what layer 01 asks it: a schematic id, the versions).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly body: string;
}

export interface StubServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A stand-in for the Talos image factory on 127.0.0.1: `POST /schematics` answers `{"id": <sha256 of the
 * body>}` (201, as the factory does; its ids are 64 hex digits), `GET /versions` a version list; anything
 * else 404. Every request is recorded.
 */
export async function startImageFactory(versions: readonly string[] = ["v1.12.1"]): Promise<StubServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: req.method ?? "", url: req.url ?? "", body });
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(value));
      if (req.method === "POST" && req.url === "/schematics")
        json(201, { id: createHash("sha256").update(body).digest("hex") });
      else if (req.method === "GET" && req.url === "/versions") json(200, versions);
      else json(404, { error: `not served by the test factory: ${req.method} ${req.url}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
