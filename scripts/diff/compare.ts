// Compares two synthesized apps layer by layer: the resources, data sources, outputs, providers and backend a
// change adds, changes and removes, with attribute-level changes for the changed ones, and warnings for the
// changes to layer 00 that cannot be undone. Pure: parsed cdk.tf.json in, data out (render.ts prints it).
// Every value in the result has been through the masker, so no printer can leak a secret.
import { isDeepStrictEqual } from "node:util";
import { LAYER_CATALOG, PERSISTENT_AUTH_LAYER } from "../../layers/catalog";
import { Masker, parseJsonContainer, SENSITIVE, type PathSegment } from "./mask";

/** Terraform JSON of one stack, as cdktf writes it to `stacks/<layer>/cdk.tf.json`. */
export type StackJson = Readonly<Record<string, unknown>>;

/** Layer name → its stack. A layer missing on one side did not exist there. */
export type Stacks = Readonly<Record<string, StackJson>>;

export type ItemKind = "resource" | "data" | "output" | "provider" | "backend" | "other";
export type Action = "add" | "change" | "remove";

export interface AttributeChange {
  /** Where the value sits in the item: `memory.dedicated`, `disk[0].size`, `config_patches[0](json).machine.install.disk`. */
  readonly path: string;
  readonly action: Action;
  /** Masked; absent when the action is "add". */
  readonly before?: unknown;
  /** Masked; absent when the action is "remove". */
  readonly after?: unknown;
}

export interface ItemDiff {
  readonly kind: ItemKind;
  /** `type.name`, `data.type.name`, `output.name`, `provider.name`, `backend`, or `<block>.name` for the rest. */
  readonly address: string;
  readonly action: Action;
  /** Resource or data source type. */
  readonly type?: string;
  /** One line for a reviewer, e.g. for a VM "4 cores, 8 GiB, 64 GiB disk, on pve" (of the removed VM for "remove"). */
  readonly description?: string;
  /** What changed, for "change"; empty for "add" and "remove". */
  readonly changes: readonly AttributeChange[];
}

export interface LayerDiff {
  readonly layer: string;
  /** "added" and "removed": the layer exists on one side only. */
  readonly presence: "both" | "added" | "removed";
  /** Sorted by kind (resources first), then address. */
  readonly items: readonly ItemDiff[];
}

/** A change a reviewer must not miss: it destroys or may replace something that outlives the cluster. */
export interface DiffWarning {
  readonly layer: string;
  readonly address: string;
  /** What happens to it, to be printed after the address: "would be DESTROYED: ...". */
  readonly message: string;
}

export interface DiffResult {
  /** Every layer of either side, in name order (which is apply order). */
  readonly layers: readonly LayerDiff[];
  readonly warnings: readonly DiffWarning[];
  /** True when any layer has any difference. */
  readonly changed: boolean;
}

export interface CompareOptions {
  /** @default - Masker.fromEnv(process.env): the values of secret environment variables are withheld */
  readonly masker?: Masker;
}

/** The layers whose resources outlive the cluster: losing or replacing one is not fixed by a re-apply. */
const PERSISTENT_LAYERS: ReadonlySet<string> = new Set(LAYER_CATALOG.filter((l) => l.persistent).map((l) => l.name));

/**
 * What replacing a resource of the persistent layer costs, by type. Any attribute change of any resource of
 * that layer counts as a possible replacement (the synthesized JSON cannot tell which attributes force one).
 */
export const IRREPLACEABLE: Readonly<Record<string, string>> = {
  talos_machine_secrets:
    "a new cluster PKI, which the running nodes and every existing talosconfig and kubeconfig do not trust",
  proxmox_user_token: "a new Proxmox CSI token; the secret deployed to the CSI driver stops working",
  proxmox_virtual_environment_user:
    "the CSI user is recreated with a new token; the secret deployed to the CSI driver stops working",
  proxmox_virtual_environment_role:
    "the CSI role is recreated; the CSI driver loses its privileges until its ACL is recreated too",
  proxmox_acl: "the CSI ACL is recreated; the CSI driver loses access in between",
  tls_private_key:
    "a new private key; whatever was signed or encrypted for the old one (sealed secrets in git) must be redone",
  tls_self_signed_cert:
    "a new certificate; whatever trusts or encrypts to the old one (sealed secrets in git) must be redone",
};

/** The cost of replacing a resource of the persistent layer whose type IRREPLACEABLE does not know. */
const DEFAULT_COST = `${PERSISTENT_AUTH_LAYER} keeps it for the life of the cluster; whatever depends on it must be redone`;

/** Attributes that are Terraform meta-arguments, not provider attributes: they never force a replacement. */
const META_ARGUMENTS = new Set([
  "lifecycle",
  "depends_on",
  "provider",
  "count",
  "for_each",
  "connection",
  "provisioner",
]);

const KIND_ORDER: readonly ItemKind[] = ["resource", "data", "output", "provider", "backend", "other"];

/** Compares the stacks of every layer of `base` with those of `head`. */
export function compare(base: Stacks, head: Stacks, options: CompareOptions = {}): DiffResult {
  const masker = options.masker ?? Masker.fromEnv(process.env);
  const names = [...new Set([...Object.keys(base), ...Object.keys(head)])].sort();
  const layers = names.map((layer) => compareLayer(layer, base[layer], head[layer], masker));
  const warnings = layers.flatMap((layer) =>
    PERSISTENT_LAYERS.has(layer.layer) ? persistentLayerWarnings(layer, base[layer.layer], head[layer.layer]) : [],
  );
  return { layers, warnings, changed: layers.some((l) => l.items.length > 0) };
}

/** Resources to add, change and remove in a layer, and how many other items (data, outputs, ...) differ. */
export interface LayerCounts {
  readonly add: number;
  readonly change: number;
  readonly remove: number;
  readonly dataSources: number;
  readonly other: number;
}

export function countLayer(layer: LayerDiff): LayerCounts {
  const resources = layer.items.filter((i) => i.kind === "resource");
  return {
    add: resources.filter((i) => i.action === "add").length,
    change: resources.filter((i) => i.action === "change").length,
    remove: resources.filter((i) => i.action === "remove").length,
    dataSources: layer.items.filter((i) => i.kind === "data").length,
    other: layer.items.filter((i) => i.kind !== "resource" && i.kind !== "data").length,
  };
}

// ------------------------------------------------------------------------------------------------------ items

interface Item {
  readonly kind: ItemKind;
  readonly address: string;
  readonly type?: string;
  readonly body: unknown;
  /** Top-level attributes of this item that are secret whatever their name (a sensitive output's value). */
  readonly secretAttributes: ReadonlySet<string>;
}

const NONE: ReadonlySet<string> = new Set();

function compareLayer(
  layer: string,
  base: StackJson | undefined,
  head: StackJson | undefined,
  masker: Masker,
): LayerDiff {
  const before = base ? itemsOf(base) : new Map<string, Item>();
  const after = head ? itemsOf(head) : new Map<string, Item>();
  const items: ItemDiff[] = [];
  for (const address of new Set([...before.keys(), ...after.keys()])) {
    const b = before.get(address);
    const a = after.get(address);
    if (!b) items.push(summarize(a!, "add", masker));
    else if (!a) items.push(summarize(b, "remove", masker));
    else {
      const changes = attributeChanges(b, a, masker);
      if (changes.length) items.push({ ...summarize(a, "change", masker), changes });
    }
  }
  items.sort((x, y) => KIND_ORDER.indexOf(x.kind) - KIND_ORDER.indexOf(y.kind) || x.address.localeCompare(y.address));
  return { layer, presence: base && head ? "both" : head ? "added" : "removed", items };
}

function summarize(item: Item, action: Action, masker: Masker): ItemDiff {
  const describe = item.type ? DESCRIBERS[item.type] : undefined;
  const description = describe?.(record(item.body), (key, value) => masker.value([key], value));
  return { kind: item.kind, address: item.address, action, type: item.type, description, changes: [] };
}

/** Every item of a stack by address, cdktf's `//` metadata removed. */
function itemsOf(stack: StackJson): Map<string, Item> {
  const items = new Map<string, Item>();
  const add = (item: Omit<Item, "secretAttributes"> & { secretAttributes?: ReadonlySet<string> }) =>
    items.set(item.address, { secretAttributes: NONE, ...item });
  const clean = record(withoutMetadata(stack));

  for (const [section, block] of Object.entries(clean)) {
    if (section === "resource" || section === "data") {
      for (const [type, byName] of Object.entries(record(block))) {
        for (const [name, body] of Object.entries(record(byName))) {
          const address = section === "data" ? `data.${type}.${name}` : `${type}.${name}`;
          // local_sensitive_file and the like: the content is the secret.
          const secretAttributes = type.includes("sensitive") ? new Set(["content", "content_base64"]) : NONE;
          add({ kind: section, address, type, body, secretAttributes });
        }
      }
    } else if (section === "output") {
      for (const [name, body] of Object.entries(record(block))) {
        add({
          kind: "output",
          address: `output.${name}`,
          body,
          secretAttributes: record(body).sensitive === true ? new Set(["value"]) : NONE,
        });
      }
    } else if (section === "terraform") {
      for (const [key, value] of Object.entries(record(block))) {
        if (key === "backend") add({ kind: "backend", address: "backend", body: value });
        else if (key !== "required_providers") add({ kind: "other", address: `terraform.${key}`, body: value });
      }
    } else if (section !== "provider") {
      const entries = isRecord(block) ? Object.entries(block) : [];
      if (entries.length && section !== "locals")
        for (const [name, body] of entries) add({ kind: "other", address: `${section}.${name}`, body });
      else add({ kind: "other", address: section, body: block });
    }
  }

  // A provider is its requirement (source, version) and its configuration blocks together.
  const required = record(record(clean.terraform).required_providers);
  const configured = record(clean.provider);
  for (const name of new Set([...Object.keys(required), ...Object.keys(configured)])) {
    add({
      kind: "provider",
      address: `provider.${name}`,
      body: { ...record(required[name]), ...(name in configured ? { config: configured[name] } : {}) },
    });
  }
  return items;
}

function withoutMetadata(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutMetadata);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "//")
      .map(([key, child]) => [key, withoutMetadata(child)]),
  );
}

// ------------------------------------------------------------------------------------------ attribute changes

/** Marks the step into JSON held in a string, printed as `(json)`. */
const IN_JSON = Symbol("json");
type Step = PathSegment | typeof IN_JSON;

function attributeChanges(before: Item, after: Item, masker: Masker): AttributeChange[] {
  const changes: AttributeChange[] = [];
  const secret = new Set([...before.secretAttributes, ...after.secretAttributes]);
  const mask = (path: readonly Step[], value: unknown) =>
    typeof path[0] === "string" && secret.has(path[0])
      ? SENSITIVE
      : masker.value(
          path.filter((s): s is PathSegment => s !== IN_JSON),
          value,
        );

  const walk = (b: unknown, a: unknown, path: Step[]): void => {
    if (isDeepStrictEqual(b, a)) return;
    if (isRecord(b) && isRecord(a)) {
      for (const key of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) {
        const at = [...path, key];
        if (!Object.hasOwn(b, key)) changes.push({ path: formatPath(at), action: "add", after: mask(at, a[key]) });
        else if (!Object.hasOwn(a, key))
          changes.push({ path: formatPath(at), action: "remove", before: mask(at, b[key]) });
        else walk(b[key], a[key], at);
      }
      return;
    }
    if (Array.isArray(b) && Array.isArray(a)) {
      for (let i = 0; i < Math.max(b.length, a.length); i++) {
        const at = [...path, i];
        if (i >= b.length) changes.push({ path: formatPath(at), action: "add", after: mask(at, a[i]) });
        else if (i >= a.length) changes.push({ path: formatPath(at), action: "remove", before: mask(at, b[i]) });
        else walk(b[i], a[i], at);
      }
      return;
    }
    if (typeof b === "string" && typeof a === "string") {
      const [jb, ja] = [parseJsonContainer(b), parseJsonContainer(a)];
      if (jb !== undefined && ja !== undefined) {
        walk(jb, ja, [...path, IN_JSON]);
        return;
      }
    }
    changes.push({ path: formatPath(path), action: "change", before: mask(path, b), after: mask(path, a) });
  };

  walk(before.body, after.body, []);
  return changes;
}

const IDENTIFIER = /^[A-Za-z0-9_-]+$/;

/** `memory.dedicated`, `disk[0].size`, `config_patches[0](json).machine`, `["odd.key"]`. */
function formatPath(path: readonly Step[]): string {
  let out = "";
  for (const step of path) {
    if (step === IN_JSON) out += "(json)";
    else if (typeof step === "number") out += `[${step}]`;
    else if (IDENTIFIER.test(step)) out += out ? `.${step}` : step;
    else out += `[${JSON.stringify(step)}]`;
  }
  return out || "(whole value)";
}

// ------------------------------------------------------------------------------------------------ describers

type Describer = (
  body: Record<string, unknown>,
  printable: (key: string, value: unknown) => unknown,
) => string | undefined;

/** One-line descriptions of the items a reviewer wants to size up without opening them. */
const DESCRIBERS: Readonly<Record<string, Describer>> = {
  proxmox_virtual_environment_vm: (vm, printable) => {
    const cpu = record(vm.cpu);
    const sockets = typeof cpu.sockets === "number" ? cpu.sockets : 1;
    const disks = Array.isArray(vm.disk) ? vm.disk.map((d) => record(d).size).filter((s) => typeof s === "number") : [];
    const parts = [
      typeof cpu.cores === "number" ? `${cpu.cores} cores${sockets > 1 ? ` × ${sockets} sockets` : ""}` : undefined,
      typeof record(vm.memory).dedicated === "number" ? `${gib(record(vm.memory).dedicated as number)} GiB` : undefined,
      disks.length ? `${disks.join(" + ")} GiB disk${disks.length > 1 ? "s" : ""}` : undefined,
      typeof vm.node_name === "string" ? `on ${printable("node_name", vm.node_name)}` : undefined,
    ].filter((p) => p !== undefined);
    return parts.length ? parts.join(", ") : undefined;
  },
};

function gib(mib: number): string {
  return String(Math.round((mib / 1024) * 10) / 10);
}

// ------------------------------------------------------------------------------------------------- warnings

function persistentLayerWarnings(
  layer: LayerDiff,
  base: StackJson | undefined,
  head: StackJson | undefined,
): DiffWarning[] {
  const warnings: DiffWarning[] = [];
  const warn = (address: string, message: string) => warnings.push({ layer: layer.layer, address, message });
  const before = base ? itemsOf(base) : new Map<string, Item>();
  const after = head ? itemsOf(head) : new Map<string, Item>();

  for (const item of layer.items) {
    if (item.kind !== "resource") continue;
    const cost = (item.type && IRREPLACEABLE[item.type]) || DEFAULT_COST;
    if (item.action === "remove") {
      warn(
        item.address,
        `would be DESTROYED: ${cost}. Removing it from the configuration removes its prevent_destroy too; a rename needs a moved block.`,
      );
      continue;
    }
    if (item.action !== "change") continue;
    const lifecycleBefore = record(record(before.get(item.address)?.body).lifecycle);
    const lifecycleAfter = record(record(after.get(item.address)?.body).lifecycle);
    if (lifecycleBefore.prevent_destroy === true && lifecycleAfter.prevent_destroy !== true) {
      warn(item.address, "loses lifecycle.prevent_destroy; the engine would let it be destroyed.");
    } else if (lifecycleBefore.prevent_destroy !== true && lifecycleAfter.prevent_destroy === true) {
      warn(item.address, "gets lifecycle.prevent_destroy back; the base let the engine destroy it.");
    }
    const attributes = [
      ...new Set(item.changes.map((c) => topLevel(c.path)).filter((name) => !META_ARGUMENTS.has(name))),
    ];
    if (!attributes.length) continue;
    const ignored = new Set(Array.isArray(lifecycleAfter.ignore_changes) ? lifecycleAfter.ignore_changes : []);
    const allIgnored = attributes.every((a) => ignored.has(a));
    warn(
      item.address,
      `may be REPLACED (${attributes.join(", ")} changed): ${cost}.` +
        (allIgnored
          ? ` ${attributes.join(", ")} ${attributes.length > 1 ? "are" : "is"} in lifecycle.ignore_changes, so the engine should leave it alone; confirm with a plan.`
          : ""),
    );
  }
  return warnings;
}

function topLevel(path: string): string {
  return /^[^.[(]+/.exec(path)?.[0] ?? path;
}

// ---------------------------------------------------------------------------------------------------- helpers

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function record(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
