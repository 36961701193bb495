// The synth diff (scripts/diff.ts): compare/render/mask on stacks synthesized from edited example configs, then
// the command end to end in a temporary git copy of the project, as a reviewer and the PR workflow run it.
import { spawn } from "node:child_process";
import { copyFile, mkdir } from "node:fs/promises";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { PERSISTENT_AUTH_LAYER } from "../layers/catalog";
import { terraformLiteral } from "../config/terraform-literal";
import { cliEnv } from "../scripts/diff/cli-env";
import { compare, type DiffResult, type ItemDiff, type StackJson, type Stacks } from "../scripts/diff/compare";
import { looksSecret, Masker, SENSITIVE } from "../scripts/diff/mask";
import { MARKER, MAX_VALUE_LENGTH, renderMarkdown, renderText } from "../scripts/diff/render";
import { runOk } from "./support/run";
import { FIXTURE, REPO, synth, type SynthOptions, type Synthesized } from "./support/synth";

const INFRA = "01-infrastructure";
const layers = (s: Synthesized): Stacks => ({ [PERSISTENT_AUTH_LAYER]: s.persistentAuth, [INFRA]: s.infrastructure });
const example = synth();
const noEnv = new Masker([]);
const diff = (head: SynthOptions, base: SynthOptions = {}): DiffResult =>
  compare(Object.keys(base).length ? layers(synth(base)) : layers(example), layers(synth(head)), { masker: noEnv });
const item = (result: DiffResult, layer: string, address: string): ItemDiff | undefined =>
  result.layers.find((l) => l.layer === layer)?.items.find((i) => i.address === address);
const worker2 = { name: "worker2", address: "192.168.10.33", controller: false };
const withNode = (index: number, edit: Record<string, unknown>) => (nodes: Record<string, unknown>[]) =>
  nodes.map((node, i) => (i === index ? { ...node, ...edit } : node));

describe("compare", () => {
  it("finds nothing between two synths of the same config", () => {
    const result = compare(layers(example), layers(synth()), { masker: noEnv });
    expect(result.changed).toBe(false);
    expect(result.layers.map((l) => [l.layer, l.items.length])).toEqual([
      [PERSISTENT_AUTH_LAYER, 0],
      [INFRA, 0],
    ]);
    expect(result.warnings).toEqual([]);
  });

  it("lists an added worker's VM with its size, its Talos configuration and apply, and nothing in layer 00", () => {
    const result = diff({ nodes: (n) => [...n, worker2] });
    expect(item(result, INFRA, "proxmox_virtual_environment_vm.worker2")).toMatchObject({
      action: "add",
      kind: "resource",
      description: "4 cores, 8 GiB, 64 GiB disk, on pve",
    });
    expect(item(result, INFRA, "talos_machine_configuration_apply.worker2")?.action).toBe("add");
    expect(item(result, INFRA, "data.talos_machine_configuration.worker2")).toMatchObject({
      action: "add",
      kind: "data",
    });
    expect(result.layers.find((l) => l.layer === PERSISTENT_AUTH_LAYER)?.items).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it("describes VM sizes with sockets, several disks and the Proxmox host", () => {
    const result = diff({
      nodes: (n) => [...n, { ...worker2, vm_cores: 2, vm_sockets: 2, vm_memory: 3072, proxmox_node: "pve2" }],
    });
    expect(item(result, INFRA, "proxmox_virtual_environment_vm.worker2")?.description).toBe(
      "2 cores × 2 sockets, 3 GiB, 64 GiB disk, on pve2",
    );
    const removed = diff({ nodes: (n) => n.slice(0, 4) });
    expect(item(removed, INFRA, "proxmox_virtual_environment_vm.worker1")).toMatchObject({
      action: "remove",
      description: "8 cores, 16 GiB, 256 GiB disk, on pve",
    });
  });

  it("reports a memory change as the one attribute that changed", () => {
    const result = diff({ nodes: withNode(0, { vm_memory: 16384 }) });
    const vm = item(result, INFRA, "proxmox_virtual_environment_vm.controlplane0");
    expect(vm?.action).toBe("change");
    expect(vm?.changes).toEqual([{ path: "memory.dedicated", action: "change", before: 8192, after: 16384 }]);
  });

  it("follows JSON held in strings and list indices into the Talos machine-config patch", () => {
    const result = diff({ nodes: withNode(1, { disk: "/dev/vda" }) });
    expect(item(result, INFRA, "data.talos_machine_configuration.controlplane1")?.changes).toEqual([
      { path: "config_patches[0](json).machine.install.disk", action: "change", before: "/dev/sda", after: "/dev/vda" },
    ]);
  });

  it("reports attributes that appear and disappear, and list elements by index", () => {
    const result = diff({ cluster: { node_vlan_tag: 20, node_dns_servers: ["192.168.10.1"] } });
    const changes = item(result, INFRA, "proxmox_virtual_environment_vm.worker0")?.changes;
    expect(changes).toContainEqual({ path: "network_device[0].vlan_id", action: "change", before: 0, after: 20 });
    expect(changes).toContainEqual({ path: "initialization.dns.servers[1]", action: "remove", before: "1.1.1.1" });
    const back = compare(layers(synth({ cluster: { node_dns_servers: ["192.168.10.1"] } })), layers(example), {
      masker: noEnv,
    });
    expect(item(back, INFRA, "proxmox_virtual_environment_vm.worker0")?.changes).toContainEqual({
      path: "initialization.dns.servers[1]",
      action: "add",
      after: "1.1.1.1",
    });
  });

  it("ignores cdktf's // metadata", () => {
    const head = structuredClone(layers(example)) as Record<string, any>;
    head[INFRA]["//"].metadata.version = "9.9.9";
    head[INFRA].resource.proxmox_virtual_environment_vm.worker0["//"] = { metadata: { path: "elsewhere" } };
    expect(compare(layers(example), head, { masker: noEnv }).changed).toBe(false);
  });

  it("compares providers, outputs and the backend too", () => {
    const result = diff({
      cluster: {
        proxmox_api_url: "https://pve2.home.arpa:8006/",
        state_backend: { type: "http", address: "https://s/{layer}" },
      },
    });
    expect(item(result, INFRA, "provider.proxmox")?.changes).toEqual([
      {
        path: "config[0].endpoint",
        action: "change",
        before: "https://pve.home.arpa:8006/",
        after: "https://pve2.home.arpa:8006/",
      },
    ]);
    expect(item(result, INFRA, "backend")?.changes).toContainEqual({
      path: "http",
      action: "add",
      after: expect.objectContaining({ address: "https://s/01-infrastructure" }),
    });
    const outputs = compare(
      layers(example),
      { ...layers(example), [PERSISTENT_AUTH_LAYER]: { ...example.persistentAuth, output: {} } },
      { masker: noEnv },
    );
    expect(
      item(outputs, PERSISTENT_AUTH_LAYER, "output.cross-stack-output-talos_machine_secretsclustermachine_secrets")
        ?.action,
    ).toBe("remove");
  });

  it("shows a layer that exists on one side only as added or removed as a whole", () => {
    const added = compare({ [PERSISTENT_AUTH_LAYER]: example.persistentAuth }, layers(example), { masker: noEnv });
    const infra = added.layers.find((l) => l.layer === INFRA)!;
    expect(infra.presence).toBe("added");
    expect(infra.items.every((i) => i.action === "add")).toBe(true);
    expect(added.changed).toBe(true);
    const removed = compare(layers(example), { [INFRA]: example.infrastructure }, { masker: noEnv });
    expect(removed.layers.find((l) => l.layer === PERSISTENT_AUTH_LAYER)?.presence).toBe("removed");
    expect(removed.warnings.map((w) => w.address)).toContain("talos_machine_secrets.cluster");
  });
});

describe("warnings on layer 00", () => {
  it.each<[string, SynthOptions, RegExp[]]>([
    [
      "a Talos version change may replace the machine secrets (ignored by lifecycle)",
      { cluster: { talos_version: "v1.13.0" } },
      [
        /^talos_machine_secrets\.cluster may be REPLACED \(talos_version changed\): a new cluster PKI.*lifecycle\.ignore_changes/,
      ],
    ],
    [
      "a cluster rename may replace the CSI role and user",
      { cluster: { cluster_name: "prod" } },
      [
        /^proxmox_virtual_environment_role\.csi may be REPLACED \(role_id changed\)/,
        /^proxmox_virtual_environment_user\.csi may be REPLACED \(comment, user_id changed\)/,
      ],
    ],
  ])("%s", (_, head, expected) => {
    const warnings = diff(head).warnings;
    expect(warnings.every((w) => w.layer === PERSISTENT_AUTH_LAYER)).toBe(true);
    for (const pattern of expected)
      expect(warnings.map((w) => `${w.address} ${w.message}`)).toContainEqual(expect.stringMatching(pattern));
  });

  const addresses = (stack: StackJson) =>
    Object.entries(stack.resource as object).flatMap(([type, byName]) =>
      Object.keys(byName).map((name) => `${type}.${name}`),
    );

  it("turning the CSI off destroys its user, role, token and ACL, each flagged", () => {
    const gone = addresses(example.persistentAuth).filter(
      (a) => !addresses(synth({ cluster: { proxmox_csi_enabled: false } }).persistentAuth).includes(a),
    );
    expect(gone).toEqual(
      expect.arrayContaining([
        "proxmox_acl.csi",
        "proxmox_user_token.csi",
        "proxmox_virtual_environment_role.csi",
        "proxmox_virtual_environment_user.csi",
      ]),
    );
    const warnings = diff({ cluster: { proxmox_csi_enabled: false } }).warnings;
    expect(warnings.map((w) => w.address).sort()).toEqual(gone.sort());
    for (const w of warnings)
      expect(w.message).toMatch(
        /^would be DESTROYED: .*Removing it from the configuration removes its prevent_destroy too/,
      );
    expect(warnings.find((w) => w.address === "proxmox_user_token.csi")?.message).toContain("CSI token");
  });

  it("prevent_destroy lifted by a destroy confirmation is flagged for every resource of layer 00", () => {
    const warnings = diff({ allowDestroyPersistentAuth: "homelab" }).warnings;
    expect(warnings.map((w) => w.address).sort()).toEqual(addresses(example.persistentAuth).sort());
    for (const w of warnings)
      expect(w.message).toBe("loses lifecycle.prevent_destroy; the engine would let it be destroyed.");
  });

  it("prevent_destroy coming back is flagged too", () => {
    const warnings = diff({}, { allowDestroyPersistentAuth: "homelab" }).warnings;
    expect(warnings.map((w) => w.address).sort()).toEqual(addresses(example.persistentAuth).sort());
    for (const w of warnings)
      expect(w.message).toBe("gets lifecycle.prevent_destroy back; the base let the engine destroy it.");
  });

  it("runs each side's app with the context cdktf's CLI would give it, and never with bootstrap's confirmation", () => {
    const tree = mkdtempSync(join(tmpdir(), "cli-env-"));
    try {
      const env = { PATH: "/bin", CDKTF_CONTEXT_JSON: '{"a":1}', BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH: "homelab" };
      expect(cliEnv(tree, env)).toEqual({ PATH: "/bin" });
      writeFileSync(
        join(tree, "cdktf.json"),
        JSON.stringify({ app: "x", context: { allowDestroyPersistentAuth: "homelab" } }),
      );
      expect(cliEnv(tree, env)).toEqual({
        PATH: "/bin",
        CDKTF_CONTEXT_JSON: '{"allowDestroyPersistentAuth":"homelab"}',
      });
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it("stays quiet about additions and about layer 01", () => {
    expect(diff({ nodes: (n) => n.slice(0, 3) }).warnings).toEqual([]);
    expect(
      diff(
        { cluster: { proxmox_csi_enabled: false } },
        { cluster: { proxmox_csi_enabled: false, talos_version: "v1.11.0", kubernetes_version: "v1.34.0" } },
      ).warnings,
    ).toHaveLength(1);
    expect(diff({}, { cluster: { proxmox_csi_enabled: false } }).warnings).toEqual([]);
  });
});

describe("masking", () => {
  const PEM =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";
  const stack = (attributes: Record<string, unknown>): Stacks => ({
    L: { resource: { null_resource: { x: attributes } } },
  });
  const changesOf = (before: Record<string, unknown>, after: Record<string, unknown>, masker = noEnv) =>
    compare(stack(before), stack(after), { masker }).layers[0].items[0].changes;

  it.each<[string, string, boolean]>([
    ["a PEM block", PEM, true],
    ["a Proxmox API token", "root@pam!ci=11111111-2222-3333-4444-555555555555", true],
    ["a JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", true],
    ["a base64 blob", "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZ2VyLXRoYW4tZm9ydHktY2hhcnM=", true],
    ["a base64 run inside text", "token: QWxhZGRpbjpvcGVuIHNlc2FtZUFsYWRkaW46b3BlbiBzZXNhbWU0Mg more", true],
    ["a 64-character hex schematic id", "ab".repeat(32), false],
    [
      "a cross-stack reference",
      "${data.terraform_remote_state.cross-stack-reference-input-00-persistent-auth.outputs.x}",
      false,
    ],
    ["an ISO file name", "talos-v1.12.1-a21512b3-nocloud-amd64-secureboot.iso", false],
    ["an expression with !=", "${var.a != var.b ? 1 : 0}", false],
    [
      "a URL",
      "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.12.1/nocloud-amd64.iso",
      false,
    ],
  ])("looksSecret: %s → %s", (_, value, expected) => {
    expect(looksSecret(value)).toBe(expected);
  });

  it("withholds a PEM key under an innocent name and any value under a credential-like name", () => {
    const changes = changesOf(
      { user_data: "a", private_key: "old", count_of_things: 1, token_name: "ci" },
      { user_data: PEM, private_key: "new", count_of_things: 2, token_name: "cd" },
    );
    expect(changes).toEqual([
      { path: "count_of_things", action: "change", before: 1, after: 2 },
      { path: "private_key", action: "change", before: SENSITIVE, after: SENSITIVE },
      { path: "token_name", action: "change", before: SENSITIVE, after: SENSITIVE },
      { path: "user_data", action: "change", before: "a", after: SENSITIVE },
    ]);
  });

  it("withholds secrets nested in added objects and inside JSON strings", () => {
    const changes = changesOf(
      { a: 1, patch: JSON.stringify({ x: 1 }) },
      { a: 1, b: { ok: "yes", tls: { cert: "x" } }, patch: JSON.stringify({ x: 1, key: PEM }) },
    );
    expect(changes).toEqual([
      { path: "b", action: "add", after: { ok: "yes", tls: { cert: SENSITIVE } } },
      { path: "patch(json).key", action: "add", after: SENSITIVE },
    ]);
  });

  it("withholds the values of secret environment variables, equal or contained, strings or numbers", () => {
    const masker = Masker.fromEnv({
      TF_HTTP_PASSWORD: "hunter2-s3cret",
      MY_API_KEY: "16384",
      HOME: "/root",
      EMPTY_TOKEN: "",
    });
    const changes = changesOf(
      { memory: 8192, url: "https://x/", home: "/tmp" },
      { memory: 16384, url: "https://u:hunter2-s3cret@x/", home: "/root" },
      masker,
    );
    expect(changes).toEqual([
      { path: "home", action: "change", before: "/tmp", after: "/root" },
      { path: "memory", action: "change", before: 8192, after: SENSITIVE },
      { path: "url", action: "change", before: "https://x/", after: SENSITIVE },
    ]);
    expect(masker.text("pw hunter2-s3cret and 16384")).toBe(`pw ${SENSITIVE} and 16384`); // short values: only whole values
  });

  describe("a secret environment value is withheld in its other forms too", () => {
    const SECRET = "Hunter2-s3cret/Pw?";
    const b64 = (text: string) => Buffer.from(text).toString("base64");
    const forms: [string, string][] = [
      ["lower case", SECRET.toLowerCase()],
      ["upper case", SECRET.toUpperCase()],
      ["base64 with padding", b64(SECRET)],
      ["base64 without padding", b64(SECRET).replace(/=+$/, "")],
      ["URL-safe base64", b64(SECRET).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")],
      ["inside a longer base64 text, one byte in", b64(`a${SECRET}bc`)],
      ["inside a longer base64 text, two bytes in", b64(`ab${SECRET}`)],
      ["inside a longer base64 text, three bytes in", b64(`abc${SECRET}d`)],
    ];
    const masker = Masker.fromEnv({ TF_HTTP_PASSWORD: SECRET });

    it.each(forms)("%s", (_, form) => {
      expect(masker.isSecretString(`x ${form} y`)).toBe(true);
      expect(masker.text(`x ${form} y`)).toContain(SENSITIVE);
      expect(masker.value(["data"], { inner: form })).toEqual({ inner: SENSITIVE });
    });

    it("ordinary text and other base64 are still printed", () => {
      expect(masker.text(`x ${b64("an ordinary value")} y`)).toBe(`x ${b64("an ordinary value")} y`);
      expect(masker.isSecretString("hunter")).toBe(false);
    });
  });

  it("withholds sensitive outputs and the content of sensitive files", () => {
    const before: Stacks = {
      L: {
        output: { o: { sensitive: true, value: "a" } },
        resource: { local_sensitive_file: { f: { content: "plain" } } },
      },
    };
    const after: Stacks = {
      L: {
        output: { o: { sensitive: true, value: "b" } },
        resource: { local_sensitive_file: { f: { content: "other" } } },
      },
    };
    const changes = compare(before, after, { masker: noEnv }).layers[0].items.flatMap((i) => i.changes);
    expect(changes).toEqual([
      { path: "content", action: "change", before: SENSITIVE, after: SENSITIVE },
      { path: "value", action: "change", before: SENSITIVE, after: SENSITIVE },
    ]);
  });
});

describe("render", () => {
  // A small pair of apps, so that the exact format is pinned whatever the project's layers grow into.
  const vm = (memory: number) => ({
    cpu: { cores: 4, sockets: 1 },
    memory: { dedicated: memory },
    disk: [{ size: 128 }],
    node_name: "pve",
  });
  const auth = {
    resource: {
      talos_machine_secrets: { cluster: { talos_version: "v1.12.1", lifecycle: { prevent_destroy: true } } },
    },
  };
  const before: Stacks = {
    [PERSISTENT_AUTH_LAYER]: auth,
    [INFRA]: { resource: { proxmox_virtual_environment_vm: { controlplane0: vm(8192) } } },
  };
  const after: Stacks = {
    [PERSISTENT_AUTH_LAYER]: auth,
    [INFRA]: {
      resource: { proxmox_virtual_environment_vm: { controlplane0: vm(16384), worker2: vm(8192) } },
      data: { talos_machine_configuration: { worker2: {} } },
    },
  };
  const input = {
    result: compare(before, after, { masker: noEnv }),
    base: "origin/main",
    baseCommit: "0123456789abcdef",
  };

  it("prints text: a summary line per layer, then each changed layer's items with their attribute changes", () => {
    expect(renderText(input)).toBe(
      [
        "Synthesized changes against origin/main (0123456):",
        "  00-persistent-auth: no changes",
        "  01-infrastructure: 1 to add, 1 to change; 1 data source changed",
        "",
        "01-infrastructure",
        "  ~ proxmox_virtual_environment_vm.controlplane0 (4 cores, 16 GiB, 128 GiB disk, on pve)",
        "      memory.dedicated: 8192 → 16384",
        "  + proxmox_virtual_environment_vm.worker2 (4 cores, 8 GiB, 128 GiB disk, on pve)",
        "  + data.talos_machine_configuration.worker2",
        "",
      ].join("\n"),
    );
  });

  it("prints markdown for a sticky PR comment: marker, one-line summary, one collapsible section per layer", () => {
    const md = renderMarkdown(input);
    expect(md.split("\n").slice(0, 2)).toEqual([
      MARKER,
      "**Synthesized changes:** 00-persistent-auth: no changes · 01-infrastructure: 1 to add, 1 to change; 1 data source changed",
    ]);
    expect(md).toContain(
      "<details><summary><b>00-persistent-auth</b>: no changes</summary>\n\nNo changes.\n\n</details>",
    );
    expect(md).toContain(
      [
        "<details><summary><b>01-infrastructure</b>: 1 to add, 1 to change; 1 data source changed</summary>",
        "",
        "```diff",
        "~ proxmox_virtual_environment_vm.controlplane0 (4 cores, 16 GiB, 128 GiB disk, on pve)",
        "    memory.dedicated: 8192 → 16384",
        "+ proxmox_virtual_environment_vm.worker2 (4 cores, 8 GiB, 128 GiB disk, on pve)",
        "+ data.talos_machine_configuration.worker2",
        "```",
        "",
        "</details>",
      ].join("\n"),
    );
    expect(md).not.toContain("> [!CAUTION]");
    expect(md.trimEnd().split("\n").at(-1)).toBe(
      "<sub>Synthesized offline from this branch and `origin/main (0123456)`. Reproduce with `npm run diff -- --base origin/main`.</sub>",
    );
  });

  it("puts layer-00 warnings first: !! lines in text, a CAUTION block in markdown", () => {
    const warned = { result: diff({ cluster: { cluster_name: "prod" } }), base: "main" };
    const text = renderText(warned).split("\n");
    expect(text[0]).toMatch(/^!! 00-persistent-auth: proxmox_virtual_environment_role\.csi may be REPLACED/);
    expect(text[1]).toMatch(/^!! /);
    const md = renderMarkdown(warned).split("\n");
    expect(md.slice(0, 2)).toEqual([MARKER, "> [!CAUTION]"]);
    expect(md[3]).toMatch(/^> - `proxmox_virtual_environment_role\.csi` may be REPLACED/);
    expect(md).toContainEqual(
      expect.stringMatching(/^<details open><summary><b>00-persistent-auth<\/b>: \d+ to change<\/summary>$/),
    );
  });

  it("says no changes when there are none", () => {
    const same = { result: compare(before, before, { masker: noEnv }), base: "main" };
    expect(renderText(same)).toBe(
      "No synthesized changes against main.\n  00-persistent-auth: no changes\n  01-infrastructure: no changes\n",
    );
    expect(renderMarkdown(same).split("\n")[1]).toBe(
      "**Synthesized changes:** 00-persistent-auth: no changes · 01-infrastructure: no changes",
    );
  });

  it("shortens long values, fences backticks, and cuts lists short to fit a comment", () => {
    const long = "x".repeat(200);
    const result = compare(
      { L: { resource: { t: { a: { v: "short", w: "`" } } } } },
      { L: { resource: { t: { a: { v: long, w: "```" } } } } },
      { masker: noEnv },
    );
    const text = renderText({ result, base: "b" });
    expect(text).toContain(`v: "short" → "${"x".repeat(MAX_VALUE_LENGTH - 2)}…`);
    expect(renderMarkdown({ result, base: "b" })).toContain("````diff");

    const many = diff({
      nodes: (n) => [
        ...n,
        ...Array.from({ length: 40 }, (_, i) => ({
          name: `w${i}`,
          address: `192.168.10.${100 + i}`,
          controller: false,
        })),
      ],
    });
    const md = renderMarkdown({ result: many, base: "main" }, 3000);
    expect(md.length).toBeLessThanOrEqual(3000);
    expect(md).toMatch(/… \d+ more lines; run `npm run diff -- --base main` for all of them/);
  });
});

// ------------------------------------------------------------------------------------------------- end to end

describe("npm run diff, end to end in a git copy of the project", () => {
  const root = mkdtempSync(join(tmpdir(), "diff-e2e-"));
  const project = join(root, "project");
  const scratch = join(root, "tmp");
  const SECRETS = {
    PROXMOX_VE_API_TOKEN: "root@pam!ci=11111111-2222-3333-4444-555555555555",
    TF_HTTP_PASSWORD: "state-pass-do-not-print",
  };
  const sh = (command: string, ...args: string[]) => runOk(command, args, { cwd: project });
  const commit = (message: string) =>
    sh(
      "git",
      "-c",
      "user.name=t",
      "-c",
      "user.email=t@t",
      "-c",
      "commit.gpgsign=false",
      "commit",
      "--quiet",
      "--allow-empty",
      "-m",
      message,
    );
  const editYaml = (file: string, edit: (doc: any) => void) => {
    const doc = parse(readFileSync(join(project, file), "utf8"));
    edit(doc);
    writeFileSync(join(project, file), stringify(doc));
  };
  /** What the diff left in its temporary folder (tsx keeps a cache of its own there). */
  const leftovers = () => readdirSync(scratch).filter((entry) => entry.startsWith("synth-diff-"));
  /** Asynchronous, so that the test worker keeps answering vitest while the diff synthesizes twice. */
  const runDiff = async (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(join(project, "node_modules/.bin/tsx"), [join(project, "scripts/diff.ts"), ...args], {
      cwd: project,
      env: { ...process.env, ...SECRETS, ...env, TMPDIR: scratch },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const status = await new Promise<number | null>((resolve, reject) =>
      child.on("error", reject).on("close", resolve),
    );
    for (const secret of Object.values({ ...SECRETS, ...env })) expect(stdout + stderr).not.toContain(secret);
    return { status, stdout, stderr };
  };

  beforeAll(async () => {
    mkdirSync(scratch);
    mkdirSync(project);
    // The project as it is in the working tree (tracked and new files), with this tree's node_modules and .gen.
    const files = (
      await runOk("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO })
    ).split("\0");
    for (const file of files.filter((f) => f && existsSync(join(REPO, f)))) {
      await mkdir(dirname(join(project, file)), { recursive: true });
      await copyFile(join(REPO, file), join(project, file));
    }
    // The example config is the tests' copy, whatever a user made of the root example.
    for (const file of ["cluster.yaml", "nodes.yaml"]) copyFileSync(join(FIXTURE, file), join(project, file));
    symlinkSync(join(REPO, "node_modules"), join(project, "node_modules"));
    symlinkSync(join(REPO, ".gen"), join(project, ".gen"));
    await sh("git", "init", "--quiet");
    // History: a commit before the project, the example config, then one more worker and more memory.
    await commit("before the project");
    await sh("git", "add", "--", ...files.filter((f) => f && existsSync(join(REPO, f))));
    await commit("base: the example cluster");
    editYaml("nodes.yaml", (doc) => {
      doc.nodes[0].vm_memory = 16384;
      doc.nodes.push({ name: "worker2", address: "192.168.10.33", controller: false });
    });
    await sh("git", "add", "nodes.yaml");
    await commit("head: worker2, more memory for controlplane0");
    // A branch whose config does not validate.
    await sh("git", "branch", "broken", "HEAD~1");
    await sh("git", "checkout", "--quiet", "broken");
    editYaml("nodes.yaml", (doc) => (doc.nodes[1].vm_memory = 100));
    await sh("git", "add", "nodes.yaml");
    await commit("broken config");
    await sh("git", "checkout", "--quiet", "-");
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("prints the added worker and the memory change, exit 2, and leaves no worktree or scratch files", async () => {
    const { status, stdout, stderr } = await runDiff(["--base", "HEAD~1"]);
    expect(stderr).toBe("");
    expect(status).toBe(2);
    expect(stdout).toMatch(
      /^Synthesized changes against HEAD~1 \([0-9a-f]{7}\):\n {2}00-persistent-auth: no changes\n {2}01-infrastructure: \d+ to add, \d+ to change/,
    );
    expect(stdout).toContain("+ proxmox_virtual_environment_vm.worker2 (4 cores, 8 GiB, 64 GiB disk, on pve)");
    expect(stdout).toContain("memory.dedicated: 8192 → 16384");
    expect(stdout).not.toContain("!!");
    expect((await sh("git", "worktree", "list")).trim().split("\n")).toHaveLength(1);
    expect(leftovers()).toEqual([]);
  });

  it("prints markdown for the PR comment, and never the value of a secret environment variable, even one the stacks hold", async () => {
    const { status, stdout } = await runDiff(["--base", "HEAD~1", "--format", "markdown"], {
      TF_HTTP_PASSWORD: "16384",
    });
    expect(status).toBe(2);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe(MARKER);
    expect(lines[1]).toMatch(
      /^\*\*Synthesized changes:\*\* 00-persistent-auth: no changes · 01-infrastructure: \d+ to add, \d+ to change/,
    );
    expect(stdout).toContain("<details><summary><b>01-infrastructure</b>");
    expect(stdout).toContain("+ proxmox_virtual_environment_vm.worker2 (4 cores, 8 GiB, 64 GiB disk, on pve)");
    expect(stdout).toContain(`    memory.dedicated: 8192 → ${SENSITIVE}`);
  });

  it("exits 0 with no changes against the same commit", async () => {
    const { status, stdout } = await runDiff(["--base", "HEAD"]);
    expect(status).toBe(0);
    expect(stdout).toMatch(
      /^No synthesized changes against HEAD \([0-9a-f]{7}\)\.\n {2}00-persistent-auth: no changes\n {2}01-infrastructure: no changes\n( {2}\S+: no changes\n)*$/,
    );
  });

  it("compares uncommitted changes, and flags a layer-00 change loudly at the top", async () => {
    const original = readFileSync(join(project, "cluster.yaml"), "utf8");
    try {
      editYaml("cluster.yaml", (doc) => (doc.cluster_name = "prod"));
      const { status, stdout } = await runDiff(["--base", "HEAD"]);
      expect(status).toBe(2);
      expect(stdout.split("\n")[0]).toMatch(
        /^!! 00-persistent-auth: proxmox_virtual_environment_role\.csi may be REPLACED/,
      );
      expect(stdout).toContain('role_id: "homelab-csi" → "prod-csi"');
    } finally {
      writeFileSync(join(project, "cluster.yaml"), original);
    }
  });

  it("compares workloads.yaml too, with the key files it names", async () => {
    const file = "examples/lxc-homelab/workloads.yaml";
    const original = readFileSync(join(project, file), "utf8");
    try {
      editYaml(file, (doc) =>
        doc.containers.push({
          name: "wiki",
          id: 130,
          template: { volume: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst" },
          ssh_keys: [{ file: "keys/admin.pub" }],
        }),
      );
      const { status, stdout, stderr } = await runDiff(["--base", "HEAD"], { CONFIG_DIR: "examples/lxc-homelab" });
      expect(stderr).toBe("");
      expect(status).toBe(2);
      expect(stdout).toContain("+ proxmox_virtual_environment_container.wiki");
      expect(stdout).not.toContain("proxmox_virtual_environment_container.proxy");
    } finally {
      writeFileSync(join(project, file), original);
    }
  });

  it("works with a config folder outside the repository: both sides synthesize it as it is", async () => {
    const outside = join(root, "my-cluster-config");
    cpSync(join(project, "examples", "lxc-homelab"), outside, { recursive: true });
    const { status, stdout, stderr } = await runDiff(["--base", "HEAD"], { CONFIG_DIR: outside });
    expect(stderr).toBe("");
    expect(stdout).toContain("CONFIG_DIR is outside the repository");
    expect(stdout).toMatch(/No synthesized changes against HEAD/);
    expect(status).toBe(0);
  });

  it("withholds a secret that the stacks hold as an engine literal", async () => {
    const file = "examples/lxc-homelab/workloads.yaml";
    const original = readFileSync(join(project, file), "utf8");
    const secret = "s3cret-${not.an.expression}-%{ if x }";
    try {
      editYaml(file, (doc) => (doc.containers[0].description = secret));
      const { status, stdout } = await runDiff(["--base", "HEAD"], {
        CONFIG_DIR: "examples/lxc-homelab",
        DIFF_TEST_SECRET: secret,
      });
      expect(status).toBe(2);
      expect(stdout).toContain(SENSITIVE);
      expect(stdout).not.toContain(terraformLiteral(secret));
      expect(stdout.toLowerCase()).not.toContain("not.an.expression");
    } finally {
      writeFileSync(join(project, file), original);
    }
  });

  it("shows every layer as new, with a note, against a commit that predates the project", async () => {
    const { status, stdout } = await runDiff(["--base", "HEAD~2"]);
    expect(status).toBe(2);
    expect(stdout).toMatch(/^note: HEAD~2 has no main\.ts, cluster\.yaml, nodes\.yaml: it predates the project/);
    expect(stdout).toContain("00-persistent-auth: new layer: ");
    expect(stdout).toContain("+ talos_machine_secrets.cluster");
  });

  it("removes the base worktree and its scratch files when interrupted", async () => {
    const child = spawn(
      join(project, "node_modules/.bin/tsx"),
      [join(project, "scripts/diff.ts"), "--base", "HEAD~1"],
      {
        cwd: project,
        env: { ...process.env, TMPDIR: scratch },
        stdio: "ignore",
      },
    );
    const exited = new Promise<number | null>((done) => child.on("exit", (status) => done(status)));
    const deadline = Date.now() + 30_000;
    while ((await sh("git", "worktree", "list")).trim().split("\n").length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect((await sh("git", "worktree", "list")).trim().split("\n")).toHaveLength(1);
    expect(leftovers()).toEqual([]);
  });

  it.each<[string, string[], RegExp]>([
    ["an unknown ref", ["--base", "no-such-ref"], /^synth-diff: no-such-ref is not a commit in this repository/],
    [
      "a base whose config does not validate",
      ["--base", "broken"],
      /synthesizing broken failed \(exit 1\):\n.*\n {2}broken:nodes\.yaml:\d+:\d+ nodes\[1\]\.vm_memory: Talos needs at least 2048 MiB/,
    ],
    ["a missing --base", [], /--base <git ref> is required/],
    ["an unknown format", ["--base", "HEAD", "--format", "html"], /--format must be text or markdown, got "html"/],
  ])("exits 1 on %s, with the reason and no stack trace", async (_, args, message) => {
    const { status, stdout, stderr } = await runDiff(args);
    expect(status).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\bat .*\.[jt]s:\d+/);
    expect((await sh("git", "worktree", "list")).trim().split("\n")).toHaveLength(1);
    expect(leftovers()).toEqual([]);
  });

  it("several clusters: each under its name (all of them, or --cluster <name>), through the gate of the config", async () => {
    const clusters = join(project, "clusters");
    const write = (name: string, extra: Record<string, unknown>) => {
      mkdirSync(join(clusters, name), { recursive: true });
      const cluster = { ...parse(readFileSync(join(FIXTURE, "cluster.yaml"), "utf8")), cluster_name: name, ...extra };
      writeFileSync(join(clusters, name, "cluster.yaml"), stringify(cluster));
      copyFileSync(join(FIXTURE, "nodes.yaml"), join(clusters, name, "nodes.yaml"));
    };
    try {
      write("prod", { state_backend: { type: "s3", bucket: "tfstate" } });
      write("staging", { state_backend: { type: "s3", bucket: "tfstate" } });
      const all = await runDiff(["--base", "HEAD"]);
      expect(all.stderr).toBe("");
      expect(all.status).toBe(2);
      const blocks = all.stdout.split(/^== cluster (.*) ==$/m);
      expect(blocks.filter((_, i) => i % 2 === 1)).toEqual([
        ". (the repository's cluster.yaml)",
        "clusters/prod",
        "clusters/staging",
      ]);
      expect(blocks[2]).toMatch(/^No synthesized changes against HEAD/m);
      expect(blocks[4]).toMatch(/^note: HEAD has no clusters\/prod\/cluster\.yaml, clusters\/prod\/nodes\.yaml: /m);
      expect(blocks[6]).toMatch(/^note: HEAD has no clusters\/staging\/cluster\.yaml/m);
      expect(blocks[6]).toContain("00-persistent-auth: new layer: ");

      const one = await runDiff(["--base", "HEAD", "--cluster", "staging", "--format", "markdown"]);
      expect(one.status).toBe(2);
      expect(one.stdout.split(MARKER)).toHaveLength(2);
      expect(one.stdout.split("\n").slice(0, 3)).toEqual([MARKER, "### Cluster `clusters/staging`", ""]);
      expect(one.stdout).not.toContain("clusters/prod");

      // The names of the gate: an unknown one lists the clusters; CONFIG_DIR as well is refused.
      const unknown = await runDiff(["--base", "HEAD", "--cluster=dev"]);
      expect(unknown.status).toBe(1);
      expect(unknown.stderr).toBe(
        "synth-diff: --cluster=dev: there is no clusters/dev/cluster.yaml (clusters: prod, staging)\n",
      );
      const both = await runDiff(["--base", "HEAD", "--cluster=prod"], { CONFIG_DIR: "clusters/prod" });
      expect(both.status).toBe(1);
      expect(both.stderr).toContain("CONFIG_DIR and --cluster both name the config folder: use one of them");

      // staging keeping its state where prod does is refused as bootstrap refuses it.
      write("staging", { state_backend: { type: "s3", bucket: "tfstate", key: "prod/{layer}.tfstate" } });
      const shared = await runDiff(["--base", "HEAD", "--cluster", "staging"]);
      expect(shared.status).toBe(1);
      expect(shared.stderr).toMatch(
        /clusters\/staging\/cluster\.yaml:\d+:\d+ state_backend\.key: the state s3:\/\/tfstate\/prod\/00-persistent-auth\.tfstate is also clusters\/prod's/,
      );
      expect(shared.stderr).not.toMatch(/\bat .*\.[jt]s:\d+/);
      expect((await sh("git", "worktree", "list")).trim().split("\n")).toHaveLength(1);
      expect(leftovers()).toEqual([]);
    } finally {
      rmSync(clusters, { recursive: true, force: true });
    }
  });
});
