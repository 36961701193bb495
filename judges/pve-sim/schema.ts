/**
 * The official Proxmox VE API schema (pve-api/pve-api-schema.json, PVE 9.1, see pve-api/SOURCE.txt): its tree
 * of paths turned into a route table, so that every request is matched to a path and a method of the schema.
 * Node 20 built-ins only.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A parameter or a property-string key, as the schema describes it. */
export interface ParamSpec {
  readonly type?: "string" | "integer" | "boolean" | "number" | "array" | "object" | "null";
  readonly optional?: 0 | 1;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  /** A named format ("pve-volume-id") or the keys of a property string. */
  readonly format?: string | Readonly<Record<string, ParamSpec>>;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly default?: unknown;
  /** In a property string: the key that may be written without `key=`. */
  readonly default_key?: 0 | 1;
  /** In a property string: this key is another name of `alias`. */
  readonly alias?: string;
  /** With `alias`: the key's own name is the value of `keyAlias` (net[n]: `virtio=<mac>` sets model=virtio). */
  readonly keyAlias?: string;
  readonly items?: ParamSpec;
  /** Another parameter this one needs (PVE::JSONSchema `requires`). */
  readonly requires?: string;
}

export interface MethodSpec {
  readonly method: string;
  readonly name: string;
  readonly parameters?: { readonly properties?: Readonly<Record<string, ParamSpec>> };
}

interface TreeNode {
  readonly path: string;
  readonly info?: Readonly<Record<string, MethodSpec>>;
  readonly children?: readonly TreeNode[];
}

/** A request matched to the schema. */
export interface Route {
  /** The schema's path, e.g. `/nodes/{node}/qemu/{vmid}/config`. */
  readonly template: string;
  /** The values of the path's `{...}` segments, decoded. */
  readonly pathParams: Readonly<Record<string, string>>;
  /** The method's entry; undefined when the path exists without this method. */
  readonly method?: MethodSpec;
}

interface CompiledPath {
  readonly template: string;
  readonly segments: readonly string[];
  readonly info: Readonly<Record<string, MethodSpec>>;
}

export const SCHEMA_FILE = join(__dirname, "pve-api", "pve-api-schema.json");

/**
 * Errata of the vendored schema: its transformation dropped every key named "description" (meant: the
 * human-language field), which also removed the parameters of that name. Re-added where PVE has them, as
 * qemu-server and pve-container define them (`description => { type => 'string', optional => 1,
 * maxLength => 8192 }`). Found by the real provider: its VM create was refused for `description`.
 */
const DROPPED_DESCRIPTION: ReadonlySet<string> = new Set([
  "POST /nodes/{node}/qemu",
  "POST /nodes/{node}/qemu/{vmid}/config",
  "PUT /nodes/{node}/qemu/{vmid}/config",
  "POST /nodes/{node}/qemu/{vmid}/snapshot",
  "POST /nodes/{node}/qemu/{vmid}/clone",
  "PUT /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config",
  "POST /nodes/{node}/lxc",
  "PUT /nodes/{node}/lxc/{vmid}/config",
  "POST /nodes/{node}/lxc/{vmid}/snapshot",
  "PUT /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config",
  "POST /cluster/mapping/pci",
  "PUT /cluster/mapping/pci/{id}",
  "POST /cluster/mapping/usb",
  "PUT /cluster/mapping/usb/{id}",
  "POST /cluster/mapping/dir",
  "PUT /cluster/mapping/dir/{id}",
]);
const DESCRIPTION: ParamSpec = { type: "string", optional: 1, maxLength: 8192 };

function withErrata(
  template: string,
  info: Readonly<Record<string, MethodSpec>>,
): Readonly<Record<string, MethodSpec>> {
  const out: Record<string, MethodSpec> = {};
  for (const [method, spec] of Object.entries(info)) {
    const properties = spec.parameters?.properties;
    out[method] =
      DROPPED_DESCRIPTION.has(`${method} ${template}`) && properties && !properties.description
        ? { ...spec, parameters: { ...spec.parameters, properties: { ...properties, description: DESCRIPTION } } }
        : spec;
  }
  return out;
}

/** Every path of the schema that has at least one method. */
export class ApiSchema {
  private readonly paths: CompiledPath[] = [];

  constructor(file: string = SCHEMA_FILE) {
    const walk = (node: TreeNode) => {
      if (node.info && Object.keys(node.info).length > 0) {
        this.paths.push({
          template: node.path,
          segments: node.path.split("/").filter(Boolean),
          info: withErrata(node.path, node.info),
        });
      }
      node.children?.forEach(walk);
    };
    (JSON.parse(readFileSync(file, "utf8")) as TreeNode[]).forEach(walk);
  }

  /**
   * The schema path of `path` (below /api2/json, still percent-encoded), literal segments winning over
   * `{...}` ones as PVE's router does; undefined when no path of the schema matches.
   */
  match(httpMethod: string, path: string): Route | undefined {
    const raw = path.split("/").filter(Boolean);
    let best: { compiled: CompiledPath; literals: number; params: Record<string, string> } | undefined;
    for (const compiled of this.paths) {
      if (compiled.segments.length !== raw.length) continue;
      const params: Record<string, string> = {};
      let literals = 0;
      let ok = true;
      for (let i = 0; i < raw.length && ok; i++) {
        const segment = compiled.segments[i];
        const value = decodeURIComponent(raw[i]);
        if (segment.startsWith("{") && segment.endsWith("}")) params[segment.slice(1, -1)] = value;
        else if (segment === value) literals++;
        else ok = false;
      }
      if (ok && (!best || literals > best.literals)) best = { compiled, literals, params };
    }
    if (!best) return undefined;
    return { template: best.compiled.template, pathParams: best.params, method: best.compiled.info[httpMethod] };
  }
}

let loaded: ApiSchema | undefined;

/** The schema of the repository, loaded once. */
export function apiSchema(): ApiSchema {
  loaded ??= new ApiSchema();
  return loaded;
}

/** The options of a VM config (the parameters of `POST /nodes/{node}/qemu`), keyed as the schema writes them. */
export function vmConfigProperties(): Readonly<Record<string, ParamSpec>> {
  return apiSchema().match("POST", "/nodes/x/qemu")!.method!.parameters!.properties!;
}
