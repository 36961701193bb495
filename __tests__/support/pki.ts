// A throwaway PKI for tests that talk TLS with a client certificate, as the Kubernetes API does: a CA, a server
// certificate for 127.0.0.1 and an admin client certificate, made by openssl in `dir` (valid one day).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runOk } from "./run";

export interface TestPki {
  /** PEM text of `ca.crt`, `ca.key`, `server.crt`, `server.key`, `client.crt` or `client.key`. */
  pem(name: string): string;
}

export async function makeTestPki(dir: string): Promise<TestPki> {
  const openssl = (...args: string[]) => runOk("openssl", args, { cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=kubernetes");
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  for (const [name, subject, ext] of [
    ["server", "/CN=kube-apiserver", ["-extfile", "san.ext"]],
    ["client", "/O=system:masters/CN=admin", []],
  ] as const) {
    await openssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    await openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "1",
      ...ext,
    );
  }
  return { pem: (name) => readFileSync(join(dir, name), "utf8") };
}

export interface ReadyzServer {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** The status of each /readyz request answered so far. */
  readonly answered: number[];
  close(): Promise<void>;
}

/**
 * An HTTPS server on 127.0.0.1 that requires a client certificate of `pki`'s CA, as kube-apiserver does, and
 * answers GET /readyz with `status(n)` for its n-th request (0-based).
 */
export async function startReadyzServer(pki: TestPki, status: (n: number) => number): Promise<ReadyzServer> {
  const { createServer } = await import("node:https");
  const answered: number[] = [];
  const server = createServer(
    {
      key: pki.pem("server.key"),
      cert: pki.pem("server.crt"),
      ca: pki.pem("ca.crt"),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      if (req.url !== "/readyz") return void res.writeHead(404).end();
      const code = status(answered.length);
      answered.push(code);
      res.writeHead(code).end(code === 200 ? "ok" : "[-]etcd failed: reason withheld\nreadyz check failed");
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    answered,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
