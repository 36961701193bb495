// The lines a user pastes after a run that applied the layers: KUBECONFIG and TALOSCONFIG pointed at the files
// layer 01 writes, as talhelper and cluster-template users are used to. Only what exists is printed.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CREDENTIALS_DIR } from "../../layers/catalog";
import type { BootstrapOptions } from "./options";
import { shellQuote } from "./shell";

/** `export KUBECONFIG=...` and `export TALOSCONFIG=...` for a run that applied layers; none otherwise. */
export function credentialExports(
  options: BootstrapOptions,
  configDir: string,
  exists: (path: string) => boolean = existsSync,
): string[] {
  if (options.command !== "layers" || options.action !== "apply" || options.planOnly) return [];
  return [
    ["KUBECONFIG", "kubeconfig"],
    ["TALOSCONFIG", "talosconfig"],
  ]
    .map(([name, file]) => [name, join(configDir, CREDENTIALS_DIR, file)])
    .filter(([, path]) => exists(path))
    .map(([name, path]) => `export ${name}=${shellQuote(path)}`);
}
