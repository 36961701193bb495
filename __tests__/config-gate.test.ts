// One gate for everything that reaches the engine (config/terraform-literal.ts), and the same guarantees for
// every way in: key files, the config folder's own path, workloads.yaml's strings, keys and tags.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Token } from "cdktf";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ConfigError, formatIssue, loadConfig, parseConfig, resolveCluster } from "../config";
import { engineLiterals } from "../config/terraform-literal";
import { buildApp } from "../layers/app";
import { PersistentAuthLayer } from "../layers/persistent-auth";
import { runOk } from "./support/run";
import { REPO } from "./support/synth";
import { stringLeavesOf } from "./support/literals";

/** The test values, evaluated by Terraform: "${" or "%{" not preceded by the escaping "$" or "%". */
const UNESCAPED = /(^|[^$])\$\{(file\(|path\.cwd)|(^|[^%])%\{ (if true|endif) \}/;
const TEMPLATE = '${file("/etc/shadow")}%{ if true }x%{ endif }';
const work = mkdtempSync(join(tmpdir(), "config-gate-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let folders = 0;
/** A copy of an example folder, under a name of our choosing. */
function folder(example: string, name = `f${folders++}`): string {
  const dir = join(work, name);
  cpSync(join(REPO, "examples", example), dir, { recursive: true });
  return dir;
}

function editWorkloads(dir: string, edit: (w: any) => void): void {
  const w = parse(readFileSync(join(dir, "workloads.yaml"), "utf8"));
  edit(w);
  writeFileSync(join(dir, "workloads.yaml"), stringify(w));
}

function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError, but the config was accepted");
}

/** Every string of every stack synthesized from the folder. */
function synthLeaves(dir: string, out = join(dir, "cdktf.out")): string[] {
  buildApp(resolveCluster(loadConfig(dir)), { configDir: dir, outdir: out }).synth();
  return ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"].flatMap((layer) =>
    stringLeavesOf(JSON.parse(readFileSync(join(out, "stacks", layer, "cdk.tf.json"), "utf8"))),
  );
}

describe("engineLiterals, the gate", () => {
  it("escapes every string and every key, in objects, lists, Maps and Sets, and keeps __proto__ as data", () => {
    const input = JSON.parse('{"__proto__": {"a": "${x}"}, "list": ["%{ if }"], "${k}": 1}');
    const gated = engineLiterals({ ...input, map: new Map([["${m}", "${v}"]]), set: new Set(["${s}"]) }) as any;
    expect(Object.hasOwn(gated, "__proto__")).toBe(true);
    expect(Object.getOwnPropertyDescriptor(gated, "__proto__")?.value).toEqual({ a: "$${x}" });
    expect(gated.list).toEqual(["%%{ if }"]);
    expect(gated["$${k}"]).toBe(1);
    expect([...gated.map]).toEqual([["$${m}", "$${v}"]]);
    expect([...gated.set]).toEqual(["$${s}"]);
  });

  it("refuses cdktf tokens (strings and numbers) and anything but plain data", () => {
    expect(() => engineLiterals({ a: ["x${TfToken[TOKEN.1]}"] })).toThrow(/token marker in a\[0\]/);
    expect(() => engineLiterals({ n: Token.asNumber("x") })).toThrow(/number token in n/);
    expect(() => engineLiterals({ d: new Date() })).toThrow(/not plain data/);
  });

  it("is the only way into a layer: a model that has not passed it does not type-check", () => {
    const resolved = resolveCluster(loadConfig(join(REPO, "examples", "single-node")));
    const app = new App({ outdir: join(work, "typed") });
    expect(
      () =>
        // @ts-expect-error the layers take nothing that has not passed engineLiterals()
        new PersistentAuthLayer(app, "00-persistent-auth", { cluster: resolved, state: { type: "local", path: "x" } }),
    ).not.toThrow();
  });
});

describe("public key files", () => {
  it("a template in a key's comment reaches the stacks as a literal", () => {
    const dir = folder("lxc-homelab");
    const key = readFileSync(join(dir, "keys/admin.pub"), "utf8").trim();
    writeFileSync(join(dir, "keys/admin.pub"), `${key.split(" ").slice(0, 2).join(" ")} ${TEMPLATE}\n`);
    const leaves = synthLeaves(dir);
    for (const leaf of leaves) expect(leaf).not.toMatch(UNESCAPED);
    expect(leaves.filter((l) => l.includes('$${file("/etc/shadow")}%%{ if true }')).length).toBeGreaterThan(0);
  });

  it("cdktf's token marker in a key file is refused at the key naming it", () => {
    const dir = folder("lxc-homelab");
    writeFileSync(join(dir, "keys/admin.pub"), "ssh-ed25519 AAAAC3Nz x${TfToken[TOKEN.1]}\n");
    expect(configError(() => loadConfig(dir)).message).toMatch(
      /workloads\.yaml:46:\d+ containers\[0\]\.ssh_keys\[0\]\.file: keys\/admin\.pub contains "TfToken\["/,
    );
  });

  const outside = join(work, "outside.pub");
  writeFileSync(outside, readFileSync(join(REPO, "examples/lxc-homelab/keys/admin.pub")));
  it.each<[string, (dir: string) => string | Promise<string>, RegExp]>([
    ["an absolute path", () => outside, /an absolute path/],
    ["a path out of the folder", () => "../outside.pub", /resolves to .*outside\.pub, outside the config folder/],
    [
      "a link out of the folder",
      (dir) => {
        symlinkSync(outside, join(dir, "keys/out.pub"));
        return "keys/out.pub";
      },
      /resolves to .*outside\.pub, outside the config folder/,
    ],
    [
      "a FIFO",
      async (dir) => {
        await runOk("mkfifo", [join(dir, "keys/fifo.pub")]);
        return "keys/fifo.pub";
      },
      /not a regular file/,
    ],
    [
      "a link to /dev/zero inside the folder's tree",
      (dir) => {
        symlinkSync("/dev/zero", join(dir, "keys/zero.pub"));
        return "keys/zero.pub";
      },
      /resolves to \/dev\/zero, outside the config folder/,
    ],
    ["a directory", () => "keys", /not a regular file/],
    [
      "a large file",
      (dir) => {
        writeFileSync(join(dir, "keys/big.pub"), "x".repeat(70_000));
        return "keys/big.pub";
      },
      /larger than 65536 bytes/,
    ],
    [
      "bytes that are not UTF-8",
      (dir) => {
        writeFileSync(join(dir, "keys/bin.pub"), Buffer.from([0x73, 0xff, 0xfe, 0x0a]));
        return "keys/bin.pub";
      },
      /not UTF-8 text/,
    ],
    [
      "a NUL byte",
      (dir) => {
        writeFileSync(join(dir, "keys/nul.pub"), "ssh-ed25519 AAAA a\0b\n");
        return "keys/nul.pub";
      },
      /a NUL byte/,
    ],
    [
      "a link loop",
      (dir) => {
        symlinkSync("loop.pub", join(dir, "keys/loop.pub"));
        return "keys/loop.pub";
      },
      /a loop of symbolic links/,
    ],
  ])("%s is refused at the key naming it, without reading anything else", async (_, make, message) => {
    const dir = folder("lxc-homelab");
    const name = await make(dir);
    editWorkloads(dir, (w) => (w.containers[1].ssh_keys = [{ file: name }]));
    const error = configError(() => loadConfig(dir));
    const issues = error.issues.map((i) => formatIssue(i));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^workloads\.yaml:\d+:\d+ containers\[1\]\.ssh_keys\[0\]\.file: cannot read /);
    expect(issues[0]).toMatch(message);
  });

  it("a file refused is refused at every key naming it", () => {
    const dir = folder("lxc-homelab");
    writeFileSync(join(dir, "keys/admin.pub"), "not a key\n");
    const issues = configError(() => loadConfig(dir)).issues;
    expect(issues.map((i) => i.path.join("."))).toEqual([
      "containers.0.ssh_keys.0.file",
      "containers.1.ssh_keys.0.file",
      "containers.2.ssh_keys.0.file",
    ]);
  });
});

describe("the config folder's own path", () => {
  it("reaches the engine as a literal", () => {
    const dir = folder("lxc-homelab", "cfg-${path.cwd}-%{ if true }x%{ endif }");
    // Output beside the folder, as with CONFIG_DIR=../cluster-config: the state paths name the folder.
    const leaves = synthLeaves(dir, join(work, "out-beside"));
    for (const leaf of leaves) expect(leaf).not.toMatch(UNESCAPED);
    const named = leaves.filter((l) => l.includes("cfg-$${path.cwd}-%%{ if true }x%%{ endif }/"));
    // The kubeconfig and talosconfig files, each layer's state and the reads of it.
    expect(named.filter((l) => l.includes("/credentials/")).length).toBeGreaterThan(0);
    expect(named.filter((l) => l.includes("/state/")).length).toBeGreaterThanOrEqual(4);
  });

  it("with cdktf's token marker in it is refused before anything is read", () => {
    const dir = folder("single-node", "cfg-${TfToken[TOKEN.1]}");
    expect(configError(() => loadConfig(dir)).message).toMatch(/config folder's path .* contains "TfToken\["/);
  });
});

describe("workloads.yaml itself", () => {
  it.each([
    ["a link to nothing", (dir: string) => symlinkSync("gone.yaml", join(dir, "workloads.yaml"))],
    ["a link loop", (dir: string) => symlinkSync("workloads.yaml", join(dir, "workloads.yaml"))],
    ["a directory", (dir: string) => mkdirSync(join(dir, "workloads.yaml"))],
  ])("as %s is an error, never 'no workloads'", (_, make) => {
    const dir = folder("single-node");
    make(dir);
    expect(configError(() => loadConfig(dir)).message).toMatch(/workloads\.yaml \(top level\): cannot read /);
  });

  it("with bytes that are not UTF-8, or a NUL, is refused", () => {
    const dir = folder("lxc-homelab");
    const text = readFileSync(join(dir, "workloads.yaml"));
    writeFileSync(join(dir, "workloads.yaml"), Buffer.concat([text, Buffer.from("# caf\xe9\n", "latin1")]));
    expect(configError(() => loadConfig(dir)).message).toMatch(/workloads\.yaml.*not UTF-8 text/);
    const sources = { cluster: "", nodes: "", workloads: "domain: a\0b\n" };
    expect(configError(() => parseConfig(sources)).message).toMatch(/workloads\.yaml:1:10 .*a NUL character/);
  });

  it.each(["\\0", "\\x00", "\\u0000"])("a NUL written as the escape %s is refused where it is", (written) => {
    const dir = folder("lxc-homelab");
    const text = readFileSync(join(dir, "workloads.yaml"), "utf8");
    const line = text.split("\n").findIndex((l) => l.includes("description: Home Assistant OS appliance")) + 1;
    writeFileSync(
      join(dir, "workloads.yaml"),
      text.replace("description: Home Assistant OS appliance", `description: "Home ${written} Assistant"`),
    );
    expect(line).toBeGreaterThan(0);
    expect(configError(() => loadConfig(dir)).message).toMatch(
      new RegExp(`workloads\\.yaml:${line}:\\d+ vms\\[0\\]\\.description: a NUL character \\(written as an escape`),
    );
  });

  it.each([
    ["!ENV", "domain: !ENV HOME\n"],
    ["!!js/function", "domain: !!js/function 'function () {}'\n"],
    ["a custom tag on a mapping", "id_ranges: !mine\n  production: { from: 100 }\n"],
    ["a tag on a list", "hosts: !set [pve]\n"],
  ])("the YAML tag %s is refused where it is", (_, text) => {
    const dir = folder("single-node");
    writeFileSync(join(dir, "workloads.yaml"), text);
    expect(configError(() => loadConfig(dir)).message).toMatch(
      /workloads\.yaml:\d+:\d+ .*the YAML tag .* is not supported/,
    );
  });

  it("core tags that only restate the type are fine", () => {
    const dir = folder("single-node");
    writeFileSync(join(dir, "workloads.yaml"), 'domain: !!str "home"\n');
    expect(loadConfig(dir).workloads!.config.domain).toBe("home");
  });

  it.each([
    ["id_ranges", "id_ranges:\n  production: { from: 100, to: 199 }\n  __proto__: { from: 300 }\n"],
    ["a guest's ha hosts", ""],
  ])("a __proto__ key in %s is refused at the key, never dropped", (_, extra) => {
    const dir = folder("lxc-homelab");
    const text = readFileSync(join(dir, "workloads.yaml"), "utf8");
    const edited = extra
      ? `${text}\n${extra}`
      : text.replace(
          "    ssh_keys: [{ file: keys/admin.pub }]\n",
          "    ssh_keys: [{ file: keys/admin.pub }]\n    ha: { hosts: { __proto__: 1, pve1: 2 } }\n",
        );
    expect(edited).not.toBe(text);
    writeFileSync(join(dir, "workloads.yaml"), edited);
    expect(configError(() => loadConfig(dir)).message).toMatch(/workloads\.yaml:\d+:\d+ .*"__proto__" is refused/);
  });

  it("a pool named __proto__ is refused at each guest naming it (the stack's JSON would drop its resource); constructor is a pool like any other", () => {
    const dir = folder("zoned-ha");
    editWorkloads(dir, (w) => (w.vms[0].pool = "__proto__"));
    const issues = configError(() => loadConfig(dir)).issues.map((i) => formatIssue(i));
    expect(issues).toEqual([
      expect.stringMatching(/^workloads\.yaml:\d+:\d+ vms\[0\]\.pool: a pool named "__proto__" is refused/),
    ]);

    editWorkloads(dir, (w) => (w.vms[0].pool = "constructor"));
    const out = join(dir, "cdktf.out");
    buildApp(resolveCluster(loadConfig(dir)), { configDir: dir, outdir: out }).synth();
    const stack = JSON.parse(readFileSync(join(out, "stacks/01-infrastructure/cdk.tf.json"), "utf8"));
    expect(Object.keys(stack.resource.proxmox_virtual_environment_pool).sort()).toEqual(["constructor", "critical"]);
  });

  it.each(["constructor"])("purpose: %s is a purpose like any other", (purpose) => {
    const dir = folder("lxc-homelab");
    editWorkloads(dir, (w) => (w.containers[0].purpose = purpose));
    const message = configError(() => loadConfig(dir)).message;
    expect(message).toMatch(`containers[0].purpose: "${purpose}" is not a key of id_ranges`);
    expect(message).not.toMatch(/undefined/);
  });

  it("a template in a name, host, storage, URL or path is refused at its key; prose keeps it as a literal", () => {
    for (const example of ["lxc-homelab", "zoned-ha", "gpu-single-host"]) {
      const text = readFileSync(join(REPO, "examples", example, "workloads.yaml"), "utf8");
      const paths: (string | number)[][] = [];
      const walk = (value: unknown, path: (string | number)[]) => {
        if (typeof value === "string") paths.push(path);
        else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
        else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
      };
      walk(parse(text), []);
      expect(paths.length).toBeGreaterThan(10);
      const base = join(REPO, "examples", example);
      const sources = {
        cluster: readFileSync(join(base, "cluster.yaml"), "utf8"),
        nodes: readFileSync(join(base, "nodes.yaml"), "utf8"),
      };
      for (const path of paths) {
        const doc = parse(text);
        let at = doc;
        for (const p of path.slice(0, -1)) at = at[p];
        const key = path[path.length - 1];
        at[key] = `${at[key]}\${x}`;
        const where = path.join(".");
        if (key === "description" || key === "reason") {
          // Prose: "${" is text like any other (a format of its own may still refuse the "$").
          let message = "";
          try {
            parseConfig({ ...sources, workloads: stringify(doc) }, base);
          } catch (e) {
            message = (e as Error).message;
          }
          expect(message, where).not.toMatch(/OpenTofu templates/);
          continue;
        }
        const error = configError(() => parseConfig({ ...sources, workloads: stringify(doc) }, base));
        const issues = error.issues.filter((i) => i.severity === "error").map((i) => `${i.file} ${i.path.join(".")}`);
        expect(issues, where).toContain(`workloads.yaml ${where}`);
      }
    }
  });
});

describe("no stack trace", () => {
  it("duplicate PCI mapping names are refused at the second", () => {
    const dir = folder("gpu-single-host");
    editWorkloads(dir, (w) => w.pci_mappings.push({ ...w.pci_mappings[0] }));
    const n = parse(readFileSync(join(dir, "workloads.yaml"), "utf8")).pci_mappings.length - 1;
    expect(configError(() => loadConfig(dir)).message).toMatch(
      new RegExp(`pci_mappings\\[${n}\\]\\.name: \\S+ is already the name of pci_mappings\\[0\\]`),
    );
  });

  it("a template URL without a file name is refused unless file_name gives one", () => {
    const dir = folder("lxc-homelab");
    editWorkloads(dir, (w) => (w.containers[2].template.url = "https://example.com/templates/"));
    expect(configError(() => loadConfig(dir)).message).toMatch(
      /containers\[2\]\.template\.url: \S+ names no template file .* set file_name/,
    );
    editWorkloads(dir, (w) => {
      w.containers[2].template.file_name = "debian.tar.zst";
      w.containers[3].template = w.containers[2].template;
    });
    expect(() => loadConfig(dir)).not.toThrow();
  });
});

describe("environment references: one variable, one meaning", () => {
  it.each<[string, (w: any) => void, RegExp]>([
    [
      "the PBS password's variable as SSH keys",
      (w) => (w.containers[1].ssh_keys = [{ env: "TF_VAR_pbs_password" }]),
      /containers\[1\]\.ssh_keys\[0\]\.env: TF_VAR_pbs_password already holds the password of backup@pbs on the Proxmox Backup Server pbs\.home\.arpa \(pbs_storages\[0\]\.password_env\)/,
    ],
    [
      "SSH keys' variable as a PBS password",
      (w) => (w.pbs_storages[0].password_env = "TF_VAR_extra_ssh_keys"),
      /containers\[2\]\.ssh_keys\[1\]\.env: TF_VAR_extra_ssh_keys already holds the password/,
    ],
    [
      "the state passphrase as the PBS password",
      (w) => (w.pbs_storages[0].password_env = "TF_VAR_state_passphrase"),
      /pbs_storages\[0\]\.password_env: TF_VAR_state_passphrase is the passphrase of the state encryption/,
    ],
    [
      "the state passphrase as SSH keys",
      (w) => (w.containers[0].ssh_keys = [{ env: "TF_VAR_state_passphrase" }]),
      /containers\[0\]\.ssh_keys\[0\]\.env: TF_VAR_state_passphrase is the passphrase of the state encryption/,
    ],
    [
      "one password variable for two backup servers",
      (w) => w.pbs_storages.push({ ...w.pbs_storages[0], name: "pbs2", server: "other.home.arpa" }),
      /pbs_storages\[1\]\.password_env: TF_VAR_pbs_password already holds the password of backup@pbs on the Proxmox Backup Server pbs\.home\.arpa/,
    ],
    ["an engine setting", (w) => (w.containers[0].ssh_keys = [{ env: "TF_LOG" }]), /containers\[0\]\.ssh_keys\[0\]/],
  ])("%s is refused", (_, edit, message) => {
    const dir = folder("lxc-homelab");
    editWorkloads(dir, edit);
    expect(configError(() => loadConfig(dir)).message).toMatch(message);
  });

  it("the same SSH keys variable for several guests is one variable", () => {
    const dir = folder("lxc-homelab");
    editWorkloads(dir, (w) => (w.containers[0].ssh_keys = [{ env: "TF_VAR_extra_ssh_keys" }]));
    const leaves = synthLeaves(dir);
    expect(leaves.filter((l) => l.includes("var.extra_ssh_keys")).length).toBeGreaterThan(1);
  });
});

describe("credentials in URLs, in any spelling a URL parser reads", () => {
  it.each([
    "https://user:secret@example.com/t/debian-12.tar.zst",
    "HTTPS://user:secret@example.com/t/debian-12.tar.zst",
    "https:user:secret@example.com/t/debian-12.tar.zst",
    "https:\\\\user:secret@example.com/t/debian-12.tar.zst",
    "https://user@example.com/t/debian-12.tar.zst",
  ])("%s as a template URL is refused, and the secret is not shown", (url) => {
    const dir = folder("lxc-homelab");
    editWorkloads(dir, (w) => (w.containers[2].template.url = url));
    const message = configError(() => loadConfig(dir)).message;
    expect(message).toMatch(/containers\[2\]\.template\.url: a URL with a user name or password in it/);
    expect(message).not.toContain("secret");
  });
});
