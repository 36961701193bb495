// The app against the layer catalog: the stacks it builds are the catalog's, and the facts the catalog states
// about each layer hold in what it synthesizes.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { parseConfig, resolveCluster } from "../config";
import { buildApp, synthesize, withoutTokenTraces } from "../layers/app";
import { LAYER_CATALOG, LAYERS } from "../layers/catalog";
import { exampleSources, synth, type StackJson } from "./support/synth";

// Every feature on, so that every provider a layer can have is there.
const everything = synth({ cluster: { proxmox_firewall_enabled: true, repository_name: "me/ops" } });
const stacks: Record<string, StackJson> = {
  "00-persistent-auth": everything.persistentAuth,
  "01-infrastructure": everything.infrastructure,
  "02-services": everything.services,
  "03-configuration": everything.configuration,
};

describe("buildApp and the layer catalog", () => {
  it("builds the catalog's layers, in its order", () => {
    const dir = mkdtempSync(join(tmpdir(), "app-"));
    try {
      const app = buildApp(resolveCluster(parseConfig(exampleSources())), { configDir: dir, outdir: dir });
      expect(app.node.children.filter((c) => c instanceof TerraformStack).map((c) => c.node.id)).toEqual(LAYERS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Both ways: a provider for each API the catalog lists, and no client of an API the catalog leaves out.
  it.each(LAYER_CATALOG.map((facts) => [facts.name, facts] as const))(
    "%s has a provider for exactly the APIs the catalog says it plans against",
    (name, facts) => {
      const providers = Object.keys(stacks[name].provider);
      const clients = { proxmox: ["proxmox"], kubernetes: ["helm", "kubernetes"] };
      const apis = (Object.keys(clients) as Array<keyof typeof clients>).filter((api) =>
        providers.some((p) => clients[api].includes(p)),
      );
      expect(apis.sort()).toEqual([...facts.plansAgainst].sort());
    },
  );

  it.each(LAYER_CATALOG.map((facts) => [facts.name, facts] as const))(
    "%s writes the credentials only when the catalog says so",
    (name, facts) => {
      const files = Object.values(stacks[name].resource?.local_sensitive_file ?? {}).map((f: any) => f.filename);
      expect(files).toEqual(
        facts.writesCredentials
          ? ["${path.module}/../../../credentials/kubeconfig", "${path.module}/../../../credentials/talosconfig"]
          : [],
      );
    },
  );

  it.each(LAYER_CATALOG.map((facts) => [facts.name, facts] as const))(
    "%s protects its resources only when the catalog says it is persistent",
    (name, facts) => {
      const resources = Object.values(stacks[name].resource ?? {}).flatMap((byName) => Object.values(byName));
      expect(resources.length).toBeGreaterThan(0);
      expect(resources.every((r: any) => r.lifecycle?.prevent_destroy === true)).toBe(facts.persistent);
    },
  );
});

describe("synthesize", () => {
  const cluster = () => resolveCluster(parseConfig(exampleSources()));
  const stackFiles = (outdir: string) =>
    LAYERS.map((layer) => readFileSync(join(outdir, "stacks", layer, "cdk.tf.json"), "utf8"));

  it("writes what buildApp().synth() writes", () => {
    const dir = mkdtempSync(join(tmpdir(), "app-"));
    try {
      synthesize(cluster(), { configDir: dir, outdir: join(dir, "fast") });
      buildApp(cluster(), { configDir: dir, outdir: join(dir, "plain") }).synth();
      expect(readdirSync(join(dir, "fast", "stacks"))).toEqual([...LAYERS]);
      expect(stackFiles(join(dir, "fast"))).toEqual(stackFiles(join(dir, "plain")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("captures no trace on plain objects, as cdktf's tokens ask for, keeps errors' traces, and puts things back", () => {
    const before = Error.captureStackTrace;
    const [plain, error] = withoutTokenTraces(() => {
      const object = { stack: "" };
      Error.captureStackTrace(object);
      const e = new Error("boom");
      Error.captureStackTrace(e);
      return [object.stack, e.stack];
    });
    expect(plain).toBe("");
    expect(error).toMatch(/^Error: boom\n {4}at .*app\.test\.ts/);
    expect(Error.captureStackTrace).toBe(before);
  });
});
