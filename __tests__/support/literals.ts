// String keys of the config and a value the engine would evaluate if it reached a stack unescaped, for the
// escaping tests (unit: terraform-literal.test.ts, real engine: engine/literals.test.ts).
import type { z } from "zod";
import type { KeyPath } from "../../config";
import { clusterSchema, nodeSchema } from "../../config/schema";
import { exampleSources, type SynthOptions } from "./synth";

/** A value Terraform would evaluate if it reached a stack unescaped (path.cwd: no file or network access). */
export const TEMPLATE = "a${path.cwd}b%{ if true }c%{ endif }d";

export interface StringKey {
  readonly path: KeyPath;
  /** A list of strings (the value goes in as a one-element list). */
  readonly list: boolean;
  readonly file: "cluster.yaml" | "nodes.yaml";
}

/** Every key path whose value is a string or a list of strings, found by walking the schema. */
export function stringKeys(): StringKey[] {
  const out: StringKey[] = [];
  const walk = (schema: z.ZodType, path: KeyPath, file: "cluster.yaml" | "nodes.yaml") => {
    let s = schema as z.ZodType & {
      def: { innerType?: z.ZodType; type: string; element?: z.ZodType; options?: z.ZodType[] };
      shape?: Record<string, z.ZodType>;
    };
    while (s.def.innerType) s = s.def.innerType as typeof s;
    if (s.def.type === "string") out.push({ path, list: false, file });
    else if (s.def.type === "array" && (s.def.element as { def: { type: string } }).def.type === "string")
      out.push({ path, list: true, file });
    else if (s.def.type === "object")
      for (const [key, child] of Object.entries(s.shape!)) walk(child, [...path, key], file);
    else if (s.def.type === "union") for (const option of s.def.options ?? []) walk(option, path, file);
  };
  walk(clusterSchema, [], "cluster.yaml");
  walk(nodeSchema, [], "nodes.yaml");
  // Union options repeat a path (the state backend's variants): keep one of each.
  return out.filter((k, i) => out.findIndex((o) => o.file === k.file && o.path.join(".") === k.path.join(".")) === i);
}

/** The example with every optional feature on (so that each key is used), and `value` at `key`. */
export function sourcesWith(
  key: StringKey,
  value: string,
): { options: SynthOptions; sources: { cluster: string; nodes: string } } {
  const cluster: Record<string, unknown> = {
    repository_name: "owner/home-ops",
    proxmox_csi_storage: "local-lvm",
    state_backend: {
      type: "http",
      address: "https://tfstate.example.com/state/{layer}",
      lock_address: "https://tfstate.example.com/lock/{layer}",
      unlock_address: "https://tfstate.example.com/lock/{layer}",
    },
    previous_state_backend: {
      type: "http",
      address: "https://old-tfstate.example.com/state/{layer}",
      lock_address: "https://old-tfstate.example.com/lock/{layer}",
      unlock_address: "https://old-tfstate.example.com/lock/{layer}",
    },
    cluster_api_tls_sans: ["k8s.example.com"],
    proxmox_vm_advanced: {},
    cilium_loadbalancer_pool: { start: "192.168.10.200", stop: "192.168.10.220" },
    tailscale: { all_nodes: true },
    cluster_api_oidc: { issuer_url: "https://auth.example.com/realms/home", client_id: "kubernetes" },
  };
  const set = (target: Record<string, unknown>, path: KeyPath) => {
    let t = target;
    for (const segment of path.slice(0, -1)) {
      t[segment as string] ??= {};
      t = t[segment as string] as Record<string, unknown>;
    }
    t[path[path.length - 1] as string] = key.list ? [value] : value;
  };
  if (key.file === "cluster.yaml") {
    set(cluster, key.path);
    return { options: { cluster }, sources: exampleSources({ cluster }) };
  }
  const nodes = (list: Record<string, unknown>[]) =>
    list.map((n, i) => {
      if (i === 0) set(n, key.path);
      return n;
    });
  return { options: { cluster, nodes }, sources: exampleSources({ cluster, nodes }) };
}

/** Every string leaf of a JSON value. */
export function stringLeavesOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringLeavesOf);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(stringLeavesOf);
  return [];
}
