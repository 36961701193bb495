// Digest of the generated bindings (.gen/). providers/bindings.sha256 records the reviewed one: a change of
// schema or generator shows up as a change of that file in a PR. `--write` updates it.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

export function treeDigest(dir: string): string {
  const hash = createHash("sha256");
  const walk = (d: string): void => {
    for (const entry of readdirSync(d).sort()) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else
        hash
          .update(`${relative(dir, path)}\0`)
          .update(readFileSync(path))
          .update("\0");
    }
  };
  walk(dir);
  return hash.digest("hex");
}

if (require.main === module) {
  const root = join(__dirname, "..");
  const digest = treeDigest(join(root, ".gen"));
  if (process.argv.includes("--write")) writeFileSync(join(root, "providers/bindings.sha256"), `${digest}\n`);
  console.log(digest);
}
