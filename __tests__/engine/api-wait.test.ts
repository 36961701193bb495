// The wait for the Kubernetes API of layer 01 (constructs/kubernetes-api-wait.ts) with the real OpenTofu: its
// provisioner runs on create only, waits while /readyz fails, fails naming the last answer when it never
// succeeds (its credentials sensitive, as the talos provider's are), and a plan afterwards contacts nothing.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { App, Fn, LocalBackend, TerraformStack, TerraformVariable } from "cdktf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesApiWait } from "../../constructs/kubernetes-api-wait";
import { makeTestPki, startReadyzServer, type ReadyzServer, type TestPki } from "../support/pki";
import { tempDir, tofu } from "./support";

const work = tempDir("api-wait");
let pki: TestPki;
beforeAll(async () => {
  const dir = join(work.dir, "pki");
  mkdirSync(dir);
  pki = await makeTestPki(dir);
});
afterAll(() => work.remove());

/** A stack holding only the wait, its client key a sensitive variable; returns the stack folder. */
function stackFor(name: string, api: ReadyzServer, timeoutSeconds: number): { dir: string } {
  const app = new App({ outdir: join(work.dir, name) });
  const stack = new TerraformStack(app, name);
  // Its state in this test's folder (cdktf's default is a file in the current directory, the repository).
  new LocalBackend(stack, { path: join(work.dir, name, "terraform.tfstate") });
  const key = new TerraformVariable(stack, "client_key", { type: "string", sensitive: true });
  const b64 = (file: string) => Buffer.from(pki.pem(file)).toString("base64");
  new KubernetesApiWait(stack, "Wait", {
    api: {
      host: api.url,
      caCertificate: b64("ca.crt"),
      clientCertificate: b64("client.crt"),
      clientKey: Fn.sensitive(key.stringValue),
    },
    replaceWhen: "cluster-1",
    timeoutSeconds,
  });
  app.synth();
  return { dir: join(work.dir, name, "stacks", name) };
}

const keyVar = () => ({ TF_VAR_client_key: Buffer.from(pki.pem("client.key")).toString("base64") });

describe("KubernetesApiWait with the real engine", () => {
  it("apply waits until /readyz answers 200; a plan afterwards has nothing to do and asks the API nothing", async () => {
    const api = await startReadyzServer(pki, (n) => (n < 2 ? 503 : 200));
    try {
      const stack = stackFor("ready", api, 120);
      await tofu(stack, ["init", "-input=false", "-no-color"]);
      const apply = await tofu(stack, ["apply", "-auto-approve", "-input=false", "-no-color"], { env: keyVar() });
      expect(apply.stdout).toMatch(/Apply complete! Resources: 1 added/);
      expect(apply.stdout).toContain("(output suppressed due to sensitive value in config)");
      expect(api.answered).toEqual([503, 503, 200]);
      const plan = await tofu(stack, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], {
        env: keyVar(),
        ok: [0],
      });
      expect(plan.stdout).toMatch(/No changes/);
      expect(api.answered).toHaveLength(3);
    } finally {
      await api.close();
    }
  });

  it("apply fails after the timeout, naming the API and its last answer, without the key", async () => {
    const api = await startReadyzServer(pki, () => 503);
    try {
      const stack = stackFor("never", api, 1);
      await tofu(stack, ["init", "-input=false", "-no-color"]);
      const apply = await tofu(stack, ["apply", "-auto-approve", "-input=false", "-no-color"], {
        env: keyVar(),
        ok: [1],
      });
      expect(apply.stderr).toMatch(/local-exec provisioner error/);
      // The engine wraps its diagnostics' lines.
      expect(apply.stderr.replace(/\s+/g, " ")).toContain(
        `Output: the Kubernetes API ${api.url} did not become ready in 1 s: HTTP 503`,
      );
      expect(`${apply.stdout}${apply.stderr}`).not.toContain(keyVar().TF_VAR_client_key);
      expect(api.answered).toEqual([503, 503]);
    } finally {
      await api.close();
    }
  });
});
