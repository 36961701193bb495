// .gen/ is generated at install from the vendored schemas; it must be reproducible byte for byte, offline.
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { treeDigest } from "../scripts/bindings-digest";
import { REPO } from "./support/synth";

describe("provider bindings", () => {
  it("regenerate byte-identical from the vendored schemas with no network and no terraform", async () => {
    const work = mkdtempSync(join(tmpdir(), "gen-"));
    try {
      copyFileSync(join(REPO, "cdktf.json"), join(work, "cdktf.json"));
      // Awaited: a run blocking the worker for a minute makes vitest fail the run.
      await promisify(execFile)(join(REPO, "node_modules/.bin/cdktf"), ["get"], {
        cwd: work,
        env: {
          ...process.env,
          CHECKPOINT_DISABLE: "1",
          TERRAFORM_BINARY_NAME: "/nonexistent/terraform",
          CDKTF_EXPERIMENTAL_PROVIDER_SCHEMA_CACHE_PATH: join(REPO, "providers/schema-cache"),
          // Any attempt to reach the network fails fast.
          HTTPS_PROXY: "http://127.0.0.1:9",
          HTTP_PROXY: "http://127.0.0.1:9",
        },
      });
      expect(treeDigest(join(work, ".gen"))).toBe(treeDigest(join(REPO, ".gen")));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("match the reviewed digest in providers/bindings.sha256", () => {
    const committed = readFileSync(join(REPO, "providers/bindings.sha256"), "utf8").trim();
    expect(treeDigest(join(REPO, ".gen"))).toBe(committed);
  });

  it("are pinned to the exact provider versions", () => {
    expect(JSON.parse(readFileSync(join(REPO, "cdktf.json"), "utf8")).terraformProviders).toEqual([
      "bpg/proxmox@0.112.0",
      "siderolabs/talos@0.12.0",
    ]);
    expect(JSON.parse(readFileSync(join(REPO, ".gen/versions.json"), "utf8"))).toEqual({
      "registry.terraform.io/bpg/proxmox": "0.112.0",
      "registry.terraform.io/siderolabs/talos": "0.12.0",
    });
  });
});
