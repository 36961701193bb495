/**
 * /cluster/mapping/pci (PVE::API2::Cluster::Mapping::PCI): cluster-wide names for a PCI device on each host,
 * stored as PVE writes them (`map` entries `id=<vendor:device>,node=<host>,path=<address>,...`). A VM's
 * `hostpci<n>: mapping=<name>` finds its host's entry at start. The device's vendor id is not checked.
 */
import { ApiError, need, str, type Ctx, type Routes } from "../api";
import { parsePropertyString, printPropertyString, type ParamValue } from "../params";
import { apiSchema, type ParamSpec } from "../schema";
import type { PciMapping, SimState } from "../state";

function entryKeys(): Readonly<Record<string, ParamSpec>> {
  const map = apiSchema().match("POST", "/cluster/mapping/pci")!.method!.parameters!.properties!.map;
  return map.items!.format as Readonly<Record<string, ParamSpec>>;
}

/** The device addresses (`0000:01:00.0`, several for a multi-function `a;b`) mapping `name` has on `node`. */
export function mappingPaths(state: SimState, name: string, node: string): string[] | undefined {
  const mapping = state.pciMappings[name];
  if (!mapping) return undefined;
  const paths = mapping.map
    .map((entry) => parsePropertyString(entryKeys(), entry))
    .filter((e) => e.node === node)
    .flatMap((e) => e.path.split(";"));
  return paths.length ? paths : undefined;
}

/** Map entries as PVE stores them (keys sorted, as print_property_string writes a format without default key). */
function entriesOf(value: ParamValue | undefined): string[] {
  const list = value === undefined ? [] : typeof value === "string" ? [value] : [...value];
  return list.map((entry) => printPropertyString(entryKeys(), parsePropertyString(entryKeys(), entry)));
}

function mappingOf(ctx: Ctx): { id: string; mapping: PciMapping } {
  const id = need(ctx, "id");
  const mapping = ctx.state.pciMappings[id];
  if (!mapping) throw new ApiError(500, `PCI mapping '${id}' does not exist`);
  return { id, mapping };
}

const view = (id: string, m: PciMapping) => ({
  id,
  type: "pci",
  map: m.map,
  ...(m.description !== undefined ? { description: m.description } : {}),
  ...(m.mdev !== undefined ? { mdev: Number(m.mdev) } : {}),
  ...(m.liveMigration !== undefined ? { "live-migration-capable": Number(m.liveMigration) } : {}),
});

export const mappingRoutes: Routes = {
  "GET /cluster/mapping/pci": (ctx) => {
    const node = str(ctx, "check-node");
    return Object.entries(ctx.state.pciMappings).map(([id, m]) => ({
      ...view(id, m),
      ...(node !== undefined ? { checks: [] } : {}),
    }));
  },
  "POST /cluster/mapping/pci": (ctx) => {
    const id = need(ctx, "id");
    if (ctx.state.pciMappings[id]) throw new ApiError(500, `mapping '${id}' already exists`);
    ctx.state.pciMappings[id] = {
      map: entriesOf(ctx.params.map),
      description: str(ctx, "description"),
      mdev: str(ctx, "mdev"),
      liveMigration: str(ctx, "live-migration-capable"),
    };
  },
  "GET /cluster/mapping/pci/{id}": (ctx) => {
    const { id, mapping } = mappingOf(ctx);
    return view(id, mapping);
  },
  "PUT /cluster/mapping/pci/{id}": (ctx) => {
    const { mapping } = mappingOf(ctx);
    if (ctx.params.map !== undefined) mapping.map = entriesOf(ctx.params.map);
    if (str(ctx, "description") !== undefined) mapping.description = str(ctx, "description");
    if (str(ctx, "mdev") !== undefined) mapping.mdev = str(ctx, "mdev");
    if (str(ctx, "live-migration-capable") !== undefined) mapping.liveMigration = str(ctx, "live-migration-capable");
    for (const key of (str(ctx, "delete") ?? "").split(/[,; ]+/).filter(Boolean)) {
      if (key === "description") delete mapping.description;
      else if (key === "mdev") delete mapping.mdev;
      else if (key === "live-migration-capable") delete mapping.liveMigration;
      else throw new ApiError(400, `cannot delete '${key}'`);
    }
  },
  "DELETE /cluster/mapping/pci/{id}": (ctx) => {
    delete ctx.state.pciMappings[mappingOf(ctx).id];
  },
};
