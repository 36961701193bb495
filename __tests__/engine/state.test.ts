// The layers against a real HTTP state backend (judges/engine/http-state-server.ts, with basic auth), all
// offline: layer 00 applies for real (the Talos secrets are computed locally), layer 01 plans a fresh cluster
// reading layer 00's outputs through terraform_remote_state. The Proxmox API is a loopback trap that must
// see no connection; the Talos image factory a loopback stub.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStateServer, type StateServer } from "../../judges/engine/http-state-server";
import {
  deriveConfig,
  plannedActions,
  rawRequest,
  startImageFactory,
  startTrap,
  stringLeaves,
  synthesize,
  tempDir,
  tofu,
  type Layer,
  type StubServer,
  type SynthesizedStack,
} from "./support";

const AUTH = { username: "ci", password: "state-server-test-password" };
/** Well-formed (user@realm!token=uuid), so bpg/proxmox configures its client; never sent anywhere. */
const DUMMY_PROXMOX_TOKEN = "root@pam!ci=00000000-0000-0000-0000-000000000000";
const PASSPHRASE = "engine-test passphrase, not a secret";
const NODES = ["controlplane0", "controlplane1", "controlplane2", "worker0", "worker1"];

const work = tempDir("state");
let server: StateServer;
let factory: StubServer;
let proxmox: Awaited<ReturnType<typeof startTrap>>;

beforeAll(async () => {
  server = await startStateServer({ ...AUTH });
  factory = await startImageFactory();
  proxmox = await startTrap();
});

afterAll(async () => {
  await Promise.all([server?.close(), factory?.close(), proxmox?.close()]);
  work.remove();
});

/** The root example without Proxmox CSI, its state in the test server under /<prefix>/<layer>, its services on loopback. */
function synthFor(prefix: string, extra: Record<string, unknown> = {}): Promise<Record<Layer, SynthesizedStack>> {
  const configDir = deriveConfig(join(work.dir, prefix, "config"), {
    proxmox_csi_enabled: false,
    state_backend: { type: "http", address: `${server.url}/${prefix}/{layer}` },
    talos_image_factory_url: factory.url,
    proxmox_api_url: proxmox.url,
    ...extra,
  });
  return synthesize(configDir, join(work.dir, prefix));
}

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    TF_HTTP_USERNAME: AUTH.username,
    TF_HTTP_PASSWORD: AUTH.password,
    PROXMOX_VE_API_TOKEN: DUMMY_PROXMOX_TOKEN,
    ...extra,
  };
}

type PlanJson = Parameters<typeof plannedActions>[0] & {
  planned_values?: { outputs?: Record<string, { value?: unknown }> };
  prior_state?: {
    values?: { root_module?: { resources?: Array<{ address: string; values: Record<string, unknown> }> } };
  };
};

/**
 * What an offline plan must leave out: a new helm_release downloads its chart's repository index at plan time
 * (the helm provider's ModifyPlan), from the internet (https://helm.cilium.io for Cilium in layer 01).
 */
function needsNetworkToPlan(stack: SynthesizedStack): string[] {
  return Object.keys(stack.json.resource?.helm_release ?? {}).map((name) => `helm_release.${name}`);
}

/** `tofu plan` (without what needs the network) into a saved plan, read back with `tofu show -json`. */
async function savedPlan(stack: SynthesizedStack, extraEnv: Record<string, string> = {}): Promise<PlanJson> {
  const excludes = needsNetworkToPlan(stack).map((address) => `-exclude=${address}`);
  await tofu(stack, ["plan", "-input=false", "-no-color", "-out=test.tfplan", ...excludes], { env: env(extraEnv) });
  return JSON.parse((await tofu(stack, ["show", "-json", "test.tfplan"], { env: env(extraEnv) })).stdout) as PlanJson;
}

/** Every managed resource of the stack that plans offline, by type, planned once for create. */
function allCreated(stack: SynthesizedStack): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const address of addresses(stack).filter((a) => !needsNetworkToPlan(stack).includes(a))) {
    const type = address.split(".")[0];
    counts[type] = { create: (counts[type]?.create ?? 0) + 1 };
  }
  return counts;
}

/** The managed resources of the stack as synthesized: `type.name`, sorted. */
function addresses(stack: SynthesizedStack): string[] {
  return Object.entries(stack.json.resource ?? {})
    .flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`))
    .sort();
}

/** The data sources read at plan time (in the plan's prior state) whose address starts with `prefix`. */
function dataRead(plan: PlanJson, prefix: string): Array<{ address: string; values: Record<string, unknown> }> {
  return (plan.prior_state?.values?.root_module?.resources ?? []).filter((r) => r.address.startsWith(prefix));
}

type Attributes = { machine_secrets: { cluster: { id: string } }; client_configuration: { ca_certificate: string } };

function talosSecretsInState(): Attributes {
  const state = server.getState("/state/00-persistent-auth") as {
    resources: Array<{ type: string; instances: Array<{ attributes: Attributes }> }>;
  };
  return state.resources.find((r) => r.type === "talos_machine_secrets")!.instances[0].attributes;
}

const layer00Secrets = () => talosSecretsInState().machine_secrets;
const layer00ClientConfig = () => talosSecretsInState().client_configuration;

function serialOf(path: string): number {
  return (server.getState(path) as { serial: number }).serial;
}

describe("HTTP state backend", () => {
  let stacks: Record<Layer, SynthesizedStack>;
  const path00 = "/state/00-persistent-auth";

  it("layer 00 applies offline into the HTTP backend, locking the state while it writes", async () => {
    stacks = await synthFor("state");
    const layer00 = stacks["00-persistent-auth"];
    await tofu(layer00, ["init", "-input=false", "-no-color"], { env: env() });
    const seenBefore = server.requests.length;
    await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env: env() });

    const state = server.getState(path00) as { resources: Array<{ type: string; name: string }> };
    expect(state.resources.map((r) => `${r.type}.${r.name}`).sort()).toEqual(addresses(layer00));
    expect(addresses(layer00)).toContain("talos_machine_secrets.cluster");
    const methods = server.requests
      .slice(seenBefore)
      .filter((r) => r.url.startsWith(path00))
      .map((r) => r.method);
    expect(methods).toContain("LOCK");
    expect(methods).toContain("POST");
    expect(methods.at(-1)).toBe("UNLOCK");
    expect(server.getLock(path00)).toBeUndefined();
    // The server does check the credentials tofu took from TF_HTTP_USERNAME/TF_HTTP_PASSWORD.
    expect((await rawRequest(`${server.url}${path00}`, "GET", "", { ...AUTH, password: "wrong" })).status).toBe(403);
  });

  it("layer 00 then plans no changes, and a second apply writes nothing", async () => {
    const layer00 = stacks["00-persistent-auth"];
    await tofu(layer00, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], { env: env() });
    const serial = serialOf(path00);
    const apply = await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env: env() });
    expect(apply.stdout).toMatch(/No changes\./);
    expect(serialOf(path00)).toBe(serial);
  });

  it("layer 01 plans a fresh cluster offline (all but its Helm releases), reading layer 00's outputs through terraform_remote_state", async () => {
    const layer01 = stacks["01-infrastructure"];
    expect(needsNetworkToPlan(layer01)).toEqual(["helm_release.cilium"]);
    await tofu(layer01, ["init", "-input=false", "-no-color"], { env: env() });
    const seenBefore = server.requests.length;
    const plan = await savedPlan(layer01);

    expect(plannedActions(plan)).toEqual(allCreated(layer01));
    expect(plannedActions(plan).proxmox_virtual_environment_vm).toEqual({ create: NODES.length });
    expect(Object.keys(layer01.json.resource!.proxmox_virtual_environment_vm).sort()).toEqual(NODES);
    // The remote state was read, and layer 00's client certificate reached the talosconfig.
    expect(server.requests.slice(seenBefore)).toContainEqual({ method: "GET", url: path00 });
    const clientConfig = dataRead(plan, "data.talos_client_configuration.")[0];
    expect(clientConfig.values.talos_config).toContain(layer00ClientConfig().ca_certificate);
    // A fresh cluster plans without calling Proxmox or the image factory.
    expect(proxmox.connections()).toBe(0);
    expect(factory.requests).toEqual([]);
  });

  it("layer 01 creates the image-factory schematic offline against the loopback factory", async () => {
    const layer01 = stacks["01-infrastructure"];
    const apply = await tofu(
      layer01,
      ["apply", "-auto-approve", "-input=false", "-no-color", "-target=talos_image_factory_schematic.default"],
      { env: env() },
    );
    expect(apply.stdout).toMatch(/1 added, 0 changed, 0 destroyed/);
    expect(factory.requests.map((r) => `${r.method} ${r.url}`)).toEqual(["POST /schematics"]);
    expect(factory.requests[0].body).toContain("siderolabs/iscsi-tools");
    // With the schematic id known, the image URLs are read at plan time; they point at the factory.
    const plan = await savedPlan(layer01);
    const [urls] = dataRead(plan, "data.talos_image_factory_urls.");
    expect((urls.values.urls as { iso: string }).iso).toMatch(
      new RegExp(`^${factory.url}/image/[0-9a-f]{64}/v1\\.12\\.1/nocloud-amd64\\.iso$`),
    );
    expect(plannedActions(plan).talos_image_factory_schematic).toBeUndefined();
    // The upgrade's seam: each node's installer image without its tag, from the same factory and schematic.
    const talosNodes = plan.planned_values?.outputs?.talos_nodes?.value as Array<{
      name: string;
      installer: string;
      controller: boolean;
    }>;
    expect(talosNodes.map((n) => n.name)).toEqual(NODES);
    const factoryHost = factory.url.replace(/^https?:\/\//, "");
    for (const node of talosNodes)
      expect(node.installer).toMatch(new RegExp(`^${factoryHost}/[a-z-]*installer/[0-9a-f]{64}$`));
    // Their install image now known, the machine configurations are rendered at plan time, from layer 00's secrets.
    const configs = dataRead(plan, "data.talos_machine_configuration.");
    expect(configs.map((r) => r.address.split(".")[2]).sort()).toEqual(NODES);
    for (const config of configs) expect(config.values.machine_configuration).toContain(layer00Secrets().cluster.id);
    expect(factory.requests).toHaveLength(1);
    expect(proxmox.connections()).toBe(0);
  });

  it("a plan fails while another client holds the lock, naming the lock, and leaves the state alone", async () => {
    const layer00 = stacks["00-persistent-auth"];
    const before = server.getRawState(path00);
    const serial = serialOf(path00);
    const lock = {
      ID: randomUUID(),
      Operation: "OperationTypeApply",
      Info: "",
      Who: "someone@elsewhere",
      Version: "1.11.14",
      Created: new Date().toISOString(),
      Path: "",
    };
    expect((await rawRequest(`${server.url}${path00}`, "LOCK", JSON.stringify(lock), AUTH)).status).toBe(200);
    try {
      const plan = await tofu(layer00, ["plan", "-lock-timeout=0s", "-input=false", "-no-color"], {
        env: env(),
        ok: [1],
      });
      expect(plan.stderr).toMatch(/Error acquiring the state lock/);
      expect(plan.stderr).toContain(lock.ID);
      expect(plan.stderr).toContain(lock.Who);
      expect(server.getLock(path00)?.ID).toBe(lock.ID);
      expect(serialOf(path00)).toBe(serial);
      expect(server.getRawState(path00)).toBe(before);
    } finally {
      expect((await rawRequest(`${server.url}${path00}`, "UNLOCK", JSON.stringify({ ID: lock.ID }), AUTH)).status).toBe(
        200,
      );
    }
    await tofu(layer00, ["plan", "-detailed-exitcode", "-lock-timeout=0s", "-input=false", "-no-color"], {
      env: env(),
    });
  });
});

describe("state encryption (state_encryption: true)", () => {
  let stacks: Record<Layer, SynthesizedStack>;
  const path00 = "/encrypted/00-persistent-auth";
  const withPassphrase = (passphrase = PASSPHRASE) => env({ TF_VAR_state_passphrase: passphrase });

  it("layer 00's state in the backend holds no plaintext key material", async () => {
    stacks = await synthFor("encrypted", { state_encryption: true });
    const layer00 = stacks["00-persistent-auth"];
    await tofu(layer00, ["init", "-input=false", "-no-color"], { env: withPassphrase() });
    await tofu(layer00, ["apply", "-auto-approve", "-input=false", "-no-color"], { env: withPassphrase() });

    const stored = server.getRawState(path00)!;
    const envelope = JSON.parse(stored) as Record<string, unknown>;
    // OpenTofu's encrypted format: only lineage and serial stay readable, beside the key provider's metadata.
    expect(Object.keys(envelope).sort()).toEqual(["encrypted_data", "encryption_version", "lineage", "meta", "serial"]);
    expect(envelope.encrypted_data).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(stored).not.toMatch(/BEGIN|PRIVATE|talos_machine_secrets/);

    // The real values, read back through the engine with the right passphrase: none is in the stored body.
    const state = JSON.parse(
      (await tofu(layer00, ["show", "-json", "-no-color"], { env: withPassphrase() })).stdout,
    ) as {
      values: { root_module: { resources: Array<{ address: string; values: Record<string, unknown> }> } };
    };
    const secrets = state.values.root_module.resources.find((r) => r.address === "talos_machine_secrets.cluster")!;
    const outputs = JSON.parse(
      (await tofu(layer00, ["output", "-json", "-no-color"], { env: withPassphrase() })).stdout,
    ) as Record<string, { value: unknown }>;
    const clusterId = (secrets.values.machine_secrets as { cluster: { id: string } }).cluster.id;
    const material = [
      ...state.values.root_module.resources.flatMap((r) => stringLeaves(r.values)),
      ...stringLeaves(outputs),
    ].filter((v) => v.length >= 20);
    expect(material.some((v) => v.includes("PRIVATE KEY"))).toBe(true);
    expect(material).toContain(clusterId);
    expect(material.length).toBeGreaterThan(10);
    expect(material.filter((v) => stored.includes(v))).toEqual([]);
  });

  it("layer 01 still plans against the encrypted state", async () => {
    const layer01 = stacks["01-infrastructure"];
    await tofu(layer01, ["init", "-input=false", "-no-color"], { env: withPassphrase() });
    const plan = await savedPlan(layer01, { TF_VAR_state_passphrase: PASSPHRASE });
    expect(plannedActions(plan).proxmox_virtual_environment_vm).toEqual({ create: NODES.length });
  });

  it("a wrong passphrase fails with OpenTofu's decryption error and changes nothing", async () => {
    const before = server.getRawState(path00);
    const plan = await tofu(stacks["00-persistent-auth"], ["plan", "-input=false", "-no-color"], {
      env: withPassphrase("a wrong passphrase of enough length"),
      ok: [1],
    });
    expect(plan.stderr).toMatch(/decryption failed for all provided methods/);
    expect(server.getRawState(path00)).toBe(before);
    expect(server.getLock(path00)).toBeUndefined();
  });
});
