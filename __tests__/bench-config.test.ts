import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeBenchConfig } from "../bench/config";
import { loadConfig } from "../config";

const dir = mkdtempSync(join(tmpdir(), "bench-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the benchmark's cluster", () => {
  it.each([5, 50, 500])("%i nodes: a valid config with that many nodes, three controllers", (count) => {
    const at = join(dir, String(count));
    writeBenchConfig(at, count);
    const { nodes } = loadConfig(at);
    expect(nodes).toHaveLength(count);
    expect(nodes.filter((n) => n.controller)).toHaveLength(3);
  });
});
