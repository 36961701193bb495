// The wait for the Kubernetes API that replaced the health data source of layer 01: what it synthesizes, and its
// script run as the engine runs it (node -e, the credentials in the environment) against an HTTPS server that
// requires the client certificate.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type App, TerraformStack, Testing } from "cdktf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesApiWait, WAIT_FOR_READYZ } from "../constructs/kubernetes-api-wait";
import { makeTestPki, startReadyzServer, type TestPki } from "./support/pki";

const API = { host: "https://192.0.2.1:6443", caCertificate: "CA", clientCertificate: "CERT", clientKey: "KEY" };

function synthesized(props: Partial<ConstructorParameters<typeof KubernetesApiWait>[2]> = {}) {
  const stack = new TerraformStack(Testing.app() as App, "test");
  new KubernetesApiWait(stack, "Wait", { api: API, replaceWhen: "bootstrap-id", ...props });
  return JSON.parse(Testing.synth(stack)) as {
    resource: { terraform_data: Record<string, { triggers_replace: unknown; provisioner: unknown[] }> };
  };
}

describe("KubernetesApiWait", () => {
  it("is a terraform_data replaced with the bootstrap, whose creation runs the script with node, quietly", () => {
    const [data] = Object.values(synthesized().resource.terraform_data);
    expect(data.triggers_replace).toEqual({ cluster: "bootstrap-id" });
    expect(data.provisioner).toEqual([
      {
        "local-exec": {
          interpreter: ["node", "-e"],
          command: WAIT_FOR_READYZ,
          quiet: true,
          environment: { KUBE_HOST: API.host, KUBE_CA: "CA", KUBE_CERT: "CERT", KUBE_KEY: "KEY", TIMEOUT: "900" },
        },
      },
    ]);
  });

  it("its script holds no template sequence the engine would interpolate", () => {
    expect(WAIT_FOR_READYZ).not.toMatch(/\$\{|%\{/);
  });

  it.each([0, -5, 1.5])("refuses timeoutSeconds %s", (timeoutSeconds) => {
    expect(() => synthesized({ timeoutSeconds })).toThrow(
      new RegExp(`'timeoutSeconds' must be a positive whole number, got ${timeoutSeconds}`),
    );
  });
});

describe("the wait script, run as the engine runs it", () => {
  const dir = mkdtempSync(join(tmpdir(), "api-wait-"));
  let pki: TestPki;
  beforeAll(async () => {
    pki = await makeTestPki(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const b64 = (name: string) => Buffer.from(pki.pem(name)).toString("base64");
  function wait(host: string, timeout: number, ca = "ca.crt"): Promise<{ status: number | null; output: string }> {
    const child = spawn(process.execPath, ["-e", WAIT_FOR_READYZ], {
      env: {
        PATH: process.env.PATH,
        KUBE_HOST: host,
        KUBE_CA: b64(ca),
        KUBE_CERT: b64("client.crt"),
        KUBE_KEY: b64("client.key"),
        TIMEOUT: String(timeout),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c));
    child.stderr.on("data", (c: Buffer) => (output += c));
    return new Promise((resolve) => child.on("close", (status) => resolve({ status, output })));
  }

  it("waits while /readyz fails, and succeeds once it answers 200", async () => {
    const api = await startReadyzServer(pki, (n) => (n === 0 ? 503 : 200));
    try {
      const run = await wait(api.url, 60);
      expect(run).toEqual({ status: 0, output: "" });
      expect(api.answered).toEqual([503, 200]);
    } finally {
      await api.close();
    }
  });

  it("gives up after its timeout, naming the API and the last answer, and never prints the credentials", async () => {
    const api = await startReadyzServer(pki, () => 503);
    try {
      const run = await wait(api.url, 1);
      expect(run.status).toBe(1);
      expect(run.output.trim()).toBe(`the Kubernetes API ${api.url} did not become ready in 1 s: HTTP 503`);
      expect(api.answered).toEqual([503, 503]);
    } finally {
      await api.close();
    }
  });

  it("is not ready when the API's certificate is not signed by the CA it was given", async () => {
    const api = await startReadyzServer(pki, () => 200);
    try {
      const run = await wait(api.url, 1, "server.crt");
      expect(run.status).toBe(1);
      expect(run.output).toMatch(/did not become ready in 1 s: .*certificate/i);
      expect(api.answered).toEqual([]);
    } finally {
      await api.close();
    }
  });
});
