// Writes what is generated from the zod schema (config/schema.ts) and config/versions.ts, the one source:
// schema/*.schema.json, the configuration reference in docs/configuration.md and the supported versions table in
// docs/versions.md. `--check` fails when a committed copy is stale (.ci/run runs it; a test does too).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  clusterJsonSchema,
  nodesJsonSchema,
  referenceMarkdown,
  versionsMarkdown,
  workloadsJsonSchema,
} from "../config/reference";

const root = join(__dirname, "..");

/** `file` with `content` between its `<!-- name:start ... -->` and `<!-- name:end -->` markers. */
export function betweenMarkers(file: string, name: string, content: string): string {
  const text = readFileSync(join(root, file), "utf8");
  const start = text.match(new RegExp(`<!-- ${name}:start[^>]*-->`));
  const end = `<!-- ${name}:end -->`;
  const at = start?.index;
  const endAt = text.indexOf(end);
  if (start === null || at === undefined || endAt < at)
    throw new Error(`${file} lacks the ${name}:start ... ${end} markers`);
  return `${text.slice(0, at + start[0].length)}\n\n${content}\n${text.slice(endAt)}`;
}

export function generatedFiles(): Record<string, string> {
  return {
    "schema/cluster.schema.json": `${JSON.stringify(clusterJsonSchema(), null, 2)}\n`,
    "schema/nodes.schema.json": `${JSON.stringify(nodesJsonSchema(), null, 2)}\n`,
    "schema/workloads.schema.json": `${JSON.stringify(workloadsJsonSchema(), null, 2)}\n`,
    "docs/configuration.md": betweenMarkers("docs/configuration.md", "config-reference", referenceMarkdown()),
    "docs/versions.md": betweenMarkers("docs/versions.md", "versions", versionsMarkdown()),
  };
}

if (require.main === module) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [file, content] of Object.entries(generatedFiles())) {
    const current = readFileSync(join(root, file), { encoding: "utf8", flag: "a+" });
    if (current === content) continue;
    if (check) {
      console.error(`${file} is stale: run npm run schema`);
      stale++;
    } else {
      writeFileSync(join(root, file), content);
      console.log(`wrote ${file}`);
    }
  }
  process.exit(stale ? 1 : 0);
}
