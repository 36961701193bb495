// Synthesis speed depends on what the app loads: the @cdktf/provider-* package indexes load every resource
// class of the provider (the kubernetes one alone adds ~0.7 s and ~150 MB), so code imports the classes it
// uses by their deep path.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO } from "./support/synth";

const sources = [
  "main.ts",
  ...["config", "constructs", "layers"].flatMap((dir) => readdirSync(join(REPO, dir)).map((f) => `${dir}/${f}`)),
];

it.each(sources)("%s imports prebuilt providers by deep path", (file) => {
  const text = readFileSync(join(REPO, file), "utf8");
  expect(text).not.toMatch(/from "@cdktf\/provider-[a-z]+"/);
});

// Layers compose constructs; the generated bindings (and providers) are reached only through constructs/.
it.each(sources.filter((f) => f.startsWith("layers/")))("%s does not import the generated bindings", (file) => {
  expect(readFileSync(join(REPO, file), "utf8")).not.toMatch(/from "\.\.\/\.gen\//);
});

// The judges (judges/: simulators, the engine rig, the config checkers) judge the product; the product never
// leans on them. Every TypeScript file of the product, scripts/ included, is walked.
const productFiles = (dir: string): string[] =>
  readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return productFiles(path);
    return /\.(ts|mjs)$/.test(entry.name) ? [path] : [];
  });
const product = ["main.ts", ...["config", "constructs", "layers", "scripts"].flatMap(productFiles)];

it.each(product)("%s never imports a judge", (file) => {
  expect(readFileSync(join(REPO, file), "utf8")).not.toMatch(/from "(\.\.?\/)+judges\//);
});

it("the product walk reaches every folder of the product", () => {
  for (const dir of ["config/", "constructs/", "layers/", "scripts/bootstrap/", "scripts/upgrade/", "scripts/diff/"]) {
    expect(product.some((f) => f.startsWith(dir))).toBe(true);
  }
});

// A synchronous child process blocks the test worker while it runs; on a loaded machine vitest's worker RPC then
// times out and fails the run although every test passed. Tests await their children (support/run.ts). Only the
// engine suite's globalSetup, which runs in vitest's main process before any worker, may block.
const testFiles = (dir: string): string[] =>
  readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === "fixtures" ? [] : testFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
const workerFiles = testFiles("__tests__").filter((f) => f !== "__tests__/engine/setup.ts");

// Spelled in parts so that this file does not name them.
const SYNCHRONOUS_CHILD = new RegExp(`\\b(${["execFile", "spawn", "exec"].map((f) => `${f}Sync`).join("|")})\\b`);

it.each(workerFiles)("%s starts no child process synchronously", (file) => {
  const code = readFileSync(join(REPO, file), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  expect(code).not.toMatch(SYNCHRONOUS_CHILD);
});

it("the test walk reaches the support files and the engine tests", () => {
  for (const file of [
    "__tests__/support/run.ts",
    "__tests__/bootstrap/support.ts",
    "__tests__/engine/bootstrap.test.ts",
  ])
    expect(workerFiles).toContain(file);
});
