// The wait for the Kubernetes API: the kubeconfig read as Talos writes it, the bounded polling loop, and a real
// probe of a local HTTPS server that requires the kubeconfig's client certificate (certificates made by openssl).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { makeTestPki } from "../support/pki";
import {
  deleteNode,
  getApiJson,
  probeApi,
  readKubeconfig,
  waitForApi,
  type ApiEndpoint,
  type ProbeResult,
} from "../../scripts/bootstrap/wait-api";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A kubeconfig shaped like the one talos_cluster_kubeconfig writes. */
function kubeconfig(server: string, ca: string, cert: string, key: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "homelab", cluster: { server, "certificate-authority-data": b64(ca) } }],
    users: [{ name: "admin@homelab", user: { "client-certificate-data": b64(cert), "client-key-data": b64(key) } }],
    contexts: [{ name: "admin@homelab", context: { cluster: "homelab", namespace: "default", user: "admin@homelab" } }],
    "current-context": "admin@homelab",
  });
}

describe("readKubeconfig", () => {
  it("takes the current context's server, CA and client certificate", () => {
    const api = readKubeconfig(kubeconfig("https://192.168.10.20:6443/", "CA", "CERT", "KEY"));
    expect(api).toEqual({
      server: "https://192.168.10.20:6443",
      ca: Buffer.from("CA"),
      cert: Buffer.from("CERT"),
      key: Buffer.from("KEY"),
      insecure: false,
    });
  });

  it("names what is missing", () => {
    expect(() => readKubeconfig(stringify({ contexts: [] }))).toThrow(/no current-context among its 0 contexts/);
    expect(() =>
      readKubeconfig(stringify({ contexts: [{ name: "a", context: { cluster: "c", user: "u" } }], clusters: [] })),
    ).toThrow(/cluster c has no server/);
  });
});

describe("waitForApi", () => {
  const api: ApiEndpoint = { server: "https://192.168.10.20:6443", insecure: false };

  function simulate(answers: ProbeResult[], timeoutSeconds: number, intervalSeconds: number) {
    const log: string[] = [];
    let clock = 0;
    let probes = 0;
    const done = waitForApi(api, {
      timeoutSeconds,
      intervalSeconds,
      log: (l) => log.push(l),
      probe: async () => answers[Math.min(probes++, answers.length - 1)],
      sleep: async (ms) => {
        clock += ms;
      },
      now: () => clock,
    });
    return done.then((ready) => ({ ready, log, probes }));
  }

  it("returns as soon as /readyz answers 200, with a progress line per attempt", async () => {
    const down = { ready: false, detail: "connect ECONNREFUSED 192.168.10.20:6443" };
    const r = await simulate([down, down, { ready: true, detail: "HTTP 200 ok" }], 600, 10);
    expect(r.ready).toBe(true);
    expect(r.log).toEqual([
      "  attempt 1/61 (0s of 600s): https://192.168.10.20:6443/readyz: connect ECONNREFUSED 192.168.10.20:6443",
      "  attempt 2/61 (10s of 600s): https://192.168.10.20:6443/readyz: connect ECONNREFUSED 192.168.10.20:6443",
      "  attempt 3/61 (20s of 600s): https://192.168.10.20:6443/readyz: HTTP 200 ok",
    ]);
  });

  it("gives up after the timeout: a bounded number of attempts", async () => {
    const r = await simulate([{ ready: false, detail: "HTTP 503 [-]etcd failed" }], 30, 10);
    expect(r).toMatchObject({ ready: false, probes: 4 });
    expect(r.log.at(-1)).toBe("  attempt 4/4 (30s of 30s): https://192.168.10.20:6443/readyz: HTTP 503 [-]etcd failed");
  });
});

describe("probeApi against a real HTTPS server that requires the client certificate", () => {
  const dir = mkdtempSync(join(tmpdir(), "bootstrap-wait-api-"));
  const pem = (name: string) => readFileSync(join(dir, name), "utf8");
  let server: Server;
  let url: string;
  let ready = false;

  beforeAll(async () => {
    await makeTestPki(dir);
    server = createServer(
      {
        key: pem("server.key"),
        cert: pem("server.crt"),
        ca: pem("ca.crt"),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        if (req.method === "GET" && req.url === "/version")
          return void res.writeHead(200).end('{"gitVersion":"v1.35.4"}');
        if (req.method === "GET" && req.url === "/not-json") return void res.writeHead(200).end("<html>");
        if (req.method === "DELETE" && req.url?.startsWith("/api/v1/nodes/")) {
          const name = decodeURIComponent(req.url.slice("/api/v1/nodes/".length));
          return void res.writeHead(name === "worker9" ? 200 : name === "gone" ? 404 : 403).end();
        }
        if (req.url !== "/readyz") return void res.writeHead(404).end();
        res.writeHead(ready ? 200 : 503).end(ready ? "ok" : "[-]etcd failed: reason withheld\nreadyz check failed");
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("is not ready while /readyz fails, then ready", async () => {
    const api = readKubeconfig(kubeconfig(url, pem("ca.crt"), pem("client.crt"), pem("client.key")));
    expect(await probeApi(api)).toEqual({ ready: false, detail: "HTTP 503 [-]etcd failed: reason withheld" });
    ready = true;
    expect(await probeApi(api)).toEqual({ ready: true, detail: "HTTP 200 ok" });
  });

  it("fails (and says why) without the client certificate or with the wrong CA", async () => {
    const noCert = readKubeconfig(kubeconfig(url, pem("ca.crt"), "", ""));
    expect((await probeApi({ ...noCert, cert: undefined, key: undefined })).ready).toBe(false);
    const wrongCa = readKubeconfig(kubeconfig(url, pem("server.crt"), pem("client.crt"), pem("client.key")));
    expect(await probeApi(wrongCa)).toEqual({ ready: false, detail: expect.stringMatching(/certificate/i) });
  });

  it("reads JSON (the API server's version) and deletes a Node object through the same request", async () => {
    const api = readKubeconfig(kubeconfig(url, pem("ca.crt"), pem("client.crt"), pem("client.key")));
    expect(await getApiJson(api, "/version")).toEqual({ gitVersion: "v1.35.4" });
    expect(await getApiJson(api, "/not-json")).toBeUndefined();
    expect(await getApiJson(api, "/nothing")).toBeUndefined();
    expect(await deleteNode(api, "worker9")).toEqual({ gone: true, detail: "HTTP 200" });
    expect(await deleteNode(api, "gone")).toEqual({ gone: true, detail: "HTTP 404" });
    expect(await deleteNode(api, "forbidden")).toEqual({ gone: false, detail: "HTTP 403" });
    const closed = readKubeconfig(
      kubeconfig("https://127.0.0.1:9", pem("ca.crt"), pem("client.crt"), pem("client.key")),
    );
    expect(await deleteNode(closed, "worker9")).toEqual({ gone: false, detail: expect.stringMatching(/ECONNREFUSED/) });
  });

  it("reports a closed port", async () => {
    const api = readKubeconfig(kubeconfig("https://127.0.0.1:9", pem("ca.crt"), pem("client.crt"), pem("client.key")));
    expect(await probeApi(api)).toEqual({ ready: false, detail: expect.stringMatching(/ECONNREFUSED/) });
  });
});
